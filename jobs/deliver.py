"""The jobs RQ runs for events: their listeners, in webapp.pipeline.delivery."""

from jobs.context import app_context
from webapp.pipeline import delivery


def deliver_events(event_ids: list[int]) -> dict[int, dict[str, str]]:
    with app_context():
        return delivery.deliver_events(event_ids)


def deliver_event(event_id: int) -> dict[str, str]:
    """The job of one event as enqueued before events went in chunks: still run after an
    upgrade, from a queue or a retry."""
    with app_context():
        return delivery.deliver_event(event_id)
