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
