# Sentry 23.7.1 settings for a loopback-only test server (copied to $ROOT/conf by start.sh).
# Ports and paths come from local.json next to this file, so every `sentry` command started
# from any shell sees the same values.
import json
import os

from sentry.conf.server import *  # noqa: F401,F403

_HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_HERE, "local.json")) as _f:
    _LOCAL = json.load(_f)

CONF_ROOT = _HERE
DEBUG = False
SENTRY_SINGLE_ORGANIZATION = False
SENTRY_USE_BIG_INTS = True

DATABASES = {
    "default": {
        "ENGINE": "sentry.db.postgres",
        "NAME": "sentry",
        "USER": "sentry",
        "PASSWORD": "sentry",
        "HOST": "127.0.0.1",
        "PORT": str(_LOCAL["pg_port"]),
        "AUTOCOMMIT": True,
        "ATOMIC_REQUESTS": False,
    }
}

# No celery worker or beat: background tasks (commit processing, deletions) run in the request.
BROKER_URL = "redis://127.0.0.1:%d/1" % _LOCAL["redis_port"]
CELERY_ALWAYS_EAGER = True

SENTRY_CACHE = "sentry.cache.redis.RedisCache"
SENTRY_BUFFER = "sentry.buffer.redis.RedisBuffer"
SENTRY_QUOTAS = "sentry.quotas.redis.RedisQuota"
SENTRY_RATELIMITER = "sentry.ratelimits.redis.RedisRateLimiter"
SENTRY_TSDB = "sentry.tsdb.dummy.DummyTSDB"
SENTRY_DIGESTS = "sentry.digests.backends.dummy.DummyBackend"
SENTRY_USE_RELAY = False
# Snuba (ClickHouse + Kafka) is replaced by snuba_stub.py, which answers with zero rows.
SENTRY_SNUBA = "http://127.0.0.1:%d" % _LOCAL["snuba_port"]

SENTRY_WEB_HOST = "127.0.0.1"
SENTRY_WEB_PORT = _LOCAL["web_port"]
SENTRY_WEB_OPTIONS = {
    "workers": _LOCAL.get("web_workers", 1),
    "threads": 4,
    # HTTP/1.1 keep-alive like sentry.io; uwsgi's plain "http" closes after every response.
    "protocol": "http11",
}

# The server must not report its own errors and transactions to itself.
SENTRY_PROJECT = None
SENTRY_SDK_CONFIG = dict(SENTRY_SDK_CONFIG, traces_sample_rate=0.0)  # noqa: F405
