"""Making an API token while workers write to the same SQLite file.

`flask tokens create` and the Settings page (both api_tokens.create) once wrote without the
unit of work: a transaction that had read (the company) then wrote could not wait for the
write lock and failed at once with "database is locked" (8 of 10 tries with a writer
committing every 2 ms, in the audit). Through the unit of work it takes the lock first and
waits its turn.
"""

import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from tests.support.app import BACKEND
from webapp.accounts.models import ApiToken
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's single write lock")

TRIES = 25  # without the unit of work, some of these fail on a 2-core machine

# Another process committing a small write every 2 ms, as busy workers do; it stops by
# itself after `seconds` should the test not stop it first.
WRITER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
end = time.monotonic() + float(sys.argv[3])
commits = 0
while time.monotonic() < end:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE companies SET name = name WHERE id = ?", (int(sys.argv[2]),))
    conn.execute("COMMIT")
    commits += 1
    if commits == 1:
        print("writing", flush=True)
    time.sleep(0.002)
"""


@pytest.fixture
def busy_writer(app, company):
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, db.engine.url.database, str(company), "120"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "writing"
        time.sleep(0.2)
        yield writer
    finally:
        writer.terminate()
        writer.communicate(timeout=30)  # and its pipe closed


def test_tokens_are_made_while_another_process_commits_every_2_ms(
    app, company, runner, as_role, busy_writer
):
    admin = as_role(UserRole.ADMIN)
    answers = []
    for n in range(TRIES):
        made = runner.invoke(args=["tokens", "create", f"cli-{n}"])
        answers.append(("cli", made.exit_code, repr(made.exception)))
        try:
            status = admin.post("/settings/api-tokens", {"name": f"page-{n}"}).status_code
            answers.append(("page", status, None))
        except OperationalError as exc:  # PROPAGATE_EXCEPTIONS: a 500 raises here
            answers.append(("page", 500, repr(exc)))
    assert busy_writer.poll() is None, "the writer stopped before the tokens were made"

    refused = [a for a in answers if a[1] not in (0, 200)]
    assert refused == []
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 2 * TRIES
