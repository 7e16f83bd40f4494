"""Database plumbing every feature shares: the engine settings that make SQLite behave under
concurrent writers (begin_write), chunking and insert-if-new for sweeps, first_ids_across,
and the column helpers of the models (TenantMixin, the enum column _enum, Money)."""

from sqlalchemy import Enum as SAEnum
from sqlalchemy import (
    ForeignKey,
    Insert,
    Numeric,
    Table,
    event,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column, scoped_session

WRITE = "sqlite_write_transaction"
WROTE = "flushed_writes"


@event.listens_for(Session, "after_flush")
def _remember_writes(session, _context):
    session.info[WROTE] = True


@event.listens_for(Session, "after_transaction_end")
def _forget_writes(session, transaction):
    if transaction.parent is None:
        session.info.pop(WROTE, None)


def configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, and BEGIN IMMEDIATE for transactions that will write.

    A deferred SQLite transaction that reads and then writes fails at once with "database is
    locked" when another writer committed in between: it cannot wait. A transaction begun with
    begin_write() takes the write lock at BEGIN, so writers queue behind the busy timeout
    instead, while plain reads stay deferred and never block anyone. This follows the recipe in
    SQLAlchemy's pysqlite documentation; PostgreSQL needs none of it.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL cannot corrupt the database; a power cut may lose the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        immediate = conn.get_execution_options().get(WRITE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def begin_write(session: Session) -> None:
    """Start the session's transaction as one that writes (takes SQLite's write lock first).

    Called at the top of every unit of work that reads and then writes. A transaction holding
    only reads is ended first; one holding unflushed changes is left alone.
    """
    if isinstance(session, scoped_session):
        session = session()
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        if session.new or session.dirty or session.deleted or session.info.get(WROTE):
            return  # it holds writes (pending or flushed): never discard them
        session.rollback()
    session.connection(execution_options={WRITE: True})


# Rows a sweep writes per transaction: enough to amortise each statement, few enough that
# SQLite's write lock is held for a moment only and the web's writers wait briefly.
SWEEP_CHUNK = 2000


def chunked(items: list, size: int | None = None):
    size = size or SWEEP_CHUNK
    for start in range(0, len(items), size):
        yield items[start : start + size]


def not_by_index(session: Session, column):
    """On SQLite, the column's value through no index (`column + 0`), for a condition that
    must hold but must not choose the plan. SQLite, without planner statistics, prefers an
    equality on any indexed column (the company) to an IN list on a better one: it walked a
    company's 1,000,000 events for the few of 2,000 services, once per part of the bill run.
    The rows are the same. PostgreSQL is left the column: it plans from statistics, and
    there the company's composite indexes are the better path (without them its bill run
    read twice as slowly)."""
    if session.get_bind().dialect.name == "sqlite":
        return column + 0
    return column


def insert_new_only(session: Session, table: Table, unique: list[str]) -> Insert:
    """INSERT that skips rows colliding with `unique` (ON CONFLICT DO NOTHING), so a row
    another transaction wrote first is left alone; with RETURNING it yields only the rows written."""
    dialect = session.get_bind().dialect.name
    module = sqlite if dialect == "sqlite" else postgresql
    return module.insert(table).on_conflict_do_nothing(index_elements=unique)


def first_ids_across(parts, order: list[str], limit: int, offset: int = 0):
    """The ids of the first rows (after `offset`) across `parts`, in `order`: the labels of
    the columns each part selects beside its `id`, ending with `id`. One statement.

    A query on `column IN (a, b)` ordered by another column makes SQLite read and sort every
    matching row (100,000 running services, thousands of open incidents) to return a
    handful. Asked per value instead, each part (ordered and limited by the caller to
    offset + limit) walks its own index in order and stops; the parts are merged here."""
    merged = union_all(*(select(part.subquery()) for part in parts)).subquery()
    return (
        select(merged.c.id).order_by(*(merged.c[key] for key in order)).limit(limit).offset(offset)
    )


# Amounts of money: Decimal in Python, NUMERIC(12, 2) in SQL, never float.
Money = Numeric(12, 2)


def _enum(cls):
    # Stored as the enum's value in a VARCHAR (no native type), so adding a member needs no ALTER TYPE.
    return SAEnum(cls, native_enum=False, length=20, values_callable=lambda c: [m.value for m in c])


class TenantMixin:
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
