"""Assets from CSV: matched by identifier (else name), the dry run per row, the commit all or
nothing through the asset domain (coverage, receiving service, seats that follow devices)."""

import io

import pytest
from sqlalchemy import func, select

from tests.imports.files import csv_bytes
from tests.support.app import BACKEND
from tests.support.factories import make_client, make_service
from tests.support.meeting import Meeting
from webapp.assets import actions as assets
from webapp.assets.models import Asset, AssetIdentifier, ServiceCoverage
from webapp.extensions import db
from webapp.imports.columns import KINDS, template_csv
from webapp.imports.committing import ImportRefused, commit_import
from webapp.imports.planning import Outcome, plan_import
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.models import DomainEvent
from webapp.services import actions as lc
from webapp.services.models import ClientService

HEADER = [
    "Client",
    "Name",
    "Type",
    "Site",
    "Operating System",
    "Status",
    "Hostname",
    "Instance",
    "Serial",
    "RMM ID",
    "Covered Service",
    "Receiving Service",
]


def asset_row(name="ACME-DC01", **overrides) -> list:
    values = {
        "Client": "Acme Dental",
        "Name": name,
        "Type": "server",
        "Site": "Head office",
        "Operating System": "Windows Server 2022",
        "Status": "",
        "Hostname": name.lower(),
        "Instance": "",
        "Serial": "",
        "RMM ID": "",
        "Covered Service": "",
        "Receiving Service": "",
    } | overrides
    return [values[h] for h in HEADER]


def assets_csv(*rows) -> bytes:
    return csv_bytes(HEADER, list(rows))


def _count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def _events() -> int:
    return _count(DomainEvent)


@pytest.fixture
def servers(company, acme) -> int:
    """Acme's "Managed Servers" (SRV-1), active, its seats following the servers it covers."""
    service = make_service(company, acme, name="Managed Servers")
    db.session.get(ClientService, service).external_id = "SRV-1"
    db.session.commit()
    assets.set_quantity_follows_assets(company, service, True, "test")
    lc.activate(company, service, "test")
    return service


def test_a_new_file_creates_assets_with_identifiers_coverage_and_seats(company, acme, servers):
    raw = assets_csv(
        asset_row(
            "ACME-DC01",
            **{
                "Instance": "acme-dc01.acme.local:9182",
                "RMM ID": "N-1",
                "Covered Service": "SRV-1",
            },
        ),
        asset_row("ACME-FS01", Type="Network Device", **{"Covered Service": "managed servers"}),
        asset_row("ACME-WS17", Type="workstation", Status="retired", Hostname=""),
    )
    plan = plan_import(company, "assets", raw, "assets.csv")
    assert plan.ok, [r.reason for r in plan.rows]
    assert [r.outcome for r in plan.rows] == [Outcome.CREATE] * 3
    assert "covered by Managed Servers" in plan.rows[0].reason
    assert _count(Asset) == 0  # a dry run writes nothing

    commit_import(company, "assets", raw, "assets.csv", "test")
    dc01, fs01, ws17 = db.session.scalars(select(Asset).order_by(Asset.id)).all()
    assert (dc01.kind, dc01.site, dc01.status, dc01.service_id) == (
        "server",
        "Head office",
        "active",
        servers,
    )
    assert {(i.kind, i.value) for i in dc01.identifiers} == {
        ("hostname", "acme-dc01"),
        ("instance", "acme-dc01.acme.local"),
        ("rmm_id", "n-1"),
    }
    assert (fs01.kind, fs01.service_id) == ("network_device", servers)
    assert (ws17.status, ws17.service_id, ws17.identifiers) == ("retired", None, [])
    assert ws17.retired_at is not None
    # Two active servers covered: one quantity change, through the domain.
    assert db.session.get(ClientService, servers).quantity == 2
    changes = db.session.scalars(
        select(DomainEvent).where(DomainEvent.type == "ServiceQuantityChanged")
    ).all()
    assert [(e.payload["old_quantity"], e.payload["new_quantity"]) for e in changes] == [(1, 2)]
    types = db.session.scalars(select(DomainEvent.type)).all()
    assert types.count("AssetCreated") == 3 and types.count("ServiceCoverageChanged") == 2
    assert types.count("ImportCommitted") == 1


def test_the_same_file_again_is_unchanged_and_records_nothing(company, acme, servers):
    raw = assets_csv(
        asset_row(**{"RMM ID": "N-1", "Covered Service": "SRV-1"}),
        asset_row("ACME-FS01"),
    )
    commit_import(company, "assets", raw, "assets.csv", "test")
    before = _events()
    plan = commit_import(company, "assets", raw, "assets.csv", "test")
    assert [r.outcome for r in plan.rows] == [Outcome.UNCHANGED] * 2
    assert _events() == before
    assert _count(Asset) == 2 and _count(ServiceCoverage) == 1


