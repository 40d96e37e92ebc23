"""Run the emulator standalone: ``python -m emulator --port 0`` (with tests/ on the path).

The first stdout line is the base URL. ``GET /_emulator/state`` dumps state as JSON;
``POST /_emulator/faults`` takes ``FaultPlan.add`` keyword arguments; ``POST /_emulator/reset``.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Sequence

from .contract import ContractChecker
from .server import DEFAULT_PROJECT, DEFAULT_SCOPES, SentryEmulator
from .state import Organization, Project


# A folder that never exists: contract checks stay off unless --contract asks for them.
_NO_SHARED = Path("/nonexistent/emulator-contract-off")


def parse_repo(text: str) -> dict[str, str]:
    """``name=acme/shop,provider=integrations:github,url=https://…`` → keyword arguments."""
    options = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
    if "name" not in options:
        raise argparse.ArgumentTypeError(f"--repo needs name=…: {text!r}")
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="Loopback Sentry release API")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--connect-latency", type=float, default=0.0, help="seconds added to a connection's first request")
    parser.add_argument("--keepalive-timeout", type=float, default=4.0, help="idle seconds before a connection is closed")
    parser.add_argument("--token", action="append", default=[], help="extra user token with the default scopes")
    parser.add_argument("--org", default="acme")
    parser.add_argument("--project", action="append", default=[], help="project slug (repeatable; default shop)")
    parser.add_argument("--repo", action="append", type=parse_repo, default=[])
    parser.add_argument("--all-deploys", action="store_true", help="list every deploy, as Sentry 23.7.1 does")
    parser.add_argument("--contract", action="store_true", help="check requests against the OpenAPI spec")
    return parser


def configure(emulator: SentryEmulator, args: argparse.Namespace) -> None:
    """Apply the command line on top of the defaults; runs again after every reset."""
    org = emulator.org if args.org == emulator.org.slug else emulator.add_org(args.org)
    emulator.org = org
    projects = [_project(emulator, org, slug) for slug in args.project or [DEFAULT_PROJECT]]
    emulator.project = projects[0]
    for token in args.token:
        emulator.add_token(token, DEFAULT_SCOPES)
    if args.token:
        emulator.token = args.token[0]
    for repo in args.repo:
        emulator.add_repo(org, repo["name"], provider=repo.get("provider") or None, url=repo.get("url"))
    emulator.latency = args.latency
    emulator.connect_latency = args.connect_latency
    emulator.keepalive_timeout = args.keepalive_timeout
    emulator.deploys_latest_only = not args.all_deploys


def _project(emulator: SentryEmulator, org: Organization, slug: str) -> Project:
    try:
        return emulator.store.project(org, slug)
    except KeyError:
        return emulator.add_project(org, slug)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    contract = ContractChecker() if args.contract else ContractChecker(shared_dir=_NO_SHARED)
    emulator = SentryEmulator(args.port, contract=contract).start()
    emulator.setup_hooks.append(lambda emu: configure(emu, args))
    configure(emulator, args)
    print(emulator.url, flush=True)
    print(
        f"org={emulator.org.slug} project={emulator.project.slug} token={emulator.token} dsn={emulator.dsn()}",
        file=sys.stderr,
        flush=True,
    )
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()
    emulator.stop()
    return 0

if __name__ == "__main__":
    sys.exit(main())
