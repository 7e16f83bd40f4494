"""Health listener: recalculate the score when something that counts against it happened."""

from webapp.health_scores import recalculate as recalculate_score
from webapp.models import DomainEvent
from webapp.outbox import publish_after_commit


def recalculate(event: DomainEvent) -> None:
    # The breach is counted from the incident's own mark, committed with the event.
    degraded_event = recalculate_score(event.service_id, actor="health")
    if degraded_event is not None:
        publish_after_commit(degraded_event)
