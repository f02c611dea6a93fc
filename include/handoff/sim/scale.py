"""World sizes: `tiny` for unit tests, `default` for the demo, `bench[:N]` for load.

`bench:N` may carry options after commas: `bench:1000000,contacts=500000` also gives Salesforce
that many contacts (the Bulk API 2.0 benchmark); without it, contacts follow the accounts as in
every other scale (`sf_contacts = 0`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Scale:
    name: str
    consultants: int
    history_days: int
    time_entries: int
    accounts: int
    hs_companies: int
    sf_users: int
    sf_contacts: int = 0  # Salesforce contacts in all; 0: a few per account (at least 240)

    @classmethod
    def parse(cls, spec: str | Scale) -> Scale:
        if isinstance(spec, Scale):
            return spec
        if spec == "tiny":
            return cls("tiny", 6, 60, 400, 8, 12, 3)
        if spec == "default":
            return cls("default", 50, 365, 30_000, 60, 40, 6)
        if spec == "bench" or spec.startswith("bench:") or spec.startswith("bench,"):
            head, *opts = spec.split(",")
            n = int(head.split(":", 1)[1]) if ":" in head else 2_000_000
            consultants = max(50, n // 1000)
            scale = cls(spec, consultants, 365, n, max(60, consultants // 2), max(40, consultants // 4), 20)
            for opt in opts:
                key, _, value = opt.partition("=")
                if key.strip() != "contacts" or not value.strip().isdigit():
                    raise ValueError(f"unknown scale option {opt!r} in {spec!r}: contacts=N")
                scale = replace(scale, sf_contacts=int(value))
            return scale
        raise ValueError(f"unknown scale {spec!r}: tiny, default, bench, bench:N or bench:N,contacts=M")
