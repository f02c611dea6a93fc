"""Identifier styles of the real systems (Salesforce 18-char ids with their checksum suffix)."""

from __future__ import annotations

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
SF_PREFIX = {"Account": "001", "Contact": "003", "Opportunity": "006", "OpportunityLineItem": "00k",
             "User": "005"}


def sf_id(obj: str, n: int) -> str:
    """18-char Salesforce id: 3-char key prefix, pod/padding, base62 counter, checksum suffix."""
    body = ""
    while True:
        n, r = divmod(n, 62)
        body = _B62[r] + body
        if n == 0:
            break
    id15 = SF_PREFIX[obj] + "Dn" + body.rjust(10, "0")
    suffix = ""
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5: chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        suffix += _SUFFIX[bits]
    return id15 + suffix
