"""Write-back on real files: .env editing, atomicity, three .env readers, GitHub and GitLab files."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Callable

import decouple
import pytest
from dotenv import dotenv_values

from readers import all_read, read_with_all, read_with_decouple, read_with_dotenv, read_with_environ
from sentry_release import writeback
from sentry_release.errors import UsageError, WriteBackError
from sentry_release.writeback import (
    append_github_summary,
    render_values,
    update_env_file,
    write_github_env,
    write_github_output,
    write_gitlab_dotenv,
)

RELEASE = "v1.0.0-20240116"


# ------------------------------------------------------------------ helpers


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------ .env: in place, append, create


def test_replaces_in_place_and_keeps_every_other_line_byte_identical(tmp_path: Path) -> None:
    before_lines = [
        b"# deploy settings \xe2\x80\x94 do not edit by hand\n",
        b"\n",
        b"DEBUG=false\n",
        b"SECRET_KEY='s3cr=t # not a comment'\n",
        b"   \n",
        b"RELEASE=v0.9.0-20231201\n",
        b'SENTRY_DSN="https://k@o1.ingest.sentry.io/1"  # prod\n',
        b"#RELEASE=commented-out\n",
        b"LAST=\xff\xfe raw bytes\n",
    ]
    env = tmp_path / ".env"
    env.write_bytes(b"".join(before_lines))

    update_env_file(env, {"RELEASE": RELEASE})

    after_lines = env.read_bytes().splitlines(keepends=True)
    assert after_lines[5] == f"RELEASE={RELEASE}\n".encode()
    assert after_lines[:5] + after_lines[6:] == before_lines[:5] + before_lines[6:]


def test_appends_missing_key_at_the_end(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_bytes(b"DEBUG=false\n# trailing comment\n")
    update_env_file(env, {"RELEASE": RELEASE})
    assert env.read_bytes() == b"DEBUG=false\n# trailing comment\n" + f"RELEASE={RELEASE}\n".encode()


def test_appends_after_adding_the_missing_final_newline(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_bytes(b"DEBUG=false")
    update_env_file(env, {"RELEASE": RELEASE})
    assert env.read_bytes() == f"DEBUG=false\nRELEASE={RELEASE}\n".encode()


def test_creates_missing_file_with_the_umask_mode(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    update_env_file(env, {"RELEASE": RELEASE, "SENTRY_RELEASE": RELEASE})
    assert env.read_bytes() == f"RELEASE={RELEASE}\nSENTRY_RELEASE={RELEASE}\n".encode()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(env.stat().st_mode) == 0o666 & ~umask
    assert files_in(tmp_path) == [".env"]


def test_crlf_file_keeps_crlf_on_replaced_and_appended_lines(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_bytes(b"# c\r\nRELEASE=old\r\nDEBUG=0\r\n")
    update_env_file(env, {"RELEASE": RELEASE, "NEW_KEY": "x"})
    assert env.read_bytes() == f"# c\r\nRELEASE={RELEASE}\r\nDEBUG=0\r\nNEW_KEY=x\r\n".encode()


def test_crlf_file_without_final_newline_gets_crlf_before_append(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_bytes(b"A=1\r\nB=2")
    update_env_file(env, {"RELEASE": RELEASE})
    assert env.read_bytes() == f"A=1\r\nB=2\r\nRELEASE={RELEASE}\r\n".encode()


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("RELEASE=old", f"RELEASE={RELEASE}"),
        ("RELEASE='old'", f"RELEASE='{RELEASE}'"),
        ('RELEASE="old"', f'RELEASE="{RELEASE}"'),
        ("export RELEASE=old", f"export RELEASE={RELEASE}"),
        ("export RELEASE='old'", f"export RELEASE='{RELEASE}'"),
        ("RELEASE='old' # set by CI", f"RELEASE='{RELEASE}' # set by CI"),
        ('RELEASE="old"   # set by CI', f'RELEASE="{RELEASE}"   # set by CI'),
        ("RELEASE=old # bare, dotenv-style comment", f"RELEASE={RELEASE} # bare, dotenv-style comment"),
        ("RELEASE=old   ", f"RELEASE={RELEASE}"),  # trailing blanks would be read by django-environ
        ("RELEASE=", f"RELEASE={RELEASE}"),
        ("RELEASE=''", f"RELEASE='{RELEASE}'"),
    ],
)
def test_replaced_line_keeps_prefix_quoting_and_inline_comment(tmp_path: Path, original: str, expected: str) -> None:
    env = tmp_path / ".env"
    env.write_text(f"A=1\n{original}\nB=2\n")
    update_env_file(env, {"RELEASE": RELEASE})
    assert env.read_text() == f"A=1\n{expected}\nB=2\n"


def test_every_assignment_of_a_duplicated_key_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("RELEASE=first\nA=1\nRELEASE='second'\n")
    update_env_file(env, {"RELEASE": RELEASE})
    assert env.read_text() == f"RELEASE={RELEASE}\nA=1\nRELEASE='{RELEASE}'\n"
    assert read_with_all(env, "RELEASE", monkeypatch) == all_read(RELEASE)


def test_similar_keys_and_comments_are_not_touched(tmp_path: Path) -> None:
    text = "SENTRY_RELEASE=a\nRELEASE_NAME=b\n# RELEASE=c\nMY_RELEASE=d\n"
    env = tmp_path / ".env"
    env.write_text(text)
    update_env_file(env, {"RELEASE": RELEASE})
    assert env.read_text() == text + f"RELEASE={RELEASE}\n"


def test_unchanged_value_does_not_rewrite_the_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(f"RELEASE={RELEASE}\n")
    inode = env.stat().st_ino
    update_env_file(env, {"RELEASE": RELEASE})
    assert env.stat().st_ino == inode


def test_file_mode_is_kept(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("RELEASE=old\n")
    env.chmod(0o640)
    update_env_file(env, {"RELEASE": RELEASE})
    assert stat.S_IMODE(env.stat().st_mode) == 0o640
    assert env.stat().st_uid == os.geteuid()


def test_symlinked_env_is_updated_at_its_target(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    target = shared / "app.env"
    target.write_text("A=1\nRELEASE=old\n")
    target.chmod(0o600)
    link = tmp_path / ".env"
    link.symlink_to(target)

    update_env_file(link, {"RELEASE": RELEASE})

    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == f"A=1\nRELEASE={RELEASE}\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert files_in(shared) == ["app.env"]


# ------------------------------------------------------------------ .env: unsafe input


@pytest.mark.parametrize("key", ["", "1RELEASE", "RE-LEASE", "RE LEASE", "RELEASE\n", "export RELEASE", "RÉLEASE"])
def test_invalid_keys_are_refused(tmp_path: Path, key: str) -> None:
    env = tmp_path / ".env"
    with pytest.raises(UsageError, match="invalid variable name"):
        update_env_file(env, {key: RELEASE})
    assert not env.exists()


@pytest.mark.parametrize("value", ["v1\nEVIL=1", "v1\r", "v\x00", "v\x1b[31m"])
def test_control_characters_are_refused_and_nothing_is_written(tmp_path: Path, value: str) -> None:
    env = tmp_path / ".env"
    env.write_text("RELEASE=old\n")
    with pytest.raises(UsageError, match="control character"):
        update_env_file(env, {"RELEASE": value})
    assert env.read_text() == "RELEASE=old\n"


@pytest.mark.parametrize("value", ["${HOME}", "a'b\"c", "a'b\\c", '"quoted"'])
def test_values_without_a_portable_form_are_refused(tmp_path: Path, value: str) -> None:
    env = tmp_path / ".env"
    env.write_text("RELEASE=old\n")
    with pytest.raises(UsageError, match="value for RELEASE"):
        update_env_file(env, {"RELEASE": value})
    assert env.read_text() == "RELEASE=old\n"


@pytest.mark.parametrize(
    ("original", "value", "expected"),
    [
        ("RELEASE=old", "v1 beta", "RELEASE='v1 beta'"),
        ("RELEASE=old", "v1 #2", "RELEASE='v1 #2'"),
        ("RELEASE=old", "a$b", "RELEASE='a$b'"),
        ("RELEASE=old", 'say "hi"', "RELEASE='say \"hi\"'"),
        ("RELEASE=old", "it's", 'RELEASE="it\'s"'),
        ("RELEASE='old'", "it's", 'RELEASE="it\'s"'),
        ('RELEASE="old"', "C:\\rel", "RELEASE='C:\\rel'"),
        ("export RELEASE=old", "v 1", "export RELEASE='v 1'"),
        ("RELEASE=old", "naïve-1.0", "RELEASE=naïve-1.0"),
    ],
)
def test_unsafe_bare_values_get_a_portable_quoting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, original: str, value: str, expected: str
) -> None:
    env = tmp_path / ".env"
    env.write_text(f"{original}\n")
    update_env_file(env, {"RELEASE": value})
    assert env.read_text() == f"{expected}\n"
    readers = read_with_all(env, "RELEASE", monkeypatch)
    if original.startswith("export "):
        assert readers == {"dotenv": value, "decouple": None, "environ": value}
    else:
        assert readers == all_read(value)


# ------------------------------------------------------------------ .env: the three readers


@pytest.mark.parametrize("original", ["RELEASE=old", "RELEASE='old'", 'RELEASE="old"', None])
@pytest.mark.parametrize("value", [RELEASE, "v1.0.0+build.7", "2024-01-16 hotfix", "release#1", "a=b"])
def test_plain_assignments_are_read_identically_by_all_three_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, original: str | None, value: str
) -> None:
    env = tmp_path / ".env"
    env.write_text("DEBUG=false\n" + (f"{original}\n" if original else "") + "OTHER='x y'\n")
    update_env_file(env, {"RELEASE": value})
    assert read_with_all(env, "RELEASE", monkeypatch) == all_read(value)
    assert read_with_all(env, "OTHER", monkeypatch) == all_read("x y")


def test_default_release_name_is_written_bare(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    update_env_file(env, {"RELEASE": RELEASE})
    assert env.read_text() == "RELEASE=v1.0.0-20240116\n"


@pytest.mark.parametrize("original", ["export RELEASE=old", "export RELEASE='old'", 'export RELEASE="old"'])
def test_export_prefix_is_kept_and_decouple_files_it_under_another_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, original: str
) -> None:
    env = tmp_path / ".env"
    env.write_text(f"{original}\n")
    update_env_file(env, {"RELEASE": RELEASE})
    assert read_with_dotenv(env, "RELEASE") == RELEASE
    assert read_with_environ(env, "RELEASE", monkeypatch) == RELEASE
    # python-decouple 3.8 does not know `export`: the key it stores is literally "export RELEASE".
    assert read_with_decouple(env, "RELEASE", monkeypatch) is None
    assert decouple.RepositoryEnv(str(env)).data == {"export RELEASE": RELEASE}


def test_inline_comment_after_quoted_value_is_kept_as_each_reader_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / ".env"
    env.write_text("RELEASE='old' # set by CI\n")
    update_env_file(env, {"RELEASE": RELEASE})
    # The user's comment is kept; only python-dotenv treats it as a comment.
    assert read_with_all(env, "RELEASE", monkeypatch) == {
        "dotenv": RELEASE,
        "decouple": f"'{RELEASE}' # set by CI",
        "environ": f"'{RELEASE}' # set by CI",
    }


def test_process_environment_overrides_the_file_for_decouple_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / ".env"
    update_env_file(env, {"RELEASE": RELEASE})
    monkeypatch.setenv("RELEASE", "from-process")
    assert decouple.Config(decouple.RepositoryEnv(str(env)))("RELEASE") == "from-process"
    assert dotenv_values(env)["RELEASE"] == RELEASE


# ------------------------------------------------------------------ .env: atomicity


class Crash(BaseException):
    """Stands for the process dying at this point (not an OSError, so nothing handles it)."""


ORIGINAL = b"# keep me\r\nRELEASE=old\r\nB='x'\r\n"


def failing_once(real: Callable, exc: BaseException, call: int = 1) -> Callable:
    calls = {"n": 0}

    def fake(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise exc
        return real(*args, **kwargs)

    return fake


class HalfWriter:
    """A file object whose write puts half the bytes on disk, then fails."""

    def __init__(self, stream, exc: BaseException) -> None:
        self._stream, self._exc = stream, exc

    def write(self, data: bytes) -> int:
        self._stream.write(data[: len(data) // 2])
        self._stream.flush()
        raise self._exc

    def __getattr__(self, name: str):
        return getattr(self._stream, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self._stream.close()


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), Crash()], ids=["oserror", "crash"])
@pytest.mark.parametrize("point", ["create", "write", "fchmod", "fsync", "replace"])
def test_failure_at_any_point_before_rename_leaves_original_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str, exc: BaseException
) -> None:
    env = tmp_path / ".env"
    env.write_bytes(ORIGINAL)
    env.chmod(0o640)
    if point == "write":
        real_fdopen = os.fdopen
        monkeypatch.setattr(os, "fdopen", lambda *a, **k: HalfWriter(real_fdopen(*a, **k), exc))
    elif point == "create":
        monkeypatch.setattr(os, "open", failing_once(os.open, exc))
    else:
        monkeypatch.setattr(os, point, failing_once(getattr(os, point), exc))

    expected = WriteBackError if isinstance(exc, OSError) else Crash
    with pytest.raises(expected):
        update_env_file(env, {"RELEASE": RELEASE})

    assert env.read_bytes() == ORIGINAL
    assert stat.S_IMODE(env.stat().st_mode) == 0o640
    assert files_in(tmp_path) == [".env"]


def test_write_error_message_says_the_file_was_left_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_bytes(ORIGINAL)
    monkeypatch.setattr(os, "replace", failing_once(os.replace, OSError(13, "Permission denied")))
    with pytest.raises(WriteBackError, match=r"cannot write .*\.env: Permission denied; it was left unchanged"):
        update_env_file(env, {"RELEASE": RELEASE})


def test_crash_after_rename_leaves_the_complete_new_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_bytes(ORIGINAL)
    # First fsync is the temp file's, the second the folder's (after the rename).
    monkeypatch.setattr(os, "fsync", failing_once(os.fsync, Crash(), call=2))
    with pytest.raises(Crash):
        update_env_file(env, {"RELEASE": RELEASE})
    assert env.read_bytes() == ORIGINAL.replace(b"old", RELEASE.encode())
    assert files_in(tmp_path) == [".env"]


def test_unwritable_folder_is_an_operational_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    folder = tmp_path / "ro"
    folder.mkdir()
    env = folder / ".env"
    env.write_bytes(ORIGINAL)
    folder.chmod(0o500)
    try:
        with pytest.raises(WriteBackError, match="writable"):
            update_env_file(env, {"RELEASE": RELEASE})
    finally:
        folder.chmod(0o700)
    assert env.read_bytes() == ORIGINAL


WRITER_LOOP = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from sentry_release.writeback import update_env_file

    path = Path(sys.argv[1])
    value = "a" * 4000
    print("ready", flush=True)
    i = 0
    while True:
        update_env_file(path, {"RELEASE": value if i % 2 else "b" * 6000})
        i += 1
    """
)


