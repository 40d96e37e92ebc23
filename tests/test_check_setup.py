"""Issue 13: `check` never passes a setup whose error reporting is broken (against the emulator,
the `.env` cases read back with the real python-dotenv, python-decouple and django-environ)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import pytest

from clirun import Run, run_cli
from gitrepo import GitRepo
from readers import READERS, read_as
from test_check import RELEASE, checks_by_key, good_env

GUIDE_LINE = "SENTRY_TRACES_SAMPLE_RATE=0.1  # 追踪 10% 的请求"


@pytest.fixture
def app(repo: GitRepo) -> GitRepo:
    repo.commit("initial", {"app.py": "v0\n"}, date="2024-01-10T08:00:00+00:00")
    repo.tag("v1.0.0")
    repo.commit("fix", {"app.py": "v1\n"}, date="2024-01-16T10:00:00+00:00")
    return repo


@pytest.fixture
def deployed(sentry_emulator: Any) -> Any:
    sentry_emulator.add_release("acme", RELEASE, ["shop"])
    return sentry_emulator


def env_text(values: dict[str, str], *extra: str) -> str:
    return "# app settings\n" + "".join(f"{k}={v}\n" for k, v in values.items()) + "".join(f"{x}\n" for x in extra)


def check(repo: GitRepo, env: dict[str, str], *args: str, env_file: str = ".env") -> Run:
    result = run_cli(["check", "--env-file", env_file, *args], repo.path, env=env)
    assert "Traceback" not in result.output
    token = env.get("SENTRY_AUTH_TOKEN")
    assert not token or token not in result.output, "the auth token leaked"
    return result


def failed_item(result: Run, key: str) -> dict[str, Any]:
    assert result.code == 1, result.output
    item = checks_by_key(result)[key]
    assert item["status"] == "failure", item
    assert item["fix"] and "\n" not in item["fix"]
    return item


# -- the DSN's key and project -----------------------------------------------------------------

def test_a_key_the_project_does_not_have_fails_and_fix_swaps_it(app: GitRepo, deployed: Any,
                                                                 sentry_env: dict[str, str]) -> None:
    project = deployed.project
    bad = f"http://{'0' * 32}@127.0.0.1:{deployed.port}/{project.id}"
    app.write(".env", env_text(good_env(deployed, SENTRY_DSN=bad)))
    item = failed_item(check(app, sentry_env, "--json"), "dsn_key")
    assert "not a client key of shop" in item["message"] and "--fix" in item["fix"]
    assert "0" * 32 not in item["message"]
    assert deployed.requests_to("GET", "/projects/acme/shop/keys/")

    fixed = check(app, sentry_env, "--fix", "--json")
    assert fixed.code == 0, fixed.output
    data = json.loads(fixed.stdout)
    assert any("set SENTRY_DSN=http://***@127.0.0.1" in change for change in data["fixed"])
    assert f"SENTRY_DSN={deployed.dsn()}\n" in (app.path / ".env").read_text()
    assert checks_by_key(fixed)["dsn_key"]["status"] == "ok"


def test_a_disabled_key_fails(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    deployed.project.key_active = False
    app.write(".env", env_text(good_env(deployed)))
    item = failed_item(check(app, sentry_env, "--json"), "dsn_key")
    assert item["message"] == "the DSN's key is disabled in shop: Sentry refuses the app's events"
    assert "enable the key" in item["fix"]
    fixed = check(app, sentry_env, "--fix", "--json")
    assert json.loads(fixed.stdout)["fixed"] == []   # no active key to swap in


def test_a_project_id_that_does_not_exist_fails(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    app.write(".env", env_text(good_env(deployed, SENTRY_DSN=f"http://{'a' * 32}@127.0.0.1:{deployed.port}/999")))
    item = failed_item(check(app, sentry_env, "--json"), "dsn_project")
    assert "project id 999, which does not exist in acme" in item["message"]
    assert f"production's project is shop (id {deployed.project.id})" in item["message"]


def test_the_production_dsn_in_the_staging_env_fails_naming_both(app: GitRepo, deployed: Any,
                                                                 sentry_env: dict[str, str]) -> None:
    staging = deployed.add_project("acme", "shop-staging")
    app.write("pyproject.toml", "[tool.sentry-release.environments.production]\nprojects = [\"shop\"]\n"
                                "[tool.sentry-release.environments.staging]\nprojects = [\"shop-staging\"]\n")
    values = good_env(deployed, ENVIRONMENT="staging")
    app.write(".env.staging", env_text(values))
    env = {key: value for key, value in sentry_env.items() if key != "SENTRY_PROJECT"}
    item = failed_item(check(app, env, "-e", "staging", "--json", env_file=".env.staging"), "dsn_project")
    assert f"sends to shop (id {deployed.project.id})" in item["message"]
    assert f"staging's project is shop-staging (id {staging.id})" in item["message"]

    fixed = check(app, env, "-e", "staging", "--fix", "--json", env_file=".env.staging")
    assert checks_by_key(fixed)["dsn_project"]["status"] == "ok", fixed.output
    assert f"SENTRY_DSN={deployed.dsn(staging)}\n" in (app.path / ".env.staging").read_text()


@pytest.mark.parametrize("kind", ["user token without project:read", "organization auth token"])
def test_a_token_that_cannot_read_keys_warns_naming_the_scope(app: GitRepo, deployed: Any,
                                                              sentry_env: dict[str, str], kind: str) -> None:
    if kind == "organization auth token":
        env = {"SENTRY_AUTH_TOKEN": deployed.make_org_token(), "SENTRY_PROJECT": "shop"}
    else:
        token = "sntryu_" + "cd" * 32
        deployed.add_token(token, ["project:releases", "org:read"])
        env = {**sentry_env, "SENTRY_AUTH_TOKEN": token}
    app.write(".env", env_text(good_env(deployed)))
    result = check(app, env, "--json")
    assert result.code == 0, result.output
    items = checks_by_key(result)
    assert items["dsn_key"]["status"] == "warning" or items["dsn_project"]["status"] == "warning"
    unverified = [item for item in items.values() if item["key"] in ("dsn_key", "dsn_project")
                  and item["status"] == "warning"]
    assert all("project:read" in item["message"] + (item["fix"] or "") for item in unverified)


# -- values the app's reader misreads (checked with the real readers) ---------------------------

MEANT: dict[str, Any] = {"SENTRY_TRACES_SAMPLE_RATE": 0.1, "SENTRY_SAMPLE_RATE": 1.0, "DEBUG": False,
                         "ENVIRONMENT": "production", "RELEASE": RELEASE}
CAST: dict[str, Any] = {"SENTRY_TRACES_SAMPLE_RATE": float, "SENTRY_SAMPLE_RATE": float, "DEBUG": bool}

BAD_LINES = [
    (GUIDE_LINE, {"python-decouple", "django-environ"}),
    ("SENTRY_SAMPLE_RATE=1.0  # 报告所有错误", {"python-decouple"}),
    ("DEBUG=False  # 生产环境必须是 False", {"python-decouple"}),
    ('ENVIRONMENT="production"  # the live site', {"python-decouple", "django-environ"}),
    ("export ENVIRONMENT=production", {"python-decouple"}),
    ("ENVIRONMENT = production", {"django-environ"}),
    (f"RELEASE={RELEASE}   ", {"django-environ"}),
]


def with_line(deployed: Any, line: str) -> str:
    key = line.replace("export ", "").split("=")[0].strip()
    values = good_env(deployed)
    values.pop(key)
    return env_text(values, line)


def line_key(line: str) -> str:
    return line.replace("export ", "").split("=")[0].strip()


def reads_as_meant(reader: str, path: Path, key: str, monkeypatch: pytest.MonkeyPatch) -> bool:
    cast = CAST.get(key)
    if reader == "python-dotenv" and cast is bool:
        cast = None   # python-dotenv hands the app text only
    got = read_as(reader, path, key, monkeypatch, cast)
    meant = MEANT[key] if cast is not None or not isinstance(MEANT[key], bool) else str(MEANT[key])
    return got == meant and not isinstance(got, Exception)


@pytest.mark.parametrize(("line", "misreaders"), BAD_LINES, ids=[line for line, _ in BAD_LINES])
def test_a_misread_line_fails_naming_the_reader_and_fix_makes_every_reader_read_it(
        app: GitRepo, deployed: Any, sentry_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        line: str, misreaders: set[str]) -> None:
    key = line_key(line)
    app.write(".env", with_line(deployed, line))
    path = app.path / ".env"
    for reader in READERS:   # the real libraries: exactly the named ones get it wrong
        assert reads_as_meant(reader, path, key, monkeypatch) is (reader not in misreaders), reader

    result = check(app, sentry_env, "--json")
    item = failed_item(result, f"env_file:{key}")
    named = {reader for reader in READERS if reader in item["message"]}
    assert named == misreaders, item["message"]
    assert item["readers"] == list(READERS)
    assert "--fix" in item["fix"]

    before = path.read_bytes()
    fixed = check(app, sentry_env, "--fix", "--json")
    assert fixed.code == 0, fixed.output
    assert json.loads(fixed.stdout)["fixed"], fixed.stdout
    for reader in READERS:
        assert reads_as_meant(reader, path, key, monkeypatch), reader
    kept = before[:before.index(line.encode())]
    assert path.read_bytes().startswith(kept)   # every line before the bad one, byte for byte
    assert [name for name in path.parent.iterdir() if name.name.startswith(".env.")] == []


def test_the_guides_line_fails_with_the_exact_fix(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    app.write(".env", with_line(deployed, GUIDE_LINE))
    item = failed_item(check(app, sentry_env, "--json"), "env_file:SENTRY_TRACES_SAMPLE_RATE")
    assert "python-decouple reads '0.1  # 追踪 10% 的请求' (config(cast=float) raises ValueError)" in item["message"]
    assert "django-environ reads '0.1  # 追踪 10% 的请求' (env.float() gives 0.11)" in item["message"]
    assert item["fix"].startswith("move the comment to its own line: put `# 追踪 10% 的请求` on a line of its own "
                                  "above `SENTRY_TRACES_SAMPLE_RATE=0.1`")
    human = check(app, sentry_env)
    assert f"fix: {item['fix']}" in human.stdout


def test_fix_moves_the_comment_and_keeps_every_other_byte(app: GitRepo, deployed: Any,
                                                          sentry_env: dict[str, str]) -> None:
    values = good_env(deployed)
    del values["SENTRY_TRACES_SAMPLE_RATE"]
    head = "\ufeff# app settings\r\n" + "".join(f"{k}={v}\r\n" for k, v in values.items())
    (app.path / ".env").write_bytes((head + GUIDE_LINE + "\r\nOTHER='kept as is' # untouched\r\n").encode())
    result = check(app, sentry_env, "--fix")
    assert result.code == 0, result.output
    assert "fixed    .env line" in result.stdout and "moved its comment to the line above" in result.stdout
    assert (app.path / ".env").read_bytes() == (
        head + "# 追踪 10% 的请求\r\nSENTRY_TRACES_SAMPLE_RATE=0.1\r\nOTHER='kept as is' # untouched\r\n").encode()


@pytest.mark.parametrize("release", ["v0.9.0-20231201", None], ids=["stale", "missing"])
def test_fix_writes_a_stale_or_missing_release(app: GitRepo, deployed: Any, sentry_env: dict[str, str],
                                               release: Optional[str]) -> None:
    app.write(".env", env_text(good_env(deployed, RELEASE=release)))
    result = check(app, sentry_env, "--fix", "--json")
    assert result.code == 0, result.output
    was = f"was {release}" if release else "it was missing"
    assert json.loads(result.stdout)["fixed"] == [f".env: set RELEASE={RELEASE} ({was})"]
    expected = env_text(good_env(deployed)) if release else \
        env_text(good_env(deployed, RELEASE=None)) + f"RELEASE={RELEASE}\n"
    assert (app.path / ".env").read_text() == expected


def test_fix_with_nothing_to_fix_leaves_the_file_alone(app: GitRepo, deployed: Any,
                                                       sentry_env: dict[str, str]) -> None:
    app.write(".env", env_text(good_env(deployed)))
    before = (app.path / ".env").stat()
    result = check(app, sentry_env, "--fix", "--json")
    assert result.code == 0 and json.loads(result.stdout)["fixed"] == []
    after = (app.path / ".env").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_misread_dsn_is_named_without_its_key_and_fixed(app: GitRepo, deployed: Any,
                                                          sentry_env: dict[str, str]) -> None:
    app.write(".env", with_line(deployed, f"SENTRY_DSN={deployed.dsn()}  # production's project"))
    item = failed_item(check(app, sentry_env, "--json"), "env_file:SENTRY_DSN")
    assert "python-decouple reads it differently" in item["message"]
    assert deployed.project.public_key not in item["message"] + item["fix"]
    fixed = check(app, sentry_env, "--fix", "--json")
    assert fixed.code == 0, fixed.output
    assert deployed.project.public_key not in fixed.stdout
    assert f"# production's project\nSENTRY_DSN={deployed.dsn()}\n" in (app.path / ".env").read_text()


def test_a_byte_order_mark_on_a_key_line_fails_and_fix_does_not_pretend(app: GitRepo, deployed: Any,
                                                                      sentry_env: dict[str, str]) -> None:
    values = good_env(deployed)
    environment = values.pop("ENVIRONMENT")
    text = f"\ufeffENVIRONMENT={environment}\n" + "".join(f"{k}={v}\n" for k, v in values.items())
    (app.path / ".env").write_text(text, encoding="utf-8")
    item = failed_item(check(app, sentry_env, "--json"), "env_file:ENVIRONMENT")
    assert "python-decouple finds no such key" in item["message"] and "django-environ" in item["message"]
    assert item["fix"] == "save the file as UTF-8 without a byte-order mark"
    result = check(app, sentry_env, "--fix", "--json")
    assert json.loads(result.stdout)["fixed"] == [] and (app.path / ".env").read_text(encoding="utf-8") == text


# -- which reader -------------------------------------------------------------------------------

def test_env_reader_setting_decides(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    app.write("pyproject.toml", '[tool.sentry-release]\nenv-reader = "python-dotenv"\n')
    app.write(".env", with_line(deployed, GUIDE_LINE))
    result = check(app, sentry_env, "--json")
    assert result.code == 0, result.output   # python-dotenv drops the comment: nothing misread
    data = json.loads(result.stdout)
    assert data["readers"] == {"used": ["python-dotenv"], "from": "env-reader setting"}
    assert checks_by_key(result)["sentry_traces_sample_rate"]["readers"] == ["python-dotenv"]


@pytest.mark.parametrize(("file", "text", "reader"), [
    ("requirements.txt", "Django==4.2\npython-decouple==3.8  # settings\n", "python-decouple"),
    ("requirements-prod.txt", "django_environ>=0.11\n", "django-environ"),
    ("pyproject.toml", '[project]\nname = "shop"\ndependencies = ["Django>=4", "python-dotenv>=1"]\n',
     "python-dotenv"),
    ("Pipfile", '[packages]\ndjango = "*"\n"django-environ" = "*"\n', "django-environ"),
])
def test_the_reader_is_found_in_the_requirements(app: GitRepo, deployed: Any, sentry_env: dict[str, str],
                                                 file: str, text: str, reader: str) -> None:
    app.write(file, text)
    app.write(".env", with_line(deployed, "export ENVIRONMENT=production"))
    result = check(app, sentry_env, "--json")
    data = json.loads(result.stdout)
    assert data["readers"]["used"] == [reader] and file in data["readers"]["from"]
    misread = "env_file:ENVIRONMENT" in checks_by_key(result)
    assert misread is (reader == "python-decouple"), result.stdout


# -- -q ---------------------------------------------------------------------------------------

def test_quiet_prints_only_failures_and_warnings(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    app.write(".env", env_text(good_env(deployed, DEBUG="True", SENTRY_TRACES_SAMPLE_RATE="1.0")))
    result = check(app, sentry_env, "-q")
    assert result.code == 1
    lines = result.stdout.splitlines()
    statuses = [line.split()[0] for line in lines if not line.strip().startswith("fix:")]
    assert statuses == ["warning", "FAIL"], result.stdout
    assert sum(line.strip().startswith("fix:") for line in lines) == 2
    assert result.stderr == ""
    app.write(".env", env_text(good_env(deployed)))
    quiet_pass = check(app, sentry_env, "-q")
    assert quiet_pass.code == 0 and quiet_pass.stdout == ""
