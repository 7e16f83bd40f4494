"""Fixtures: a real Redis server, a real database (SQLite, or PostgreSQL with
TEST_DATABASE=postgresql), the app, and an RQ worker that drains the queues.
"""

import datetime as dt
import email
import os
import secrets
import tempfile
import threading
from contextlib import contextmanager
from decimal import Decimal
from email import policy

import flask_migrate
import pytest
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient
from rq import SimpleWorker
from sqlalchemy import text, update

from tools.embedded_redis import RedisServer, free_port
from webapp import create_app
from webapp.accounts.models import User
from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.config import TestingConfig
from webapp.extensions import db
from webapp.incidents import actions as incidents
from webapp.lifecycle.statuses import BillingCycle, UserRole
from webapp.pipeline import delivery
from webapp.pipeline.queues import all_queues, redis_connection
from webapp.services import actions as lc
from webapp.services.models import Client, ClientService

BACKEND = os.environ.get("TEST_DATABASE", "sqlite")
# Processes the tests start (flask worker, scheduler, gunicorn) build the app from the
# environment, which must hold a key: a throwaway one for this run.
os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))


def pytest_report_header(config):
    return f"database backend: {BACKEND}"


def pytest_terminal_summary(terminalreporter):
    from tests import fault_report

    if fault_report.ROWS:
        terminalreporter.section("faults injected and inputs tried")
        for line in fault_report.table():
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_url():
    if BACKEND == "postgresql":
        from tools.postgres_cluster import PostgresCluster

        cluster = PostgresCluster("dashboard_test").start()
        yield cluster.url
        cluster.stop()
    else:
        with tempfile.TemporaryDirectory(prefix="dashboard-test-") as tmp:
            yield f"sqlite:///{tmp}/test.db"


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


@pytest.fixture(scope="session")
def _schema(database_url, redis_server):
    """The schema as the migrations build it (so the migrations are tested too)."""
    app = create_app(make_config(database_url, redis_server.url))
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()


class FreshContextClient(FlaskClient):
    """Each request in its own app context, as in production.

    The test holds an app context open for its own queries; without this, requests would
    reuse it and share `g` (and so Flask-Login's cached user) across requests and clients.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app(_schema, database_url, redis_server):
    app = create_app(make_config(database_url, redis_server.url))
    app.test_client_class = FreshContextClient
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
        redis_connection().flushdb()
        db.engine.dispose()


def _empty_tables():
    tables = list(reversed(db.metadata.sorted_tables))
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class CountingWorker(SimpleWorker):
    jobs_run = 0

    def execute_job(self, job, queue):
        self.jobs_run += 1
        return super().execute_job(job, queue)


@pytest.fixture
def work(app):
    """Run a real RQ worker (in this process) until every queue is empty; returns jobs run."""

    def drain() -> int:
        worker = CountingWorker(all_queues(), connection=redis_connection())
        worker.work(burst=True, with_scheduler=False)
        db.session.remove()
        return worker.jobs_run

    return drain


@pytest.fixture
def company(app):
    row = Company(name="Test MSP")
    db.session.add(row)
    db.session.commit()
    return row.id


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


@pytest.fixture
def smtp(app):
    """A real SMTP server on loopback that keeps what it receives, parsed."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    yield inbox
    controller.stop()


@pytest.fixture
def other_company(app):
    """A second company, for proving that its rows stay out of reach of the first."""
    row = Company(name="Other MSP")
    db.session.add(row)
    db.session.commit()
    return row.id


@contextmanager
def redis_at(app, url):
    """Point the app at another Redis (one that is down, or one the test stops) meanwhile."""
    shared = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = url
    app.extensions.pop("redis", None)
    try:
        yield
    finally:
        app.config["REDIS_URL"] = shared
        app.extensions.pop("redis", None)


def fail_listener(monkeypatch, name, error):
    """Make one listener raise `error` until monkeypatch.undo()."""

    def failing(event):
        raise error

    monkeypatch.setitem(delivery.listeners(), name, failing)


def make_client(company_id, name="Acme Dental", email="it@acme.example"):
    row = Client(company_id=company_id, name=name, contact_email=email)
    db.session.add(row)
    db.session.commit()
    return row.id


def make_user(company_id, email="manager@msp.example", role=UserRole.ACCOUNT_MANAGER):
    row = User(company_id=company_id, email=email, name=email.split("@")[0], role=role)
    db.session.add(row)
    db.session.commit()
    return row.id


def make_service(
    company_id,
    client_id=None,
    *,
    price="100.00",
    cycle=BillingCycle.MONTHLY,
    currency="USD",
    term_months=12,
    manager_id=None,
    **kwargs,
):
    client_id = client_id or make_client(company_id)
    new = lc.NewService(
        client_id=client_id,
        name=kwargs.pop("name", "Managed Backup"),
        service_type="backup",
        price=Decimal(price),
        currency=currency,
        billing_cycle=cycle,
        term_months=term_months,
        account_manager_id=manager_id,
        **kwargs,
    )
    return lc.provision(company_id, new, "test").id


def breach(company_id, service_id, kind="response", severity="high", target=60) -> int:
    """A real incident that has breached exactly one SLA target (`kind`) when recorded.

    The service gets a 24x7 policy with that target at `target` minutes and the other far
    away, and the incident is opened 90 minutes ago. Returns the incident's id."""
    far = 100_000
    db.session.execute(
        update(ClientService)
        .where(ClientService.id == service_id)
        .values(
            sla_around_the_clock=True,
            sla_response_minutes=target if kind == "response" else far,
            sla_resolution_minutes=target if kind == "resolution" else far,
        )
    )
    db.session.commit()
    incident, _ = incidents.record(
        company_id,
        incidents.NewIncident(
            service_id, f"{kind} breach", severity, opened_at=utcnow() - dt.timedelta(minutes=90)
        ),
        "test",
    )
    return incident.id


def at_risk(company_id, service_id, kind="response") -> int:
    """An incident past the warning threshold (80%) of its target, not past the target."""
    return breach(company_id, service_id, kind, target=100)


def active_service(company_id, client_id=None, **kwargs) -> int:
    """A provisioned and activated service: the kind incidents are recorded on."""
    service_id = make_service(company_id, client_id, **kwargs)
    lc.activate(company_id, service_id, "test")
    return service_id


def run_at_once(app, *writers, timeout=120) -> list[str]:
    """Run each writer in its own thread with its own app context and session, all at once;
    returns the errors they raised (the test asserts there were none)."""
    errors = []

    def run(fn):
        with app.app_context():
            try:
                fn()
            except Exception as exc:  # collected: the test reports every failure
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(fn,)) for fn in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return errors
