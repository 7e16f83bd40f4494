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
    # How often a failed delivery is tried again, in seconds between tries (RQ Retry intervals).
    DELIVERY_RETRY_INTERVALS = _int_list(os.environ.get("DELIVERY_RETRY_INTERVALS", "5,30,120,600"))
    DELIVERY_JOB_TIMEOUT = int(os.environ.get("DELIVERY_JOB_TIMEOUT", "60"))
    # An outbox row enqueued this long ago whose job Redis no longer holds is enqueued again.
    RELAY_STALE_SECONDS = int(os.environ.get("RELAY_STALE_SECONDS", "300"))
    # A job whose worker died (no heartbeat) is handed back this long after its timeout.
    ABANDONED_JOB_GRACE_SECONDS = int(os.environ.get("ABANDONED_JOB_GRACE_SECONDS", "60"))
    # A notification claimed this long ago and never handed over is presumed abandoned by a
    # dead worker and sent again (more than a live send can take at the mail/webhook timeouts).
    SENDING_STALE_SECONDS = int(os.environ.get("SENDING_STALE_SECONDS", "120"))
    RELAY_INTERVAL_SECONDS = int(os.environ.get("RELAY_INTERVAL_SECONDS", "10"))
    # How often SLA clocks, escalations and incident-driven health scores are looked at.
    SLA_SWEEP_SECONDS = int(os.environ.get("SLA_SWEEP_SECONDS", "60"))
    EXPIRY_GRACE_DAYS = int(os.environ.get("EXPIRY_GRACE_DAYS", "14"))
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
    # The local catcher's Maildir, shown at /mailbox (make run sets it; unset in production).
    MAILBOX_DIR = os.environ.get("MAILBOX_DIR", "")
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    # Per account, whatever the address: guesses spread over many addresses still run out.
    LOGIN_ACCOUNT_RATE_LIMIT = os.environ.get("LOGIN_ACCOUNT_RATE_LIMIT", "30 per hour")
    # "Forgot your password?" per address asked about: nobody's inbox is flooded with links.
    PASSWORD_RESET_RATE_LIMIT = os.environ.get("PASSWORD_RESET_RATE_LIMIT", "5 per hour")
    # The address people open the app at, for the links mailed to them (invitations, password
    # resets): the workers that write those mails have no request to take it from.
    PUBLIC_URL = os.environ.get("PUBLIC_URL", "http://127.0.0.1:5000")
    # Who may open /rq (rq-dashboard, every company's jobs): emails, comma-separated. Unset: the
    # admins, while the installation has a single company.
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
    # /metrics answers only with `Authorization: Bearer <token>` when set; unset, anyone who
    # can reach it may scrape it (keep it on the monitoring network).
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "test-only-not-secret"
    WTF_CSRF_ENABLED = True  # tests send the token as the browser does
    DELIVERY_RETRY_INTERVALS = [0, 0]
    RELAY_STALE_SECONDS = 0
