"""How a client authenticates: the connection's login/password, a static token, or OAuth2.

`apply` prepares the session once; `renew` fetches a fresh token (called on a 401).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from handoff.connectors.redaction import mask_in_airflow_logs

if TYPE_CHECKING:
    from handoff.connectors.http import SystemClient

log = logging.getLogger(__name__)


class TokenAuth:
    """How a client authenticates; `apply` sets headers, `renew` fetches a fresh token."""

    def apply(self, client: SystemClient) -> None:  # pragma: no cover - interface
        pass

    def renew(self, client: SystemClient) -> None:
        pass


class BasicAuth(TokenAuth):
    """HTTP basic with the connection's login/password (Workday integration user): the hook's default."""


class StaticBearer(TokenAuth):
    """A long-lived token (HubSpot private app) in the connection's password."""

    def apply(self, client: SystemClient) -> None:
        client.session.auth = None
        client.session.headers["Authorization"] = f"Bearer {client.connection.password}"


class OAuthClientCredentials(TokenAuth):
    """OAuth2 client credentials against `token_path`; the response may move the base URL (instance_url)."""

    def __init__(self, token_path: str, extra_form: dict[str, str] | None = None, json_body: bool = False):
        self.token_path, self.extra_form, self.json_body = token_path, extra_form or {}, json_body
        self.token: str | None = None

    def apply(self, client: SystemClient) -> None:
        client.session.auth = None
        if self.token is None:
            self.renew(client)
        else:  # a clone starts from its parent's token
            client.session.headers["Authorization"] = f"Bearer {self.token}"

    def renew(self, client: SystemClient) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": client.connection.login or "",
            "client_secret": client.connection.password or "",
            **self.extra_form,
        }
        client.session.headers.pop("Authorization", None)
        kwargs = {"json": form} if self.json_body else {"data": form}
        resp = client.send("POST", self.token_path, authenticate=False, replay_safe=True, **kwargs)
        body = resp.json()
        self.token = body["access_token"]
        mask_in_airflow_logs(self.token)
        if body.get("instance_url"):
            client.base_url = body["instance_url"].rstrip("/")
        client.session.headers["Authorization"] = f"Bearer {self.token}"
        log.info("%s: obtained a new access token", client.system)
