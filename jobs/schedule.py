"""The periodic jobs, registered with rq-scheduler under fixed ids.

Registering under a fixed id replaces the earlier entry instead of adding one, so a scheduler
restarted any number of times still holds each periodic job once.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from rq_scheduler import Scheduler

from webapp.lifecycle.registry import DEFAULT


@dataclass(frozen=True)
class Periodic:
    id: str
    func: str
    every_seconds: int | None = None
    cron: str | None = None


def periodic_jobs(config) -> list[Periodic]:
    return [
        Periodic(
            "periodic-relay-outbox",
            "jobs.periodic.relay_outbox",
            every_seconds=config["RELAY_INTERVAL_SECONDS"],
        ),
        Periodic(
            "periodic-expire-due-services", "jobs.periodic.expire_due_services", cron="15 * * * *"
        ),
    ]


def register(scheduler: Scheduler, config) -> list[str]:
    wanted = periodic_jobs(config)
    ids = {p.id for p in wanted}
    for job in scheduler.get_jobs():
        if job.id.startswith("periodic-") and job.id not in ids:
            scheduler.cancel(job)
    for p in wanted:
        if p.cron:
            scheduler.cron(p.cron, func=p.func, id=p.id, queue_name=DEFAULT, result_ttl=600)
        else:
            scheduler.schedule(
                datetime.now(UTC),
                func=p.func,
                interval=p.every_seconds,
                repeat=None,
                id=p.id,
                queue_name=DEFAULT,
                result_ttl=600,
            )
    return sorted(ids)
