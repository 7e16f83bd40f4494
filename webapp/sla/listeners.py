"""Alert listeners: SLA alerts that technicians acknowledge."""

from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.pipeline.models import DomainEvent
from webapp.services.models import ClientService
from webapp.sla.models import SlaAlert

AT_RISK = "at_risk"


def _alert(event: DomainEvent, kind: str, message: str) -> None:
    db.session.add(
        SlaAlert(
            company_id=event.company_id,
            event_id=event.id,
            service_id=event.service_id,
            incident_id=event.payload.get("incident_id"),
            kind=kind,
            message=message,
        )
    )


def _incident_alert(event: DomainEvent, kind: str, what: str) -> None:
    service = db.session.get(ClientService, event.service_id)
    incident = db.session.get(Incident, event.payload["incident_id"])
    _alert(event, kind, f"{service.name}: {what} (incident #{incident.id}: {incident.title})")


def create_sla_alert(event: DomainEvent) -> None:
    kind = event.payload["kind"]
    _incident_alert(event, kind, f"{kind} target breached")


def create_at_risk_alert(event: DomainEvent) -> None:
    _incident_alert(event, AT_RISK, f"{event.payload['kind']} target at risk")


def alert_account_manager(event: DomainEvent) -> None:
    service = db.session.get(ClientService, event.service_id)
    p = event.payload
    _alert(
        event, "health", f"{service.name}: health fell from {p['previous_score']} to {p['score']}"
    )
