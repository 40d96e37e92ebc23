"""The checklist as text (one line per item, its fix beneath) or as one JSON object."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Optional, Sequence

from sentry_release.check.model import FAILURE, OK, WARNING, Check, Item
from sentry_release.output import Output

_LABEL = {OK: "ok", WARNING: "warning", FAILURE: "FAIL"}


def report(out: Output, run: Check, items: Sequence[Item], event_id: Optional[str], fixes: Sequence[str],
           as_json: bool = False, quiet: bool = False) -> None:
    failures = sum(item.status == FAILURE for item in items)
    warnings = sum(item.status == WARNING for item in items)
    if as_json:
        out.result(json.dumps({
            "ok": failures == 0, "failures": failures, "warnings": warnings,
            "environment": run.environment, "values_from": run.env.describe(),
            "readers": {"used": list(run.env.readers), "from": run.env.readers_from},
            "release": run.facts.derived, "test_event_id": event_id, "fixed": list(fixes),
            "checks": [asdict(item) for item in items],
        }, indent=2, ensure_ascii=False))
        return
    shown = [item for item in items if not quiet or item.status != OK]
    if not quiet:
        out.result(f"Sentry production check for {run.environment or '(no environment)'}; "
                   f"app values from {run.env.describe()}; read as {', '.join(run.env.readers)} "
                   f"({run.env.readers_from})")
        for change in fixes:
            out.result(f"  fixed    {change}")
    width = max((len(item.title) for item in shown), default=0)
    for item in shown:
        out.result(f"  {_LABEL[item.status]:<7}  {item.title:<{width}}  {item.message}")
        if item.fix and item.status != OK:
            out.result(f"  {'':<7}  {'':<{width}}  fix: {item.fix}")
    if quiet:
        return
    if event_id:
        out.result(f"test event id: {event_id}")
    verdict = "failed" if failures else "passed"
    out.result(f"check {verdict}: {failures} failure(s), {warnings} warning(s)")
