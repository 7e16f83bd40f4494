"""The migration on PostgreSQL as deployments run it: the database's owner, not a superuser,
creates pg_trgm (trusted since PostgreSQL 13) and the indexes; a role that may not create it
still upgrades, without the indexes and with a warning, and downgrades."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support.app import BACKEND
from webapp import search

pytestmark = pytest.mark.skipif(BACKEND != "postgresql", reason="pg_trgm is PostgreSQL's")

ROOT = Path(__file__).resolve().parents[2]


def _flask(url, *args):
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi"}
    done = subprocess.run(
        [sys.executable, "-m", "flask", "db", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.fixture
def as_role(database_url):
    """as_role(name, owner=bool) -> the URL of a new database for a new role without
    superuser rights: its owner, or one allowed only to create tables in it."""
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    made = []

    def make(name, owner):
        with admin.connect() as conn:
            conn.execute(text(f"CREATE ROLE {name} LOGIN"))
            conn.execute(text(f"CREATE DATABASE {name} OWNER {name if owner else 'postgres'}"))
            made.append(name)
            if not owner:
                db_admin = create_engine(
                    make_url(database_url).set(database=name), isolation_level="AUTOCOMMIT"
                )
                with db_admin.connect() as own:
                    own.execute(text(f"GRANT CREATE ON SCHEMA public TO {name}"))
                db_admin.dispose()
        return make_url(database_url).set(username=name, database=name)

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
            conn.execute(text(f"DROP ROLE {name}"))
    admin.dispose()


def _trigram_indexes(url) -> set[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        names = set(conn.scalars(text("SELECT indexname FROM pg_indexes")))
    engine.dispose()
    return names & {search.trigram_index(table) for table in search.SEARCHED}


def test_the_owner_of_the_database_gets_the_indexes(as_role):
    url = as_role("search_owner", owner=True).render_as_string(hide_password=False)
    _flask(url, "upgrade")
    assert _trigram_indexes(url) == {search.trigram_index(t) for t in search.SEARCHED}
    _flask(url, "downgrade", "1c27d1bb63ae")
    assert _trigram_indexes(url) == set()


def test_a_role_that_may_not_create_the_extension_upgrades_without_the_indexes(as_role):
    url = as_role("search_guest", owner=False).render_as_string(hide_password=False)
    log = _flask(url, "upgrade")
    assert "No trigram indexes: pg_trgm could not be used" in log
    assert _trigram_indexes(url) == set()
    _flask(url, "downgrade", "1c27d1bb63ae")
