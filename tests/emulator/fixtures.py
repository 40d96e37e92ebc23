"""pytest fixtures for the Sentry emulator (filled in by the emulator work)."""
