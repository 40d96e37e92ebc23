"""`check --send-test-event`: one error event to the app's DSN, as the SDK would send it."""

from __future__ import annotations

from typing import Optional

from sentry_release import dsn as dsn_mod
from sentry_release.check.model import FAILURE, OK, Check, Item
from sentry_release.check.values import app_environment
from sentry_release.errors import ApiError


def send_test_event(run: Check, release: Optional[str]) -> tuple[Item, Optional[str]]:
    title = "test event"
    raw = run.env.get("SENTRY_DSN")
    try:
        dsn = dsn_mod.parse_dsn(raw or "")
    except dsn_mod.BadDsn:
        return Item("test_event", title, FAILURE, "not sent: SENTRY_DSN is missing or malformed",
                    "fix SENTRY_DSN, then run the check again with --send-test-event"), None
    environment = app_environment(run.env) or run.environment
    event = dsn_mod.make_test_event(release, environment)
    try:
        event_id = dsn_mod.send_envelope(dsn, dsn_mod.build_envelope(raw or "", event),
                                         timeout=min(float(run.settings.timeout), 30.0),
                                         ca_bundle=run.settings.ca_bundle)
    except ApiError as exc:
        return Item("test_event", title, FAILURE, f"not delivered to {dsn.describe()}: {exc}",
                    "check SENTRY_DSN (Project Settings → Client Keys) and that the key is enabled"), None
    event_id = event_id or event["event_id"]
    return Item("test_event", title, OK,
                f"event {event_id} sent to project {dsn.project_id} (release {release or '-'}, "
                f"environment {environment or '-'}, tag {dsn_mod.TEST_TAG}=true)"), event_id
