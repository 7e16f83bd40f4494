"""trigram search: the names the search boxes read, indexed by trigram (webapp/search.py)

SQLite: a contentless FTS5 trigram table per name, holding lower(name) (the trigrams only),
filled from the rows already there and kept in step by triggers. PostgreSQL: pg_trgm and a GIN index
per name. pg_trgm is a trusted extension (PostgreSQL 13 and later), so the database's owner
(deploy/postgresql.md) can create it; where it cannot be created (an older server, a role that
does not own the database, the extension not installed) the upgrade carries on without the
indexes and says so: the search gives the same rows either way, only slower, and one missing
index should not hold back every other change of a release.

Revision ID: 3f5e2a7c9b10
Revises: 8d3f5b1c9e27
Create Date: 2027-01-08 10:00:00.000000

"""

import logging

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "3f5e2a7c9b10"
down_revision = "8d3f5b1c9e27"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# (table, column): as webapp.search.SEARCHED named them when this migration was written.
SEARCHED = (("client_services", "name"), ("clients", "name"), ("assets", "name"))


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_up()
    else:
        _postgresql_up()


def downgrade():
    for table, column in SEARCHED:
        if op.get_bind().dialect.name == "sqlite":
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {table}_fts")
        else:
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_{column}_trgm")
    # pg_trgm stays: an extension belongs to the database, which may have had it before.


def _sqlite_up():
    version = op.get_bind().exec_driver_sql("SELECT sqlite_version()").scalar()
    if tuple(int(part) for part in version.split(".")) < (3, 34):
        raise RuntimeError(
            f"The search needs SQLite 3.34 or later (FTS5 trigram); this is {version}"
        )
    for table, column in SEARCHED:
        fts = f"{table}_fts"
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5("
            f"{column}, content='', tokenize='trigram case_sensitive 1')"
        )
        add = f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, lower(new.{column}));"
        remove = (
            f"INSERT INTO {fts}({fts}, rowid, {column}) "
            f"VALUES ('delete', old.id, lower(old.{column}));"
        )
        op.execute(f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN {add} END")
        op.execute(f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN {remove} END")
        op.execute(
            f"CREATE TRIGGER {fts}_au AFTER UPDATE OF id, {column} ON {table} "
            f"BEGIN {remove} {add} END"
        )
        op.execute(f"INSERT INTO {fts}(rowid, {column}) SELECT id, lower({column}) FROM {table}")


def _postgresql_up():
    bind = op.get_bind()
    try:
        with bind.begin_nested():  # a savepoint: a refusal leaves the upgrade's transaction usable
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            for table, column in SEARCHED:
                bind.exec_driver_sql(
                    f"CREATE INDEX IF NOT EXISTS ix_{table}_{column}_trgm "
                    f"ON {table} USING gin ({column} gin_trgm_ops)"
                )
    except sa.exc.DBAPIError as error:
        log.warning(
            "No trigram indexes: pg_trgm could not be used (%s). The search boxes will read "
            "every name; deploy/postgresql.md says how to add the indexes later.",
            str(error.orig).strip(),
        )
