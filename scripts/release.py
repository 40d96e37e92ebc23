#!/usr/bin/env python3
"""Build and check a release of sentry-release; what .github/workflows/release.yml runs.

    python3 scripts/release.py build [--tag v0.1.0] [--out dist] [--notes notes/release-notes.md]
        checks that the tag, pyproject.toml's version and CHANGELOG.md's newest section agree,
        builds the sdist and wheel (python -m build), runs `twine check --strict` on them, checks
        that the wheel carries the version and the console script, and writes the changelog
        section of the version as the GitHub release's notes. Publishes nothing: this is the
        release workflow's dry mode, and its first job on a tag.
    python3 scripts/release.py notes [VERSION]
        prints CHANGELOG.md's section of VERSION (default: pyproject.toml's).

Needs `build` and `twine` (the project's `test` extra has both). Exit 2 when the versions
disagree, 1 when the build or a check fails, each with one line that says what to fix.
"""

from __future__ import annotations

import argparse
import configparser
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = re.compile(r"^## \[(?P<version>[^\]]+)\]", re.M)
SEMVER_TAG = re.compile(r"v(?P<version>\d+\.\d+\.\d+(?:[-.+][0-9A-Za-z.+-]+)?)")


class ReleaseError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def project_version(root: Path) -> str:
    match = re.search(r'^version\s*=\s*"([^"]+)"', (root / "pyproject.toml").read_text(), re.M)
    if not match:
        raise ReleaseError("pyproject.toml has no static [project] version", 2)
    return match.group(1)


def changelog_versions(text: str) -> list[str]:
    """Released versions, newest first (the `Unreleased` section is not one)."""
    return [m.group("version") for m in SECTION.finditer(text) if m.group("version").lower() != "unreleased"]


def changelog_section(text: str, version: str) -> str:
    headings = list(SECTION.finditer(text))
    for index, heading in enumerate(headings):
        if heading.group("version") == version:
            end = headings[index + 1].start() if index + 1 < len(headings) else len(text)
            body = text[heading.end():end]
            body = body.split("\n", 1)[1] if "\n" in body else ""  # drop the rest of the heading line
            # link definitions at the end of the file belong to no section
            body = re.sub(r"^\[[^\]]+\]: \S+\s*$", "", body, flags=re.M)
            return body.strip() + "\n"
    raise ReleaseError(f"CHANGELOG.md has no section for {version}: add '## [{version}] - YYYY-MM-DD'", 2)


def check_versions(root: Path, tag: str) -> str:
    version = project_version(root)
    changelog = (root / "CHANGELOG.md").read_text()
    newest = (changelog_versions(changelog) or ["none"])[0]
    if newest != version:
        raise ReleaseError(f"CHANGELOG.md's newest version is {newest}, pyproject.toml says {version}: "
                           f"add a '## [{version}]' section or fix the version", 2)
    if tag:
        match = SEMVER_TAG.fullmatch(tag)
        if not match:
            raise ReleaseError(f"tag {tag!r} is not a release tag: write it as v{version}", 2)
        if match.group("version") != version:
            raise ReleaseError(f"tag {tag} does not match pyproject.toml's version {version}: "
                               f"tag v{version}, or bump the version and the changelog first", 2)
    if not changelog_section(changelog, version).strip():
        raise ReleaseError(f"CHANGELOG.md's section for {version} is empty: say what changed", 2)
    return version


def run(args: list[str], what: str) -> str:
    print("+ " + " ".join(args), file=sys.stderr, flush=True)
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise ReleaseError(f"{what} failed (exit {result.returncode}); its output is above")
    return result.stdout


def build(root: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    for stale in list(out.glob("*.whl")) + list(out.glob("*.tar.gz")):
        stale.unlink()
    run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(root)], "python -m build")
    artifacts = sorted(out.glob("*.whl")) + sorted(out.glob("*.tar.gz"))
    print(run([sys.executable, "-m", "twine", "check", "--strict", *map(str, artifacts)], "twine check"),
          end="", file=sys.stderr)
    return artifacts


def check_artifacts(artifacts: list[Path], version: str) -> None:
    wheels = [a for a in artifacts if a.suffix == ".whl"]
    sdists = [a for a in artifacts if a.name.endswith(".tar.gz")]
    expected = (f"sentry_release-{version}-py3-none-any.whl", f"sentry_release-{version}.tar.gz")
    if [a.name for a in wheels + sdists] != list(expected):
        raise ReleaseError(f"expected {', '.join(expected)}; built {', '.join(a.name for a in artifacts)}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = set(wheel.namelist())
        dist_info = f"sentry_release-{version}.dist-info"
        metadata = wheel.read(f"{dist_info}/METADATA").decode()
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    if f"Version: {version}\n" not in metadata:
        raise ReleaseError(f"the wheel's METADATA does not say Version: {version}")
    scripts = configparser.ConfigParser()
    scripts.read_string(entry_points)
    if scripts.get("console_scripts", "sentry-release", fallback="").strip() != "sentry_release.cli:main":
        raise ReleaseError("the wheel has no sentry-release console script")
    if "sentry_release/cli/__init__.py" not in names:
        raise ReleaseError("the wheel does not contain the sentry_release package")
    with tarfile.open(sdists[0]) as sdist:
        members = {Path(name).relative_to(f"sentry_release-{version}").as_posix()
                   for name in sdist.getnames() if "/" in name}
    missing = {"pyproject.toml", "README.md", "sentry_release/cli/__init__.py"} - members
    if missing:
        raise ReleaseError(f"the sdist lacks {', '.join(sorted(missing))}")


def command_build(options: argparse.Namespace) -> None:
    version = check_versions(ROOT, options.tag)
    artifacts = build(ROOT, options.out)
    check_artifacts(artifacts, version)
    options.notes.parent.mkdir(parents=True, exist_ok=True)
    options.notes.write_text(changelog_section((ROOT / "CHANGELOG.md").read_text(), version))
    for artifact in artifacts:
        print(artifact)
    print(f"release {version}: {len(artifacts)} artifacts checked, notes in {options.notes}", file=sys.stderr)


def command_notes(options: argparse.Namespace) -> None:
    version = options.version or project_version(ROOT)
    sys.stdout.write(changelog_section((ROOT / "CHANGELOG.md").read_text(), version))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="check versions, build, twine check, write notes")
    build_parser.add_argument("--tag", default="", help="the pushed tag (vX.Y.Z); empty checks no tag")
    build_parser.add_argument("--out", type=Path, default=ROOT / "dist")
    build_parser.add_argument("--notes", type=Path, default=ROOT / "notes" / "release-notes.md")
    build_parser.set_defaults(func=command_build)
    notes_parser = commands.add_parser("notes", help="print a version's changelog section")
    notes_parser.add_argument("version", nargs="?")
    notes_parser.set_defaults(func=command_notes)
    options = parser.parse_args(argv)
    try:
        options.func(options)
    except ReleaseError as error:
        print(f"release: {error}", file=sys.stderr)
        return error.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
