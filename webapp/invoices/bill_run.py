"""The bill run: every period started and not invoiced, every change and stop not yet settled,
turned into one document per client and currency (DESIGN.md, "The bill run").

One run is one transaction, under the company's row lock: two runs at once take turns, and the
second finds nothing left to bill; a run killed half-way leaves nothing behind, its numbers
included. On PostgreSQL the services it bills are locked too (FOR UPDATE), so a change made
meanwhile waits for the run and is settled by the next one, never half-seen. Exactly once also
holds without the locks: a line is unique per (service, billing key).

The run is set-based: a few statements read the services that have something due (their
cursor, ServiceInvoicing, says which), their changes, suspensions and stops; the rules
(webapp.lifecycle.invoicing) run in memory; documents, lines and cursors are bulk inserts.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, func, insert, or_, select, update

from webapp.clients.models import Client
from webapp.clock import today
from webapp.company.models import Company
from webapp.database import chunked, not_by_index
from webapp.extensions import db
from webapp.invoices.documents import (
    NewDocument,
    NewLine,
    issue_documents,
    kind_of,
    lock_company,
)
from webapp.invoices.models import CREDIT_NOTE, INVOICE, BillRun, InvoiceLine, ServiceInvoicing
from webapp.lifecycle import events as ev
from webapp.lifecycle import invoicing as rules
from webapp.lifecycle.statuses import BillingCycle, ServiceStatus
from webapp.lifecycle.transitions import TransitionRefused
from webapp.pipeline.models import DomainEvent
from webapp.pipeline.outbox import record, unit_of_work
from webapp.services.models import ClientService, ServicePause

CHANGES = (ev.ServicePriceChanged.__name__, ev.ServiceQuantityChanged.__name__)
STOPS = (ev.ServiceCancelled.__name__, ev.ServiceExpired.__name__)


class BillRunRefused(TransitionRefused):
    """A run for a date before the last run's, or after today: nothing was billed."""


@dataclass(frozen=True)
class BillRunResult:
    run_id: int
    run_date: dt.date
    invoices: int
    credit_notes: int
    lines: int
    document_ids: tuple[int, ...]


# Services billed per transaction: the run's locks (the company's, and on PostgreSQL the
# services') are held for one part at a time, so a change to a service waits a second or two
# for the run, never the whole run.
PART_SERVICES = 2000


def run_bill_run(company_id: int, run_date: dt.date, actor: str = "scheduler") -> BillRunResult:
    """Bill what is due by `run_date`, a part of the company's clients per transaction.

    Each part is whole: its documents with their lines, numbers, events and the cursors of its
    services commit together, under the company's lock, reading anew what is due. So a second
    run at the same time takes turns part by part and finds billed what the first billed, and a
    run killed half-way leaves its finished parts and nothing of the part under way: a run for
    the same day then bills the rest."""
    with unit_of_work():
        lock_company(company_id)
        _check_date(company_id, run_date)
        run = BillRun(company_id=company_id, run_date=run_date, actor=actor)
        db.session.add(run)
        db.session.flush()
        run_id = run.id
    ids, invoices, credit_notes, lines = [], 0, 0, 0
    for clients in _client_parts(company_id, run_date):
        with unit_of_work():
            company = lock_company(company_id)
            due = _due(company_id, run_date, clients)
            documents = _documents(company_id, due)
            ids += issue_documents(company, documents, run_date, actor, bill_run_id=run_id)
            _move_cursors(company_id, due)
        kinds = [kind_of(d) for d in documents]
        credit_notes += kinds.count(CREDIT_NOTE)
        invoices += kinds.count(INVOICE)
        lines += sum(len(d.lines) for d in documents)
    with unit_of_work():
        run = db.session.get(BillRun, run_id)
        run.invoices, run.credit_notes, run.lines = invoices, credit_notes, lines
        if ids:  # a run that billed nothing leaves its row, not an event
            record(
                ev.BillRunCompleted(None, run_id, run_date, invoices, credit_notes),
                company_id,
                actor,
            )
    return BillRunResult(run_id, run_date, invoices, credit_notes, lines, tuple(ids))


