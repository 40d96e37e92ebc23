"""The app's own values: DSN form, environment, sample rates, RELEASE, DEBUG (no network)."""

from __future__ import annotations

import math
from typing import Optional

from sentry_release import dsn as dsn_mod
from sentry_release.booleans import parse_bool
from sentry_release.check.appenv import AppEnv
from sentry_release.check.model import FAILURE, OK, WARNING, Check, Item
from sentry_release.errors import InvalidName


def check_dsn(run: Check) -> Item:
    title, raw = "SENTRY_DSN", run.env.get("SENTRY_DSN")
    where = f"{run.env.label} or the environment" if run.env.label else "the environment"
    if raw is None:
        return Item("dsn", title, FAILURE, f"SENTRY_DSN is not set in {where}: the app reports nothing",
                    "set SENTRY_DSN to the project's DSN (Project Settings → Client Keys (DSN))")
    try:
        dsn = dsn_mod.parse_dsn(raw)
    except dsn_mod.BadDsn as exc:
        return Item("dsn", title, FAILURE, f"SENTRY_DSN (from {run.env.source('SENTRY_DSN')}) is malformed: {exc}",
                    "copy the DSN from Project Settings → Client Keys: https://<public key>@<host>/<project id>")
    shown = dsn.describe()
    if not dsn_mod.host_matches(dsn.host, run.settings.url):
        return Item("dsn", title, WARNING, f"{shown} does not point at the configured Sentry {run.settings.url}",
                    "use the DSN of a project on this Sentry server, or fix SENTRY_URL")
    known_org = run.facts.org_id
    if dsn.org_id is not None and known_org and dsn.org_id != known_org:
        return Item("dsn", title, FAILURE,
                    f"{shown} belongs to organization id {dsn.org_id}, but {run.settings.org} has id {known_org}",
                    f"use a DSN from a project in {run.settings.org}")
    return Item("dsn", title, OK, f"{shown}: well-formed, project id {dsn.project_id}")


def app_environment(env: AppEnv) -> Optional[str]:
    return env.get("ENVIRONMENT") or env.get("SENTRY_ENVIRONMENT")


def check_environment(run: Check) -> Item:
    title = "environment"
    name = app_environment(run.env)
    if name is None:
        return Item("environment", title, FAILURE, "neither ENVIRONMENT nor SENTRY_ENVIRONMENT is set",
                    f"set ENVIRONMENT={run.environment or 'production'} in the app's .env")
    key = "ENVIRONMENT" if run.env.get("ENVIRONMENT") else "SENTRY_ENVIRONMENT"
    try:
        from sentry_release.naming import validate_environment

        validate_environment(name)
    except InvalidName as exc:
        return Item("environment", title, FAILURE, f"{key} (from {run.env.source(key)}): {exc}",
                    f"set {key} to a name of at most 64 characters without '/' or line breaks, e.g. production")
    other = run.env.get("SENTRY_ENVIRONMENT")
    if key == "ENVIRONMENT" and other and other != name:
        return Item("environment", title, WARNING, f"ENVIRONMENT={name} but SENTRY_ENVIRONMENT={other}",
                    "set both to the same name (the SDK reads SENTRY_ENVIRONMENT when the app passes none)")
    if run.environment and run.environment.strip() != name.strip():
        return Item("environment", title, WARNING,
                    f"the app reports {key}={name}, but this check is for {run.environment}",
                    f"set {key}={run.environment} in the app's .env, or pass --environment {name}")
    return Item("environment", title, OK, run.env.shown(key))


def check_rate(run: Check, key: str) -> Item:
    raw = run.env.get(key)
    traces = key == "SENTRY_TRACES_SAMPLE_RATE"
    if raw is None:
        if traces:
            return Item(key.lower(), key, WARNING, f"{key} is not set: the app's default decides tracing",
                        f"set {key} to a sensible rate, e.g. 0.1")
        return Item(key.lower(), key, OK, f"{key} is not set (the SDK reports every error)")
    try:
        rate = float(raw)
    except ValueError:
        rate = math.nan
    if not math.isfinite(rate):
        return Item(key.lower(), key, FAILURE, f"{run.env.shown(key)} is not a number",
                    f"set {key} to a number between 0 and 1, e.g. {'0.1' if traces else '1.0'}")
    if not 0.0 <= rate <= 1.0:
        return Item(key.lower(), key, FAILURE, f"{run.env.shown(key)} is outside [0, 1]",
                    f"set {key} between 0 and 1, e.g. {'0.1' if traces else '1.0 (every error)'}")
    if traces and rate == 1.0 and run.production:
        return Item(key.lower(), key, WARNING, f"{run.env.shown(key)} traces every request in production",
                    f"lower {key}, e.g. 0.1 (10% of requests)")
    if not traces and rate == 0.0:
        return Item(key.lower(), key, WARNING, f"{run.env.shown(key)} drops every error",
                    f"set {key}=1.0 to report every error")
    return Item(key.lower(), key, OK, run.env.shown(key))


def export_fix(run: Check) -> str:
    env = f" -e {run.environment}" if run.environment else ""
    return (f"run `sentry-release export{run.env_file_option}` to write the current release, "
            f"or deploy with `sentry-release deploy{env}{run.env_file_option}`")


def app_release(env: AppEnv) -> Optional[str]:
    return env.get("RELEASE") or env.get("SENTRY_RELEASE")


def check_release(run: Check) -> Item:
    title = "release"
    values = {key: run.env.get(key) for key in ("RELEASE", "SENTRY_RELEASE") if run.env.get(key)}
    if not values:
        return Item("release", title, WARNING, "neither RELEASE nor SENTRY_RELEASE is set: events carry no "
                    "release (or a git sha)", export_fix(run))
    if len(set(values.values())) > 1:
        return Item("release", title, FAILURE,
                    f"RELEASE={values['RELEASE']} and SENTRY_RELEASE={values['SENTRY_RELEASE']} differ",
                    export_fix(run))
    key, value = next(iter(values.items()))
    if run.facts.derived is None:
        return Item("release", title, WARNING,
                    f"{run.env.shown(key)}; cannot derive the release here to compare: {run.facts.derive_error}",
                    "run the check inside the deployed checkout, with the same naming options as the deploy")
    if value != run.facts.derived:
        return Item("release", title, FAILURE,
                    f"{run.env.shown(key)}, but this checkout's release is {run.facts.derived}",
                    export_fix(run))
    return Item("release", title, OK, f"{run.env.shown(key)} is this checkout's release")


def check_debug(run: Check) -> Item:
    raw = run.env.get("DEBUG")
    if raw is None:
        return Item("debug", "DEBUG", OK, "DEBUG is not set")
    try:
        value = parse_bool(raw)
    except ValueError:
        return Item("debug", "DEBUG", WARNING, f"{run.env.shown('DEBUG')} is neither true nor false",
                    "set DEBUG=False")
    if value and run.production:
        return Item("debug", "DEBUG", FAILURE,
                    f"{run.env.shown('DEBUG')} in the production environment {run.environment}: the guide's "
                    "settings start Sentry only when DEBUG=False, so nothing is reported",
                    f"set DEBUG=False in the {run.environment} .env")
    return Item("debug", "DEBUG", OK, run.env.shown("DEBUG"))
