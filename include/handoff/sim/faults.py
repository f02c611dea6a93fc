"""Per-system fault injection: decides, per request, whether to misbehave and how.

Triggers are a share (seeded RNG), every n-th request, or the next n requests, so tests can ask
for exact behaviour ("the next 2 requests get 429") and demos for a rate ("5% 5xx").
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field

TRIGGER_KEYS = ("drop", "timeout", "rate_limit", "error_5xx", "slow", "malformed")
KNOWN_KEYS = set(TRIGGER_KEYS) | {
    "retry_after", "status_5xx", "slow_seconds", "timeout_seconds", "drift", "expire_tokens",
    "concurrency_limit", "paths", "include_auth",
}


class FaultConfigError(ValueError):
    pass


class _Trigger:
    def __init__(self, spec, rng: random.Random):
        self.rng = rng
        self.count = 0
        self.share = self.every = self.next = None
        if isinstance(spec, bool):
            self.share = 1.0 if spec else 0.0
        elif isinstance(spec, int | float):
            if not 0 <= spec <= 1:
                raise FaultConfigError(f"share must be in [0, 1], got {spec}")
            self.share = float(spec)
        elif isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in ("every", "next", "share"):
            k, v = next(iter(spec.items()))
            setattr(self, k, float(v) if k == "share" else int(v))
        else:
            raise FaultConfigError(f"bad trigger {spec!r}: use a share, {{'every': n}} or {{'next': n}}")

    def fire(self) -> bool:
        self.count += 1
        if self.share is not None:
            return self.rng.random() < self.share
        if self.every is not None:
            return self.every > 0 and self.count % self.every == 0
        if self.next > 0:
            self.next -= 1
            return True
        return False


@dataclass
class Decision:
    action: str | None = None  # one of TRIGGER_KEYS except slow/malformed, or None
    slow: float = 0.0
    malformed: bool = False
    drift: dict | None = None
    status_5xx: int = 500


@dataclass
class Faults:
    """Mutable fault state of one server; `decide()` is called once per API request."""

    seed: int = 0
    system: str = ""
    config: dict = field(default_factory=dict)

    def __post_init__(self):
        self._lock = threading.Lock()
        self.generation = 0
        self.set(self.config or {})

    def set(self, config: dict) -> None:
        config = dict(config or {})
        unknown = set(config) - KNOWN_KEYS
        if unknown:
            raise FaultConfigError(f"unknown fault keys: {sorted(unknown)}")
        with self._lock:
            self.generation += 1
            rng = random.Random(f"{self.seed}:{self.system}:faults:{self.generation}")
            self.triggers = {k: _Trigger(config[k], rng) for k in TRIGGER_KEYS if k in config}
            self.paths = re.compile(config["paths"]) if config.get("paths") else None
            self.config = config
            self._rng = rng

    def clear(self) -> None:
        self.set({})

    def get(self, key, default=None):
        return self.config.get(key, default)

    def decide(self, path: str, is_auth: bool) -> Decision:
        d = Decision(drift=self.config.get("drift"))
        if (is_auth and not self.config.get("include_auth")) or (self.paths and not self.paths.search(path)):
            d.drift = None if is_auth else d.drift
            return d
        with self._lock:
            fired = {k for k, t in self.triggers.items() if t.fire()}
            statuses = self.config.get("status_5xx") or [500, 502, 503]
            d.status_5xx = statuses[self._rng.randrange(len(statuses))]
        for k in ("drop", "timeout", "rate_limit", "error_5xx"):
            if k in fired:
                d.action = k
                break
        if "slow" in fired:
            d.slow = float(self.config.get("slow_seconds", 1.0))
        d.malformed = "malformed" in fired
        return d
