"""The periodic jobs, registered with rq-scheduler under fixed ids, and whether they run.

Registering under a fixed id replaces the earlier entry instead of adding one, so a scheduler
restarted any number of times still holds each periodic job once.

rq-scheduler keeps a periodic job as two things: its id in a sorted set (the next run) and the
job's own hash. It forgets a job whose hash is gone the next time it comes due, for good. Two
things deleted hashes here: a result_ttl shorter than the interval (the hash of an hourly job
expired ten minutes after each run) and rq-dashboard's "empty" on the finished registry. So
the scheduler's loop puts back any periodic job it no longer holds (restore_missing), and each
successful run is recorded (record_run) so that "the scheduler is fine" can mean each job ran
within a margin of its interval, not only that a scheduler process is alive.
"""

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from rq.job import Callback, Job
from rq_scheduler import Scheduler

from webapp.lifecycle.registry import DEFAULT

log = logging.getLogger(__name__)

# What a scheduler registered ({id: {"func", "every", "since"}}): the jobs it is expected to
# hold. Kept apart from rq-scheduler's own keys, which lose exactly what this must notice.
REGISTERED_KEY = "dashboard:periodic:registered"
# {id: unix time of its last successful run}, written by the job's success callback.
LAST_RUN_KEY = "dashboard:periodic:last_run"
PERIODIC_PREFIX = "periodic-"


@dataclass(frozen=True)
class Periodic:
    id: str
    func: str
    every_seconds: int


def periodic_jobs(config) -> list[Periodic]:
    billing = [Periodic("periodic-bill-run", "jobs.billing.run_bill_runs", 24 * 3600)]
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
        *(billing if config.get("BILL_RUN_SCHEDULED", True) else []),
    ]


def _schedule(scheduler: Scheduler, p: Periodic) -> None:
    # Intervals rather than cron strings: rq-scheduler's cron goes through the crontab
    # package, which warns about its own time zone handling; every job here is safe to run early.
    scheduler.schedule(
        datetime.now(UTC).replace(tzinfo=None),
        func=p.func,
        interval=p.every_seconds,
        repeat=None,
        id=p.id,
        queue_name=DEFAULT,
        # Kept until the next run overwrites it: a hash that expired between runs would make
        # rq-scheduler drop the job (the default of rq-scheduler for periodic jobs too).
        result_ttl=-1,
        on_success=Callback("jobs.periodic.record_run"),
    )
    record = {"func": p.func, "every": p.every_seconds, "since": time.time()}
    scheduler.connection.hset(REGISTERED_KEY, p.id, json.dumps(record))


def register(scheduler: Scheduler, config) -> list[str]:
    wanted = periodic_jobs(config)
    ids = {p.id for p in wanted}
    for job in scheduler.get_jobs():
        if job.id.startswith(PERIODIC_PREFIX) and job.id not in ids:
            scheduler.cancel(job)
    conn = scheduler.connection
    for stale in set(_decoded_keys(conn.hkeys(REGISTERED_KEY))) - ids:
        conn.hdel(REGISTERED_KEY, stale)
    for p in wanted:
        _schedule(scheduler, p)
    return sorted(ids)


def _held(conn, job_id: str) -> bool:
    """rq-scheduler holds the job: its next run is set and its hash is there to run."""
    return (
        conn.zscore(Scheduler.scheduled_jobs_key, job_id) is not None
        and conn.exists(Job.key_for(job_id)) == 1
    )


def restore_missing(scheduler: Scheduler, config) -> list[str]:
    """Register again each periodic job the scheduler no longer holds; their ids."""
    restored = []
    for p in periodic_jobs(config):
        if not _held(scheduler.connection, p.id):
            _schedule(scheduler, p)
            restored.append(p.id)
    if restored:
        log.warning("periodic jobs were missing and are registered again: %s", restored)
    return restored


def record_run(connection, job_id: str) -> None:
    connection.hset(LAST_RUN_KEY, job_id, time.time())


def _decoded_keys(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else v for v in values]


@dataclass(frozen=True)
class PeriodicState:
    id: str
    func: str
    every_seconds: int
    registered: bool  # a scheduler registered it (since Redis last lost its data)
    held: bool  # rq-scheduler holds it now
    next_run: datetime | None
    last_run: datetime | None
    late: bool

    @property
    def missing(self) -> bool:
        return self.registered and not self.held


def _at(seconds) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(float(seconds), UTC)


def periodic_state(conn, config) -> list[PeriodicState]:
    """Each periodic job the configuration wants, as Redis holds it now.

    Late: no successful run (or registration) within its interval plus a margin, half the
    interval and at least PERIODIC_LATE_GRACE_SECONDS, for a busy queue or a slow run.
    """
    registered = {
        k: json.loads(v)
        for k, v in zip(
            _decoded_keys(conn.hkeys(REGISTERED_KEY)), conn.hvals(REGISTERED_KEY), strict=True
        )
    }
    now = time.time()
    states = []
    for p in periodic_jobs(config):
        record = registered.get(p.id)
        last = conn.hget(LAST_RUN_KEY, p.id)
        last = float(last) if last is not None else None
        held = _held(conn, p.id)
        late = False
        if record is not None:
            every = int(record["every"])
            allowed = every + max(config["PERIODIC_LATE_GRACE_SECONDS"], every // 2)
            late = now - max(last or 0.0, float(record["since"])) > allowed
        states.append(
            PeriodicState(
                id=p.id,
                func=p.func,
                every_seconds=p.every_seconds,
                registered=record is not None,
                held=held,
                next_run=_at(conn.zscore(Scheduler.scheduled_jobs_key, p.id)),
                last_run=_at(last),
                late=late,
            )
        )
    return states