def test_sigkill_during_repeated_writes_never_leaves_a_partial_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    head = b"# header\nDEBUG=false\n"
    tail = b"SECRET='x y'\n"
    env.write_bytes(head + b"RELEASE=start\n" + tail)
    acceptable = {head + b"RELEASE=" + v + b"\n" + tail for v in (b"start", b"a" * 4000, b"b" * 6000)}

    for delay in (0.0, 0.01, 0.03, 0.07, 0.15):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER_LOOP, str(env)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        assert env.read_bytes() in acceptable
        # A temp file may survive SIGKILL (nothing can clean up after it), never a torn .env.
        assert all(name == ".env" or name.startswith("..env.") for name in files_in(tmp_path))


# ------------------------------------------------------------------ GitHub Actions files


def parse_github_file(text: str) -> dict[str, str]:
    """GitHub's documented $GITHUB_ENV / $GITHUB_OUTPUT format, as the runner reads it.

    Lines (LF, CRLF or CR end a line) are either `NAME=value` (when `=` comes before any `<<`)
    or `NAME<<DELIMITER`, followed by value lines up to a line equal to DELIMITER.
    """
    lines = re.split(r"\r\n|\r|\n", text)
    result: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals > 0 and (heredoc < 0 or equals < heredoc):
            result[line[:equals]] = line[equals + 1 :]
        elif heredoc > 0:
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            assert delimiter, f"empty heredoc delimiter for {name}"
            body: list[str] = []
            while True:
                assert index < len(lines), f"heredoc for {name} never closed"
                if lines[index] == delimiter:
                    index += 1
                    break
                body.append(lines[index])
                index += 1
            result[name] = "\n".join(body)
        else:
            raise AssertionError(f"invalid line in GitHub file: {line!r}")
    return result


