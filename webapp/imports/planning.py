"""The dry run: what each row of a file would do here (create, update, unchanged) or why not.

Every lookup is scoped to the company, and the existing records are read once per kind (a few
set-based SELECTs), not once per row: a file of 10,000 services is planned in one pass. The
commit plans again inside its write transaction (webapp.imports.committing), so what it writes
is what a dry run at that moment shows.

Matching: a row with an external id finds the record with it (or, once, the record of the same
name that has none yet, which it then links); a row without one finds the client by name
(ignoring case), the contact by email (else name) among its client's contacts, the service by
name among its client's services. On a match, a column the file has and the record differs in
is an update; a column the file does not have leaves the record as it is.

What an import does not change on a service, because the domain changes it another way:
its status (the lifecycle actions), its price, quantity, currency and cycle (a price change is
prorated from its day: the service's page), and what is set when it starts (type, level,
auto-renew, start date, term, next bill date: noted, not changed). It does change a service's
name, external id and account manager.
"""

import datetime as dt
import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from webapp.accounts.models import User
from webapp.clients.models import Client, Contact
from webapp.clock import today as clock_today
from webapp.company.models import Company
from webapp.extensions import db
from webapp.forms import MAX_AMOUNT
from webapp.imports import parsing as p
from webapp.imports.columns import KINDS, Kind
from webapp.lifecycle.statuses import RUNNING, BillingCycle, ServiceStatus, UserRole
from webapp.services.models import ClientService

MONTHS_PER_CYCLE = {
    BillingCycle.MONTHLY: 1,
    BillingCycle.QUARTERLY: 3,
    BillingCycle.SEMI_ANNUAL: 6,
    BillingCycle.ANNUAL: 12,
}

MANAGERS = (UserRole.ACCOUNT_MANAGER, UserRole.ADMIN)


class Outcome(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    ERROR = "error"


@dataclass
class RowPlan:
    number: int  # as a spreadsheet shows it: the header is row 1
    label: str
    outcome: Outcome
    errors: list[p.CellError] = field(default_factory=list)
    changes: dict[str, list] = field(default_factory=dict)  # column: [old, new], as text
    updates: dict = field(default_factory=dict)  # field: new value, what an update writes
    notes: list[str] = field(default_factory=list)
    values: dict = field(default_factory=dict)  # what the commit writes
    target_id: int | None = None  # the record it matched

    @property
    def reason(self) -> str:
        if self.errors:
            return "; ".join(str(e) for e in self.errors)
        parts = [
            f"{column}: {old or '(empty)'} → {new or '(empty)'}"
            for column, (old, new) in self.changes.items()
        ]
        return "; ".join([*parts, *self.notes])

    def messages(self) -> list[str]:
        """Each error as the command line prints it: "row 7, Price: 'abc' is not an amount"."""
        return [f"row {self.number}, {e}" for e in self.errors]


@dataclass
class Plan:
    kind: Kind
    filename: str
    rows: list[RowPlan] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)
    encoding: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # field: the file's name for it
    unused_columns: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(row.outcome for row in self.rows)
        return {o.value: found.get(o, 0) for o in Outcome}

    @property
    def errors(self) -> int:
        return self.counts[Outcome.ERROR] + len(self.file_errors)

    @property
    def ok(self) -> bool:
        return not self.file_errors and self.counts[Outcome.ERROR] == 0

    @property
    def to_write(self) -> int:
        return self.counts[Outcome.CREATE] + self.counts[Outcome.UPDATE]

    @property
    def digest(self) -> str:
        """What the plan would write, in a few characters: a commit refuses when the plan it
        makes differs from the one the person saw (someone changed the records meanwhile)."""
        shape = [
            (r.number, r.outcome.value, r.target_id, sorted(r.changes.items())) for r in self.rows
        ]
        return hashlib.sha256(json.dumps(shape, default=str).encode()).hexdigest()[:32]


