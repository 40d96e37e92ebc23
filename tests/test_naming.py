from __future__ import annotations

import pytest

from sentry_release.errors import ConfigError, InvalidName
from sentry_release.naming import (
    parse_tag_version, render_release, sanitize_branch, validate_environment, validate_release,
)


@pytest.mark.parametrize("name", ["v1.0.0-20240116", "shop@1.2.3+build.5", "a b", "x" * 200, "ünïcode"])
def test_names_sentry_accepts(name: str) -> None:
    assert validate_release(name) == name


@pytest.mark.parametrize("name, fragment", [
    ("", "empty"),
    ("x" * 201, "201 characters"),
    ("bad/name", "'/'"),
    ("bad\\name", "'\\'"),
    ("a\nb", "newline"),
    ("a\rb", "carriage return"),
    ("a\tb", "tab"),
    ("a\fb", "form feed"),
    (".", "reserved"),
    ("..", "reserved"),
    ("latest", "reserved"),
    ("LaTeSt", "reserved"),
    ("   ", "whitespace"),
    (" v1 ", "leading or trailing"),
])
def test_names_sentry_refuses(name: str, fragment: str) -> None:
    with pytest.raises(InvalidName) as caught:
        validate_release(name)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize("tag, version", [
    ("v1.0.0", "1.0.0"), ("1.2.3", "1.2.3"), ("app-v1.2.3", "1.2.3"), ("release/2.0", "2.0"),
    ("v1.2.3-rc1", "1.2.3rc1"), ("V3", "3"), ("shop@4.5.6", "4.5.6"),
])
def test_tags_that_name_versions(tag: str, version: str) -> None:
    assert parse_tag_version(tag) == version


@pytest.mark.parametrize("tag", ["deploy-marker", "latest", "vnext", ""])
def test_tags_that_do_not(tag: str) -> None:
    assert parse_tag_version(tag) is None


def test_render_default_template() -> None:
    assert render_release("v{version}-{date}", {"version": "1.0.0", "date": "20240116"}) == "v1.0.0-20240116"


def test_render_unknown_placeholder_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"\{tag\}.*allowed placeholders"):
        render_release("{tag}", {})


def test_render_missing_value_says_how_to_fix() -> None:
    with pytest.raises(ConfigError, match="--base-version"):
        render_release("v{version}", {"version": None})


def test_branch_is_sanitised() -> None:
    assert sanitize_branch("feature/login form") == "feature-login-form"


@pytest.mark.parametrize("env, stored", [("production", "production"), (" prod\n", "prod"), ("my env", "my env")])
def test_environment_accepted(env: str, stored: str) -> None:
    assert validate_environment(env) == stored


@pytest.mark.parametrize("env", ["", "   ", "bad/env", "a\nb", "x" * 65])
def test_environment_refused(env: str) -> None:
    with pytest.raises(InvalidName):
        validate_environment(env)
