"""The app under test: its configuration per database, a client with a fresh context per request, emptying the tables, a counting worker and an SMTP inbox."""

import email
import os
import secrets
import threading
from email import policy

from flask.testing import FlaskClient
from rq import SimpleWorker
from sqlalchemy import text

from webapp.config import TestingConfig
from webapp.extensions import db

BACKEND = os.environ.get("TEST_DATABASE", "sqlite")

# Processes the tests start (flask worker, scheduler, gunicorn) build the app from the
# environment, which must hold a key: a throwaway one for this run.
os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))


def make_config(database_url, redis_url, **extra):
    return {
        **{k: getattr(TestingConfig, k) for k in dir(TestingConfig) if k.isupper()},
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "PROPAGATE_EXCEPTIONS": True,
        # Independent of the environment: mail only where a test starts an SMTP server.
        "MAIL_SERVER": "",
        "MAILBOX_DIR": "",
        **extra,
    }


class FreshContextClient(FlaskClient):
    """Each request in its own app context, as in production.

    The test holds an app context open for its own queries; without this, requests would
    reuse it and share `g` (and so Flask-Login's cached user) across requests and clients.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


def _empty_tables():
    tables = list(reversed(db.metadata.sorted_tables))
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


class CountingWorker(SimpleWorker):
    jobs_run = 0

    def execute_job(self, job, queue):
        self.jobs_run += 1
        return super().execute_job(job, queue)


class Inbox:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.messages.append(
                email.message_from_bytes(envelope.original_content, policy=policy.default)
            )
        return "250 OK"
