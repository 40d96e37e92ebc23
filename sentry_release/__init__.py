"""sentry-release: Sentry releases at deploy time."""

from __future__ import annotations

import os
import sys

_DIST_INFO = ("sentry_release-", ".dist-info")


def _installed_version() -> str:
    """The version in the installed package metadata: pyproject.toml's `version` is its one source.

    The dist-info folder is read directly because importing importlib.metadata costs about as much
    as the rest of the CLI's start-up; anything unusual falls back to it.
    """
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith(_DIST_INFO[0]) and name.endswith(_DIST_INFO[1]):
                found = _metadata_version(os.path.join(entry, name, "METADATA"))
                if found:
                    return found
    return _version_from_importlib()


def _metadata_version(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as metadata:
            for line in metadata:
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
                if not line.strip():
                    break  # the headers end at the first blank line
    except OSError:
        pass
    return None


def _version_from_importlib() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sentry-release")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


__version__ = _installed_version()
__all__ = ["__version__"]
