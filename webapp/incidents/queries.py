"""Incidents as the pages show them: the list and its filters (page and CSV), one incident, a
service's incidents, an incident's alerts, and the services an incident can be recorded on.
Each row carries its SLA states (webapp.sla.queries.sla_states)."""

from dataclasses import dataclass

from sqlalchemy import case, func, literal, or_, select

from webapp.accounts.models import User
from webapp.assets.models import Asset
from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.database import first_ids_across
from webapp.date_range import DateRange
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.lifecycle.sla import (
    SlaTargets,
)
from webapp.lifecycle.statuses import Severity
from webapp.query_args import id_arg, text_arg
from webapp.services.models import ClientService
from webapp.services.queries import of_client
from webapp.sla.models import SlaAlert
from webapp.sla.queries import SlaState, sla_states
from webapp.sla.tracking import TRACKED, hours_for, pauses_by_service, policy_for

STATES = ("open", "resolved", "all")

SEVERITIES = tuple(s.value for s in Severity)  # most severe first

COUNT_CAP = 10_000  # lists count up to this many rows and then say "over"

# Rows on the incidents page: each costs about half a millisecond to render (SLA clocks,
# links, buttons), and past the first fifty a technician searches or filters anyway.
INCIDENTS_SHOWN = 50


@dataclass(frozen=True)
class IncidentQuery:
    state: str = "open"
    severity: str = ""
    q: str = ""
    service: int | None = None
    client: int | None = None
    opened: DateRange = DateRange()  # on opened_at, as days in the company's time zone

    @classmethod
    def from_args(cls, args) -> "IncidentQuery":
        """The filters from a query string (the page's, or its CSV download's)."""
        state = args.get("state", "open")
        severity = args.get("severity", "")
        return cls(
            state=state if state in STATES else "open",
            severity=severity if severity in SEVERITIES else "",
            q=text_arg(args, "q"),
            service=id_arg(args, "service"),
            client=id_arg(args, "client"),
            opened=DateRange.from_args(args),
        )

    @property
    def args(self) -> dict:
        """The filters as the query string carries them."""
        return {
            "state": self.state,
            "severity": self.severity or None,
            "q": self.q or None,
            "service": self.service,
            "client": self.client,
            **self.opened.args,
        }


@dataclass(frozen=True)
class IncidentRow:
    incident: Incident
    service: ClientService
    client_name: str
    assignee: str | None
    sla: tuple[SlaState, ...]


@dataclass(frozen=True)
class IncidentList:
    rows: list[IncidentRow]
    total: int  # at most COUNT_CAP + 1

    @property
    def total_text(self) -> str:
        return f"over {COUNT_CAP:,}" if self.total > COUNT_CAP else f"{self.total:,}"


def _severity_rank():
    return case(*[(Incident.severity == Severity(s), i) for i, s in enumerate(SEVERITIES)])


def _rows(company_id: int, query, now=None) -> list[IncidentRow]:
    return _assemble(company_id, db.session.execute(query).all(), now)


def _assemble(company_id: int, result, now=None) -> list[IncidentRow]:
    """Rows of (incident, service, client name, assignee) with their SLA states."""
    now = now or utcnow()
    company = db.session.get(Company, company_id)
    hours = hours_for(company)
    pauses = pauses_by_service({service.id for _, service, _, _ in result})
    policies: dict[int, SlaTargets] = {}
    rows = []
    for incident, service, client_name, assignee in result:
        if service.id not in policies:
            policies[service.id] = policy_for(service)
        states = sla_states(incident, policies[service.id], hours, pauses[service.id], now)
        rows.append(IncidentRow(incident, service, client_name, assignee, states))
    return rows


def _base(company_id: int):
    return (
        select(Incident, ClientService, Client.name, User.name)
        .join(ClientService, Incident.service_id == ClientService.id)
        .join(Client, ClientService.client_id == Client.id)
        .outerjoin(User, Incident.assignee_id == User.id)
        .where(Incident.company_id == company_id)
    )


