"""Models and migrations agree, as `flask db check` sees them in a fresh process.

In a fresh process the app imports only what it wires, so a feature's table that nothing
loads at start-up would look dropped to Alembic (as renewal_reminders did once the models
were split per feature). The suite's own process imports everything and would not notice.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _flask(tmp_path, *args):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'check.db'}",
        "SECRET_KEY": "db-check-" + "k" * 32,
        "FLASK_APP": "wsgi",
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_flask_db_check_finds_the_migrations_build_exactly_the_models(tmp_path):
    upgraded = _flask(tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    checked = _flask(tmp_path, "db", "check")
    assert checked.returncode == 0, checked.stderr
    assert "No new upgrade operations detected" in checked.stdout + checked.stderr


def test_migrations_go_down_and_up_again_over_a_database_in_use(tmp_path):
    """An installation upgrades a database with rows in it: on SQLite a batch migration
    rebuilds a table that other rows refer to, which fails with foreign keys enforced (it did,
    for the assets migration, once incidents and services had rows). The demo's data goes down
    past the assets and up again, every row kept and every reference whole."""
    import sqlite3

    for command in (("db", "upgrade"), ("seed-demo",)):
        done = _flask(tmp_path, *command)
        assert done.returncode == 0, done.stderr

    def counts():
        with sqlite3.connect(tmp_path / "check.db") as db:
            return {
                table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("client_services", "incidents", "domain_events", "invoice_lines")
            }

    before = counts()
    assert before["incidents"] and before["domain_events"] and before["invoice_lines"]
    down = _flask(tmp_path, "db", "downgrade", "a00003a93c54")  # the migration before assets
    assert down.returncode == 0, down.stderr
    up = _flask(tmp_path, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert counts() == before
    with sqlite3.connect(tmp_path / "check.db") as db:
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
