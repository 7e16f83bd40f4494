"""The search boxes find what `name ILIKE '%text%'` finds, through the trigram indexes of
webapp/search.py: the same rows for every kind of text, whatever wrote the names."""

import datetime as dt

import pytest
from sqlalchemy import delete, insert, select, text, update

from tests.support.app import BACKEND
from tests.support.factories import make_client, make_service
from webapp import search
from webapp.assets.models import Asset
from webapp.clients.models import Client
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.services.models import ClientService
from webapp.services.queries import ServiceQuery, service_filters

NAMES = [
    "Managed Backup",
    "BACKUP Plus",
    "backup-lite",
    "Élan Backup",
    "élan vital",
    "Straße Firewall",
    "STRASSE 9",
    "50% Off Monitoring",
    "50 percent",
    "a_b_c",
    "abc",
    'Microsoft 365 "E3"',
    "NEAR(x y)",
    "AND OR NOT",
    "-dash",
    "^caret",
    "star*",
    "İstanbul Office",
    "istanbul office",
    "Ωmega",
    "ωMEGA",
    "back\\slash",
    "ab",
    "x",
]

# Text as people (and fuzzers) type it: case, accents, LIKE's wildcards, FTS5's syntax.
QUERIES = [
    "ack",
    "Backup",
    "BACKUP",
    "backup-",
    "élan",
    "Élan",
    "ÉLAN",
    "ass",
    "50%",
    "%",
    "_",
    "a_b",
    "a%c",
    "___",
    '"',
    '"E3"',
    "NEAR(",
    "AND",
    "and or",
    "-",
    "-da",
    "^",
    "^ca",
    "*",
    "ar*",
    "stanbul",
    "İst",
    "ist",
    "mega",
    "ωme",
    "\\sl",
    "ab",
    "x",
    "zz",
    "nothing like it",
    "b" * 100,
]


@pytest.fixture
def named(app, company):
    """One client, service and asset for each name."""
    for name in NAMES:
        client_id = make_client(company, name=name, email=None)
        make_service(company, client_id, name=name)
    client_ids = db.session.scalars(select(Client.id).order_by(Client.id)).all()
    _add_assets(company, list(zip(client_ids, NAMES, strict=True)))
    return company


def _add_assets(company, rows):
    """Assets as a bulk import writes them: one insert(...) of many rows."""
    db.session.execute(
        insert(Asset.__table__),
        [
            {
                "company_id": company,
                "client_id": client_id,
                "name": name,
                "kind": "server",
                "status": "active",
                "created_at": dt.datetime(2026, 1, 1),
            }
            for client_id, name in rows
        ],
    )
    db.session.commit()


SEARCHED = [ClientService.name, Client.name, Asset.name]


def found(column, condition) -> set[str]:
    return set(db.session.scalars(select(column).where(condition)))


def uses_the_index(condition) -> bool:
    return "_fts" in str(condition.compile(db.engine))


@pytest.mark.parametrize("column", SEARCHED, ids=lambda c: c.class_.__tablename__)
def test_every_text_finds_what_ilike_finds(named, column):
    indexed = 0
    for typed in QUERIES:
        condition = search.contains(column, typed)
        assert found(column, condition) == found(column, column.ilike(f"%{typed}%")), typed
        indexed += uses_the_index(condition)
    # On SQLite the text with three characters in a row that are not wildcards went through
    # the FTS5 table; PostgreSQL's ILIKE is served by the GIN index as written.
    assert indexed == (23 if BACKEND == "sqlite" else 0)


def test_what_the_search_means(named):
    """Pinned, not only compared: substrings in any ASCII case; `%` and `_` typed are LIKE's
    wildcards, as they always were; FTS5's syntax is plain text."""

    def names(typed):
        return found(ClientService.name, search.contains(ClientService.name, typed))

    assert names("ack") == {
        "Managed Backup",
        "BACKUP Plus",
        "backup-lite",
        "Élan Backup",
        "back\\slash",
    }
    assert names("50%") == {"50% Off Monitoring", "50 percent"}
    assert names("a_b") == {"a_b_c", "İstanbul Office", "istanbul office"}
    assert names('"E3"') == {'Microsoft 365 "E3"'}
    assert names("NEAR(") == {"NEAR(x y)"}
    assert names("ar*") == {"star*"}
    assert names("ab") == {"abc", "ab"}
    # SQLite folds ASCII case only; PostgreSQL's ILIKE folds by the database's locale.
    assert names("élan") == (
        {"élan vital"} if BACKEND == "sqlite" else {"élan vital", "Élan Backup"}
    )