def incidents(company_id: int, query: IncidentQuery, limit: int = INCIDENTS_SHOWN) -> IncidentList:
    """Open incidents first (most severe, then longest open), then the latest resolved.

    Two queries rather than one ordered union: the open ones are few and sorted in full, the
    resolved ones (a year of them can be a million) are read newest first along the
    (company_id, resolved_at) index and stop at the limit, instead of sorting them all."""
    filters = incident_filters(company_id, query)
    text_filter = incident_text_filter(query)
    states = {"open": (True,), "resolved": (False,)}.get(query.state, (True, False))
    found, total = [], 0
    for is_open in states:
        where = [
            *filters,
            Incident.resolved_at.is_(None) if is_open else Incident.resolved_at.is_not(None),
        ]
        if text_filter is not None:
            where.append(text_filter)
        # Counted up to a cap: a year of resolved incidents is a million index entries to
        # count on every load, for a figure nobody reads past "over 10,000".
        capped = select(Incident.id).where(*where).limit(COUNT_CAP + 1)
        if text_filter is not None:
            capped = _joined(capped)
        total += db.session.scalar(select(func.count()).select_from(capped.subquery()))
        # Asked even when the open ones filled the page (LIMIT 0 costs nothing), so a page
        # issues the same statements however many rows there are.
        room = max(0, limit - len(found))
        if is_open and not query.service:
            found += _most_severe_first(company_id, where, text_filter is not None, room)
        else:  # one service's open incidents are few: its own index finds them all
            order = (
                (_severity_rank(), Incident.opened_at, Incident.id)
                if is_open
                else (Incident.resolved_at.desc(), Incident.id.desc())
            )
            found += db.session.execute(
                _base(company_id).where(*where).order_by(*order).limit(room)
            ).all()
    return IncidentList(_assemble(company_id, found), min(total, COUNT_CAP + 1))


def incident_filters(company_id: int, query: IncidentQuery) -> list:
    """The conditions on incidents' own columns of every filter but the state and the text:
    the same for the page and its CSV export."""
    filters = [Incident.company_id == company_id]
    if query.severity in SEVERITIES:
        filters.append(Incident.severity == Severity(query.severity))
    if query.service:
        filters.append(Incident.service_id == query.service)
    if query.client:
        filters.append(of_client(Incident.service_id, company_id, query.client))
    if query.opened.first or query.opened.last:
        zone = db.session.get(Company, company_id).timezone or "UTC"
        filters += query.opened.on_times(Incident.opened_at, zone)
    return filters


def incident_text_filter(query: IncidentQuery):
    """The search over service, client and title (it needs those tables joined), or None."""
    if not query.q.strip():
        return None
    like = f"%{query.q.strip()}%"
    return or_(ClientService.name.ilike(like), Client.name.ilike(like), Incident.title.ilike(like))


def incident_state_filter(state: str):
    """Open, resolved, or None for all."""
    return {
        "open": Incident.resolved_at.is_(None),
        "resolved": Incident.resolved_at.is_not(None),
    }.get(state)


def _joined(query):
    return query.join(ClientService, Incident.service_id == ClientService.id).join(
        Client, ClientService.client_id == Client.id
    )


def _most_severe_first(company_id: int, where: list, text: bool, limit: int):
    """Open incidents, most severe first, then longest open.

    Ordering by a severity rank makes the database read and sort every open incident, and
    a monitoring storm leaves thousands open: read per severity along the (company_id,
    severity, resolved_at, opened_at) index and merged (webapp.database.first_ids_across)."""
    parts = []
    for rank, severity in enumerate(Severity):
        part = select(Incident.id, literal(rank).label("rank"), Incident.opened_at).where(
            *where, Incident.severity == severity
        )
        if text:
            part = _joined(part)
        parts.append(part.order_by(Incident.opened_at, Incident.id).limit(limit))
    first = first_ids_across(parts, ["rank", "opened_at", "id"], limit)
    return db.session.execute(
        _base(company_id)
        .where(Incident.id.in_(first))
        .order_by(_severity_rank(), Incident.opened_at, Incident.id)
    ).all()


def incident(company_id: int, incident_id: int) -> IncidentRow | None:
    rows = _rows(company_id, _base(company_id).where(Incident.id == incident_id))
    return rows[0] if rows else None


def service_incidents(company_id: int, service_id: int, limit: int = 8) -> IncidentList:
    """The service's incidents, open ones first, for its page."""
    return incidents(company_id, IncidentQuery(state="all", service=service_id), limit)


def incident_alerts(company_id: int, incident_id: int) -> list[SlaAlert]:
    return db.session.scalars(
        select(SlaAlert)
        .where(SlaAlert.company_id == company_id, SlaAlert.incident_id == incident_id)
        .order_by(SlaAlert.created_at, SlaAlert.id)
    ).all()


def recordable_services(company_id: int):
    """(id, "Client — Service") of the services an incident can be recorded on."""
    return db.session.execute(
        select(ClientService.id, Client.name + " — " + ClientService.name)
        .join(Client, ClientService.client_id == Client.id)
        .where(ClientService.company_id == company_id, ClientService.status.in_(TRACKED))
        .order_by(Client.name, ClientService.name, ClientService.id)
    ).all()


def asset_of(company_id: int, incident: Incident) -> Asset | None:
    """The asset an alert found the incident by, when it did."""
    if incident.asset_id is None:
        return None
    return db.session.scalar(
        select(Asset).where(Asset.company_id == company_id, Asset.id == incident.asset_id)
    )
