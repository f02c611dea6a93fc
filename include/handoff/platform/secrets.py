"""Generated secrets for the local platform, kept in `.local/secrets.json` (mode 600).

Made once on first `handoff up` and reused after, so data and logins survive down/up.
Never printed except the admin password on first creation.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

NAMES = (
    "postgres", "airflow_db", "loader", "transformer", "analyst", "admin_ui",
    "sim_client_id", "sim_client_secret", "jwt_secret", "api_secret_key", "fernet_key",
)


def _new(name: str) -> str:
    if name == "fernet_key":
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    if name == "sim_client_id":
        return "handoff-" + secrets.token_hex(4)
    return secrets.token_urlsafe(24)


def load_or_create(path: Path) -> tuple[dict[str, str], bool]:
    """Return (secrets, created): fills in any missing name, keeps existing ones."""
    existing: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [n for n in NAMES if n not in existing]
    if missing:
        existing.update({n: _new(n) for n in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(existing, indent=2))
        tmp.chmod(0o600)
        tmp.replace(path)
    return existing, bool(missing)


def generate() -> dict[str, str]:
    """Fresh secrets that are never written anywhere (tests)."""
    return {n: _new(n) for n in NAMES}
