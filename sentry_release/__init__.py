"""sentry-release: Sentry releases at deploy time."""

__version__ = "0.1.0"
__all__ = ["__version__"]
