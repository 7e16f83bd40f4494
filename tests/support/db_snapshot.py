"""Every row of every table, to prove that a refused input wrote nothing (and what an accepted
one wrote)."""

from sqlalchemy import select

from webapp.extensions import db


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table in primary-key order, read on a connection of its own (so it
    sees what requests committed, not the test session's cached view)."""
    with db.engine.connect() as conn:
        return {
            table.name: [
                tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key))
            ]
            for table in db.metadata.sorted_tables
        }


def changed_tables(before: dict, after: dict) -> set[str]:
    return {name for name in before if before[name] != after[name]}


def grown(before: dict, after: dict, table: str) -> int:
    return len(after[table]) - len(before[table])
