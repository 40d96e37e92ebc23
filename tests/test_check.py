"""`sentry-release check` (issue 7): the production checklist and the test event, against the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import pytest

from clirun import Run, run_cli
from emulator.envelope import parse_envelope
from gitrepo import GitRepo
from sentry_release import dsn as dsn_mod
from sentry_release.check.appenv import AppEnv
from sentry_release.check.model import Check, Facts
from sentry_release.check.values import check_dsn
from sentry_release.envfile import parse_env

RELEASE = "v1.0.0-20240116"
REMOTE = "git@github.com:acme/shop.git"


@pytest.fixture
def app(repo: GitRepo) -> GitRepo:
    """A checkout whose release is v1.0.0-20240116, remote acme/shop."""
    repo.commit("initial", {"app.py": "v0\n"}, date="2024-01-10T08:00:00+00:00")
    repo.tag("v1.0.0")
    repo.commit("fix", {"app.py": "v1\n"}, date="2024-01-16T10:00:00+00:00")
    repo.git("remote", "add", "origin", REMOTE)
    return repo


@pytest.fixture
def deployed(sentry_emulator: Any) -> Any:
    """Sentry after a deploy of RELEASE to the default project, with a GitHub integration."""
    sentry_emulator.add_release("acme", RELEASE, ["shop"])
    sentry_emulator.add_repo("acme", "acme/shop", url="https://github.com/acme/shop")
    return sentry_emulator


def good_env(emu: Any, **overrides: Optional[str]) -> dict[str, str]:
    values: dict[str, Optional[str]] = {
        "SENTRY_DSN": emu.dsn(), "ENVIRONMENT": "production", "SENTRY_TRACES_SAMPLE_RATE": "0.1",
        "SENTRY_SAMPLE_RATE": "1.0", "RELEASE": RELEASE, "DEBUG": "False",
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def write_env(repo: GitRepo, values: dict[str, str]) -> None:
    repo.write(".env", "# app settings\n" + "".join(f"{k}={v}\n" for k, v in values.items()))


def check(repo: GitRepo, env: dict[str, str], *args: str) -> Run:
    result = run_cli(["check", "--env-file", ".env", *args], repo.path, env=env)
    for token_value in (env.get("SENTRY_AUTH_TOKEN"),):
        if token_value:
            assert token_value not in result.output, "the auth token leaked into the output"
    return result


def checks_by_key(result: Run) -> dict[str, dict[str, Any]]:
    data = json.loads(result.stdout)
    return {item["key"]: item for item in data["checks"]}


# -- the whole checklist through the CLI -------------------------------------------------------

def test_good_configuration_passes(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    write_env(app, good_env(deployed))
    result = check(app, sentry_env)
    assert result.code == 0, result.output
    assert "check passed: 0 failure(s), 0 warning(s)" in result.stdout
    assert "matches Sentry repository 'acme/shop'" in result.stdout
    assert f"release {RELEASE} exists for shop" in result.stdout
    assert not deployed.events and not deployed.requests_to("POST")


def test_json_shape(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    write_env(app, good_env(deployed))
    result = check(app, sentry_env, "--json")
    assert result.code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"ok", "failures", "warnings", "environment", "values_from", "readers", "release",
                         "test_event_id", "fixed", "checks"}
    assert data["readers"]["used"] == ["python-dotenv", "python-decouple", "django-environ"]
    assert data["fixed"] == []
    assert data["ok"] is True and data["failures"] == 0 and data["release"] == RELEASE
    assert data["environment"] == "production" and data["test_event_id"] is None
    keys = [item["key"] for item in data["checks"]]
    assert keys[:4] == ["token", "org", "projects", "repository"]
    assert {"dsn", "dsn_project", "dsn_key", "environment", "sentry_traces_sample_rate", "sentry_sample_rate",
            "release", "release_exists", "debug", "env_file"} <= set(keys)
    for item in data["checks"]:
        assert set(item) == {"key", "title", "status", "message", "fix", "readers"}
        assert item["status"] in ("ok", "warning", "failure")
    items = {item["key"]: item for item in data["checks"]}
    assert items["token"]["readers"] == []     # read from Sentry, not from the .env
    assert items["sentry_traces_sample_rate"]["readers"] == data["readers"]["used"]
    assert items["env_file"]["readers"] == data["readers"]["used"]


def test_read_only_token_fails_naming_project_releases(app: GitRepo, deployed: Any,
                                                        sentry_env: dict[str, str]) -> None:
    write_env(app, good_env(deployed))
    result = check(app, {**sentry_env, "SENTRY_AUTH_TOKEN": deployed.ro_token}, "--json")
    assert result.code == 1
    token = checks_by_key(result)["token"]
    assert token["status"] == "failure"
    assert "project:releases" in token["message"] and "project:releases" in token["fix"]


@pytest.mark.parametrize(("override", "key", "words"), [
    ({"SENTRY_DSN": "https://publickey@o0.ingest.sentry.io/not-a-number"}, "dsn", "project id"),
    ({"SENTRY_DSN": "ftp://publickey@127.0.0.1/1"}, "dsn", "scheme"),
    ({"SENTRY_SAMPLE_RATE": "1.5"}, "sentry_sample_rate", "outside [0, 1]"),
    ({"SENTRY_TRACES_SAMPLE_RATE": "ten"}, "sentry_traces_sample_rate", "not a number"),
    ({"ENVIRONMENT": "bad/env"}, "environment", "'/'"),
    ({"ENVIRONMENT": None}, "environment", "neither ENVIRONMENT nor SENTRY_ENVIRONMENT"),
    ({"SENTRY_DSN": None}, "dsn", "not set"),
])
def test_bad_value_fails_with_a_one_line_fix(app: GitRepo, deployed: Any, sentry_env: dict[str, str],
                                            override: dict[str, Optional[str]], key: str, words: str) -> None:
    write_env(app, good_env(deployed, **override))
    result = check(app, sentry_env, "--json")
    assert result.code == 1, result.output
    item = checks_by_key(result)[key]
    assert item["status"] == "failure" and words in item["message"]
    assert item["fix"] and "\n" not in item["fix"]
    human = check(app, sentry_env)
    assert human.code == 1
    lines = human.stdout.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.lstrip().startswith("FAIL") and item["title"] in line)
    assert lines[failed + 1].strip() == f"fix: {item['fix']}"


def test_env_release_different_from_sentry_fails(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    write_env(app, good_env(deployed, RELEASE="v0.9.0-20231201"))
    result = check(app, sentry_env, "--json")
    assert result.code == 1
    items = checks_by_key(result)
    assert items["release"]["status"] == "failure"
    assert RELEASE in items["release"]["message"]
    assert "sentry-release export --env-file .env" in items["release"]["fix"]
    assert items["release_exists"]["status"] == "failure"
    assert "does not exist" in items["release_exists"]["message"]


def test_release_not_yet_in_sentry_fails(app: GitRepo, sentry_emulator: Any, sentry_env: dict[str, str]) -> None:
    write_env(app, good_env(sentry_emulator))
    result = check(app, sentry_env, "--json")
    assert result.code == 1
    items = checks_by_key(result)
    assert items["release"]["status"] == "ok"
    assert items["release_exists"]["status"] == "failure"
    assert "sentry-release deploy -e production --env-file .env" in items["release_exists"]["fix"]


def test_release_and_sentry_release_must_agree(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    write_env(app, good_env(deployed, SENTRY_RELEASE="v1.0.0-20240101"))
    items = checks_by_key(check(app, sentry_env, "--json"))
    assert items["release"]["status"] == "failure" and "differ" in items["release"]["message"]


@pytest.mark.parametrize(("override", "key", "words"), [
    ({"SENTRY_TRACES_SAMPLE_RATE": "1.0"}, "sentry_traces_sample_rate", "every request in production"),
    ({"SENTRY_SAMPLE_RATE": "0"}, "sentry_sample_rate", "drops every error"),
    ({"SENTRY_TRACES_SAMPLE_RATE": None}, "sentry_traces_sample_rate", "not set"),
])
def test_production_warnings_do_not_fail(app: GitRepo, deployed: Any, sentry_env: dict[str, str],
                                         override: dict[str, Optional[str]], key: str, words: str) -> None:
    write_env(app, good_env(deployed, **override))
    result = check(app, sentry_env, "--json")
    assert result.code == 0, result.output
    item = checks_by_key(result)[key]
    assert item["status"] == "warning" and words in item["message"] and item["fix"]


def test_debug_true_outside_production_is_fine(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    write_env(app, good_env(deployed, DEBUG="True", ENVIRONMENT="staging", SENTRY_TRACES_SAMPLE_RATE="1.0"))
    items = checks_by_key(check(app, sentry_env, "--json"))
    assert items["debug"]["status"] == "ok"
    assert items["sentry_traces_sample_rate"]["status"] == "ok"


def test_debug_true_in_production_fails(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    write_env(app, good_env(deployed, DEBUG="True"))
    result = check(app, sentry_env, "--json")
    assert result.code == 1, result.output
    item = checks_by_key(result)["debug"]
    assert item["status"] == "failure" and "only when DEBUG=False" in item["message"]
    assert item["fix"] == "set DEBUG=False in the production .env"


def test_which_environments_are_production_is_configurable(app: GitRepo, deployed: Any,
                                                           sentry_env: dict[str, str]) -> None:
    app.write("pyproject.toml", '[tool.sentry-release]\nproduction-environments = ["live", "prod-eu"]\n')
    deployed.add_project("acme", "other")
    write_env(app, good_env(deployed, DEBUG="yes", ENVIRONMENT="prod-eu"))
    items = checks_by_key(check(app, sentry_env, "--json"))
    assert items["debug"]["status"] == "failure" and "prod-eu" in items["debug"]["message"]
    write_env(app, good_env(deployed, DEBUG="yes", ENVIRONMENT="production"))
    result = check(app, sentry_env, "--json")
    assert checks_by_key(result)["debug"]["status"] == "ok"   # not listed: not production here
    config = run_cli(["config", "--json"], app.path, env=sentry_env)
    assert json.loads(config.stdout)["settings"]["production_environments"]["value"] == ["live", "prod-eu"]


def test_file_wins_and_process_environment_fills_gaps(app: GitRepo, deployed: Any,
                                                      sentry_env: dict[str, str]) -> None:
    values = good_env(deployed)
    dsn = values.pop("SENTRY_DSN")
    write_env(app, values)
    env = {**sentry_env, "SENTRY_DSN": dsn, "SENTRY_SAMPLE_RATE": "7"}
    result = check(app, env, "--json")
    assert result.code == 0, result.output
    data = json.loads(result.stdout)
    assert "(wins)" in data["values_from"]
    items = {item["key"]: item for item in data["checks"]}
    assert items["dsn"]["status"] == "ok"
    assert "SENTRY_SAMPLE_RATE=1.0 (from .env line" in items["sentry_sample_rate"]["message"]


def test_environment_flag_differs_from_the_app(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    write_env(app, good_env(deployed, ENVIRONMENT="staging"))
    items = checks_by_key(check(app, sentry_env, "--json", "-e", "production"))
    assert items["environment"]["status"] == "warning"
    assert "this check is for production" in items["environment"]["message"]


def test_unknown_org_and_project_fail(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    write_env(app, good_env(deployed))
    items = checks_by_key(check(app, {**sentry_env, "SENTRY_ORG": "nope"}, "--json"))
    assert items["org"]["status"] == "failure" and "SENTRY_ORG" in items["org"]["fix"]
    items = checks_by_key(check(app, {**sentry_env, "SENTRY_PROJECT": "shop,ghost"}, "--json"))
    assert items["projects"]["status"] == "failure" and "ghost" in items["projects"]["message"]


def test_invalid_token_and_missing_token(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    write_env(app, good_env(deployed))
    bad = "sntryu_" + "ab" * 32
    result = check(app, {**sentry_env, "SENTRY_AUTH_TOKEN": bad}, "--json")
    assert result.code == 1
    items = checks_by_key(result)
    assert items["token"]["status"] == "failure" and "rejected" in items["token"]["message"]
    assert items["org"]["status"] == "warning" and items["org"]["message"].startswith("not checked")
    missing = {k: v for k, v in sentry_env.items() if k != "SENTRY_AUTH_TOKEN"}
    items = checks_by_key(check(app, missing, "--json"))
    assert items["token"]["status"] == "failure" and "SENTRY_AUTH_TOKEN" in items["token"]["fix"]


def test_org_auth_token(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    write_env(app, good_env(deployed))
    token = deployed.make_org_token()
    env = {"SENTRY_AUTH_TOKEN": token, "SENTRY_PROJECT": "shop"}   # URL and org come from the token
    result = check(app, env, "--json")
    assert result.code == 0, result.output
    items = checks_by_key(result)
    assert "organization auth token" in items["token"]["message"]
    assert items["projects"]["status"] == "warning"
    assert items["release_exists"]["status"] == "ok"


def test_no_matching_integration_says_local_history(app: GitRepo, sentry_emulator: Any,
                                                    sentry_env: dict[str, str]) -> None:
    sentry_emulator.add_release("acme", RELEASE, ["shop"])
    write_env(app, good_env(sentry_emulator))
    items = checks_by_key(check(app, sentry_env, "--json"))
    assert items["repository"]["status"] == "ok"
    assert "commits will come from local git history" in items["repository"]["message"]


def test_dsn_of_another_project_fails_naming_both(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    other = deployed.add_project("acme", "other")
    write_env(app, good_env(deployed, SENTRY_DSN=deployed.dsn(other)))
    result = check(app, sentry_env, "--json")
    assert result.code == 1
    item = checks_by_key(result)["dsn_project"]
    assert item["status"] == "failure"
    assert f"other (id {other.id})" in item["message"] and "production's project is shop (id" in item["message"]
    assert "shop's DSN" in item["fix"] and "--fix" in item["fix"]


def test_missing_env_file_is_a_usage_error(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    result = run_cli(["check", "--env-file", "missing.env"], app.path, env=sentry_env)
    assert result.code == 2
    assert "missing.env does not exist" in result.stderr


# -- the test event ----------------------------------------------------------------------------

def test_test_event_reaches_sentry(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    write_env(app, good_env(deployed))
    result = check(app, sentry_env, "--send-test-event", "--json")
    assert result.code == 0, result.output
    data = json.loads(result.stdout)
    [event] = deployed.events
    assert event["event_id"] == data["test_event_id"]
    assert event["release"] == RELEASE and event["environment"] == "production"
    assert event["tags"] == {"sentry-release.test": "true"}
    assert event["level"] == "error" and event["platform"] == "python" and event["_project"] == "shop"
    [envelope] = deployed.envelopes
    assert envelope["header"]["event_id"] == event["event_id"]
    assert envelope["items"][0]["type"] == "event"
    [post] = deployed.requests_to("POST", "/envelope/")
    auth = post.headers.get("x-sentry-auth") or post.headers.get("X-Sentry-Auth")
    assert auth.startswith("Sentry sentry_key=") and "sentry_version=7" in auth
    assert "sentry_client=sentry-release/" in auth
    human = check(app, sentry_env, "--send-test-event")
    assert f"test event id: {deployed.events[-1]['event_id']}" in human.stdout


def test_no_event_without_the_flag(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    write_env(app, good_env(deployed))
    assert check(app, sentry_env).code == 0
    assert check(app, sentry_env, "--json").code == 0
    assert deployed.events == [] and deployed.envelopes == []
    assert not deployed.requests_to("POST", "/envelope/")


def test_rejected_test_event_fails(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    dsn = dsn_mod.parse_dsn(deployed.dsn())
    wrong_key = f"http://{'0' * 32}@{dsn.netloc}/{dsn.project_id}"
    write_env(app, good_env(deployed, SENTRY_DSN=wrong_key))
    result = check(app, sentry_env, "--send-test-event", "--json")
    assert result.code == 1
    item = checks_by_key(result)["test_event"]
    assert item["status"] == "failure" and "HTTP 403" in item["message"]
    assert deployed.events == []


def test_no_event_for_a_malformed_dsn(app: GitRepo, deployed: Any, sentry_env: dict[str, str]) -> None:
    write_env(app, good_env(deployed, SENTRY_DSN="not a dsn"))
    result = check(app, sentry_env, "--send-test-event", "--json")
    assert result.code == 1
    assert checks_by_key(result)["test_event"]["status"] == "failure"
    assert not deployed.requests_to("POST", "/envelope/")


# -- DSN parsing, host rules, envelope format (unit) -------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("https://examplePublicKey@o0.ingest.sentry.io/0",
     ("https", "examplePublicKey", None, "o0.ingest.sentry.io", None, "", "0", "0")),
    ("https://k@o447951.ingest.us.sentry.io/4505",
     ("https", "k", None, "o447951.ingest.us.sentry.io", None, "", "4505", "447951")),
    ("http://key:secret@sentry.example.com:9000/12",
     ("http", "key", "secret", "sentry.example.com", 9000, "", "12", None)),
    ("https://key@Sentry.Example.com/prefix/sub/42",
     ("https", "key", None, "sentry.example.com", None, "/prefix/sub", "42", None)),
    ("  https://key@host/7\n", ("https", "key", None, "host", None, "", "7", None)),
    ("http://key@[::1]:8000/3", ("http", "key", None, "::1", 8000, "", "3", None)),
])
def test_parse_dsn(text: str, expected: tuple) -> None:
    dsn = dsn_mod.parse_dsn(text)
    assert (dsn.scheme, dsn.public_key, dsn.secret_key, dsn.host, dsn.port, dsn.path, dsn.project_id,
            dsn.org_id) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty"),
    ("   ", "empty"),
    ("o0.ingest.sentry.io/0", "no scheme"),
    ("ftp://key@host/1", "unsupported scheme"),
    ("https://host/1", "no public key"),
    ("https://key@/1", "no host"),
    ("https://key@host", "not an integer project id"),
    ("https://key@host/", "not an integer project id"),
    ("https://key@host/1/", "not an integer project id"),
    ("https://key@host/abc", "not an integer project id"),
    ("https://key@host/-1", "not an integer project id"),
    ("https://key@host/1_0", "not an integer project id"),
    ("https://key@host/١", "not an integer project id"),
    ("https://key@host:port/1", "port"),
    ("https://key@host:99999/1", "port"),
    ("https://key@host/1?x=y", "query"),
])
def test_parse_dsn_rejects(text: str, reason: str) -> None:
    with pytest.raises(dsn_mod.BadDsn, match=reason):
        dsn_mod.parse_dsn(text)


@pytest.mark.parametrize(("dsn", "expected"), [
    ("https://k@sentry.example.com/1", "https://sentry.example.com/api/1/envelope/"),
    ("http://k@127.0.0.1:9000/2", "http://127.0.0.1:9000/api/2/envelope/"),
    ("https://k@example.com/sentry/3", "https://example.com/sentry/api/3/envelope/"),
    ("http://k@[::1]:8000/4", "http://[::1]:8000/api/4/envelope/"),
])
def test_envelope_url(dsn: str, expected: str) -> None:
    assert dsn_mod.parse_dsn(dsn).envelope_url == expected


@pytest.mark.parametrize(("dsn_host", "url", "matches"), [
    ("o0.ingest.sentry.io", "https://sentry.io", True),
    ("o447951.ingest.us.sentry.io", "https://sentry.io/", True),
    ("o1.ingest.de.sentry.io", "https://de.sentry.io", True),
    ("sentry.io", "https://sentry.io", True),
    ("sentry.example.com", "https://sentry.io", False),
    ("notsentry.io", "https://sentry.io", False),
    ("sentry.example.com", "https://sentry.example.com:9000", True),
    ("o1.ingest.sentry.io", "https://sentry.example.com", False),
    ("127.0.0.1", "http://127.0.0.1:9000", True),
])
def test_host_matches(dsn_host: str, url: str, matches: bool) -> None:
    assert dsn_mod.host_matches(dsn_host, url) is matches


def test_auth_header_and_envelope_format() -> None:
    dsn = dsn_mod.parse_dsn("https://pub:sec@o1.ingest.sentry.io/5")
    header = dsn.auth_header()
    assert header.startswith("Sentry sentry_key=pub, sentry_version=7, sentry_client=sentry-release/")
    assert header.endswith("sentry_secret=sec")
    event = dsn_mod.make_test_event("v1", "production")
    envelope_header, items = parse_envelope(dsn_mod.build_envelope("https://pub@o1.ingest.sentry.io/5", event))
    assert envelope_header["event_id"] == event["event_id"]
    assert envelope_header["dsn"] == "https://pub@o1.ingest.sentry.io/5" and envelope_header["sent_at"]
    [(item_header, payload)] = items
    assert item_header["type"] == "event" and item_header["length"] == len(payload)
    assert json.loads(payload) == event
    assert event["tags"] == {"sentry-release.test": "true"} and event["level"] == "error"


def _dsn_check(dsn: str, url: str = "https://sentry.io", org_id: Optional[str] = None) -> Any:
    settings = SimpleNamespace(url=url, org="acme")
    run = Check(settings, AppEnv(None, parse_env(""), {"SENTRY_DSN": dsn}), "production", None,  # type: ignore[arg-type]
                Facts(org_id=org_id), " --env-file .env", print)
    return check_dsn(run)


@pytest.mark.parametrize(("dsn", "url", "org_id", "status"), [
    ("https://k@o5.ingest.sentry.io/1", "https://sentry.io", "5", "ok"),
    ("https://k@o5.ingest.sentry.io/1", "https://sentry.io", None, "ok"),
    ("https://k@o6.ingest.sentry.io/1", "https://sentry.io", "5", "failure"),
    ("https://k@sentry.example.com/1", "https://sentry.io", None, "warning"),
    ("https://k@o5.ingest.sentry.io/1", "https://sentry.example.com", None, "warning"),
])
def test_dsn_host_and_org_rules(dsn: str, url: str, org_id: Optional[str], status: str) -> None:
    assert _dsn_check(dsn, url, org_id).status == status


def test_parse_env_knows_each_line() -> None:
    text = ("# comment\n"
            "\n"
            "export RELEASE=v1\n"
            "SENTRY_DSN = 'https://k@h/1'\n"
            'ENVIRONMENT="prod # not a comment"  # a comment\n'
            "SENTRY_TRACES_SAMPLE_RATE=0.1  # 10%\n"
            "URL=http://x/#anchor\n"
            'ESCAPED="a\\"b\\nc"\n'
            "EMPTY=\n"
            "not a line\n"
            "RELEASE=v2\r\n")
    document = parse_env(text)
    first, last = document.assignments("RELEASE")
    assert first.export and first.number == 3 and last.number == 11 and last.ending == "\r\n"
    assert document.last("RELEASE") is last and last.value == "v2"
    assert text.encode()[last.start:last.end] == b"RELEASE=v2\r\n"
    comment = document.last("SENTRY_TRACES_SAMPLE_RATE")
    assert comment is not None
    dsn = document.last("SENTRY_DSN")
    assert dsn is not None and dsn.value == "https://k@h/1" and dsn.quote == "'" and dsn.raw == "'https://k@h/1'"
    environment = document.last("ENVIRONMENT")
    assert environment is not None and environment.value == "prod # not a comment"
    assert environment.comment == "# a comment"
    rate = document.last("SENTRY_TRACES_SAMPLE_RATE")
    assert rate is not None and rate.value == "0.1" and rate.raw == "0.1" and rate.comment == "# 10%"
    assert document.last("URL").value == "http://x/#anchor"          # type: ignore[union-attr]
    assert document.last("ESCAPED").value == 'a"b\nc'                # type: ignore[union-attr]
    assert document.last("EMPTY").value == ""                         # type: ignore[union-attr]
    assert document.keys() == ["RELEASE", "SENTRY_DSN", "ENVIRONMENT", "SENTRY_TRACES_SAMPLE_RATE", "URL",
                               "ESCAPED", "EMPTY"]


def test_app_env_precedence(tmp_path: Path) -> None:
    env = AppEnv(tmp_path / ".env", parse_env("A=file\nEMPTY=\n"), {"A": "process", "B": "process", "C": ""})
    assert env.get("A") == "file" and env.source("A") == ".env line 1"
    assert env.get("B") == "process" and env.source("B") == "process environment"
    assert env.get("C") is None and env.get("EMPTY") is None


def test_unreachable_sentry_fails_the_token_item(app: GitRepo, sentry_emulator: Any) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    write_env(app, good_env(sentry_emulator))
    env = {"SENTRY_URL": f"http://127.0.0.1:{closed_port}", "SENTRY_AUTH_TOKEN": sentry_emulator.token,
           "SENTRY_ORG": "acme", "SENTRY_PROJECT": "shop"}
    result = check(app, env, "--json")
    assert result.code == 1
    token = checks_by_key(result)["token"]
    assert token["status"] == "failure" and "SENTRY_URL" in token["fix"]
