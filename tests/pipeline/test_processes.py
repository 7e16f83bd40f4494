"""The real processes: `flask worker` and the migrations against the models."""

import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from tests.support.factories import make_service
from webapp import search
from webapp.billing.models import RecurringBilling
from webapp.extensions import db
from webapp.pipeline.models import ListenerDelivery
from webapp.services import actions as lc


def test_flask_worker_process_delivers_committed_events(app, company):
    service_id = make_service(company)
    lc.activate(company, service_id, "test")
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "FLASK_APP": "wsgi",
    }
    done = subprocess.run(
        [sys.executable, "-m", "flask", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    db.session.rollback()
    assert {d.status.value for d in db.session.scalars(select(ListenerDelivery))} == {"done"}
    assert db.session.scalars(select(RecurringBilling)).one().service_id == service_id


def test_migrations_build_exactly_the_models(app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": search.include_name})
        diff = compare_metadata(context, db.metadata)
    assert diff == []