def preview(company_id: int, run_date: dt.date) -> list["_Due"]:
    """What a run for `run_date` would bill now, service by service, writing nothing."""
    due = [
        d for part in _client_parts(company_id, run_date) for d in _due(company_id, run_date, part)
    ]
    db.session.rollback()
    return due


def _client_parts(company_id: int, run_date: dt.date) -> list[list[int]]:
    """The clients with something due, in name order, grouped by about PART_SERVICES services
    (a client is never split: it gets one document per currency)."""
    s, cur = ClientService, ServiceInvoicing
    counts = db.session.execute(
        select(s.client_id, func.count())
        .join(Client, Client.id == s.client_id)
        .outerjoin(cur, cur.service_id == s.id)
        .where(s.company_id == company_id, s.activated_at.is_not(None), _is_due(run_date))
        .group_by(s.client_id, Client.name)
        .order_by(Client.name, s.client_id)
    ).all()
    db.session.rollback()  # a read: no transaction is kept open between parts
    parts, part, size = [], [], 0
    for client_id, count in counts:
        if part and size + count > PART_SERVICES:
            parts.append(part)
            part, size = [], 0
        part.append(client_id)
        size += count
    return [*parts, part] if part else parts


def _is_due(run_date: dt.date):
    s, cur = ClientService, ServiceInvoicing
    return or_(
        cur.service_id.is_(None),
        and_(
            cur.done.is_(False),
            or_(cur.next_bill_date <= run_date, s.version > cur.settled_version),
        ),
    )


def _check_date(company_id: int, run_date: dt.date) -> None:
    if run_date > today():
        raise BillRunRefused(
            f"A bill run is for today or a day before, not {run_date.isoformat()}: "
            "billing is in advance of periods that have started."
        )
    last = db.session.scalar(
        select(func.max(BillRun.run_date)).where(BillRun.company_id == company_id)
    )
    if last is not None and run_date < last:
        raise BillRunRefused(
            f"The last bill run was for {last.isoformat()}: runs go forward, so one for "
            f"{run_date.isoformat()} would bill out of order. Nothing was billed."
        )


@dataclass(frozen=True)
class _Due:
    service: object  # the candidate row
    history: rules.History
    billed: rules.Billed
    outcome: rules.Outcome
    has_cursor: bool


def _due(company_id: int, run_date: dt.date, client_ids: list[int]) -> list[_Due]:
    rows = _candidates(company_id, run_date, client_ids=client_ids)
    return [
        _Due(r, history, billed, rules.due_lines(history, billed, run_date), r.cursor is not None)
        for r, history, billed in _histories(company_id, rows)
    ]


def billing_dates(company_id: int, service_id: int) -> tuple[dt.date | None, dt.date | None]:
    """A service's (paid through, next bill date) as the next bill run will see them."""
    rows = _candidates(company_id, None, service_id)
    if not rows:
        return None, None
    (r, history, _billed), *_ = _histories(company_id, rows)
    return rules.billing_dates(history, r.periods_charged or 0)


def _histories(company_id: int, rows):
    """(row, history, billed) of candidate rows: a few statements for all of them."""
    if not rows:
        return []
    ids = [r.id for r in rows]
    imported, anchors = _imported(company_id, [r.id for r in rows if r.cursor is None])
    changes = _changes(company_id, rows)
    pauses = _pauses(company_id, ids)
    stops = _stop_events(company_id, [r.id for r in rows if r.status in _STOPPED])
    looked_at = [r.id for r in rows if r.id in changes or r.status in _STOPPED]
    keys, versions = _billed_lines(company_id, looked_at)
    starts_on = db.session.scalar(
        select(Company.invoicing_starts_on).where(Company.id == company_id)
    )
    due = []
    for r in rows:
        anchor = r.anchor or anchors.get(r.id) or r.activated_at.date()
        history = rules.History(
            service_id=r.id,
            cycle=BillingCycle(r.billing_cycle),
            anchor=anchor,
            version=r.version,
            rates=_rates(r, anchor, changes.get(r.id, [])),
            pauses=_with_suspension(r, pauses.get(r.id, [])),
            stop=_stop(r, stops.get(r.id)),
            bound=_bound(r),
            setup_fee=Decimal(r.setup_fee or 0),
            outside_before=_outside_before(r, anchor, starts_on, r.id in imported),
        )
        billed = rules.Billed(
            periods_charged=r.periods_charged or 0,
            settled_version=r.settled_version or 0,
            keys=frozenset(keys.get(r.id, ())),
            line_versions=versions.get(r.id, {}),
        )
        due.append((r, history, billed))
    return due


