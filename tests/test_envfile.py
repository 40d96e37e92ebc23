"""The one `.env` model: what it says each reader reads is what the real reader reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import decouple
import environ
import pytest
from dotenv import dotenv_values

from sentry_release.envfile import DECOUPLE, DOTENV, ENVIRON, parse_env, read_line, replace_lines, set_values

LINES = [
    "K=plain",
    "K=0.1  # 追踪 10% 的请求",
    "K=a#b",
    "K= # only a comment",
    "K='single' # c",
    'K="double" # c',
    'K="double"# c',
    'K="a\\"b"',
    "K='a\\'b'",
    'K="x\\ny"',
    'K="t\\tz\\\\"',
    "export K=v",
    "export  K=v",
    "  K=v",
    "K = v",
    "K=v   ",
    'K="v"   ',
    'K="a" junk',
    "K=",
    "K=''",
    'K="#not a comment"',
    "K=http://x/#frag",
    "K='\"x\"'",
    'K="unterminated',
    "K=日本語",
    "# K=commented",
]


def real_reading(reader: str, path: Path, monkeypatch: pytest.MonkeyPatch) -> Optional[tuple[str, str]]:
    """The (key, value) the real library takes from a one-line file, or None."""
    if reader == DOTENV:
        found: dict[str, Any] = dict(dotenv_values(path, interpolate=False))
    elif reader == DECOUPLE:
        found = dict(decouple.RepositoryEnv(str(path)).data)
    else:
        target: dict[str, str] = {}
        monkeypatch.setattr(environ.Env, "ENVIRON", target)
        environ.Env.read_env(str(path))
        found = target
    pairs = [(key, value) for key, value in found.items() if value is not None]
    assert len(pairs) <= 1
    return pairs[0] if pairs else None


@pytest.mark.parametrize("bom", [False, True], ids=["plain", "bom"])
@pytest.mark.parametrize("reader", [DOTENV, DECOUPLE, ENVIRON])
@pytest.mark.parametrize("line", LINES)
def test_the_model_reads_each_line_as_the_real_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      line: str, reader: str, bom: bool) -> None:
    path = tmp_path / ".env"
    path.write_bytes(("\ufeff" if bom else "").encode() + line.encode() + b"\n")
    [parsed] = parse_env(path.read_bytes().decode()).lines
    assert read_line(reader, parsed, bom) == real_reading(reader, path, monkeypatch)


def test_spans_are_byte_offsets_in_the_file() -> None:
    raw = "\ufeffA=日本\r\nB='x' # c\nC=3".encode()
    document = parse_env(raw.decode())
    assert [raw[line.start:line.end] for line in document.lines] == \
        ["A=日本\r\n".encode(), b"B='x' # c\n", b"C=3"]
    b = document.last("B")
    assert b is not None and (b.key, b.raw, b.quote, b.comment, b.value) == ("B", "'x'", "'", "# c", "x")


def test_edits_keep_every_other_byte() -> None:
    text = "\ufeff# top\r\nA=1  # one\r\nB=2\r\nC=3"
    assert replace_lines(text, {2: ["# one", "A=1"]}) == "\ufeff# top\r\n# one\r\nA=1\r\nB=2\r\nC=3"
    assert set_values(text, {"B": "two", "D": "4"}) == "\ufeff# top\r\nA=1  # one\r\nB=two\r\nC=3\r\nD=4\r\n"
