from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from sentry_release.config import mask_token, resolve_settings
from sentry_release.config_files import parse_org_token
from sentry_release.errors import ConfigError, UsageError


def org_token(org: str = "acme", url: str = "http://sentry.internal:9000") -> str:
    payload = base64.b64encode(json.dumps({"iat": 1704205802.2, "url": url, "region_url": url,
                                           "org": org}).encode()).decode()
    return f"sntrys_{payload}_{'A' * 43}"


def write_pyproject(folder: Path, body: str) -> None:
    (folder / "pyproject.toml").write_text(body)


def test_defaults(tmp_path: Path) -> None:
    settings = resolve_settings({}, {}, tmp_path)
    assert settings.url == "https://sentry.io" and settings.source("url") == "default"
    assert settings.template == "v{version}-{date}"
    assert list(settings.env_keys) == ["RELEASE"]


def test_precedence_flag_env_file(tmp_path: Path) -> None:
    write_pyproject(tmp_path, '[tool.sentry-release]\norg = "from-file"\nprojects = ["a", "b"]\n')
    env = {"SENTRY_ORG": "from-env"}
    assert resolve_settings({}, {}, tmp_path).source("org") == "pyproject.toml [tool.sentry-release]"
    from_env = resolve_settings({}, env, tmp_path)
    assert (from_env.org, from_env.source("org")) == ("from-env", "$SENTRY_ORG")
    from_flag = resolve_settings({"org": "from-flag"}, env, tmp_path)
    assert (from_flag.org, from_flag.source("org")) == ("from-flag", "--org")


def test_sentry_project_is_comma_separated(tmp_path: Path) -> None:
    settings = resolve_settings({}, {"SENTRY_PROJECT": "web, worker"}, tmp_path)
    assert list(settings.projects) == ["web", "worker"]


def test_environment_section_overrides(tmp_path: Path) -> None:
    write_pyproject(tmp_path, """
[tool.sentry-release]
projects = ["shop-staging"]
env-file = ".env"
[tool.sentry-release.environments.production]
projects = ["shop-prod"]
deploy-url = "https://shop.example.com"
env-file = "deploy/.env.production"
[tool.sentry-release.environments.staging]
""")
    prod = resolve_settings({"environment": "production"}, {}, tmp_path)
    assert list(prod.projects) == ["shop-prod"]
    assert prod.deploy_url == "https://shop.example.com"
    assert prod.source("env_file") == "pyproject.toml [tool.sentry-release.environments.production]"
    staging = resolve_settings({"environment": "staging"}, {}, tmp_path)
    assert list(staging.projects) == ["shop-staging"]
    assert staging.known_environments == ("production", "staging")


def test_an_environment_without_a_section_is_refused_when_sections_exist(tmp_path: Path) -> None:
    write_pyproject(tmp_path, '[tool.sentry-release.environments.production]\nprojects = ["shop"]\n'
                              '[tool.sentry-release.environments.staging]\n')
    with pytest.raises(UsageError, match=r"'prodution' \(from \$SENTRY_ENVIRONMENT\) has no section.*"
                                         r"known: production, staging"):
        resolve_settings({}, {"SENTRY_ENVIRONMENT": "prodution"}, tmp_path)


def test_environment_comes_from_flag_then_variable_then_ci(tmp_path: Path) -> None:
    gitlab = {"GITLAB_CI": "true", "CI_ENVIRONMENT_NAME": "review", "CI_PIPELINE_ID": "7"}
    from_ci = resolve_settings({}, gitlab, tmp_path)
    assert (from_ci.environment, from_ci.source("environment")) == ("review", "gitlab CI environment")
    assert (from_ci.deploy_name, from_ci.dotenv) == ("gitlab-7", "sentry-release.env")
    from_var = resolve_settings({}, {**gitlab, "SENTRY_ENVIRONMENT": "staging"}, tmp_path)
    assert from_var.environment == "staging"
    assert resolve_settings({"environment": " production "}, gitlab, tmp_path).environment == "production"


