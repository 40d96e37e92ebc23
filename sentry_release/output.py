"""What a command prints: progress on stderr (quiet hides it, verbose adds HTTP details), results on stdout.

Every line goes through `redact`, so a secret registered with `hide` never reaches a terminal or CI log.
"""

from __future__ import annotations

import click

_SECRETS: set[str] = set()


def hide(secret: str) -> None:
    if secret:
        _SECRETS.add(secret)


def redact(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


class Output:
    def __init__(self, quiet: bool = False, verbose: bool = False) -> None:
        self.quiet, self.verbose = quiet, verbose

    def log(self, line: str) -> None:
        if not self.quiet:
            click.echo(f"sentry-release: {redact(line)}", err=True)

    def debug(self, line: str) -> None:
        if self.verbose:
            click.echo(f"sentry-release: {redact(line)}", err=True)

    def error(self, line: str) -> None:
        click.echo(f"sentry-release: {redact(line)}", err=True)

    def block(self, text: str) -> None:
        """A block of detail on stderr (a dry-run plan), shown even with --quiet."""
        click.echo(redact(text), err=True)

    def result(self, text: str) -> None:
        click.echo(redact(text))
