"""The job RQ runs for each event: its listeners, in webapp.pipeline.delivery."""

from jobs.context import app_context
from webapp.pipeline import delivery


def deliver_event(event_id: int) -> dict[str, str]:
    with app_context():
        return delivery.deliver_event(event_id)
