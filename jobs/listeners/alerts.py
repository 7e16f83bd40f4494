"""Alert listeners: SLA alerts that technicians acknowledge."""

from webapp.extensions import db
from webapp.models import ClientService, DomainEvent, SlaAlert


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


def create_sla_alert(event: DomainEvent) -> None:
    service = db.session.get(ClientService, event.service_id)
    kind = event.payload["kind"]
    _alert(
        event,
        kind,
        f"{service.name}: {kind} target breached (incident {event.payload['incident_id']})",
    )


def alert_account_manager(event: DomainEvent) -> None:
    service = db.session.get(ClientService, event.service_id)
    p = event.payload
    _alert(
        event, "health", f"{service.name}: health fell from {p['previous_score']} to {p['score']}"
    )
