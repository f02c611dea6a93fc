"""Who the firm is: names, legal entities, practices, levels and rates, services, deal stages, FX.

Reference data only (no state): both the first world (history.py) and the clock (ticks.py) read it.
"""

from __future__ import annotations

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
NS_CURRENCY_ID = {"USD": 1, "GBP": 2, "EUR": 4}


def hourly_rates(level: int, currency: str) -> tuple[int, int]:
    """(bill rate, cost rate) in cents of `currency` for a consultant level; bill rates round down
    to whole units. The first world applies the same rule column-wise (history._time_entries)."""
    fx = FX_USD[currency]
    return int(LEVELS[level][2] / fx) // 100 * 100, int(LEVELS[level][1] / fx)
