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
    every_seconds: int


def periodic_jobs(config) -> list[Periodic]:
    return [
        Periodic(
            "periodic-relay-outbox",
            "jobs.periodic.relay_outbox",
            config["RELAY_INTERVAL_SECONDS"],
        ),
        Periodic("periodic-sla-sweep", "jobs.sla.sweep", config["SLA_SWEEP_SECONDS"]),
        Periodic("periodic-expire-due-services", "jobs.periodic.expire_due_services", 3600),
        Periodic("periodic-renewals", "jobs.renewals.run_renewals", 3600),
        Periodic("periodic-recalculate-health", "jobs.periodic.recalculate_health", 24 * 3600),
    ]


def register(scheduler: Scheduler, config) -> list[str]:
    wanted = periodic_jobs(config)
    ids = {p.id for p in wanted}
    for job in scheduler.get_jobs():
        if job.id.startswith("periodic-") and job.id not in ids:
            scheduler.cancel(job)
    # Intervals rather than cron strings: rq-scheduler's cron goes through the crontab
    # package, which warns about its own time zone handling; every job here is safe to run early.
    for p in wanted:
        scheduler.schedule(
            datetime.now(UTC).replace(tzinfo=None),
            func=p.func,
            interval=p.every_seconds,
            repeat=None,
            id=p.id,
            queue_name=DEFAULT,
            result_ttl=600,
        )
    return sorted(ids)
