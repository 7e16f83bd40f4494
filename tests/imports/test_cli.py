"""`flask import KIND FILE [--commit]`: the dry run's table, exit 1 on errors, all or nothing."""

import pytest
from sqlalchemy import func, select

from tests.imports.files import service_row, services_csv
from webapp.clients.models import Client
from webapp.extensions import db
from webapp.pipeline.models import DomainEvent
from webapp.services.models import ClientService


def _services() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(ClientService))


def test_the_dry_run_prints_every_row_and_writes_nothing(runner, company, acme, tmp_path):
    path = tmp_path / "services.csv"
    path.write_bytes(services_csv(service_row(), service_row(name="Monitoring", Quantity="3")))
    result = runner.invoke(args=["import", "services", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:5] == ["2", "create", "Managed", "Backup", "·"]
    assert "active, 3 × 12.50 USD monthly" in lines[1]
    assert lines[-1] == "2 rows: 2 to create, 0 to update, 0 unchanged, 0 with errors"
    assert _services() == 0


def test_a_row_with_an_error_exits_1_and_commit_writes_nothing(runner, company, acme, tmp_path):
    path = tmp_path / "services.csv"
    path.write_bytes(services_csv(service_row(), service_row(name="Bad", Status="gone")))
    dry = runner.invoke(args=["import", "services", str(path), "--errors-only"])
    assert dry.exit_code == 1
    assert dry.output.splitlines()[0].split()[:2] == ["3", "error"]
    assert "Status: 'gone' is not a status: use pending, active or suspended." in dry.output
    committed = runner.invoke(args=["import", "services", str(path), "--commit"])
    assert committed.exit_code == 1
    assert "Refused: 1 row with errors: nothing was imported." in committed.output
    assert _services() == 0
    assert db.session.scalar(select(func.count()).select_from(DomainEvent)) == 0


def test_commit_imports_and_a_second_commit_changes_nothing(runner, company, acme, tmp_path):
    path = tmp_path / "services.csv"
    path.write_bytes(services_csv(service_row()))
    first = runner.invoke(
        args=["import", "services", str(path), "--commit", "--company", str(company)]
    )
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[-1] == "Imported: 1 created, 0 updated."
    assert _services() == 1
    again = runner.invoke(args=["import", "services", str(path), "--commit"])
    assert again.exit_code == 0
    assert "unchanged" in again.output.splitlines()[0]
    assert again.output.splitlines()[-1] == "Nothing to import: every row is unchanged."
    assert _services() == 1
    actors = db.session.scalars(select(DomainEvent.actor)).all()
    assert set(actors) == {"cli"}


def test_a_file_level_error_is_printed_and_exits_1(runner, company, acme, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    result = runner.invoke(args=["import", "clients", str(path)])
    assert result.exit_code == 1
    assert "file: The file is empty" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["import", "services", "FILE"],
        ["import", "services", "FILE", "--commit"],
        ["clients", "list"],
        ["clients", "create", "--name", "Bravo Legal"],
    ],
)
def test_an_unknown_company_is_said_and_exits_1(runner, company, acme, tmp_path, args):
    path = tmp_path / "services.csv"
    path.write_bytes(services_csv(service_row()))
    args = [str(path) if arg == "FILE" else arg for arg in args]
    result = runner.invoke(args=[*args, "--company", str(company + 999)])
    assert result.exit_code == 1, result.output
    assert result.output == (
        f"Error: No company {company + 999}: `flask companies list` shows them.\n"
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert _services() == 0
    assert db.session.scalar(select(func.count()).select_from(Client)) == 1  # acme's only
    assert db.session.scalar(select(func.count()).select_from(DomainEvent)) == 0
