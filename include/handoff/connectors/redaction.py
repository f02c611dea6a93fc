"""Credentials kept out of logs, exceptions and ops tables."""

from __future__ import annotations

import re

REDACTED = "***"
# Query-string and form parameters that carry credentials, whatever the system.
_SECRET_PARAM = re.compile(
    r"(?i)\b((?:access_|refresh_|id_)?token|client_secret|password|passwd|api_?key|hapikey|apikey|secret|"
    r"signature|sig|code|assertion|client_assertion|session_?id|sid)=([^&\s'\"]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")


def redact(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """Remove credentials from text bound for logs, exceptions and ops tables: known secret values
    (client secret, tokens), credential-named URL/form parameters and Authorization values."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def mask_in_airflow_logs(secret: str | None) -> None:
    """Register a runtime secret (an access token) with Airflow's log masker, when in a task."""
    if not secret:
        return
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(secret)
    except Exception:  # outside Airflow: nothing to register with
        pass