@pytest.mark.parametrize("writer", [write_github_env, write_github_output])
def test_github_values_land_as_key_value_lines(tmp_path: Path, writer: Callable) -> None:
    path = tmp_path / "github_file"
    path.write_text("EARLIER=1\n")
    writer(path, {"RELEASE": RELEASE})
    writer(path, {"release": RELEASE, "release_url": "https://sentry.io/r/?a=1&b=2"})
    assert path.read_text() == (
        f"EARLIER=1\nRELEASE={RELEASE}\nrelease={RELEASE}\nrelease_url=https://sentry.io/r/?a=1&b=2\n"
    )
    assert parse_github_file(path.read_text()) == {
        "EARLIER": "1",
        "RELEASE": RELEASE,
        "release": RELEASE,
        "release_url": "https://sentry.io/r/?a=1&b=2",
    }


@pytest.mark.parametrize(
    "value",
    [
        "v1\nEVIL=1",
        "v1\r\nEVIL=1",
        "v1\nEOF\nEVIL=1\nEOF",
        "v1\nghadelimiter_\nEVIL=1",
        "line\nEVIL<<X\nX\n",
    ],
)
@pytest.mark.parametrize("writer", [write_github_env, write_github_output])
def test_newline_in_value_cannot_inject_a_second_variable(tmp_path: Path, writer: Callable, value: str) -> None:
    path = tmp_path / "github_file"
    writer(path, {"RELEASE": value})
    writer(path, {"AFTER": "ok"})
    parsed = parse_github_file(path.read_text())
    assert set(parsed) == {"RELEASE", "AFTER"}
    # The runner reads CR as a line break and joins heredoc lines with LF.
    assert parsed["RELEASE"] == re.sub(r"\r\n|\r", "\n", value)
    assert parsed["AFTER"] == "ok"