_STOPPED = (ServiceStatus.CANCELLED, ServiceStatus.EXPIRED)


def _candidates(
    company_id: int,
    run_date: dt.date | None,
    service_id: int | None = None,
    client_ids: list[int] | None = None,
):
    """Services of `client_ids` with something due: never looked at, a period started, or
    changed since (or the one service asked for, as it stands)."""
    s, cur = ClientService, ServiceInvoicing
    query = (
        select(
            s.id,
            s.client_id,
            s.name,
            s.currency,
            s.billing_cycle,
            s.price,
            s.quantity,
            s.setup_fee,
            s.status,
            s.version,
            s.activated_at,
            s.suspended_since,
            s.cancellation_effective_on,
            s.cancelled_at,
            s.term_end,
            s.auto_renew,
            cur.service_id.label("cursor"),
            cur.anchor,
            cur.periods_charged,
            cur.settled_version,
        )
        .outerjoin(cur, cur.service_id == s.id)
        .where(s.company_id == company_id, s.activated_at.is_not(None))
        .order_by(s.id)
    )
    if service_id is not None:
        return db.session.execute(query.where(s.id == service_id)).all()
    query = query.where(s.client_id.in_(client_ids or []), _is_due(run_date))
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=s)
    return db.session.execute(query).all()


def _outside_before(r, anchor: dt.date, starts_on: dt.date | None, imported: bool):
    """Before which day periods were billed by the tool used before: the company's invoicing
    start; for a one-time service that was imported, its one charge too."""
    if imported and BillingCycle(r.billing_cycle) == BillingCycle.ONE_TIME:
        return max(starts_on or anchor, anchor + dt.timedelta(days=1))
    return starts_on


def _imported(company_id: int, ids: list[int]) -> tuple[set[int], dict[int, dt.date]]:
    """The services among `ids` that were imported, and the next bill date each import gave
    (an imported service's billing carries on from it)."""
    imported, found = set(), {}
    for part in chunked(ids):
        for service_id, payload in db.session.execute(
            select(DomainEvent.service_id, DomainEvent.payload).where(
                not_by_index(db.session, DomainEvent.company_id) == company_id,
                DomainEvent.type == ev.ServiceImported.__name__,
                DomainEvent.service_id.in_(part),
            )
        ):
            imported.add(service_id)
            if payload.get("next_bill_date"):
                found[service_id] = dt.date.fromisoformat(payload["next_bill_date"])
    return imported, found


def _changes(company_id: int, rows) -> dict[int, list]:
    """Price and quantity changes of the candidates that changed since they were settled (or
    were never looked at), oldest first."""
    wanted = [r.id for r in rows if r.cursor is None or r.version > (r.settled_version or 0)]
    found = defaultdict(list)
    for part in chunked(wanted):
        for row in db.session.execute(
            select(
                DomainEvent.id,
                DomainEvent.service_id,
                DomainEvent.type,
                DomainEvent.payload,
                DomainEvent.occurred_at,
            )
            .where(
                not_by_index(db.session, DomainEvent.company_id) == company_id,
                DomainEvent.type.in_(CHANGES),
                DomainEvent.service_id.in_(part),
            )
            .order_by(DomainEvent.id)
        ):
            found[row.service_id].append(row)
    return found