def plan_import(company_id: int, kind_name: str, raw: bytes, filename: str) -> Plan:
    kind = KINDS[kind_name]
    plan = Plan(kind, filename)
    try:
        table, columns, rows = p.read_rows(kind, raw)
    except p.FileRefused as refused:
        plan.file_errors.append(str(refused))
        return plan
    plan.encoding = table.encoding
    plan.columns = dict(columns.names)
    plan.unused_columns = columns.unused
    if columns.missing:
        plan.file_errors.extend(columns.missing)
        return plan
    from webapp.imports.assets import plan_assets  # it builds on this module's parts

    planner = {
        "clients": _plan_clients,
        "contacts": _plan_contacts,
        "services": _plan_services,
        "assets": plan_assets,
    }
    plan.rows = planner[kind_name](company_id, rows)
    return plan


def _error(row: p.Row, label: str) -> RowPlan:
    return RowPlan(row.number, label, Outcome.ERROR, errors=list(row.errors))


def _text(value) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, frozenset | set):
        return ";".join(sorted(value)) or None
    return str(value)


# A value read from a column of another name: a client's country is its Country Code (the
# Country column is part of its address).
_COLUMN_OF = {"country": "country_code"}


def _diff(row: p.Row, current: dict, wanted: dict) -> tuple[dict[str, list], dict]:
    """What differs as stored: ({the file's column name: [old, new] as text}, {field: new})."""
    changed = {
        name: value for name, value in wanted.items() if _text(current[name]) != _text(value)
    }
    shown = {
        row.column_name(_COLUMN_OF.get(name, name)): [_text(current[name]), _text(value)]
        for name, value in changed.items()
    }
    return shown, changed


class _FileKeys:
    """Keys already used by an earlier row of the file: each may be used once."""

    def __init__(self):
        self.seen: dict[tuple, int] = {}

    def claim(self, row: p.Row, column: str, key: tuple, what: str) -> None:
        first = self.seen.setdefault(key, row.number)
        if first != row.number:
            row.error(column, f"{what} is also on row {first}: each may be in the file once.")


# Clients


def _client_values(row: p.Row) -> dict:
    values = {"name": p.person_name(row)}
    if row.has("external_id"):
        values["external_id"] = row.read("external_id", p.text_of(100))
    if any(
        row.has(part)
        for part in ("address", "address_2", "city", "state", "postal_code", "country")
    ):
        values["address"] = p.address(row)
        if values["address"] and len(values["address"]) > 1000:
            row.error("address", "is longer than 1,000 characters.")
    if row.has("payment_terms_days"):
        values["payment_terms_days"] = row.read("payment_terms_days", p.whole_number(0, 365))
    if row.has("tax_rate"):
        values["tax_rate"] = row.read("tax_rate", p.percent)
    if row.has("country_code"):
        values["country"] = row.read("country_code", p.country)
    if row.has("vat_id"):
        values["vat_id"] = row.read("vat_id", p.vat_id)
    if row.has("notes"):
        values["notes"] = row.read("notes", p.text_of(5000))
    return values


@dataclass(frozen=True)
class _ClientRow:
    id: int
    name: str
    external_id: str | None
    address: str | None
    payment_terms_days: int | None
    tax_rate: Decimal | None
    country: str | None
    vat_id: str | None
    notes: str | None
    archived: bool


def _clients(company_id: int) -> list[_ClientRow]:
    rows = db.session.execute(
        select(
            Client.id,
            Client.name,
            Client.external_id,
            Client.address,
            Client.payment_terms_days,
            Client.tax_rate,
            Client.country,
            Client.vat_id,
            Client.notes,
            Client.archived_at.is_not(None),
        ).where(Client.company_id == company_id)
    ).all()
    return [_ClientRow(*r) for r in rows]


