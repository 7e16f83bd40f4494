"""Health listener: recalculate the score when something that counts against it happened."""

from webapp.extensions import db
from webapp.health_scores import recalculate as recalculate_score
from webapp.models import DomainEvent

PUBLISH_AFTER_COMMIT = "publish_after_commit"


def recalculate(event: DomainEvent) -> None:
    # Runs after the alert listener (registry order), so the new breach counts.
    degraded_event = recalculate_score(event.service_id, actor="health")
    if degraded_event is not None:
        db.session.info.setdefault(PUBLISH_AFTER_COMMIT, []).append(degraded_event)