def test_every_write_keeps_the_index_true(named):
    backup = db.session.scalars(select(ClientService).where(ClientService.name == "abc")).one()
    backup.name = "Zebra Vault"  # the ORM
    db.session.commit()
    db.session.execute(  # SQL, many rows at once
        update(Asset).where(Asset.name.in_(["abc", "ab"])).values(name="Quokka Rack")
    )
    db.session.execute(text("UPDATE clients SET name = 'Wombat Care' WHERE name = 'x'"))
    db.session.execute(delete(Asset).where(Asset.name == "Managed Backup"))
    db.session.execute(update(ClientService).values(health_score=50))  # another column
    db.session.commit()
    client_id = db.session.scalars(select(Client.id).where(Client.name == "Wombat Care")).one()
    _add_assets(named, [(client_id, f"Koala Node {n}") for n in range(30)])

    def finds(column, typed):
        condition = search.contains(column, typed)
        assert found(column, condition) == found(column, column.ilike(f"%{typed}%"))
        return found(column, condition)

    assert finds(ClientService.name, "ebra vau") == {"Zebra Vault"}
    assert finds(ClientService.name, "abc") == set()
    assert finds(ClientService.name, "Backup") == {
        "Managed Backup",
        "BACKUP Plus",
        "backup-lite",
        "Élan Backup",
    }
    assert finds(Asset.name, "uokka") == {"Quokka Rack"}
    assert finds(Asset.name, "Managed") == set()
    assert len(finds(Asset.name, "oala node")) == 30
    assert finds(Client.name, "ombat") == {"Wombat Care"}
    assert_index_matches_its_table()


def assert_index_matches_its_table():
    """Each name, searched whole and by its last three characters, finds what ILIKE finds."""
    for column in SEARCHED:
        for name in set(db.session.scalars(select(column))):
            for typed in {name, name[-3:]}:
                expected = found(column, column.ilike(f"%{typed}%"))
                assert found(column, search.contains(column, typed)) == expected, typed


def test_a_name_written_behind_the_index_is_caught_by_the_check(named):
    """The check above can fail: a rename the triggers did not see."""
    if BACKEND != "sqlite":
        pytest.skip("the FTS5 tables are SQLite's")
    db.session.execute(text("DROP TRIGGER client_services_fts_au"))
    try:
        db.session.execute(text("UPDATE client_services SET name = 'Unseen' WHERE name = 'abc'"))
        with pytest.raises(AssertionError):
            assert_index_matches_its_table()
    finally:
        db.session.rollback()  # SQLite's DDL is transactional: the trigger comes back


def test_the_migrations_built_every_index(app):
    """A later batch migration that rebuilds a searched table on SQLite drops its triggers;
    it must create them again."""
    if BACKEND == "sqlite":
        triggers = set(
            db.session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        )
        for table in search.SEARCHED:
            fts = search.fts_table(table)
            assert {f"{fts}_ai", f"{fts}_ad", f"{fts}_au"} <= triggers
    else:
        indexes = set(db.session.scalars(text("SELECT indexname FROM pg_indexes")))
        assert {search.trigram_index(table) for table in search.SEARCHED} <= indexes


def plan(statement) -> list[str]:
    sql = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
    if BACKEND == "sqlite":
        return [row[-1] for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
    # No statistics at this size: without these, a scan of the whole table or of its primary
    # key, filtering every name, looks cheapest to the planner. A bitmap scan needs a condition
    # an index serves, so only the trigram indexes remain.
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    db.session.execute(text("SET LOCAL enable_indexscan = off"))
    return list(db.session.scalars(text(f"EXPLAIN {sql}")))


def test_the_services_search_reads_the_index_not_every_name(named):
    statement = select(ClientService.id).where(*service_filters(named, ServiceQuery(q="Backup")))
    lines = plan(statement)
    db.session.rollback()
    shown = "\n".join(lines)
    if BACKEND == "sqlite":
        assert "SCAN client_services_fts VIRTUAL TABLE" in shown, shown
        assert "SCAN clients_fts VIRTUAL TABLE" in shown, shown
        assert not [line for line in lines if line.strip() == "SCAN client_services"], shown
    else:
        assert "ix_client_services_name_trgm" in shown, shown
        assert "ix_clients_name_trgm" in shown, shown


@pytest.mark.parametrize(
    "typed", ['"', "*", "AND", "-", "^", "NEAR(", "\x00", "%", "_", "é" * 5000]
)
@pytest.mark.parametrize("page", ["/services", "/clients", "/assets", "/incidents"])
def test_odd_text_in_a_search_box_is_searched_not_an_error(as_role, named, page, typed):
    viewer = as_role(UserRole.VIEWER)
    assert viewer.get(page, query_string={"q": typed}).status_code == 200