def test_heredoc_delimiter_is_fresh_each_time(tmp_path: Path) -> None:
    path = tmp_path / "github_env"
    write_github_env(path, {"A": "1\n2"})
    write_github_env(path, {"B": "3\n4"})
    delimiters = re.findall(r"^[AB]<<(ghadelimiter_[0-9a-f]{32})$", path.read_text(), re.M)
    assert len(delimiters) == 2 and delimiters[0] != delimiters[1]


def test_heredoc_delimiter_found_in_value_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = uuid.UUID(int=1), uuid.UUID(int=2)
    sequence = iter([first, second])
    monkeypatch.setattr(writeback.uuid, "uuid4", lambda: next(sequence))
    value = f"x\nghadelimiter_{first.hex}\nEVIL=1"
    path = tmp_path / "github_output"
    write_github_output(path, {"release": value})
    assert path.read_text().startswith(f"release<<ghadelimiter_{second.hex}\n")
    assert parse_github_file(path.read_text()) == {"release": value}


@pytest.mark.parametrize("key", ["", "A=B", "A<<B", "A B", "1A", "A\nB"])
def test_github_keys_are_validated(tmp_path: Path, key: str) -> None:
    path = tmp_path / "github_env"
    with pytest.raises(UsageError, match="invalid variable name"):
        write_github_env(path, {key: "x"})
    assert not path.exists()


