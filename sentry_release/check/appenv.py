"""The app's values: its `.env` file (through the one `.env` model), then the process environment.

The file wins and the process environment fills the keys it lacks. At run time python-decouple,
python-dotenv and django-environ all let the *app's* process environment override its file, but
this command usually runs in a deploy job whose environment is not the app's, so the file is the
better witness of what the app will read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Optional, Sequence

from sentry_release.envfile import READERS, EnvLine, EnvText, parse_env, readings
from sentry_release.errors import ConfigError


class AppEnv:
    """The app's settings as the line means them; `readings` holds what each reader makes of them."""

    def __init__(self, file: Optional[Path], document: EnvText, environ: Mapping[str, str],
                 readers: Sequence[str] = READERS, readers_from: str = "") -> None:
        self.file, self.document, self.environ = file, document, environ
        self.readers, self.readers_from = tuple(readers), readers_from
        self.label = file.name if file else None
        self.readings = {reader: readings(document, reader) for reader in READERS}

    def line(self, key: str) -> Optional[EnvLine]:
        return self.document.last(key) if self.file is not None else None

    def get(self, key: str) -> Optional[str]:
        line = self.line(key)
        if line is not None:   # an empty value in the file hides the process environment's
            return (line.value if line.value is not None else line.raw) or None
        value = self.environ.get(key)
        return value if value not in (None, "") else None

    def read_by(self, reader: str, key: str) -> Optional[str]:
        """What `reader` gives the app for `key` from the file (None: it finds no such key)."""
        found = self.readings[reader].get(key)
        return found[1] if found else None

    def source(self, key: str) -> str:
        line = self.line(key)
        return f"{self.label} line {line.number}" if line is not None else "process environment"

    def shown(self, key: str) -> str:
        return f"{key}={self.get(key)} (from {self.source(key)})"

    def describe(self) -> str:
        if self.file is None:
            return "the process environment (no .env file)"
        return f"{self.file} (wins), then the process environment"


def find_env_file(explicit: Optional[str], configured: Optional[str], cwd: Path) -> Optional[Path]:
    if explicit:
        return Path(explicit)
    if configured:
        return Path(configured)
    default = cwd / ".env"
    return default if default.is_file() else None


def read_env_file(path: Path) -> EnvText:
    try:
        return parse_env(path.read_bytes().decode("utf-8", "surrogateescape"))
    except FileNotFoundError:
        raise ConfigError(f"env file {path} does not exist: pass the app's .env with --env-file") from None
    except IsADirectoryError:
        raise ConfigError(f"env file {path} is a directory: pass the app's .env file with --env-file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read env file {path}: {exc.strerror or exc}") from None


def load_app_env(path: Optional[Path], environ: Mapping[str, str], reader_setting: str,
                 project_dirs: Sequence[Path]) -> AppEnv:
    document = read_env_file(path) if path else parse_env("")
    readers, where = app_readers(reader_setting, project_dirs)
    return AppEnv(path, document, environ, readers, where)


# -- which reader the app uses -----------------------------------------------------------------

_PACKAGES = {"django-environ": "django-environ", "python-decouple": "python-decouple",
             "python-dotenv": "python-dotenv"}
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def app_readers(setting: str, project_dirs: Sequence[Path]) -> tuple[tuple[str, ...], str]:
    """The readers to check with, and where that came from (setting > requirements > all three)."""
    if setting and setting != "auto":
        return (setting,), "env-reader setting"
    found: dict[str, str] = {}
    for folder in dict.fromkeys(project_dirs):
        for path in _requirement_files(folder):
            for name in _requirement_names(path):
                reader = _PACKAGES.get(name)
                if reader and reader not in found:
                    found[reader] = path.name
    if found:
        ordered = tuple(reader for reader in READERS if reader in found)
        where = ", ".join(f"{reader} in {found[reader]}" for reader in ordered)
        return ordered, f"found {where}"
    return READERS, "no env-reader setting and none of them in the requirements: all three"


def _requirement_files(folder: Path) -> list[Path]:
    names = sorted(folder.glob("requirements*.txt")) + sorted(folder.glob("requirements/*.txt"))
    names += [folder / name for name in ("pyproject.toml", "Pipfile", "setup.cfg", "setup.py")]
    return [path for path in names if path.is_file()]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(path: Path) -> set[str]:
    """Distribution names a requirements-like file mentions (read as text: no format is trusted)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    names = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        for part in re.split(r"""[\s"',\[\]{}=]+(?=[A-Za-z])""", line):
            match = _REQUIREMENT_NAME.match(part.strip().strip("\"'"))
            if match:
                names.add(_normalise(match.group(1)))
    return names
