"""The commit: every row of a file, or none, in one unit of work with its ImportCommitted event.

The file is planned again inside the write transaction, after it locks the company's row (on
SQLite the transaction holds the write lock from its start; PostgreSQL takes no such lock):
two imports for one company (a web commit and `flask import --commit`, or two tabs) run one
after the other, the second planning what the first wrote, so a row matched by name is never
created twice. What is written is what a dry run shows at that moment. A file with any error
commits nothing; so does a plan that differs from the one the person reviewed (the records
changed meanwhile): they see the new dry run instead. A file whose rows are all unchanged
writes nothing at all, not even its ImportCommitted event: importing it again changes nothing.
"""

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from webapp.clients.models import Client, Contact
from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.extensions import db
from webapp.imports.assets import write_assets
from webapp.imports.planning import Outcome, Plan, RowPlan, plan_import
from webapp.lifecycle import events as ev
from webapp.pipeline.outbox import record, record_many, unit_of_work
from webapp.services import actions as services
from webapp.services.models import ClientService


class ImportRefused(Exception):
    """Nothing was imported; `plan` is the dry run that says why."""

    def __init__(self, plan: Plan, message: str):
        super().__init__(message)
        self.plan = plan


def commit_import(
    company_id: int,
    kind: str,
    raw: bytes,
    filename: str,
    actor: str,
    expected_digest: str | None = None,
) -> Plan:
    """Write every create and update of the file's plan, or refuse (ImportRefused)."""
    try:
        with unit_of_work():
            # Imports of one company queue here (see the module's docstring). FOR NO KEY
            # UPDATE (key_share), as lock_company takes it: FOR UPDATE would also block every
            # other writer's insert for the company (its foreign key takes FOR KEY SHARE),
            # and one that holds an asset or a service the import then waits for deadlocks.
            db.session.execute(
                select(Company.id).where(Company.id == company_id).with_for_update(key_share=True)
            )
            plan = plan_import(company_id, kind, raw, filename)
            if not plan.ok:
                raise ImportRefused(
                    plan, f"{_rows(plan.errors)} with errors: nothing was imported."
                )
            if expected_digest is not None and plan.digest != expected_digest:
                raise ImportRefused(
                    plan,
                    "The records changed since the dry run (someone else imported or edited "
                    "them): nothing was imported. Review the rows below, then import again.",
                )
            if plan.to_write:
                WRITERS[kind](company_id, plan.rows, actor)
                counts = plan.counts
                event = ev.ImportCommitted(
                    None,
                    kind,
                    filename[:200],
                    counts[Outcome.CREATE],
                    counts[Outcome.UPDATE],
                    counts[Outcome.UNCHANGED],
                )
                record(event, company_id, actor)
    except services.ImportRefused as refused:
        raise ImportRefused(plan_import(company_id, kind, raw, filename), str(refused)) from None
    except IntegrityError:
        # Another writer that is not an import (PostgreSQL has no whole-database write lock)
        # took an external id the plan thought free: the unit of work rolled everything back.
        plan = plan_import(company_id, kind, raw, filename)
        raise ImportRefused(
            plan, "Someone else changed these records meanwhile: nothing was imported. Try again."
        ) from None
    return plan


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n:,} rows"


def _of(rows: list[RowPlan], outcome: Outcome) -> list[RowPlan]:
    return [row for row in rows if row.outcome == outcome]


ROLE_FLAGS = {"primary": "is_primary", "billing": "is_billing", "technical": "is_technical"}


def _write_clients(company_id: int, rows: list[RowPlan], actor: str) -> None:
    created = _of(rows, Outcome.CREATE)
    if created:
        now = utcnow()
        fields = (
            "name",
            "external_id",
            "address",
            "payment_terms_days",
            "tax_rate",
            "country",
            "vat_id",
            "notes",
        )
        ids = _insert(
            Client,
            [
                {"company_id": company_id, "created_at": now}
                | {name: row.values.get(name) for name in fields}
                for row in created
            ],
        )
        record_many(
            [
                (ev.ClientCreated(None, client_id, row.values["name"]), company_id)
                for client_id, row in zip(ids, created, strict=True)
            ],
            actor,
        )
    for row in _of(rows, Outcome.UPDATE):
        db.session.execute(
            update(Client)
            .where(Client.company_id == company_id, Client.id == row.target_id)
            .values(**row.updates)
            .execution_options(synchronize_session=False)
        )
        # Both follow the plan's order of the fields that differ: {field: [old, new]}.
        changes = dict(zip(row.updates, row.changes.values(), strict=True))
        record(ev.ClientUpdated(None, row.target_id, changes), company_id, actor)


def _contact_fields(values: dict) -> dict:
    fields = {
        name: values[name] for name in ("name", "email", "phone", "external_id") if name in values
    }
    if "roles" in values:
        fields |= {flag: role in values["roles"] for role, flag in ROLE_FLAGS.items()}
    return fields


def _write_contacts(company_id: int, rows: list[RowPlan], actor: str) -> None:
    created = _of(rows, Outcome.CREATE)
    if created:
        now = utcnow()
        blank = {"email": None, "phone": None, "external_id": None} | dict.fromkeys(
            ROLE_FLAGS.values(), False
        )
        ids = _insert(
            Contact,
            [
                {"company_id": company_id, "client_id": row.values["client_id"], "created_at": now}
                | blank
                | _contact_fields(row.values)
                for row in created
            ],
        )
        record_many(
            [
                (
                    ev.ContactSaved(
                        None,
                        row.values["client_id"],
                        contact_id,
                        row.values["name"],
                        sorted(row.values.get("roles", ())),
                    ),
                    company_id,
                )
                for contact_id, row in zip(ids, created, strict=True)
            ],
            actor,
        )
    for row in _of(rows, Outcome.UPDATE):
        db.session.execute(
            update(Contact)
            .where(Contact.company_id == company_id, Contact.id == row.target_id)
            .values(**_contact_fields(row.updates))
            .execution_options(synchronize_session=False)
        )
        contact = db.session.get(Contact, row.target_id, populate_existing=True)
        event = ev.ContactSaved(None, contact.client_id, contact.id, contact.name, contact.roles)
        record(event, company_id, actor)


def _write_services(company_id: int, rows: list[RowPlan], actor: str) -> None:
    created = _of(rows, Outcome.CREATE)
    services.import_services(
        company_id,
        [
            services.ImportedService(
                **{name: row.values[name] for name in services.ImportedService.__dataclass_fields__}
            )
            for row in created
        ],
        actor,
    )
    now = utcnow()
    for row in _of(rows, Outcome.UPDATE):
        seen = row.values["version"]
        result = db.session.execute(
            update(ClientService)
            .where(
                ClientService.company_id == company_id,
                ClientService.id == row.target_id,
                ClientService.version == seen,
            )
            .values(**row.updates, version=seen + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise services.ImportRefused(
                f"Service {row.target_id} was changed by someone else meanwhile."
            )
        if "account_manager_id" in row.updates:
            # The plan read the old manager with the version it matched.
            old = row.values.get("current_manager_id")
            event = ev.ServiceAccountManagerChanged(
                row.target_id, old, row.updates["account_manager_id"]
            )
            record(event, company_id, actor)


def _insert(model, rows: list[dict]) -> list[int]:
    """INSERT ... RETURNING id for many rows in one statement; the ids in the rows' order."""
    table = model.__table__
    return list(
        db.session.scalars(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
        ).all()
    )


WRITERS = {
    "clients": _write_clients,
    "contacts": _write_contacts,
    "services": _write_services,
    "assets": write_assets,
}
