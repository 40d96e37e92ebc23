"""A loopback Sentry server for tests: ``SentryEmulator`` and its pytest fixtures."""
from __future__ import annotations

from .faults import Fault, FaultPlan
from .server import RecordedRequest, SentryEmulator

__all__ = ["Fault", "FaultPlan", "RecordedRequest", "SentryEmulator"]