def test_a_row_finds_its_asset_by_any_identifier_else_by_name_and_updates_it(
    company, acme, servers
):
    commit_import(
        company,
        "assets",
        assets_csv(
            asset_row("ACME-DC01", **{"RMM ID": "N-1", "Covered Service": "SRV-1"}),
            asset_row("ACME-FS01", Hostname=""),
        ),
        "assets.csv",
        "test",
    )
    assert db.session.get(ClientService, servers).quantity == 1
    raw = assets_csv(
        # Found by its RMM id; renamed, retired, a new serial added.
        asset_row("DC01-OLD", Hostname="", Status="retired", Serial="CZ1", **{"RMM ID": "n-1"}),
        # Found by name; gains a hostname, is covered and receives its incidents.
        asset_row("acme-fs01", Site="Annex", **{"Covered Service": "SRV-1"}),
    )
    plan = plan_import(company, "assets", raw, "assets.csv")
    assert [r.outcome for r in plan.rows] == [Outcome.UPDATE] * 2
    assert "Status: active → retired" in plan.rows[0].reason
    assert "Serial: (empty) → cz1" in plan.rows[0].reason
    assert "Covered Service: (empty) → Managed Servers" in plan.rows[1].reason
    assert "Receiving Service: (empty) → Managed Servers" in plan.rows[1].reason
    commit_import(company, "assets", raw, "assets.csv", "test")
    assert _count(Asset) == 2
    dc01, fs01 = db.session.scalars(select(Asset).order_by(Asset.id)).all()
    assert (dc01.name, dc01.status) == ("DC01-OLD", "retired")
    # Identifiers are added, never removed.
    assert {i.value for i in dc01.identifiers} == {"acme-dc01", "n-1", "cz1"}
    assert (fs01.name, fs01.site, fs01.service_id) == ("acme-fs01", "Annex", servers)
    assert {i.value for i in fs01.identifiers} == {"acme-fs01"}
    types = db.session.scalars(select(DomainEvent.type).order_by(DomainEvent.id)).all()
    assert "AssetRetired" in types and types.count("AssetUpdated") == 2
    # One retired, one added: still one seat, so no quantity change.
    assert db.session.get(ClientService, servers).quantity == 1


def test_each_row_error_names_its_column_and_nothing_is_imported(company, acme, servers):
    bravo = make_client(company, "Bravo Legal", email=None)
    make_service(company, bravo, name="Bravo Servers")
    assets.create_asset(
        company,
        assets.AssetFields(bravo, "BRAVO-01", identifiers=(("hostname", "bravo-01"),)),
        "test",
    )
    raw = assets_csv(
        asset_row("OK-01"),
        asset_row("X1", Client="Nobody"),
        asset_row("X2", Type="toaster"),
        asset_row("X3", Hostname="BRAVO-01"),  # another client's asset
        asset_row("X4", Status="gone"),
        asset_row("X5", **{"Covered Service": "Bravo Servers"}),  # another client's service
        asset_row("X6", **{"Receiving Service": "SRV-1"}),  # does not cover it
        asset_row("X7", Hostname="ok-01"),  # OK-01's hostname again
        asset_row("", Hostname="x8"),
        asset_row("X9", Hostname="line\nbreak"),
    )
    plan = plan_import(company, "assets", raw, "assets.csv")
    assert [r.outcome for r in plan.rows] == [Outcome.CREATE] + [Outcome.ERROR] * 9
    columns = [[e.column for e in r.errors] for r in plan.rows[1:]]
    assert columns == [
        ["Client"],
        ["Type"],
        ["Hostname"],
        ["Status"],
        ["Covered Service"],
        ["Receiving Service"],
        ["Hostname"],
        ["Name"],
        ["Hostname"],
    ]
    assert "an asset of 'Bravo Legal'" in plan.rows[3].reason
    assert "does not cover it" in plan.rows[6].reason
    assert "also on row 2" in plan.rows[7].reason
    with pytest.raises(ImportRefused, match="9 rows with errors"):
        commit_import(company, "assets", raw, "assets.csv", "test")
    assert _count(Asset) == 1  # BRAVO-01 only: nothing of the file


def test_a_row_never_moves_a_covered_asset_to_another_client(company, acme, servers):
    make_client(company, "Bravo Legal", email=None)
    first = asset_row("ACME-DC01", **{"RMM ID": "N-1", "Covered Service": "SRV-1"})
    commit_import(company, "assets", assets_csv(first), "assets.csv", "test")
    moved = asset_row("ACME-DC01", Client="Bravo Legal", Hostname="", **{"RMM ID": "N-1"})
    plan = plan_import(company, "assets", assets_csv(moved), "assets.csv")
    assert [r.outcome for r in plan.rows] == [Outcome.ERROR]
    assert [e.column for e in plan.rows[0].errors] == ["RMM ID"]
    assert "an asset of 'Acme Dental'" in plan.rows[0].reason
    with pytest.raises(ImportRefused):
        commit_import(company, "assets", assets_csv(moved), "assets.csv", "test")
    assert db.session.scalars(select(Asset.client_id)).all() == [acme]


