"""`handoff sim serve`: run the simulators until SIGTERM/SIGINT (also `python -m handoff.sim.cli serve`)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

ENV_ID, ENV_SECRET = "HANDOFF_SIM_CLIENT_ID", "HANDOFF_SIM_CLIENT_SECRET"
DEFAULT_PORT_BASE = 8701


def register(subparsers) -> argparse.ArgumentParser:
    """Add `sim serve` to an argparse subparsers object."""
    sim = subparsers.add_parser("sim", help="SaaS simulators (Salesforce, HubSpot, Kantata, Workday, NetSuite)")
    sub = sim.add_subparsers(dest="sim_command", required=True)
    serve = sub.add_parser("serve", help="serve the simulators until SIGTERM/SIGINT")
    serve.add_argument("--system", action="append", choices=("salesforce", "hubspot", "kantata", "workday",
                                                              "netsuite"),
                       help="serve only this system (repeatable); default all five")
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument("--scale", default="default", help="tiny, default, bench or bench:N")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port-base", type=int, default=None,
                       help=f"salesforce=B, hubspot=B+1, kantata=B+2, workday=B+3, netsuite=B+4 (default {DEFAULT_PORT_BASE})")
    serve.add_argument("--port", action="append", default=[], metavar="SYSTEM=PORT", help="per-system port")
    serve.add_argument("--tick-seconds", type=float, default=None, help="advance the world every N seconds")
    serve.add_argument("--token-ttl", type=float, default=3600)
    serve.add_argument("--faults", default=None, help='JSON: {"kantata": {"rate_limit": 0.1}}')
    serve.add_argument("--pacing", default="documented",
                       help='off, documented (default: the documented rate limits), realistic (limits + latency) '
                            'or JSON, e.g. {"profile": "documented", "kantata": {"latency_ms": 250}}')
    serve.set_defaults(func=serve_command)
    return sim


def _ports(args, systems) -> dict:
    from .cluster import SimCluster
    base = DEFAULT_PORT_BASE if args.port_base is None else args.port_base
    ports = {s: base + i for i, s in enumerate(SimCluster.SYSTEMS) if s in systems} if base else {}
    for item in args.port:
        name, _, port = item.partition("=")
        if name not in SimCluster.SYSTEMS or not port.isdigit():
            raise SystemExit(f"--port expects SYSTEM=PORT, got {item!r}")
        ports[name] = int(port)
    return ports


def serve_command(args) -> int:
    from .cluster import SimCluster
    from .http import SimCredentials
    from .pacing import PROFILES, PacingConfigError, system_config
    for var in (ENV_ID, ENV_SECRET):
        if not os.environ.get(var):
            print(f"error: environment variable {var} is not set (the simulators' client credentials)",
                  file=sys.stderr)
            return 2
    faults = json.loads(args.faults) if args.faults else None
    try:
        pacing = args.pacing if args.pacing in PROFILES else json.loads(args.pacing)
        for s in SimCluster.SYSTEMS:
            system_config(pacing, s)
    except (ValueError, PacingConfigError) as e:
        print(f"error: --pacing: {e}", file=sys.stderr)
        return 2
    systems = tuple(args.system) if args.system else SimCluster.SYSTEMS
    cluster = SimCluster(seed=args.seed, scale=args.scale,
                         credentials=SimCredentials(os.environ[ENV_ID], os.environ[ENV_SECRET]), host=args.host,
                         ports=_ports(args, systems), tick_seconds=args.tick_seconds,
                         token_ttl_seconds=args.token_ttl, faults=faults, systems=systems, pacing=pacing)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    cluster.start()
    try:
        for s in systems:
            print(f"{s} {cluster.url(s)}", flush=True)
        stop.wait()
    finally:
        cluster.stop()
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="handoff-sim")
    register(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(["sim", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
