"""The dbt profile of the transform DAG: the warehouse of the `handoff_warehouse` connection, as
the transformer role.

Host, port and database come from the connection (move the warehouse there and dbt follows);
the role is `handoff_transformer`, not the connection's loader login, with its password from the
environment (`HANDOFF_DBT_PASSWORD`, set by `handoff up` and docker-compose.yaml from the
generated secrets). Cosmos writes the password into the profile as an `env_var()` reference
only: it never lands in a file, a log line or the DAG.
"""

from __future__ import annotations

import os
from typing import Any

from handoff.orchestration.warehouse import WAREHOUSE_CONN_ID

PROFILE_NAME = "handoff"
TARGET_NAME = "airflow"
TRANSFORMER = "handoff_transformer"
USER_ENV, PASSWORD_ENV, SCHEMA_ENV = "HANDOFF_DBT_USER", "HANDOFF_DBT_PASSWORD", "HANDOFF_DBT_SCHEMA"


class MissingTransformerPassword(RuntimeError):
    pass


def _mapping_class():
    from cosmos.profiles.postgres.user_pass import PostgresUserPasswordProfileMapping

    class TransformerProfileMapping(PostgresUserPasswordProfileMapping):
        """`handoff_warehouse`'s host/port/database; user and password of the transformer role."""

        def get_dbt_value(self, name: str) -> Any:
            if name == "user":
                return os.environ.get(USER_ENV) or TRANSFORMER
            if name == "password":
                value = os.environ.get(PASSWORD_ENV)
                if value is None:
                    raise MissingTransformerPassword(
                        f"{PASSWORD_ENV} is not set: the transform DAG runs dbt as {TRANSFORMER} and reads its "
                        "password from the environment (`handoff up` and docker-compose.yaml set it)")
                return value or "-"  # trust auth (tests): any non-empty value
            return super().get_dbt_value(name)

    return TransformerProfileMapping


def profile_config():
    """A cosmos ProfileConfig; the connection is read only when a task runs."""
    from cosmos.config import ProfileConfig

    mapping = _mapping_class()(
        conn_id=WAREHOUSE_CONN_ID,
        profile_args={"schema": os.environ.get(SCHEMA_ENV, "analytics"), "threads": 4},
    )
    return ProfileConfig(profile_name=PROFILE_NAME, target_name=TARGET_NAME, profile_mapping=mapping)