def _rates(r, anchor: dt.date, changes) -> tuple[rules.Rate, ...]:
    """The service's rates: what it started with, then each change made after it was
    activated (a change while pending is part of what it started with)."""
    later = [c for c in changes if c.occurred_at >= r.activated_at]
    steps = [_terms_after(c) for c in later]
    if steps:
        first = later[0].payload
        if later[0].type == ev.ServicePriceChanged.__name__:
            start = (Decimal(first["old_price"]), steps[0][1])
        else:
            start = (Decimal(first["unit_price"]), int(first["old_quantity"]))
    else:
        start = (Decimal(r.price), int(r.quantity))
    rates = [rules.Rate(anchor, start[0], start[1], 0)]
    for change, (unit, quantity, version) in zip(later, steps, strict=True):
        rates.append(rules.Rate(change.occurred_at.date(), unit, quantity, version, change.id))
    return tuple(rates)


def _terms_after(change) -> tuple[Decimal, int, int]:
    p = change.payload
    if change.type == ev.ServicePriceChanged.__name__:
        # Events from before invoicing carry no quantity or version: they count as known.
        return Decimal(p["new_price"]), int(p.get("quantity") or 1), int(p.get("version") or 0)
    return Decimal(p["unit_price"]), int(p["new_quantity"]), int(p["version"])


def _pauses(company_id: int, ids: list[int]) -> dict[int, list[rules.Pause]]:
    found = defaultdict(list)
    for part in chunked(ids):
        for service_id, started, ended in db.session.execute(
            select(ServicePause.service_id, ServicePause.started_at, ServicePause.ended_at).where(
                not_by_index(db.session, ServicePause.company_id) == company_id,
                ServicePause.service_id.in_(part),
            )
        ):
            found[service_id].append(
                rules.Pause(started.date(), ended.date() if ended is not None else None)
            )
    return found


def _with_suspension(r, pauses: list[rules.Pause]) -> tuple[rules.Pause, ...]:
    """The suspensions, with the one in force even where no pause row records it (services
    written in bulk): the service's own suspended_since is what the lifecycle goes by."""
    if r.suspended_since is not None and r.status == ServiceStatus.SUSPENDED:
        since = r.suspended_since.date()
        if not any(p.start <= since and (p.end is None or p.end > since) for p in pauses):
            pauses = [*pauses, rules.Pause(since, None)]
    return tuple(pauses)


def _stop_events(company_id: int, ids: list[int]) -> dict[int, int]:
    found = {}
    for part in chunked(ids):
        for event_id, service_id in db.session.execute(
            select(DomainEvent.id, DomainEvent.service_id)
            .where(
                not_by_index(db.session, DomainEvent.company_id) == company_id,
                DomainEvent.type.in_(STOPS),
                DomainEvent.service_id.in_(part),
            )
            .order_by(DomainEvent.id)
        ):
            found[service_id] = event_id
    return found


def _stop(r, event_id: int | None) -> rules.Stop | None:
    if r.status not in _STOPPED:
        return None
    day = r.cancellation_effective_on if r.status == ServiceStatus.CANCELLED else r.term_end
    if day is None:
        # A row written without it (old or bulk data): the day it was cancelled. Without a
        # day, one such row would stop the company's whole bill run.
        day = r.cancelled_at.date() if r.cancelled_at is not None else r.term_end
    if r.suspended_since is not None:
        day = min(day, r.suspended_since.date())
    return rules.Stop(day, event_id)


def _bound(r) -> dt.date | None:
    """No period starts on or after the day a scheduled cancellation takes effect, nor after
    the end of a term that will not renew by itself (unless it is renewed meanwhile)."""
    if r.status in _STOPPED:
        return None
    if r.cancellation_effective_on is not None:
        return r.cancellation_effective_on
    return None if r.auto_renew else r.term_end