def test_gitlab_dotenv_applies_only_in_gitlab_or_when_asked(tmp_path: Path) -> None:
    write_pyproject(tmp_path, '[tool.sentry-release]\ndotenv = "build.env"\n')
    assert resolve_settings({}, {}, tmp_path).dotenv is None
    assert resolve_settings({"dotenv": "x.env"}, {}, tmp_path).dotenv == "x.env"
    assert resolve_settings({}, {"GITLAB_CI": "true"}, tmp_path).dotenv == "build.env"


def test_unknown_key_is_a_one_line_error(tmp_path: Path) -> None:
    write_pyproject(tmp_path, '[tool.sentry-release]\norganisation = "x"\n')
    with pytest.raises(ConfigError, match="unknown key 'organisation'"):
        resolve_settings({}, {}, tmp_path)


def test_bad_value_names_its_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\$SENTRY_HTTP_MAX_RETRIES"):
        resolve_settings({}, {"SENTRY_HTTP_MAX_RETRIES": "many"}, tmp_path)


def test_org_token_supplies_url_and_org(tmp_path: Path) -> None:
    token = org_token()
    settings = resolve_settings({}, {"SENTRY_AUTH_TOKEN": token}, tmp_path)
    assert (settings.org, settings.source("org")) == ("acme", "org auth token")
    assert settings.url == "http://sentry.internal:9000"
    assert settings.warnings == ()


def test_org_token_conflict_warns_and_explicit_value_wins(tmp_path: Path) -> None:
    settings = resolve_settings({"org": "other"}, {"SENTRY_AUTH_TOKEN": org_token()}, tmp_path)
    assert settings.org == "other"
    assert any("differs from 'acme'" in w for w in settings.warnings)


def test_token_is_masked_in_the_description(tmp_path: Path) -> None:
    token = "sntryu_" + "ab" * 32
    described = resolve_settings({}, {"SENTRY_AUTH_TOKEN": token}, tmp_path).describe()
    assert described["auth_token"]["value"] == "sntryu_***"
    assert token not in json.dumps(described)


def test_parse_org_token_rejects_junk() -> None:
    assert parse_org_token("sntrys_notbase64!_x") is None
    assert parse_org_token("sntryu_abc") is None
    assert parse_org_token(org_token())["org"] == "acme"
    assert mask_token("plain") == "***"


def test_org_token_region_url_is_the_api_base(tmp_path: Path) -> None:
    payload = base64.b64encode(json.dumps({"iat": 1.0, "url": "https://sentry.io", "region_url": "https://us.sentry.io",
                                           "org": "acme"}).encode()).decode()
    settings = resolve_settings({}, {"SENTRY_AUTH_TOKEN": f"sntrys_{payload}_{'B' * 43}"}, tmp_path)
    assert settings.url == "https://us.sentry.io"


def test_sentryclirc_is_read_below_pyproject(tmp_path: Path) -> None:
    (tmp_path / ".sentryclirc").write_text(
        "[defaults]\nurl = https://sentry.example.com/\norg = from-rc\nproject = web,worker\n"
        "[auth]\ntoken = sntryu_" + "d" * 64 + "\n")
    project = tmp_path / "app"
    project.mkdir()
    settings = resolve_settings({}, {}, project)
    assert (settings.org, settings.source("org")) == ("from-rc", ".sentryclirc [defaults] org")
    assert list(settings.projects) == ["web", "worker"]
    assert settings.url == "https://sentry.example.com"
    assert settings.describe()["auth_token"]["value"] == "sntryu_***"
    write_pyproject(project, '[tool.sentry-release]\norg = "from-pyproject"\n')
    assert resolve_settings({}, {}, project).org == "from-pyproject"
    assert resolve_settings({}, {"SENTRY_ORG": "from-env"}, project).org == "from-env"
