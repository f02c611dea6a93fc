"""Runtime settings of a DAG family: env `HANDOFF_<FAMILY>_<NAME>`, else the Airflow Variable
`handoff_<family>_<name>`, else the default.

A setting that is set but unreadable fails the task naming its source, never a silent default:
a Variable store that cannot be reached raises (Variable.get's own error), and a value that does
not parse raises `SettingError` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from airflow.sdk import Variable

T = TypeVar("T")


class SettingError(ValueError):
    """A setting holds a value that does not parse; the message names where it came from."""


def setting(family: str, name: str, default: T, parse: Callable[[str], T] = str) -> T:
    env = f"HANDOFF_{family}_{name}".upper()
    raw = os.environ.get(env)
    where = f"environment variable {env}"
    if raw is None:
        var = f"handoff_{family}_{name}".lower()
        raw = Variable.get(var, default=None)
        where = f"Airflow Variable {var}"
    if raw is None:
        return default
    try:
        return parse(str(raw))
    except (TypeError, ValueError) as exc:
        raise SettingError(f"{where} = {raw!r} is not a valid {name}: {exc}") from None


def positive(parse: Callable[[str], T]) -> Callable[[str], T]:
    """`parse`, refusing negative numbers."""

    def check(raw: str) -> T:
        value = parse(raw)
        if value < 0:  # type: ignore[operator]
            raise ValueError("must not be negative")
        return value

    return check