def test_github_summary_is_appended_with_a_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    append_github_summary(path, "## Release `v1`")
    append_github_summary(path, "- deployed\n")
    assert path.read_text() == "## Release `v1`\n- deployed\n"


def test_github_append_to_missing_folder_is_operational_error(tmp_path: Path) -> None:
    with pytest.raises(WriteBackError, match="cannot append"):
        write_github_env(tmp_path / "missing" / "env", {"RELEASE": RELEASE})


# ------------------------------------------------------------------ GitLab dotenv report


def assert_valid_gitlab_dotenv(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) <= 5 * 1024
    for line in data.decode().removesuffix("\n").split("\n"):
        assert re.fullmatch(r"[A-Za-z0-9_]+=[^\s'\"#]*", line), line


def test_gitlab_dotenv_keeps_other_keys_and_replaces_ours(tmp_path: Path) -> None:
    path = tmp_path / "deploy.env"
    path.write_text("BUILD_ID=42\nRELEASE=old\nDEPLOY_URL=https://x.example\n")
    write_gitlab_dotenv(path, {"RELEASE": RELEASE, "SENTRY_RELEASE": RELEASE})
    assert path.read_text() == (
        f"BUILD_ID=42\nRELEASE={RELEASE}\nDEPLOY_URL=https://x.example\nSENTRY_RELEASE={RELEASE}\n"
    )
    assert_valid_gitlab_dotenv(path)