def _plan_clients(company_id: int, rows: list[p.Row]) -> list[RowPlan]:
    clients = _clients(company_id)
    by_external = {c.external_id: c for c in clients if c.external_id}
    by_name = {c.name.casefold(): c for c in clients}
    keys = _FileKeys()
    planned = []
    for row in rows:
        values = _client_values(row)
        name, external = values["name"], values.get("external_id")
        label = name if isinstance(name, str) else f"row {row.number}"
        if isinstance(external, str):
            keys.claim(row, "external_id", ("external", external), f"External id {external!r}")
        if isinstance(name, str):
            keys.claim(row, "name", ("name", name.casefold()), f"The name {name!r}")
        if row.errors:
            planned.append(_error(row, label))
            continue
        if external is None:
            values.pop("external_id", None)  # empty: the client keeps the id it has
        match = by_external.get(external) if external else None
        named = by_name.get(name.casefold())
        if match is None and named is not None:
            if external and named.external_id:
                row.error(
                    "name",
                    f"a client named {named.name!r} is here already, with the external id "
                    f"{named.external_id!r} (not {external!r}).",
                )
            else:
                match = named  # found by name; an external id in the file links it
        elif match is not None and named is not None and named.id != match.id:
            row.error("name", f"another client is named {named.name!r} here already.")
        if match is not None and match.archived:
            row.error("name", f"{match.name!r} is archived: restore it on its page first.")
        if row.errors:
            planned.append(_error(row, label))
            continue
        if match is None:
            planned.append(RowPlan(row.number, label, Outcome.CREATE, values=values))
            continue
        changes, updates = _diff(row, match.__dict__, values)
        planned.append(_matched(row, label, match.id, changes, updates, values))
    return planned


def _matched(row, label, target_id, changes, updates, values, notes=None) -> RowPlan:
    """The plan of a row that matched an existing record: an update if anything differs."""
    return RowPlan(
        row.number,
        label,
        Outcome.UPDATE if changes else Outcome.UNCHANGED,
        changes=changes,
        updates=updates,
        notes=notes if notes is not None else [],
        values=values,
        target_id=target_id,
    )


# Clients as contacts and services refer to them


class _ClientIndex:
    def __init__(self, company_id: int):
        clients = _clients(company_id)
        self.by_id = {c.id: c for c in clients}
        self.by_external = {c.external_id: c for c in clients if c.external_id}
        self.by_name = {c.name.casefold(): c for c in clients}

    def find(self, row: p.Row) -> _ClientRow | None:
        """The row's client, by its external id when given, else by name; None (and an
        error naming the column) when there is none or it is archived."""
        external, name = row.text("client_external_id"), row.text("client")
        if external:
            client, column = self.by_external.get(external), "client_external_id"
            missing = f"no client has the external id {p.quoted(external)} (import clients first)."
        elif name:
            client, column = self.by_name.get(name.casefold()), "client"
            missing = f"no client is named {p.quoted(name)} (import clients first)."
        else:
            row.error("client", "is required: the client's name or external id.")
            return None
        if client is None:
            row.error(column, missing)
        elif client.archived:
            row.error(column, f"{client.name!r} is archived: restore it on its page first.")
            return None
        return client


# Contacts


def _contact_values(row: p.Row) -> dict:
    values = {"name": p.person_name(row)}
    if row.has("email"):
        values["email"] = row.read("email", p.email)
    if row.has("phone") or row.has("mobile"):
        values["phone"] = row.read("phone", p.text_of(50)) or row.read("mobile", p.text_of(50))
    if row.has("roles") or row.has("billing_flag"):
        found = row.read("roles", p.roles, frozenset())
        if row.read("billing_flag", p.yes_no, False) is True and found is not p.INVALID:
            found = found | {"billing"}
        values["roles"] = found
    if row.has("external_id"):
        values["external_id"] = row.read("external_id", p.text_of(100))
    return values


@dataclass(frozen=True)
class _ContactRow:
    id: int
    client_id: int
    name: str
    email: str | None
    phone: str | None
    roles: frozenset
    external_id: str | None


