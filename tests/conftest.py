"""Fixtures: a real Redis server, a real database (SQLite, or PostgreSQL with
TEST_DATABASE=postgresql), the app, and an RQ worker that drains the queues.
"""

import tempfile

import flask_migrate
import pytest
from aiosmtpd.controller import Controller

from tests.support.app import (
    BACKEND,
    CountingWorker,
    FreshContextClient,
    Inbox,
    _empty_tables,
    make_config,
)
from tests.support.sessions import Session, add_user
from tools.embedded_redis import RedisServer, free_port
from webapp import create_app
from webapp.accounts.models import User
from webapp.company.models import Company
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.queues import all_queues, redis_connection


def pytest_report_header(config):
    return f"database backend: {BACKEND}"


def pytest_terminal_summary(terminalreporter):
    from tests.support import fault_report

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


@pytest.fixture(scope="session")
def _schema(database_url, redis_server):
    """The schema as the migrations build it (so the migrations are tested too)."""
    app = create_app(make_config(database_url, redis_server.url))
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()


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


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


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


@pytest.fixture
def as_role(app, company):
    """as_role(UserRole.X) -> a Session signed in with that role in `company`."""

    def sign_in(role: UserRole, email=None):
        email = email or f"{role.value}@msp.example"
        if not db.session.query(User.id).filter_by(email=email).first():
            add_user(company, role, email)
        return Session(app.test_client(), email)

    return sign_in
