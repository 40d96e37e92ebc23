"""Where the base version comes from: a tag, pyproject.toml, setup.cfg, package.json or VERSION.

Dynamic versions (setuptools `attr:`/`file:`, hatch `path`) are read as text, never by running code.
"""

from __future__ import annotations

import ast
import configparser
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from sentry_release.errors import ConfigError


@dataclass(frozen=True)
class BaseVersion:
    version: str
    source: str      # human-readable: "tag v1.0.0", "pyproject.toml [project].version", ...


def normalise(version: str, where: str) -> str:
    from packaging.version import InvalidVersion, Version

    try:
        return str(Version(version.strip()))
    except InvalidVersion:
        raise ConfigError(f"{where} has version {version!r}, which is not a valid version") from None


def read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):  # imported here: most runs have no pyproject.toml to read
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def from_pyproject(project_dir: Path) -> Optional[BaseVersion]:
    path = project_dir / "pyproject.toml"
    if not path.is_file():
        return None
    data = read_toml(path)
    project = data.get("project", {})
    if isinstance(project.get("version"), str):
        return BaseVersion(normalise(project["version"], str(path)), "pyproject.toml [project].version")
    if "version" not in project.get("dynamic", []):
        return None
    tool = data.get("tool", {})
    setuptools_spec = tool.get("setuptools", {}).get("dynamic", {}).get("version")
    if isinstance(setuptools_spec, dict):
        found = _from_setuptools_spec(project_dir, setuptools_spec)
        if found:
            return BaseVersion(normalise(found, str(path)), "pyproject.toml (setuptools dynamic version)")
    hatch_path = tool.get("hatch", {}).get("version", {}).get("path")
    if isinstance(hatch_path, str):
        found = _version_assignment(project_dir / hatch_path)
        if found:
            return BaseVersion(normalise(found, hatch_path), f"pyproject.toml (hatch version in {hatch_path})")
    return None


def from_setup_cfg(project_dir: Path) -> Optional[BaseVersion]:
    path = project_dir / "setup.cfg"
    if not path.is_file():
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigError(f"{path} cannot be parsed: {exc}") from None
    raw = parser.get("metadata", "version", fallback="").strip()
    if not raw:
        return None
    if raw.startswith(("attr:", "file:")):
        kind, _, target = raw.partition(":")
        found = _from_setuptools_spec(project_dir, {kind: target.strip()})
        return BaseVersion(normalise(found, str(path)), f"setup.cfg ({raw})") if found else None
    return BaseVersion(normalise(raw, str(path)), "setup.cfg [metadata] version")


def from_package_json(project_dir: Path) -> Optional[BaseVersion]:
    path = project_dir / "package.json"
    if not path.is_file():
        return None
    try:
        version = json.loads(path.read_text(encoding="utf-8")).get("version")
    except (ValueError, AttributeError) as exc:
        raise ConfigError(f"{path} is not a JSON object: {exc}") from None
    return BaseVersion(normalise(version, str(path)), "package.json version") if isinstance(version, str) else None


def from_version_file(project_dir: Path) -> Optional[BaseVersion]:
    path = project_dir / "VERSION"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8").strip()
    return BaseVersion(normalise(text, str(path)), "VERSION file") if text else None


FILE_SOURCES: dict[str, Callable[[Path], Optional[BaseVersion]]] = {
    "pyproject": from_pyproject,
    "setup.cfg": from_setup_cfg,
    "package.json": from_package_json,
    "VERSION": from_version_file,
}


def package_name(project_dir: Path) -> Optional[str]:
    """The distribution or package name, for the `{package}` placeholder."""
    pyproject = project_dir / "pyproject.toml"
    if pyproject.is_file():
        name = read_toml(pyproject).get("project", {}).get("name")
        if isinstance(name, str):
            return name
    setup_cfg = project_dir / "setup.cfg"
    if setup_cfg.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(setup_cfg, encoding="utf-8")
        name = parser.get("metadata", "name", fallback="").strip()
        if name:
            return name
    package_json = project_dir / "package.json"
    if package_json.is_file():
        try:
            name = json.loads(package_json.read_text(encoding="utf-8")).get("name")
        except (ValueError, AttributeError):
            return None
        if isinstance(name, str):
            return name
    return None


def _from_setuptools_spec(project_dir: Path, spec: dict[str, Any]) -> Optional[str]:
    if "file" in spec:
        files = spec["file"] if isinstance(spec["file"], list) else [spec["file"]]
        target = project_dir / str(files[0]).strip()
        return target.read_text(encoding="utf-8").strip() if target.is_file() else None
    if "attr" in spec:
        module, _, attribute = str(spec["attr"]).strip().rpartition(".")
        for candidate in _module_files(project_dir, module):
            found = _version_assignment(candidate, attribute)
            if found:
                return found
    return None


def _module_files(project_dir: Path, module: str) -> list[Path]:
    relative = Path(*module.split("."))
    roots = [project_dir, project_dir / "src"]
    return [root / relative / "__init__.py" for root in roots] + [root / f"{relative}.py" for root in roots]


def _version_assignment(path: Path, attribute: str = "__version__") -> Optional[str]:
    """The string literal assigned to `attribute` at module level, read without importing."""
    if not path.is_file():
        return None
    source = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(source)
    except SyntaxError:
        match = re.search(rf"^{re.escape(attribute)}\s*=\s*['\"]([^'\"]+)['\"]", source, re.M)
        return match.group(1) if match else None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        for target in targets:
            if isinstance(target, ast.Name) and target.id == attribute:
                value = getattr(node, "value", None)
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    return value.value
    return None
