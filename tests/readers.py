"""The three real `.env` readers an app may use, each reading one file the way the app would."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Optional

import decouple
import environ
import pytest
from dotenv import dotenv_values

READERS = ("python-dotenv", "python-decouple", "django-environ")


def read_with_dotenv(path: Path, key: str) -> Optional[str]:
    return dotenv_values(path).get(key)


def read_with_decouple(path: Path, key: str, monkeypatch: pytest.MonkeyPatch, cast: Any = None) -> Any:
    # decouple lets the process environment win over the file: make sure it has nothing to say.
    monkeypatch.delenv(key, raising=False)
    config = decouple.Config(decouple.RepositoryEnv(str(path)))
    try:
        return config(key) if cast is None else config(key, cast=cast)
    except decouple.UndefinedValueError:
        return None


def read_with_environ(path: Path, key: str, monkeypatch: pytest.MonkeyPatch, cast: Any = None) -> Any:
    for name in dotenv_values(path):  # every name read_env may set, restored after the test
        monkeypatch.setenv(name.replace("export ", ""), "placeholder")
        monkeypatch.delenv(name.replace("export ", ""))
    monkeypatch.setenv(key, "placeholder")
    monkeypatch.delenv(key)
    environ.Env.read_env(str(path), overwrite=True)
    if key not in os.environ:
        return None
    return os.environ[key] if cast is None else environ.Env().get_value(key, cast=cast)


def read_with_all(path: Path, key: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Optional[str]]:
    return {
        "dotenv": read_with_dotenv(path, key),
        "decouple": read_with_decouple(path, key, monkeypatch),
        "environ": read_with_environ(path, key, monkeypatch),
    }


def all_read(value: str) -> dict[str, str]:
    return {"dotenv": value, "decouple": value, "environ": value}


def read_as(reader: str, path: Path, key: str, monkeypatch: pytest.MonkeyPatch, cast: Any = None) -> Any:
    """What the app gets from `reader` (cast as the app would: float, bool), or the exception raised."""
    readers: dict[str, Callable[[], Any]] = {
        "python-dotenv": lambda: _cast(read_with_dotenv(path, key), cast),
        "python-decouple": lambda: read_with_decouple(path, key, monkeypatch, cast),
        "django-environ": lambda: read_with_environ(path, key, monkeypatch, cast),
    }
    try:
        return readers[reader]()
    except ValueError as exc:
        return exc


def _cast(value: Optional[str], cast: Any) -> Any:
    if value is None or cast is None:
        return value
    return float(value) if cast is float else cast(value)
