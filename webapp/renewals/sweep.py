"""The renewal sweep: reminders before term end, and auto-renewal when the term ends.

Set-based: one query finds the candidates (with the reminders already recorded for their
term), the pure rules decide, and the writes go in bulk, a chunk of services per transaction so
SQLite's write lock is held briefly. Each chunk's events commit with its change and are
published after the commit, as a single transition's are.

Safe to run at any time and any number of times: reminders are guarded by a unique row per
service, term and threshold, inserted with ON CONFLICT DO NOTHING in the same transaction as
their event, and only the rows this run inserted get an event, so a concurrent sweep never
sends one twice. A renewal moves the term end, so a service renewed once is no longer due.
"""

import datetime as dt
import logging
from types import SimpleNamespace

from sqlalchemy import and_, bindparam, select, update

from webapp.clock import today, utcnow
from webapp.company.models import Company
from webapp.database import chunked, insert_new_only
from webapp.extensions import db
from webapp.lifecycle.events import ServiceDueForRenewal
from webapp.lifecycle.renewals import reminder_due
from webapp.lifecycle.statuses import RUNNING
from webapp.lifecycle.transitions import Action, TransitionRefused, next_status
from webapp.pipeline.outbox import record_many, unit_of_work
from webapp.renewals.models import RenewalReminder
from webapp.services import actions as service_actions
from webapp.services.models import ClientService

log = logging.getLogger(__name__)


ACTOR = "scheduler"


REMINDERS = RenewalReminder.__table__


SERVICES = ClientService.__table__


def run_renewals() -> dict[str, int]:
    """The scheduler's entry point."""
    return {"renewed": auto_renew_due(), "reminders": send_reminders()}


def send_reminders() -> int:
    on = today()
    companies = [(c.id, c.reminder_days) for c in db.session.scalars(select(Company))]
    sent = 0
    for company_id, thresholds in companies:
        if thresholds:
            for chunk in chunked(_due_reminders(company_id, thresholds, on)):
                sent += _record_reminders(company_id, chunk)
    return sent


def reminder_candidates(company_id: int, thresholds: list[int], on: dt.date):
    """The company's running services whose term ends within the largest threshold, each
    with the thresholds already recorded for that term (None where there are none)."""
    return (
        select(ClientService.id, ClientService.term_end, RenewalReminder.days_before)
        .outerjoin(
            RenewalReminder,
            and_(
                RenewalReminder.service_id == ClientService.id,
                RenewalReminder.term_end == ClientService.term_end,
            ),
        )
        .where(
            ClientService.company_id == company_id,
            ClientService.status.in_(RUNNING),
            ClientService.term_end >= on,
            ClientService.term_end <= on + dt.timedelta(days=max(thresholds)),
            # Ending at its term end (a cancellation is scheduled): nothing to remind of.
            ClientService.cancellation_effective_on.is_(None),
        )
    )


def _due_reminders(company_id, thresholds, on) -> list[dict]:
    """The reminder rows to write, "sent" and "skipped", as reminder_due decides."""
    recorded: dict[tuple[int, dt.date], set[int]] = {}
    for service_id, term_end, days in db.session.execute(
        reminder_candidates(company_id, thresholds, on)
    ):
        found = recorded.setdefault((service_id, term_end), set())
        if days is not None:
            found.add(days)
    db.session.rollback()
    rows = []
    for (service_id, term_end), done in recorded.items():
        decision = reminder_due((term_end - on).days, thresholds, done)
        marks = [(decision.send, "sent")] if decision.send is not None else []
        for days, status in marks + [(days, "skipped") for days in decision.skip]:
            rows.append(
                {
                    "company_id": company_id,
                    "service_id": service_id,
                    "term_end": term_end,
                    "days_before": days,
                    "status": status,
                }
            )
    return rows


def _record_reminders(company_id: int, rows: list[dict]) -> int:
    """Insert the reminder rows no other sweep wrote first, and an event for each one sent."""
    with unit_of_work():
        written = db.session.execute(
            insert_new_only(
                db.session, REMINDERS, ["service_id", "term_end", "days_before"]
            ).returning(
                REMINDERS.c.id,
                REMINDERS.c.service_id,
                REMINDERS.c.term_end,
                REMINDERS.c.days_before,
                REMINDERS.c.status,
            ),
            rows,
        ).all()
        sent = [r for r in written if r.status == "sent"]
        events = [
            (ServiceDueForRenewal(r.service_id, r.term_end, r.days_before), company_id)
            for r in sent
        ]
        event_ids = record_many(events, ACTOR)
        if sent:
            db.session.execute(
                update(REMINDERS).where(REMINDERS.c.id == bindparam("reminder_id")),
                [
                    {"reminder_id": r.id, "event_id": e}
                    for r, e in zip(sent, event_ids, strict=True)
                ],
            )
    return len(event_ids)


def auto_renew_due() -> int:
    """Renew auto-renew services whose term has ended, term by term until it is current."""
    due = db.session.scalars(
        select(ClientService.id)
        .where(
            ClientService.status.in_(RUNNING),
            ClientService.auto_renew.is_(True),
            ClientService.term_end <= today(),
            ClientService.cancellation_effective_on.is_(None),
        )
        .order_by(ClientService.id)
    ).all()
    db.session.rollback()
    return sum(_renew(chunk) for chunk in chunked(due))


def _renew(service_ids: list[int]) -> int:
    """Renew a chunk of services in one transaction, from their rows read under lock (SQLite's
    write lock, PostgreSQL's row locks): what changed since they were selected is seen."""
    with unit_of_work():
        on, now = today(), utcnow()
        services = db.session.execute(
            select(
                ClientService.id,
                ClientService.company_id,
                ClientService.status,
                ClientService.version,
                ClientService.term_end,
                ClientService.term_months,
                ClientService.renewal_count,
            )
            .where(
                ClientService.id.in_(service_ids),
                ClientService.auto_renew.is_(True),
                ClientService.term_end <= on,
                ClientService.cancellation_effective_on.is_(None),  # scheduled meanwhile
            )
            .order_by(ClientService.id)
            .with_for_update()
        ).all()
        changes, events = [], []
        for s in services:
            try:
                next_status(Action.RENEW, s.status, s.id)
            except TransitionRefused as exc:  # cancelled meanwhile; the next run looks again
                log.info("not renewed: %s", exc)
                continue
            term = SimpleNamespace(id=s.id, term_end=s.term_end, renewal_count=s.renewal_count)
            terms = 0
            while term.term_end <= on:
                values, event = service_actions.renewal(term, s.term_months, now)
                term.term_end, term.renewal_count = values["term_end"], values["renewal_count"]
                events.append((event, s.company_id))
                terms += 1
            changes.append(
                {**values, "service_id": s.id, "version": s.version + terms, "updated_at": now}
            )
        if changes:
            db.session.execute(
                update(SERVICES).where(SERVICES.c.id == bindparam("service_id")), changes
            )
        event_ids = record_many(events, ACTOR)
    return len(event_ids)