def _plan_contacts(company_id: int, rows: list[p.Row]) -> list[RowPlan]:
    clients = _ClientIndex(company_id)
    contacts = [
        _ContactRow(
            r.id,
            r.client_id,
            r.name,
            r.email,
            r.phone,
            frozenset(
                role
                for role, on in zip(
                    p.ROLES, (r.is_primary, r.is_billing, r.is_technical), strict=True
                )
                if on
            ),
            r.external_id,
        )
        for r in db.session.execute(
            select(
                Contact.id,
                Contact.client_id,
                Contact.name,
                Contact.email,
                Contact.phone,
                Contact.is_primary,
                Contact.is_billing,
                Contact.is_technical,
                Contact.external_id,
            ).where(Contact.company_id == company_id)
        )
    ]
    by_external = {c.external_id: c for c in contacts if c.external_id}
    by_email, by_name = defaultdict(list), defaultdict(list)
    for c in contacts:
        if c.email:
            by_email[(c.client_id, c.email.casefold())].append(c)
        by_name[(c.client_id, c.name.casefold())].append(c)
    keys = _FileKeys()
    planned = []
    for row in rows:
        client = clients.find(row)
        values = _contact_values(row)
        name, email, external = values["name"], values.get("email"), values.get("external_id")
        label = (name if isinstance(name, str) else f"row {row.number}") + (
            f" ({client.name})" if client else ""
        )
        if isinstance(external, str):
            keys.claim(row, "external_id", ("external", external), f"External id {external!r}")
        elif client is not None and isinstance(email, str):
            keys.claim(row, "email", (client.id, "email", email.casefold()), f"{email!r}")
        elif client is not None and isinstance(name, str) and not email:
            keys.claim(row, "name", (client.id, "name", name.casefold()), f"{name!r}")
        if row.errors or client is None:
            planned.append(_error(row, label))
            continue
        if external is None:
            values.pop("external_id", None)
        match = None
        if external:
            match = by_external.get(external)
            if match is not None and match.client_id != client.id:
                other = clients.by_id[match.client_id].name
                row.error("external_id", f"{external!r} is a contact of {other!r} here.")
        if match is None and not row.errors:
            found = (
                by_email.get((client.id, email.casefold()), [])
                if email
                else by_name.get((client.id, name.casefold()), [])
            )
            found = [c for c in found if not (external and c.external_id)]
            if len(found) > 1:
                column = "email" if email else "name"
                row.error(
                    column,
                    f"{client.name!r} has {len(found)} contacts with it: add an External ID "
                    "column to tell them apart.",
                )
            match = found[0] if len(found) == 1 else None
        if row.errors:
            planned.append(_error(row, label))
            continue
        values["client_id"] = client.id
        if match is None:
            planned.append(RowPlan(row.number, label, Outcome.CREATE, values=values))
            continue
        current = {**match.__dict__}
        wanted = {k: v for k, v in values.items() if k != "client_id"}
        changes, updates = _diff(row, current, wanted)
        planned.append(_matched(row, label, match.id, changes, updates, values))
    return planned


# Services


def _managers(company_id: int) -> dict[str, tuple[int, bool, UserRole, str]]:
    """The company's people by email (ignoring case): id, active, role, the email as kept."""
    return {
        email.casefold(): (user_id, active, role, email)
        for user_id, email, active, role in db.session.execute(
            select(User.id, User.email, User.active, User.role).where(User.company_id == company_id)
        )
    }


