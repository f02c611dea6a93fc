"""Who the firm is: names, legal entities, practices, levels and rates, services, deal stages, FX.

Reference data only (no state): both the first world (history.py) and the clock (ticks.py) read it.
"""

from __future__ import annotations

import math
import random

FIRST = ["Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Isla", "Jonas", "Kira", "Liam",
         "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Yusuf",
         "Zoe", "Amir", "Bea", "Carlos", "Dana", "Emil", "Fatima", "Gil", "Hana", "Ivan", "Jade", "Kofi"]
LAST = ["Adams", "Baker", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen",
        "Kowalski", "Lopez", "Müller", "Nakamura", "O'Brien", "Patel", "Rossi", "Schmidt", "Taylor",
        "Ueda", "Varga", "Weber", "Xu", "Young", "Zimmer", "Novak", "Okafor", "Silva"]
CO_A = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne", "Soylent",
        "Hooli", "Vandelay", "Massive", "Aperture", "Oscorp", "Gringotts", "Nakatomi", "Pied Piper",
        "Monarch", "Virtucon", "Blue Sun", "Dunder", "Sterling", "Prestige"]
CO_B = ["Corp", "Industries", "Holdings", "Group", "Labs", "Logistics", "Retail", "Energy", "Health",
        "Bank", "Foods", "Media"]
INDUSTRY = ["Banking", "Retail", "Healthcare", "Energy", "Manufacturing", "Media", "Technology"]
SUBSIDIARIES = [(1, "Handoff Consulting Inc.", "USD", "US", "New York"),
                (2, "Handoff Consulting UK Ltd", "GBP", "GB", "London"),
                (3, "Handoff Consulting GmbH", "EUR", "DE", "Berlin")]
SUB_BY_CURRENCY = {"USD": 1, "GBP": 2, "EUR": 3}
PRACTICES = ["Data & Analytics", "Cloud Engineering", "Strategy", "CRM Transformation"]
DEPARTMENTS = ["Delivery", "Architecture", "Project Management"]
LEVELS = [("Consultant", 9000, 16000), ("Senior Consultant", 11500, 20000), ("Manager", 14000, 25000),
          ("Principal", 18000, 32000)]  # (title, hourly cost cents, hourly bill rate cents) in USD
SERVICES = [("Implementation Services", "SVC-IMPL"), ("Advisory Retainer", "SVC-ADV"),
            ("Training", "SVC-TRN"), ("Managed Services", "SVC-MS")]
SF_STAGES = [("Prospecting", 10), ("Qualification", 20), ("Proposal/Price Quote", 50),
             ("Negotiation/Review", 80), ("Closed Won", 100), ("Closed Lost", 0)]
HS_STAGES = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
             "contractsent", "closedwon", "closedlost"]
FX_USD = {"USD": 1.0, "GBP": 1.27, "EUR": 1.08}  # one unit of the currency in USD
NS_CURRENCY_ID = {"USD": 1, "GBP": 2, "EUR": 4}  # NetSuite's own internal ids (3 would be CAD, unused)
NS_CURRENCIES = [(1, "USD", "US Dollar", "$"), (2, "GBP", "British pound", "£"), (4, "EUR", "Euro", "€")]
NS_BASE_CURRENCY = 1  # the parent subsidiary's (and the consolidation) currency: USD
# NetSuite service items (item ids) for SERVICES; a job's default item is its deal's first service line
SERVICE_ITEM_ID = {code: 101 + k for k, (_name, code) in enumerate(SERVICES)}
LEGACY_ITEM = (105, "SVC-LEGACY", "Legacy Consulting (do not use)")  # an inactive service item


def hourly_rates(level: int, currency: str) -> tuple[int, int]:
    """(bill rate, cost rate) in cents of `currency` for a consultant level; bill rates round down
    to whole units. The first world applies the same rule column-wise (history._time_entries)."""
    fx = FX_USD[currency]
    return int(LEVELS[level][2] / fx) // 100 * 100, int(LEVELS[level][1] / fx)


def fx_rate(seed: int, currency: str, day: int) -> float:
    """NetSuite's exchange rate effective on `day` (epoch day): 1 `currency` = rate USD, 4 decimals.

    Floats deterministically (seed, currency, day) within about 2.5% of the reference FX_USD that
    the firm's rate cards were set with: a slow half-yearly swing plus a little weekly noise."""
    if currency == "USD":
        return 1.0
    phase = {"GBP": 0.7, "EUR": 2.1}.get(currency, 0.0) + (seed % 97) / 97 * math.tau
    swing = 0.02 * math.sin(math.tau * day / 182 + phase)
    noise = random.Random(f"{seed}:fx:{currency}:{day}").uniform(-0.004, 0.004)
    return round(FX_USD[currency] * (1 + swing + noise), 4)


def scheduled_hours(seed: int, index: int) -> int:
    """Workday Scheduled_Weekly_Hours of worker `index`: 40, except about one in seven part-timers
    (always worker 2, so `tiny` has one) on 20, 24, 30 or 32 hours."""
    rnd = random.Random(f"{seed}:hours:{index}")
    if index == 2 or rnd.random() < 0.12:
        return rnd.choice([20, 24, 30, 32])
    return 40


def fte(hours: int) -> str:
    """Workday FTE as the report renders it: hours / 40, e.g. "1.0", "0.5", "0.75"."""
    s = f"{hours / 40:.2f}".rstrip("0")
    return s + "0" if s.endswith(".") else s
