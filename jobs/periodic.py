"""The jobs the scheduler runs on a clock (webapp.pipeline.schedule). Each is safe to run twice
or to skip a run."""

from jobs.context import app_context
from webapp.health import nightly
from webapp.pipeline import relay, schedule
from webapp.services import expiry


def relay_outbox() -> int:
    with app_context():
        return relay.relay_outbox()


def expire_due_services() -> int:
    with app_context():
        return expiry.expire_due_services()


def recalculate_health() -> int:
    with app_context():
        return nightly.recalculate_health()


def record_run(job, connection, result) -> None:
    """RQ calls this after each periodic job succeeds (its on_success): the scheduler's
    health is that each job ran within its interval (webapp.pipeline.schedule)."""
    schedule.record_run(connection, job.id)
