"""Substring search served by an index. `contains(column, text)` is the condition the search
boxes always had, `column ILIKE '%text%'` ("ack" finds "Backup"; `%` and `_` typed stay LIKE's
wildcards; case folded as each database's ILIKE folds it: SQLite ASCII letters only,
PostgreSQL by its locale), found without reading every name once the text allows it;
`matching_ids` is the same as a subquery of ids, for a search over several tables.

- SQLite: one FTS5 table per searched column (`<table>_fts`), `tokenize='trigram
  case_sensitive 1'`, contentless (`content=''`: trigrams only, no copy of the names), holding
  `lower(name)`: SQLite's lower() folds ASCII letters only, exactly as LIKE compares them, so a
  phrase MATCH of the text lowered the same way finds exactly what LIKE finds, with no second
  look at the rows. Triggers on insert, on update of the column and on delete keep it true
  whatever writes the row: the ORM, `insert(...)` in bulk (imports, the scale seeder), raw SQL.
  The text goes to MATCH as quoted phrases (a `"` doubled), so FTS5's syntax (`*`, `AND`, `-`,
  `^`, `NEAR(`) is plain text. A trigram needs three characters: text without three in a row
  that are not `%` or `_` ("ab", "50%") reads the names with LIKE as before; text with `%` or
  `_` and such a run uses the runs to find candidates, and LIKE decides.
- PostgreSQL: pg_trgm's GIN index on the column (`ix_<table>_<column>_trgm`, `gin_trgm_ops`)
  serves ILIKE as it is written.

The migration 3f5e2a7c9b10 builds both (where pg_trgm cannot be created, it carries on without
the GIN indexes: the same rows, slower). They are not in the models: `include_name` keeps
Alembic's autogenerate from proposing to drop them. A batch migration that rebuilds a searched
table on SQLite drops its triggers with it and must create them again (tests/search checks).
"""

import re
import string

from sqlalchemy import column, select, table

from webapp.extensions import db

# The searched columns, table -> column.
SEARCHED = {"client_services": "name", "clients": "name", "assets": "name"}

# An FTS5 table keeps its index in these beside the virtual one (contentless: no `_content`).
FTS_SHADOWS = ("", "_data", "_idx", "_docsize", "_config")

_RUN = re.compile(r"[^%_]{3,}")  # what a trigram index can look up: no LIKE wildcard in it
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)  # as SQLite's lower()


def fts_table(table_name: str) -> str:
    return f"{table_name}_fts"


def trigram_index(table_name: str) -> str:
    return f"ix_{table_name}_{SEARCHED[table_name]}_trgm"


def contains(searched, text: str):
    """The condition that the column `searched` (one of SEARCHED) holds `text`, as
    `searched ILIKE '%text%'` says."""
    searched = _column(searched)
    if _indexed_here(text):
        return searched.table.c.id.in_(matching_ids(searched, text))
    return _like(searched, text)


def matching_ids(searched, text: str):
    """SELECT of the ids of the rows whose column `searched` holds `text` (as contains)."""
    searched = _column(searched)
    ids = searched.table.c.id
    if not _indexed_here(text):
        return select(ids).where(_like(searched, text))
    fts = table(fts_table(searched.table.name), column("rowid"), column(searched.key))
    phrases = " AND ".join(
        '"' + run.translate(_ASCII_LOWER).replace('"', '""') + '"' for run in _RUN.findall(text)
    )
    found = select(fts.c.rowid).where(fts.c[searched.key].op("MATCH")(phrases))
    if "%" in text or "_" in text:  # the runs are candidates; LIKE says which match
        return select(ids).where(ids.in_(found), _like(searched, text))
    return found


def _column(searched):
    searched = searched.expression  # the Column, also when given the mapped attribute
    if SEARCHED.get(searched.table.name) != searched.key:
        raise ValueError(f"{searched} has no search index (webapp.search.SEARCHED)")
    return searched


def _sqlite() -> bool:
    return db.session.get_bind().dialect.name == "sqlite"


def _indexed_here(text: str) -> bool:
    return _sqlite() and _RUN.search(text) is not None


def _like(searched, text: str):
    # On SQLite, LIKE alone folds ASCII case as ILIKE's lower() on both sides does, at a
    # third of the cost for a read of every name.
    pattern = f"%{text}%"
    return searched.like(pattern) if _sqlite() else searched.ilike(pattern)


def include_name(name, type_, parent_names) -> bool:
    """Alembic's hook: the search indexes are not in the models, so autogenerate (and `flask db
    check`) must leave them out rather than propose to drop them."""
    if type_ == "table":
        return name not in {fts_table(t) + shadow for t in SEARCHED for shadow in FTS_SHADOWS}
    if type_ == "index":
        return name not in {trigram_index(t) for t in SEARCHED}
    return True