def test_gitlab_dotenv_is_created(tmp_path: Path) -> None:
    path = tmp_path / "sentry-release.env"
    write_gitlab_dotenv(path, {"RELEASE": RELEASE, "9LIVES": "ok"})  # GitLab allows a leading digit
    assert path.read_text() == f"RELEASE={RELEASE}\n9LIVES=ok\n"
    assert_valid_gitlab_dotenv(path)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("a b", "spaces"),
        ("a\nEVIL=1", "newlines"),
        ("a\rb", "carriage returns"),
        ("'v1'", "quotes"),
        ('"v1"', "quotes"),
        ("v1#x", "comments"),
        ("a\tb", "tabs"),
    ],
)
def test_gitlab_values_breaking_its_rules_are_refused(tmp_path: Path, value: str, why: str) -> None:
    path = tmp_path / "deploy.env"
    path.write_text("KEEP=1\n")
    with pytest.raises(UsageError, match=why):
        write_gitlab_dotenv(path, {"RELEASE": value})
    assert path.read_text() == "KEEP=1\n"


@pytest.mark.parametrize("key", ["RE-LEASE", "RELEASE.NAME", "", "RÉLEASE", "A B"])
def test_gitlab_keys_breaking_its_rules_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(UsageError, match="invalid variable name"):
        write_gitlab_dotenv(tmp_path / "deploy.env", {key: "x"})


def test_gitlab_size_limit_is_checked_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "deploy.env"
    path.write_text("BIG=" + "x" * 5000 + "\n")
    before = path.read_bytes()
    with pytest.raises(UsageError, match="at most 5120"):
        write_gitlab_dotenv(path, {"RELEASE": "v" * 200})
    assert path.read_bytes() == before
    assert files_in(tmp_path) == ["deploy.env"]


