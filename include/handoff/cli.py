"""The `handoff` command: `up`, `down`, `status`, `env`, `psql`, and `sim serve` (the simulators)."""

from __future__ import annotations

import argparse
import sys

from handoff.config import ConfigError, load_settings


def _raw_tables() -> list[tuple[str, str]]:
    """The raw tables `up` migrates: every stream of the extract registry, as (source, stream)."""
    from handoff.extract.sources import all_streams

    return [(s.source, s.name) for s in all_streams()]


def _deployment():
    from handoff.platform.deployment import Deployment

    return Deployment(load_settings(), raw_tables=_raw_tables)


def cmd_up(args: argparse.Namespace) -> int:
    _deployment().up()
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    _deployment().down()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from handoff.platform.deployment import print_status

    print_status(_deployment().status())
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    """Shell exports of the deployment's Airflow settings, for `eval "$(handoff env)"`."""
    import shlex

    from handoff.platform.secrets import load_or_create

    deployment = _deployment()
    secrets, _ = load_or_create(deployment.home / "secrets.json")
    for key, value in sorted(deployment.airflow_vars(secrets).items()):
        print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_psql(args: argparse.Namespace) -> int:
    """psql on the warehouse: as the analyst (`--analyst`), the loader (`--loader`) or the admin."""
    import os

    from handoff.platform.deployment import PlatformError, psql_command
    from handoff.platform.secrets import load_or_create

    deployment = _deployment()
    if not (deployment.home / "secrets.json").exists():
        raise PlatformError("no deployment here yet: run `handoff up` first")
    secrets, _ = load_or_create(deployment.home / "secrets.json")
    argv, env = psql_command(deployment, args.role, secrets, args.psql_args)
    os.execvpe(argv[0], argv, env)  # the password travels in PGPASSWORD, never on the command line
    return 0  # pragma: no cover


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="handoff", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start Postgres, the simulators and Airflow (idempotent)").set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop everything `up` started; data stays").set_defaults(func=cmd_down)
    sub.add_parser("status", help="what runs where").set_defaults(func=cmd_status)
    sub.add_parser("env", help="print the Airflow environment as shell exports").set_defaults(func=cmd_env)
    psql = sub.add_parser("psql", help="psql on the warehouse (admin unless --analyst or --loader)")
    who = psql.add_mutually_exclusive_group()
    who.add_argument("--analyst", dest="role", action="store_const", const="analyst",
                     help="as handoff_analyst: canonical and marts, read-only")
    who.add_argument("--loader", dest="role", action="store_const", const="loader", help="as handoff_loader")
    psql.epilog = "Other arguments go to psql, e.g. `handoff psql --analyst -c 'select 1'`."
    psql.set_defaults(func=cmd_psql, role="admin")
    from handoff.sim.cli import register

    register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "psql":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.psql_args = extra
    try:
        return args.func(args) or 0
    except ConfigError as exc:
        print(f"handoff: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # The platform's own failures (a port taken, a part that exited, Postgres refusing to
        # start) carry a message that says what to do: print it, not a traceback.
        from handoff.platform.deployment import PlatformError
        from handoff.platform.postgres import PostgresError

        if not isinstance(exc, (PlatformError, PostgresError)):
            raise
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"handoff: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
