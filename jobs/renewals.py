"""The renewal sweep: reminders before term end, and auto-renewal when the term ends.

Safe to run at any time and any number of times: reminders are guarded by a unique row per
service, term and threshold, written in the same transaction as their event; a renewal moves
the term end, so a service renewed once is no longer due.
"""

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from jobs.context import app_context
from webapp import service_lifecycle as lc
from webapp.clock import today
from webapp.database import begin_write
from webapp.extensions import db
from webapp.lifecycle.events import ServiceDueForRenewal
from webapp.lifecycle.renewals import reminder_due
from webapp.lifecycle.statuses import RUNNING
from webapp.lifecycle.transitions import TransitionRefused
from webapp.models import ClientService, Company, RenewalReminder
from webapp.outbox import commit_and_publish, record

log = logging.getLogger(__name__)


def run_renewals() -> dict[str, int]:
    """The scheduler's entry point."""
    with app_context():
        return {"renewed": auto_renew_due(), "reminders": send_reminders()}


def send_reminders() -> int:
    sent = 0
    on = today()
    for company in db.session.scalars(select(Company)).all():
        thresholds = company.reminder_days
        if not thresholds:
            continue
        candidates = db.session.execute(
            select(ClientService.id, ClientService.term_end).where(
                ClientService.company_id == company.id,
                ClientService.status.in_(RUNNING),
                ClientService.term_end >= on,
                ClientService.term_end <= on + dt.timedelta(days=max(thresholds)),
            )
        ).all()
        recorded: dict[tuple[int, dt.date], set[int]] = {}
        for service_id, term_end, days in db.session.execute(
            select(
                RenewalReminder.service_id, RenewalReminder.term_end, RenewalReminder.days_before
            ).where(RenewalReminder.service_id.in_([c.id for c in candidates]))
        ):
            recorded.setdefault((service_id, term_end), set()).add(days)
        db.session.rollback()
        for service_id, term_end in candidates:
            decision = reminder_due(
                (term_end - on).days, thresholds, recorded.get((service_id, term_end), set())
            )
            if decision.send is not None or decision.skip:
                sent += _record_reminder(company.id, service_id, term_end, decision)
    return sent


def _record_reminder(company_id, service_id, term_end, decision) -> int:
    begin_write(db.session)
    try:
        event_id = None
        if decision.send is not None:
            event = ServiceDueForRenewal(service_id, term_end, decision.send)
            event_id = record(event, company_id, "scheduler").id
            db.session.add(
                RenewalReminder(
                    company_id=company_id,
                    service_id=service_id,
                    term_end=term_end,
                    days_before=decision.send,
                    event_id=event_id,
                    status="sent",
                )
            )
        for days in decision.skip:
            db.session.add(
                RenewalReminder(
                    company_id=company_id,
                    service_id=service_id,
                    term_end=term_end,
                    days_before=days,
                    status="skipped",
                )
            )
        commit_and_publish([event_id] if event_id is not None else [])
    except IntegrityError:  # another sweep recorded it first: it went out once, not twice
        return 0
    return 1 if event_id is not None else 0


def auto_renew_due() -> int:
    """Renew auto-renew services whose term has ended, term by term until it is current."""
    due = db.session.execute(
        select(ClientService.company_id, ClientService.id).where(
            ClientService.status.in_(RUNNING),
            ClientService.auto_renew.is_(True),
            ClientService.term_end <= today(),
        )
    ).all()
    db.session.rollback()
    renewed = 0
    for company_id, service_id in due:
        try:
            while True:
                service = lc.renew(
                    company_id, service_id, "scheduler", months=_term_months(service_id)
                )
                renewed += 1
                if db.session.get(ClientService, service.id).term_end > today():
                    break
        except TransitionRefused as exc:  # cancelled or changed meanwhile; the next run looks again
            log.info("not renewed: %s", exc)
    return renewed


def _term_months(service_id: int) -> int:
    return db.session.get(ClientService, service_id).term_months
