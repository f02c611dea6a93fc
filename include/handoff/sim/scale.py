"""World sizes: `tiny` for unit tests, `default` for the demo, `bench[:N]` for load."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    consultants: int
    history_days: int
    time_entries: int
    accounts: int
    hs_companies: int
    sf_users: int

    @classmethod
    def parse(cls, spec: str | Scale) -> Scale:
        if isinstance(spec, Scale):
            return spec
        if spec == "tiny":
            return cls("tiny", 6, 60, 400, 8, 12, 3)
        if spec == "default":
            return cls("default", 50, 365, 30_000, 60, 40, 6)
        if spec == "bench" or spec.startswith("bench:"):
            n = int(spec.split(":", 1)[1]) if ":" in spec else 2_000_000
            consultants = max(50, n // 1000)
            return cls(spec, consultants, 365, n, max(60, consultants // 2), max(40, consultants // 4), 20)
        raise ValueError(f"unknown scale {spec!r}: tiny, default, bench or bench:N")