def test_gitlab_exactly_5_kib_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "deploy.env"
    write_gitlab_dotenv(path, {"RELEASE": "v" * (5 * 1024 - len("RELEASE=\n"))})
    assert len(path.read_bytes()) == 5 * 1024


@pytest.mark.parametrize("content", ["# comment\nA=1\n", "A=1\n\nB=2\n", "export A=1\n", "A-B=1\n"])
def test_gitlab_existing_file_breaking_its_rules_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "deploy.env"
    path.write_text(content)
    with pytest.raises(UsageError, match="line .* is not KEY=value"):
        write_gitlab_dotenv(path, {"RELEASE": RELEASE})
    assert path.read_text() == content


# ------------------------------------------------------------------ stdout formats


TRICKY = "it's \"$HOME\" `id` \\ ; & | * ~ $(echo no)\nsecond line"


@pytest.mark.parametrize("value", [RELEASE, "", "a b", TRICKY, "naïve ✓"])
def test_shell_format_round_trips_through_bash(value: str) -> None:
    script = render_values({"RELEASE": value, "OTHER": "x"}, "shell")
    assert script.startswith("export RELEASE=")
    result = subprocess.run(
        ["bash", "-c", 'eval "$(cat)"; printf %s "$RELEASE"'],
        input=script.encode(),
        capture_output=True,
        check=True,
        env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"},
    )
    assert result.stdout.decode() == value


def test_json_format_parses_to_the_same_values() -> None:
    values = {"RELEASE": RELEASE, "release_url": "https://sentry.io/x", "ODD": TRICKY}
    assert json.loads(render_values(values, "json")) == values


def test_dotenv_format_uses_portable_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = render_values({"RELEASE": RELEASE, "NOTE": "two words"}, "dotenv")
    assert text == f"RELEASE={RELEASE}\nNOTE='two words'\n"
    env = tmp_path / ".env"
    env.write_text(text)
    assert read_with_all(env, "NOTE", monkeypatch) == all_read("two words")


def test_dotenv_format_refuses_newlines() -> None:
    with pytest.raises(UsageError, match="control character"):
        render_values({"RELEASE": "a\nb"}, "dotenv")


def test_unknown_format_and_bad_keys_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown format 'yaml'"):
        render_values({"RELEASE": RELEASE}, "yaml")
    with pytest.raises(UsageError, match="invalid variable name"):
        render_values({"BAD KEY": RELEASE}, "shell")


FUZZ_ALPHABET = "aZ09._-+:/@%=~^ \t#'\"$\\`{}()!;&|*?<>,é✓"


@pytest.mark.parametrize("original", ["RELEASE=old", "RELEASE='old'", 'RELEASE="old"'])
def test_every_value_written_is_read_identically_or_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, original: str
) -> None:
    rng = random.Random(20240116)
    env = tmp_path / ".env"
    written = 0
    for _ in range(300):
        value = "".join(rng.choice(FUZZ_ALPHABET) for _ in range(rng.randint(0, 8)))
        env.write_text(f"A=1\n{original}\n")
        try:
            update_env_file(env, {"RELEASE": value})
        except UsageError:
            assert env.read_text() == f"A=1\n{original}\n"
            continue
        written += 1
        assert read_with_all(env, "RELEASE", monkeypatch) == all_read(value), env.read_text()
    assert written > 150  # most values have a portable form


def test_byte_order_mark_is_kept_and_does_not_hide_the_first_key(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"\xef\xbb\xbfRELEASE=old\nDEBUG=False\n")
    update_env_file(env_file, {"RELEASE": "v1.0.0-20240116"})
    assert env_file.read_bytes() == b"\xef\xbb\xbfRELEASE=v1.0.0-20240116\nDEBUG=False\n"