def service_values(row: p.Row, currency: str) -> dict:
    """A services row's values, each cell checked on its own (defaults for empty ones)."""
    return {
        "name": row.read("name", p.text_of(200)),
        "service_type": row.read("service_type", p.text_of(60), "other"),
        "status": row.read("status", p.status, ServiceStatus.ACTIVE),
        "start_date": row.read("start_date", p.iso_date),
        "term_months": row.read("term_months", p.whole_number(1, 120), 12),
        "price": row.read("price", p.money),
        "quantity": row.read("quantity", p.whole_number(1, 1_000_000), 1),
        "currency": row.read("currency", p.currency, currency),
        "billing_cycle": row.read("billing_cycle", p.cycle, BillingCycle.MONTHLY),
        "next_bill_date": row.read("next_bill_date", p.iso_date),
        "service_level": row.read("service_level", p.level, "standard"),
        "auto_renew": row.read("auto_renew", p.yes_no, False),
        "account_manager_email": row.read("account_manager_email", p.email),
        "external_id": row.read("external_id", p.text_of(100)),
    }


def cycles_after(start: dt.date, cycle: BillingCycle, day: dt.date) -> dt.date:
    """The first of start + k cycles (k >= 1) after `day`, each counted from `start` (the day
    clamped to the month's end, never chained)."""
    if cycle == BillingCycle.WEEKLY:
        k = max(1, (day - start).days // 7)
        step = lambda n: start + dt.timedelta(weeks=n)  # noqa: E731
    else:
        months = MONTHS_PER_CYCLE[cycle]
        k = max(1, ((day.year - start.year) * 12 + day.month - start.month) // months)
        step = lambda n: start + relativedelta(months=n * months)  # noqa: E731
    while k > 1 and step(k - 1) > day:
        k -= 1
    while step(k) <= day:
        k += 1
    return step(k)


def _term_end(start: dt.date, months: int, day: dt.date) -> dt.date:
    """The end of the term running on `day`: terms follow one another from the start date."""
    end = start + relativedelta(months=months)
    if end > day:
        return end
    terms = max(1, ((day.year - start.year) * 12 + day.month - start.month) // months)
    while start + relativedelta(months=terms * months) <= day:
        terms += 1
    return start + relativedelta(months=terms * months)


def _check_service(row: p.Row, v: dict, managers: dict, today: dt.date) -> None:
    """What a row's values must be together; each error names its column."""
    if v["name"] is None:
        row.error("name", "is required.")
    if v["start_date"] is None:
        row.error("start_date", "is required, as YYYY-MM-DD.")
    if v["price"] is None:
        row.error("price", "is required, such as 149.00.")
    if row.errors:
        return
    running = v["status"] in RUNNING
    price, quantity = v["price"], v["quantity"]
    if price is not p.INVALID and quantity is not p.INVALID and price * quantity > MAX_AMOUNT:
        row.error("quantity", f"{quantity} × {price} is more than {MAX_AMOUNT} a cycle.")
    start = v["start_date"]
    if running and start is not p.INVALID and start > today:
        row.error(
            "start_date",
            f"{start} is after today: an {v['status']} service has started (import it as pending).",
        )
    next_bill = v["next_bill_date"]
    if next_bill not in (None, p.INVALID):
        if not running:
            row.error(
                "next_bill_date",
                f"a {v['status']} service is billed from its activation: leave it empty.",
            )
        elif v["billing_cycle"] == BillingCycle.ONE_TIME:
            row.error("next_bill_date", "a one-time service has no next bill: leave it empty.")
        elif start is not p.INVALID and next_bill < start:
            row.error("next_bill_date", f"{next_bill} is before the start date ({start}).")
    email = v["account_manager_email"]
    if email not in (None, p.INVALID):
        person = managers.get(email.casefold())
        if person is None:
            row.error("account_manager_email", f"nobody here signs in as {email!r}.")
        elif not person[1]:
            row.error("account_manager_email", f"{email!r} is deactivated.")
        elif person[2] not in MANAGERS:
            row.error(
                "account_manager_email",
                f"{email!r} is a {person[2].value.replace('_', ' ')}: choose an account "
                "manager or admin.",
            )


CYCLE_SPANS = {
    BillingCycle.WEEKLY: (relativedelta(weeks=1), "a week"),
    BillingCycle.MONTHLY: (relativedelta(months=1), "a month"),
    BillingCycle.QUARTERLY: (relativedelta(months=3), "three months"),
    BillingCycle.SEMI_ANNUAL: (relativedelta(months=6), "six months"),
    BillingCycle.ANNUAL: (relativedelta(years=1), "a year"),
}


def _check_next_bill(row: p.Row, v: dict, today: dt.date) -> None:
    """A new service's next bill date is within one of its cycles of today. One years away is
    a typo or a stale export: billing would catch up on every missed cycle at once, or not
    bill for years. (A service the file updates keeps its own next bill date: not checked.)"""
    next_bill, cycle = v["next_bill_date"], v["billing_cycle"]
    if next_bill is None or cycle not in CYCLE_SPANS:
        return
    span, words = CYCLE_SPANS[cycle]
    earliest, latest = today - span, today + span
    if earliest <= next_bill <= latest:
        return
    side = "before" if next_bill < earliest else "after"
    name = cycle.value.replace("_", "-")
    row.error(
        "next_bill_date",
        f"{next_bill} is more than {words} {side} today: for {'an' if name[0] in 'aeiou' else 'a'} "
        f"{name} service give a date from {earliest} to {latest} (one cycle either side of "
        "today), or leave it empty to bill on the next anniversary of the start date.",
    )


@dataclass(frozen=True)
class _ServiceRow:
    id: int
    client_id: int
    name: str
    external_id: str | None
    status: ServiceStatus
    price: Decimal
    quantity: int
    currency: str
    billing_cycle: BillingCycle
    service_type: str
    service_level: str
    auto_renew: bool
    start_date: dt.date
    term_months: int
    account_manager_id: int | None
    version: int


def _services(company_id: int) -> list[_ServiceRow]:
    rows = db.session.execute(
        select(
            ClientService.id,
            ClientService.client_id,
            ClientService.name,
            ClientService.external_id,
            ClientService.status,
            ClientService.price,
            ClientService.quantity,
            ClientService.currency,
            ClientService.billing_cycle,
            ClientService.service_type,
            ClientService.service_level,
            ClientService.auto_renew,
            ClientService.start_date,
            ClientService.term_months,
            ClientService.account_manager_id,
            ClientService.version,
        ).where(ClientService.company_id == company_id)
    ).all()
    return [_ServiceRow(*r) for r in rows]


def _plan_services(company_id: int, rows: list[p.Row]) -> list[RowPlan]:
    today = clock_today()
    clients = _ClientIndex(company_id)
    managers = _managers(company_id)
    emails = {person[0]: person[3] for person in managers.values()}
    currency = db.session.get(Company, company_id).currency
    services = _services(company_id)
    by_external = {s.external_id: s for s in services if s.external_id}
    by_name = defaultdict(list)
    for s in services:
        by_name[(s.client_id, s.name.casefold())].append(s)
    keys = _FileKeys()
    linked: set[int] = set()  # services a row of the file has matched already
    planned = []
    for row in rows:
        client = clients.find(row)
        v = service_values(row, currency)
        name, external = v["name"], v["external_id"]
        label = (name if isinstance(name, str) else f"row {row.number}") + (
            f" · {client.name}" if client else ""
        )
        _check_service(row, v, managers, today)
        if isinstance(external, str):
            keys.claim(row, "external_id", ("external", external), f"External id {external!r}")
        elif client is not None and isinstance(name, str):
            keys.claim(row, "name", (client.id, name.casefold()), f"{name!r} for {client.name!r}")
        if row.errors or client is None:
            planned.append(_error(row, label))
            continue
        match = _match_service(row, v, client, by_external, by_name, clients, linked)
        if row.errors:
            planned.append(_error(row, label))
            continue
        manager = v.pop("account_manager_email")
        v["account_manager_id"] = managers[manager.casefold()][0] if manager else None
        v["client_id"] = client.id
        if match is None:
            _check_next_bill(row, v, today)
            if row.errors:
                planned.append(_error(row, label))
                continue
            planned.append(_service_create(row, label, v, today))
            continue
        linked.add(match.id)
        planned.append(_service_update(row, label, v, match, emails))
    return planned


def _match_service(row, v, client, by_external, by_name, clients, linked):
    name, external = v["name"], v["external_id"]
    if external:
        match = by_external.get(external)
        if match is not None:
            if match.client_id != client.id:
                other = clients.by_id[match.client_id].name
                row.error("external_id", f"{external!r} is a service of {other!r} here.")
            return match
    same_name = [
        s
        for s in by_name.get((client.id, name.casefold()), [])
        if s.id not in linked and not (external and s.external_id)
    ]
    if len(same_name) > 1:
        running = [s for s in same_name if s.status in (*RUNNING, ServiceStatus.PENDING)]
        same_name = running if len(running) == 1 else same_name
    if len(same_name) > 1:
        row.error(
            "name",
            f"{client.name!r} has {len(same_name)} services named {name!r}: add an External "
            "ID column to tell them apart.",
        )
        return None
    return same_name[0] if same_name else None


def _service_create(row: p.Row, label: str, v: dict, today: dt.date) -> RowPlan:
    running = v["status"] in RUNNING
    start, months = v["start_date"], v["term_months"]
    v["term_end"] = (
        _term_end(start, months, today) if running else start + relativedelta(months=months)
    )
    notes = []
    if v["term_end"] != start + relativedelta(months=months):
        notes.append(f"term rolled on: it ends {v['term_end']}")
    recurring = v["billing_cycle"] != BillingCycle.ONE_TIME
    if running and recurring and v["next_bill_date"] is None:
        v["next_bill_date"] = cycles_after(start, v["billing_cycle"], today)
    summary = (
        f"{v['status']}, {v['quantity']} × {v['price']} {v['currency']} "
        f"{v['billing_cycle'].value.replace('_', '-')}"
        + (f", next bill {v['next_bill_date']}" if v["next_bill_date"] else "")
    )
    return RowPlan(row.number, label, Outcome.CREATE, notes=[summary, *notes], values=v)


# Set when the service starts; an import notes a difference and leaves them.
_SET_AT_START = ("service_type", "service_level", "auto_renew", "start_date", "term_months")


def _service_update(
    row: p.Row, label: str, v: dict, match: _ServiceRow, emails: dict[int, str]
) -> RowPlan:
    if v["status"] != match.status:
        row.error(
            "status",
            f"it is {match.status.value} here, {v['status'].value} in the file: status changes "
            "go through the service's actions (activate, suspend, resume, cancel).",
        )
    if v["price"] != match.price:
        row.error(
            "price",
            f"{match.price} here, {v['price']} in the file: change the price on the service's "
            "page (the change is prorated from its day).",
        )
    for name in ("quantity", "currency", "billing_cycle"):
        if v[name] != getattr(match, name):
            row.error(
                name,
                f"{_text(getattr(match, name))} here, {_text(v[name])} in the file: an import "
                "does not change it.",
            )
    if row.errors:
        return _error(row, label)
    wanted = {"name": v["name"]}
    if v["external_id"]:
        wanted["external_id"] = v["external_id"]
    changes, updates = _diff(row, match.__dict__, wanted)
    if row.has("account_manager_email") and v["account_manager_id"] != match.account_manager_id:
        changes[row.column_name("account_manager_email")] = [
            emails.get(match.account_manager_id),
            emails.get(v["account_manager_id"]),
        ]
        updates["account_manager_id"] = v["account_manager_id"]
    differing = [
        row.column_name(name)
        for name in _SET_AT_START
        if row.has(name) and _text(v[name]) != _text(getattr(match, name))
    ]
    notes = (
        [f"{', '.join(differing)} differ: set when a service starts, not by an import"]
        if differing
        else []
    )
    v["version"] = match.version
    v["current_manager_id"] = match.account_manager_id
    return _matched(row, label, match.id, changes, updates, v, notes)
