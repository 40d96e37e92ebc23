"""Command line: parse, call plain functions, print. Heavy modules are imported inside commands.

`base` holds what every command shares; `release_commands` and `judge_commands` register theirs on
the one `sentry-release` group; `main` is the entry point and the only place errors become messages
and exit codes.
"""

from __future__ import annotations

import gc
import os
import sys

import click

from sentry_release.cli import judge_commands, release_commands  # noqa: F401  (they register the commands)
from sentry_release.cli.base import cli
from sentry_release.errors import EXIT_USAGE, SentryReleaseError
from sentry_release.output import redact

__all__ = ["cli", "main"]


def main() -> None:
    """The entry point: the only place errors become messages and exit codes."""
    try:
        cli.main(standalone_mode=False, prog_name="sentry-release")
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("sentry-release: interrupted; anything already sent stays in Sentry: re-run the same "
                   "command to finish (it is safe to repeat)", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code else EXIT_USAGE)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SentryReleaseError as exc:
        click.echo(f"sentry-release: error: {redact(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: one line, token-free; the traceback only when asked for
        if os.environ.get("SENTRY_RELEASE_DEBUG") == "1":
            raise
        detail = redact(" ".join(str(exc).split()))[:300]
        click.echo(f"sentry-release: internal error: {type(exc).__name__}: {detail} (please report it; "
                   "SENTRY_RELEASE_DEBUG=1 shows the traceback)", err=True)
        sys.exit(1)
    finally:
        # A finished run's objects need no collecting: frozen, the interpreter's shutdown skips
        # them, about 30 ms with httpx loaded. Output, atexit and file closing are unchanged.
        gc.freeze()
