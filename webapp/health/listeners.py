"""Health listener: recalculate the score when something that counts against it happened."""

from webapp.health.scores import recalculate as recalculate_score
from webapp.pipeline.models import DomainEvent


def recalculate(event: DomainEvent) -> None:
    # The breach is counted from the incident's own mark, committed with the event; a
    # ServiceHealthDegraded it records is published after the delivery commits.
    recalculate_score(event.service_id, actor="health")