def _billed_lines(company_id: int, ids: list[int]):
    """Event lines' keys, and the version each period line was priced at, of services whose
    changes or stop are looked at."""
    keys, versions = defaultdict(set), defaultdict(dict)
    for part in chunked(ids):
        for service_id, key, start, version in db.session.execute(
            select(
                InvoiceLine.service_id,
                InvoiceLine.billing_key,
                InvoiceLine.period_start,
                InvoiceLine.service_version,
            ).where(
                InvoiceLine.company_id == company_id,
                InvoiceLine.service_id.in_(part),
                InvoiceLine.billing_key.is_not(None),
            )
        ):
            if key.startswith("event:") or key == "stop":
                keys[service_id].add(key)
            elif key.startswith("period:"):
                versions[service_id][start] = version or 0
    return keys, versions


def _documents(company_id: int, due: list[_Due]) -> list[NewDocument]:
    """One document per client and currency, in client name order."""
    grouped = defaultdict(list)
    for d in due:
        for line in d.outcome.lines:
            grouped[(d.service.client_id, d.service.currency)].append(
                _new_line(d.service, d.history, line)
            )
    names = _client_names(company_id, {client_id for client_id, _ in grouped})
    return [
        NewDocument(client_id=client_id, currency=currency, lines=lines)
        for (client_id, currency), lines in sorted(
            grouped.items(), key=lambda item: (names[item[0][0]].casefold(), item[0])
        )
    ]


def _client_names(company_id: int, ids: Iterable[int]) -> dict[int, str]:
    names = {}
    for part in chunked(list(ids)):
        names.update(
            db.session.execute(
                select(Client.id, Client.name).where(
                    Client.company_id == company_id, Client.id.in_(part)
                )
            ).all()
        )
    return names


def _new_line(service, history: rules.History, line: rules.Line) -> NewLine:
    kind = line.kind
    if kind == rules.PERIOD:
        version, quantity, unit = history.version, line.quantity, line.unit_price
    else:
        # An adjustment or credit is a share of a period: one unit of its amount, so that
        # quantity x unit price is the line amount in every export.
        version, quantity, unit = None, 1, line.amount
        if kind in (rules.SETUP, rules.ONCE):
            quantity, unit = line.quantity, line.unit_price
    return NewLine(
        service_id=service.id,
        kind=kind,
        description=describe(service.name, line),
        quantity=quantity,
        unit_price=unit,
        amount=line.amount,
        billing_key=line.key,
        event_id=line.event_id,
        period_start=line.period_start,
        period_end=line.period_end,
        service_version=version,
    )


def describe(name: str, line: rules.Line) -> str:
    day = dt.timedelta(days=1)
    if line.kind == rules.PERIOD:
        if line.period_end is None:
            return f"{name}, from {line.period_start} (suspended: the period's end moves)"
        return f"{name}, {line.period_start} to {line.period_end - day}"
    if line.kind == rules.SETUP:
        return f"{name}, setup fee"
    if line.kind == rules.ONCE:
        return f"{name}, one-time"
    if line.kind == rules.ADJUSTMENT:
        return (
            f"{name}, change on {line.period_start} from {line.old_amount:.2f} to "
            f"{line.unit_price * line.quantity:.2f} per period, for {line.days} of "
            f"{line.of_days} days"
        )
    return f"{name}, {line.days} unused days from {line.period_start} credited"


def _move_cursors(company_id: int, due: list[_Due]) -> None:
    new, known = [], []
    for d in due:
        o = d.outcome
        row = {
            "service_id": d.service.id,
            "periods_charged": o.periods_charged,
            "next_bill_date": o.next_bill_date,
            "paid_through": o.paid_through,
            "settled_version": o.settled_version,
            "done": o.done,
        }
        if d.has_cursor:
            known.append(row)
        else:
            new.append({**row, "company_id": company_id, "anchor": d.history.anchor})
    if new:
        db.session.execute(insert(ServiceInvoicing.__table__), new)
    if known:
        db.session.execute(update(ServiceInvoicing), known)
