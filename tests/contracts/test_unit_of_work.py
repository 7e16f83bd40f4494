"""Every write goes through the unit of work (webapp.pipeline.outbox.unit_of_work).

A write committed by hand skips what the unit of work does: on SQLite it takes the write lock
late, so it fails with "database is locked" while workers write (how `flask tokens create` and
`flask webhooks add` failed in the audit), and on any database its events would not be
published. So the app's code (webapp/ and jobs/) may not end or open a transaction itself:
no call of commit, begin, begin_nested, raw_connection or begin_write outside the few places
listed below, each with why. The scan reads the source (ast), so it sees code no test runs.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("webapp", "jobs")

# Calls that end or open a transaction, or reach past the session to the driver.
TRANSACTION_CALLS = {"commit", "begin", "begin_nested", "raw_connection", "begin_write"}

# (file, function, call): why it may. Nothing else may.
ALLOWED = {
    ("webapp/pipeline/outbox.py", "unit_of_work", "begin_write"): "the unit of work itself",
    ("webapp/pipeline/outbox.py", "unit_of_work", "commit"): "the unit of work itself",
    ("webapp/pipeline/outbox.py", "savepoint", "begin_nested"): (
        "a part of an open unit of work that may fail alone; the unit of work commits it"
    ),
    ("webapp/pipeline/publishing.py", "_note_jobs", "begin_write"): (
        "marks events enqueued, with their jobs, after their unit of work committed and "
        "published them; the unit of work calls publish, so publish opens its own small write "
        "as it does"
    ),
    ("webapp/pipeline/publishing.py", "_note_jobs", "commit"): "as above",
}


def transaction_calls(source: str, filename: str) -> list[tuple[str, str, int]]:
    """(enclosing function, call name, line) of each transaction call in `source`."""
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = child.name
            if isinstance(child, ast.Call):
                name = called_name(child.func)
                if name in TRANSACTION_CALLS:
                    found.append((function, name, child.lineno))
            visit(child, inner)

    visit(ast.parse(source, filename), "<module>")
    return found


def called_name(func) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def app_sources():
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path.read_text()


def offenders() -> tuple[list[str], set]:
    bad, used = [], set()
    for relative, source in app_sources():
        for function, name, line in transaction_calls(source, relative):
            key = (relative, function, name)
            if key in ALLOWED:
                used.add(key)
            else:
                bad.append(f"{relative}:{line} {function}() calls {name}()")
    return bad, used


def test_the_app_writes_only_through_the_unit_of_work():
    bad, _ = offenders()
    assert bad == [], (
        "Write inside `with unit_of_work():` (webapp.pipeline.outbox) instead of opening or "
        "committing a transaction by hand:\n  " + "\n  ".join(bad)
    )


def test_every_exception_is_still_needed():
    _, used = offenders()
    assert set(ALLOWED) - used == set(), "an allowed place no longer calls it: drop it"


def test_the_scan_finds_a_write_committed_by_hand():
    source = """
from webapp.extensions import db

def rename(row, name):
    row.name = name
    db.session.commit()

def bulk(engine, rows):
    with engine.begin() as conn:
        conn.execute(rows)

async def later(session):
    await session.commit()
"""
    assert transaction_calls(source, "example.py") == [
        ("rename", "commit", 6),
        ("bulk", "begin", 9),
        ("later", "commit", 13),
    ]
