"""SLA alerts, clock states and policy descriptions as the pages show them.

An incident's SLA state per target comes from its stored marks (set once, with their events)
and, while a clock still runs, from the same pure function that sets them
(`lifecycle.sla.marks`), so the page and the alerts never disagree about a deadline.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from webapp.accounts.models import User
from webapp.clients.models import Client
from webapp.company.models import Company
from webapp.extensions import db
from webapp.humanize import human_minutes
from webapp.incidents.models import Incident
from webapp.lifecycle.sla import (
    BREACH,
    DEFAULTS,
    RESOLUTION,
    RESPONSE,
    WARNING,
    BusinessHours,
    IncidentTimes,
    SlaTargets,
    marks,
)
from webapp.services.models import ClientService
from webapp.sla.models import SlaAlert
from webapp.sla.tracking import MARK_COLUMNS, hours_for, policy_for


@dataclass(frozen=True)
class AlertRow:
    alert: SlaAlert
    service_name: str
    client_name: str
    acknowledged_by: str | None
    client_id: int  # for the link to the client's page


def _alerts_base(company_id: int, kind: str):
    acker = db.aliased(User)
    base = (
        select(SlaAlert, ClientService.name, Client.name, acker.name, Client.id)
        .join(ClientService, SlaAlert.service_id == ClientService.id)
        .join(Client, ClientService.client_id == Client.id)
        .outerjoin(acker, SlaAlert.acknowledged_by_id == acker.id)
        .where(SlaAlert.company_id == company_id)
    )
    return base.where(SlaAlert.kind == kind) if kind else base


def _in_order(query, is_open: bool):
    """Unacknowledged alerts oldest first (the longest waiting); acknowledged ones newest
    first, read along the (company_id, acknowledged_at) index rather than sorted whole: they
    pile up for ever."""
    if is_open:
        return query.where(SlaAlert.acknowledged_at.is_(None)).order_by(
            SlaAlert.created_at, SlaAlert.id
        )
    return query.where(SlaAlert.acknowledged_at.is_not(None)).order_by(
        SlaAlert.acknowledged_at.desc(), SlaAlert.id.desc()
    )


def _groups(state: str) -> tuple[bool, ...]:
    return {"open": (True,), "acknowledged": (False,)}.get(state, (True, False))


def alerts(
    company_id: int, state: str = "open", kind: str = "", limit: int = 100
) -> list[AlertRow]:
    """Alerts, unacknowledged first (oldest first: the longest waiting), then acknowledged.

    Two queries rather than one ordered by "acknowledged or not" (see _in_order). Both are
    asked whatever the rows, so a page issues the same statements however many there are."""
    base = _alerts_base(company_id, kind)
    rows = []
    for is_open in _groups(state):
        rows += db.session.execute(_in_order(base, is_open).limit(max(0, limit - len(rows)))).all()
    return [AlertRow(*row) for row in rows]


@dataclass(frozen=True)
class AlertPage:
    rows: list[AlertRow]
    total: int
    page: int
    pages: int


def alert_page(company_id: int, state: str, kind: str, page: int, page_size: int) -> AlertPage:
    """One page of alerts() in the same order: the open ones are counted first to know where
    the page falls across the two groups (each count read from the index alone)."""
    counts = []
    for is_open in _groups(state):
        where = [
            SlaAlert.company_id == company_id,
            SlaAlert.acknowledged_at.is_(None)
            if is_open
            else SlaAlert.acknowledged_at.is_not(None),
        ]
        if kind:
            where.append(SlaAlert.kind == kind)
        counts.append(db.session.scalar(select(func.count()).where(*where)))
    total = sum(counts)
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    skip = (page - 1) * page_size
    base = _alerts_base(company_id, kind)
    rows = []
    for is_open, count in zip(_groups(state), counts, strict=True):
        take = max(0, min(page_size - len(rows), count - skip))
        query = _in_order(base, is_open).offset(min(skip, count)).limit(take)
        rows += db.session.execute(query).all()  # asked even for none: a constant count
        skip = max(0, skip - count)
    return AlertPage([AlertRow(*row) for row in rows], total, page, pages)


def open_alert_count(company_id: int) -> int:
    return db.session.scalar(
        select(func.count()).where(
            SlaAlert.company_id == company_id, SlaAlert.acknowledged_at.is_(None)
        )
    )


DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def describe_week(week: dict[int, tuple[dt.time, dt.time]]) -> str:
    """{0..4: (08:00, 18:00)} -> "Mon–Fri 08:00–18:00"; runs of days with equal hours joined."""
    runs: list[list] = []  # [first day, last day, opens, closes]
    for day in sorted(week):
        opens, closes = week[day]
        if runs and runs[-1][1] == day - 1 and runs[-1][2:] == [opens, closes]:
            runs[-1][1] = day
        else:
            runs.append([day, day, opens, closes])
    if not runs:
        return "no open hours"
    return ", ".join(
        f"{DAY_NAMES[first]}{'–' + DAY_NAMES[last] if last != first else ''} "
        f"{opens:%H:%M}–{closes:%H:%M}"
        for first, last, opens, closes in runs
    )


def describe_clock(targets: SlaTargets, hours: BusinessHours) -> str:
    if targets.around_the_clock:
        return "24x7"
    return f"business hours ({hours.timezone}, {describe_week(hours.week)})"


@dataclass(frozen=True)
class SlaState:
    kind: str  # RESPONSE or RESOLUTION
    tone: str  # "good", "due", "warn", "bad" or "paused"
    text: str
    deadline: dt.datetime | None = None  # naive UTC, while the clock runs


def _stopped_state(kind: str, took: dt.timedelta, late: bool) -> SlaState:
    verb = "answered" if kind == RESPONSE else "resolved"
    spent = human_minutes(took.total_seconds() / 60)
    if late:
        return SlaState(kind, "bad", f"{kind} breached, {verb} in {spent}")
    return SlaState(kind, "good", f"{verb} in {spent}")


def sla_states(
    incident: Incident, targets: SlaTargets, hours: BusinessHours, pauses, now: dt.datetime
) -> tuple[SlaState, ...]:
    """One state per target: answered/resolved in, breached, due in, or paused."""
    times = IncidentTimes(incident.opened_at, incident.acknowledged_at, incident.resolved_at)
    points = None  # the deadlines, computed only while a clock still runs
    states = []
    for kind in (RESPONSE, RESOLUTION):
        breached = getattr(incident, MARK_COLUMNS[(kind, BREACH)]) is not None
        stopped = times.stopped(kind)
        if stopped is not None:
            states.append(_stopped_state(kind, stopped - incident.opened_at, breached))
            continue
        if points is None:
            points = {(m.kind, m.level): m.at for m in marks(times, targets, hours, pauses)}
        due, warn_at = points[(kind, BREACH)], points[(kind, WARNING)]
        if breached or (due is not None and due <= now):
            states.append(SlaState(kind, "bad", f"{kind} breached", due))
        elif due is None:
            states.append(SlaState(kind, "paused", f"{kind} clock paused (service suspended)"))
        else:
            warned = getattr(incident, MARK_COLUMNS[(kind, WARNING)]) is not None or (
                warn_at is not None and warn_at <= now
            )
            text = f"{kind} due in {human_minutes((due - now).total_seconds() / 60)}"
            states.append(SlaState(kind, "warn" if warned else "due", text, due))
    return tuple(states)


@dataclass(frozen=True)
class PolicyLine:
    label: str
    value: str
    own: bool  # the service's own value, not its level's default


@dataclass(frozen=True)
class PolicySummary:
    level: str
    lines: list[PolicyLine]
    defaults: SlaTargets
    measured_availability: Decimal | None


def _percent(value) -> str:
    return f"{Decimal(str(value)).normalize():f} %"


def sla_summary(service: ClientService) -> PolicySummary:
    """The policy in force, line by line, each marked as the level's default or the service's own."""
    targets = policy_for(service)
    defaults = DEFAULTS[service.service_level.value]
    hours = hours_for(db.session.get(Company, service.company_id))
    lines = [
        PolicyLine(
            "Response",
            f"within {human_minutes(targets.response_minutes, days=False)}",
            service.sla_response_minutes is not None,
        ),
        PolicyLine(
            "Resolution",
            f"within {human_minutes(targets.resolution_minutes, days=False)}",
            service.sla_resolution_minutes is not None,
        ),
        PolicyLine(
            "Availability",
            _percent(targets.availability_target),
            service.sla_availability_target is not None,
        ),
        PolicyLine(
            "Warning",
            f"at {targets.warning_percent} % of each target",
            service.sla_warning_percent is not None,
        ),
        PolicyLine(
            "Clock", describe_clock(targets, hours), service.sla_around_the_clock is not None
        ),
    ]
    return PolicySummary(service.service_level.value, lines, defaults, service.availability_pct)
