"""Engine settings that make SQLite behave under concurrent writers."""

from sqlalchemy import event
from sqlalchemy.engine import Engine


def configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, and BEGIN IMMEDIATE.

    A deferred SQLite transaction that reads and then writes fails at once with "database is
    locked" when another writer committed in between; waiting is impossible for it. Taking the
    write lock at BEGIN makes writers queue behind the busy timeout instead. This is the recipe
    from SQLAlchemy's pysqlite documentation ("Serializable isolation / Savepoints / Transactional
    DDL"); PostgreSQL needs none of it.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