def test_another_companys_identifier_is_free_here(company, acme, other_company):
    theirs = make_client(other_company, "Acme Dental", email=None)
    assets.create_asset(
        other_company,
        assets.AssetFields(theirs, "THEIR-01", identifiers=(("hostname", "shared-host"),)),
        "test",
    )
    raw = assets_csv(asset_row("MINE-01", Hostname="Shared-Host"))
    plan = commit_import(company, "assets", raw, "assets.csv", "test")
    assert [r.outcome for r in plan.rows] == [Outcome.CREATE]
    mine = db.session.scalars(select(Asset).where(Asset.company_id == company)).one()
    assert mine.name == "MINE-01"
    assert _count(AssetIdentifier) == 2


def test_the_template_imports_as_it_is(company, acme, servers):
    raw = template_csv(KINDS["assets"]).encode()
    header = raw.decode().splitlines()[0]
    assert header == (
        "Client,Client External ID,Name,Type,Site,Operating System,Status,Hostname,Instance,"
        "Serial,RMM ID,Covered Service,Receiving Service"
    )
    plan = plan_import(company, "assets", raw, "assets-template.csv")
    assert plan.ok, [r.reason for r in plan.rows]
    assert [r.outcome for r in plan.rows] == [Outcome.CREATE]


def test_the_command_line_and_the_page_take_assets(runner, as_role, company, acme, tmp_path):
    path = tmp_path / "assets.csv"
    path.write_bytes(assets_csv(asset_row()))
    dry = runner.invoke(args=["import", "assets", str(path)])
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines()[0].split()[:3] == ["2", "create", "ACME-DC01"]
    assert _count(Asset) == 0
    done = runner.invoke(args=["import", "assets", str(path), "--commit"])
    assert done.exit_code == 0, done.output
    assert "Imported: 1 created, 0 updated." in done.output
    assert _count(Asset) == 1

    admin = as_role(UserRole.ADMIN)
    html = admin.get("/settings/import").get_data(as_text=True)
    assert '<option value="assets"' in html
    assert 'href="/settings/import/template/assets.csv"' in html
    response = admin.post(
        "/settings/import/dry-run",
        {"kind": "assets", "file": (io.BytesIO(assets_csv(asset_row())), "assets.csv")},
        htmx=False,
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert "unchanged" in response.get_data(as_text=True)


def test_an_import_retiring_an_asset_while_another_service_starts_covering_it_counts_both(
    app, company, acme, servers, monkeypatch
):
    commit_import(
        company,
        "assets",
        assets_csv(asset_row("X", **{"Covered Service": "SRV-1"}), asset_row("Y")),
        "assets.csv",
        "test",
    )
    x, y = (db.session.scalar(select(Asset.id).filter_by(name=n)) for n in "XY")
    backup = make_service(company, acme, name="Backup")
    lc.activate(company, backup, "test")
    assets.cover(company, backup, y, "test")
    assets.set_quantity_follows_assets(company, backup, True, "test")
    db.session.rollback()

    # The cover holds Backup and X and waits before it writes; the import locks the company
    # and the services it read as covering X (SRV-1 alone, so far), then waits for X.
    meeting = Meeting(monkeypatch, assets, "_covering_ids", before=True)
    meeting.notice(assets, "_lock_services")
    raw = assets_csv(asset_row("X", Status="retired", **{"Covered Service": "SRV-1"}))
    outcome = []

    def commit():
        try:
            commit_import(company, "assets", raw, "assets.csv", "test")
            outcome.append("imported")
        except ImportRefused as refused:
            outcome.append(str(refused))

    assert meeting.run(app, lambda: assets.cover(company, backup, x, "test"), commit) == []
    db.session.rollback()
    retired = db.session.get(Asset, x).status == "retired"
    if BACKEND == "postgresql":
        # The import read X's services before the cover committed: refused whole, to be
        # done again (SQLite runs the two one after the other instead). Neither deadlocks: the
        # cover's inserts need the company's row for key share only.
        assert outcome == [
            "Someone else changed the services covering these assets meanwhile: nothing "
            "was imported. Try again."
        ]
        assert not retired
        assert [db.session.get(ClientService, s).quantity for s in (servers, backup)] == [1, 2]
        commit_import(company, "assets", raw, "assets.csv", "test")
    else:
        assert outcome == ["imported"]
    db.session.rollback()
    assert db.session.get(Asset, x).status == "retired"
    assert [db.session.get(ClientService, s).quantity for s in (servers, backup)] == [1, 1]
