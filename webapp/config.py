"""Configuration from the environment, with safe defaults for development."""

import os
from pathlib import Path

INSTANCE = Path(__file__).resolve().parent.parent / "instance"


def _int_list(value: str) -> list[int]:
    return [int(x) for x in value.split(",") if x.strip()]


def secret_key_from_environment() -> str | None:
    """SECRET_KEY from the environment, or from the file SECRET_KEY_FILE names (a systemd
    credential, a Docker secret, or the one `make run` generates under instance/)."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = os.environ.get("SECRET_KEY_FILE")
    if path:
        return Path(path).read_text().strip() or None
    return None


class Config:
    # No default: a known key would let anyone forge sessions (create_app refuses to start).
    SECRET_KEY = secret_key_from_environment()
    # Opens /setup (creating the first company) while the installation has none: the token
    # itself, or a file holding it (`make run DEMO=0` writes a random one). Neither: no /setup.
    SETUP_TOKEN = os.environ.get("SETUP_TOKEN", "")
    SETUP_TOKEN_FILE = os.environ.get("SETUP_TOKEN_FILE", "")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE / 'dashboard.db'}"
    )
    REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    # Redis through Sentinel (deploy/redis.md): the Sentinels as host:port,host:port and the name
    # they monitor the primary by. Set, they replace REDIS_URL; the primary's database and
    # password are then REDIS_DB and REDIS_PASSWORD, the Sentinels' own REDIS_SENTINEL_PASSWORD.
    REDIS_SENTINELS = os.environ.get("REDIS_SENTINELS", "")
    REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "")
    REDIS_SENTINEL_PASSWORD = os.environ.get("REDIS_SENTINEL_PASSWORD", "")
    REDIS_PASSWORD = os.environ.get("REDIS_PASSWORD", "")
    REDIS_DB = int(os.environ.get("REDIS_DB", "0"))
    # How often a failed delivery is tried again, in seconds between tries (RQ Retry intervals).
    DELIVERY_RETRY_INTERVALS = _int_list(os.environ.get("DELIVERY_RETRY_INTERVALS", "5,30,120,600"))
    # Seconds a job may take: one event's listeners, or a chunk's.
    DELIVERY_JOB_TIMEOUT = int(os.environ.get("DELIVERY_JOB_TIMEOUT", "60"))
    # Events published together (a sweep, a bill run, an import) go as one job per this many.
    DELIVERY_CHUNK_SIZE = int(os.environ.get("DELIVERY_CHUNK_SIZE", "50"))
    # An outbox row enqueued this long ago whose job Redis no longer holds is enqueued again.
    RELAY_STALE_SECONDS = int(os.environ.get("RELAY_STALE_SECONDS", "300"))
    # A job whose worker died (no heartbeat) is handed back this long after its timeout.
    ABANDONED_JOB_GRACE_SECONDS = int(os.environ.get("ABANDONED_JOB_GRACE_SECONDS", "60"))
    # A notification claimed this long ago and never handed over is presumed abandoned by a
    # dead worker and sent again (more than a live send can take at the mail/webhook timeouts).
    SENDING_STALE_SECONDS = int(os.environ.get("SENDING_STALE_SECONDS", "120"))
    RELAY_INTERVAL_SECONDS = int(os.environ.get("RELAY_INTERVAL_SECONDS", "10"))
    # A periodic job is late (and /healthz not ok) when it has not run for its interval plus
    # half of it, and at least this many seconds more.
    PERIODIC_LATE_GRACE_SECONDS = int(os.environ.get("PERIODIC_LATE_GRACE_SECONDS", "120"))
    # Each worker process beats this often; three missed beats and it is no longer counted.
    WORKER_HEARTBEAT_SECONDS = int(os.environ.get("WORKER_HEARTBEAT_SECONDS", "5"))
    # Events still undelivered this long after they were committed, with no live worker,
    # make /healthz not ok.
    WAITING_EVENTS_GRACE_SECONDS = int(os.environ.get("WAITING_EVENTS_GRACE_SECONDS", "30"))
    # How often SLA clocks, escalations and incident-driven health scores are looked at.
    SLA_SWEEP_SECONDS = int(os.environ.get("SLA_SWEEP_SECONDS", "60"))
    EXPIRY_GRACE_DAYS = int(os.environ.get("EXPIRY_GRACE_DAYS", "14"))
    # The scheduler's daily bill run; off (0), invoices are made by `flask billing run` alone,
    # for an MSP that bills on a day of its choosing.
    BILL_RUN_SCHEDULED = os.environ.get("BILL_RUN_SCHEDULED", "1").lower() not in (
        "0",
        "false",
        "no",
        "off",
    )
    # A connection the database dropped (a restart, a failover) is replaced before use instead
    # of failing the request that drew it from the pool.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    # Behind HTTPS (production), cookies only over HTTPS, and HSTS on every response.
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    # How many reverse proxies (load balancer, nginx) stand in front of gunicorn and set
    # X-Forwarded-For/-Proto/-Host. 0: the peer's address is the client's.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
    # The token is bound to the session; pages stay open for hours on a wall screen.
    WTF_CSRF_TIME_LIMIT = None
    # If Redis is down, sign-in still works (unthrottled) rather than failing.
    RATELIMIT_SWALLOW_ERRORS = True
    # Email. No MAIL_SERVER: notifications stay queued (visible) and nothing is sent.
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USE_TLS = os.environ.get("MAIL_USE_TLS", "0") == "1"
    MAIL_USE_SSL = os.environ.get("MAIL_USE_SSL", "0") == "1"
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
    MAIL_FROM = os.environ.get("MAIL_FROM", "MSP Dashboard <dashboard@localhost>")
    MAIL_DOMAIN = os.environ.get("MAIL_DOMAIN", "localhost")
    MAIL_TIMEOUT = int(os.environ.get("MAIL_TIMEOUT", "10"))
    WEBHOOK_TIMEOUT = int(os.environ.get("WEBHOOK_TIMEOUT", "10"))
    # Networks webhooks may reach though they are internal (loopback, private, link-local...),
    # comma-separated CIDRs, e.g. "10.20.0.0/16,fd12:3456::/48" for a chat server on the LAN.
    # Empty: public addresses only. Cloud metadata addresses are refused whatever this says.
    WEBHOOK_ALLOWED_NETWORKS = tuple(
        n.strip() for n in os.environ.get("WEBHOOK_ALLOWED_NETWORKS", "").split(",") if n.strip()
    )
    # The local catcher's Maildir, shown at /mailbox (make run sets it; unset in production).
    MAILBOX_DIR = os.environ.get("MAILBOX_DIR", "")
    # Wrong passwords allowed per client address (spraying guesses across accounts), and
    # attempts refused for an account's wait (polling for its end).
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    # Per account, whatever the address (webapp/accounts/throttle.py): after this many wrong
    # passwords, a wait that starts at LOGIN_ACCOUNT_BACKOFF_SECONDS and doubles with each
    # further one, at most LOGIN_ACCOUNT_BACKOFF_MAX_SECONDS; a right password clears it.
    LOGIN_ACCOUNT_FREE_FAILURES = int(os.environ.get("LOGIN_ACCOUNT_FREE_FAILURES", "5"))
    LOGIN_ACCOUNT_BACKOFF_SECONDS = int(os.environ.get("LOGIN_ACCOUNT_BACKOFF_SECONDS", "15"))
    LOGIN_ACCOUNT_BACKOFF_MAX_SECONDS = int(
        os.environ.get("LOGIN_ACCOUNT_BACKOFF_MAX_SECONDS", "300")
    )
    # A browser that signed in to the account before (its device cookie, accounts/devices.py)
    # skips the account's wait for this many attempts, after which its cookie is not trusted
    # (a stolen one is that many guesses). 0: no browser is trusted, everyone waits.
    LOGIN_DEVICE_FAILURES = int(os.environ.get("LOGIN_DEVICE_FAILURES", "10"))
    # "Forgot your password?" per address asked about: nobody's inbox is flooded with links.
    PASSWORD_RESET_RATE_LIMIT = os.environ.get("PASSWORD_RESET_RATE_LIMIT", "5 per hour")
    # The address people open the app at, for the links mailed to them (invitations, password
    # resets): the workers that write those mails have no request to take it from.
    PUBLIC_URL = os.environ.get("PUBLIC_URL", "http://127.0.0.1:5000")
    # Who may open Operations > Queues (every company's jobs, with requeue and delete): emails,
    # comma-separated. Unset: the admins, while the installation has a single company.
    QUEUE_DASHBOARD_OPERATORS = frozenset(
        e.strip().lower()
        for e in os.environ.get("QUEUE_DASHBOARD_OPERATORS", "").split(",")
        if e.strip()
    )
    LIVE_POLL_SECONDS = int(os.environ.get("LIVE_POLL_SECONDS", "3"))
    PAGE_SIZE = 25
    # The largest request body the JSON API reads; an Alertmanager notification of a few hundred
    # alerts fits well within 1 MiB (a larger one is refused with a 413).
    # Any request body (an import file is the largest a page takes): larger ones are refused
    # with a 413 before anything reads them.
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(8 * 1024 * 1024)))
    API_MAX_CONTENT_LENGTH = int(os.environ.get("API_MAX_CONTENT_LENGTH", str(1024 * 1024)))
    # The most incidents one Alertmanager notification may open (1 MiB holds about 6,000 alerts,
    # and back-dated ones breach at once, each a mail and a webhook call); the alerts past it
    # are listed as refused. Repeats of open ones and resolved alerts do not count.
    ALERTMANAGER_MAX_ALERTS = int(os.environ.get("ALERTMANAGER_MAX_ALERTS", "500"))
    # Requests per API token (not per address): more is a 429 with Retry-After.
    API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "600 per minute")
    # /metrics answers only with `Authorization: Bearer <token>` when set; unset, anyone who
    # can reach it may scrape it (keep it on the monitoring network).
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "test-only-not-secret"
    WTF_CSRF_ENABLED = True  # tests send the token as the browser does
    DELIVERY_RETRY_INTERVALS = [0, 0]
    RELAY_STALE_SECONDS = 0
    # The tests' webhook receivers listen on loopback (tests/notifications/test_webhooks.py
    # pins that the default refuses it).
    WEBHOOK_ALLOWED_NETWORKS = ("127.0.0.0/8", "::1/128")
