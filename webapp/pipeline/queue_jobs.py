"""RQ as the installation's operators see it on Operations > Queues: each queue's figures, the
live workers, the periodic jobs, and the failed jobs with requeue and delete.

Reads use plain Redis reads (ZCARD, ZREVRANGE), never RQ's registry methods that clean up
as they count: a GET changes nothing. The only writes are on a failed job, one at a time or
"requeue all", and none reaches a job rq-scheduler holds: deleting a failed periodic job only
takes it off the failed list, since its hash is the scheduler's only copy of it.
"""

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from rq import Worker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.results import Result
from rq_scheduler import Scheduler

from webapp.lifecycle.registry import QUEUES
from webapp.pipeline.liveness import live_workers
from webapp.pipeline.queues import queue, redis_connection
from webapp.pipeline.schedule import PERIODIC_PREFIX

# RQ's ids and ours (event-12, periodic-relay-outbox, uuid hex): anything else is no job id.
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


def is_job_id(text: str | None) -> bool:
    return bool(text) and JOB_ID.fullmatch(text) is not None


class Record(Enum):
    """A job's hash that holds no job RQ can load."""

    GONE = "gone"  # expired or deleted
    # Written in part: a worker's heartbeat or status into a Redis restarted empty recreates
    # the hash without the job's data (webapp.pipeline.recovery), and RQ refuses to load it.
    INCOMPLETE = "incomplete"


def read_jobs(conn, job_ids: list[str]) -> list[Job | Record]:
    """Each job, in one round trip, as Job.fetch_many reads them; but a hash RQ cannot load is
    INCOMPLETE, where fetch_many raises for the whole list (one such job made the page a 500)."""
    with conn.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hgetall(Job.key_for(job_id))
        hashes = pipe.execute()
    jobs: list[Job | Record] = []
    for job_id, raw in zip(job_ids, hashes, strict=True):
        if not raw:
            jobs.append(Record.GONE)
            continue
        job = Job(job_id, connection=conn)
        try:
            job.restore(raw)
        except (NoSuchJobError, ValueError):  # no `data`, or a field that does not parse
            jobs.append(Record.INCOMPLETE)
        else:
            jobs.append(job)
    return jobs


def _failed_key(name: str) -> str:
    return FailedJobRegistry(name, connection=redis_connection()).key


def queue_figures() -> list[dict]:
    conn = redis_connection()
    now = time.time()
    figures = []
    for name in QUEUES:
        figures.append(
            {
                "name": name,
                "queued": queue(name).count,
                "started": conn.zcard(StartedJobRegistry(name, connection=conn).key),
                # Entries past their expiry are RQ's to remove; they are not counted.
                "failed": conn.zcount(_failed_key(name), now, "+inf"),
                "deferred": conn.zcard(DeferredJobRegistry(name, connection=conn).key),
                "scheduled": conn.zcard(ScheduledJobRegistry(name, connection=conn).key),
            }
        )
    return figures


@dataclass(frozen=True)
class WorkerRow:
    host: str
    pid: int
    name: str
    state: str
    queues: list[str]
    job_id: str | None
    job_description: str | None
    job_incomplete: bool = False


def workers() -> list[WorkerRow]:
    """Live worker processes (by their beat) with what RQ says each is doing."""
    conn = redis_connection()
    rows = []
    for live in live_workers(conn):
        rq_worker = None
        if live["rq_name"]:
            rq_worker = Worker.find_by_key(
                Worker.redis_worker_namespace_prefix + live["rq_name"], connection=conn
            )
        job_id = rq_worker.get_current_job_id() if rq_worker else None
        job = read_jobs(conn, [job_id])[0] if job_id else Record.GONE
        rows.append(
            WorkerRow(
                host=live["host"],
                pid=live["pid"],
                name=live["rq_name"] or "(starting)",
                state=rq_worker.get_state() if rq_worker else "starting",
                queues=rq_worker.queue_names() if rq_worker else [],
                job_id=job_id,
                job_description=job.description if isinstance(job, Job) else None,
                job_incomplete=job is Record.INCOMPLETE,
            )
        )
    return rows


@dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    description: str | None
    exc_info: str | None
    failed_at: datetime | None
    periodic: bool
    record: Record | None = None  # None: a job RQ can load

    @property
    def incomplete(self) -> bool:
        """Its hash holds no job to run: it can be deleted, not requeued."""
        return self.record is Record.INCOMPLETE

    @property
    def error_line(self) -> str:
        """The traceback's last line: the exception and its message."""
        lines = [line for line in (self.exc_info or "").splitlines() if line.strip()]
        return lines[-1] if lines else ""


def _exc_info(job: Job) -> str | None:
    result = job.latest_result()
    if result is not None and result.type == Result.Type.FAILED:
        return result.exc_string
    return None


def failed_jobs(offset: int, limit: int) -> tuple[list[FailedJob], int]:
    """The failed jobs of every queue, newest first (RQ scores each by failure time plus one
    TTL), `limit` of them from `offset`, and how many there are in all."""
    conn = redis_connection()
    now = time.time()
    entries, total = [], 0
    for name in QUEUES:
        key = _failed_key(name)
        total += conn.zcount(key, now, "+inf")
        for raw, score in conn.zrevrangebyscore(
            key, "+inf", now, start=0, num=offset + limit, withscores=True
        ):
            entries.append((score, raw.decode(), name))
    entries.sort(reverse=True)
    page = entries[offset : offset + limit]
    jobs = read_jobs(conn, [job_id for _, job_id, _ in page])
    scheduled = _scheduler_holds(conn, [job_id for _, job_id, _ in page])
    rows = []
    for (_, job_id, name), job in zip(page, jobs, strict=True):
        if isinstance(job, Record):
            rows.append(FailedJob(job_id, name, None, None, None, job_id in scheduled, job))
            continue
        rows.append(
            FailedJob(
                id=job_id,
                queue=name,
                description=job.description,
                exc_info=_exc_info(job),
                failed_at=job.ended_at.replace(tzinfo=UTC) if job.ended_at else None,
                periodic=job_id in scheduled,
            )
        )
    return rows, total


def overview(page_number: int, size: int) -> dict:
    """What the Queues page shows but the periodic jobs; a page past the last is the last."""
    number = max(page_number, 1)
    failed, total = failed_jobs((number - 1) * size, size)
    pages = max((total + size - 1) // size, 1)
    if not failed and number > pages:
        number = pages
        failed, total = failed_jobs((number - 1) * size, size)
    return {
        "figures": queue_figures(),
        "workers": workers(),
        "failed": failed,
        "failed_total": total,
        "page_number": number,
        "pages": pages,
    }


def _scheduler_holds(conn, job_ids: list[str]) -> set[str]:
    """The ids rq-scheduler holds, or that are periodic (it drops one for a moment to run it)."""
    if not job_ids:
        return set()
    scores = conn.zmscore(Scheduler.scheduled_jobs_key, job_ids)
    return {
        job_id
        for job_id, score in zip(job_ids, scores, strict=True)
        if score is not None or job_id.startswith(PERIODIC_PREFIX)
    }


# What a change to a failed job did.
REQUEUED, DELETED, DISMISSED = "requeued", "deleted", "dismissed"
INCOMPLETE = Record.INCOMPLETE.value  # not requeued: there is no job in it to run


def _registry_of(job_id: str) -> FailedJobRegistry | None:
    conn = redis_connection()
    for name in QUEUES:
        registry = FailedJobRegistry(name, connection=conn)
        if conn.zscore(registry.key, job_id) is not None:
            return registry
    return None


def requeue(job_id: str) -> str | None:
    """Put a failed job back on its queue (REQUEUED); INCOMPLETE when its record cannot be run
    (it stays, for Delete); None when it is no longer failed."""
    registry = _registry_of(job_id)
    if registry is None:
        return None
    job = read_jobs(registry.connection, [job_id])[0]
    if job is Record.INCOMPLETE:
        return INCOMPLETE
    if job is Record.GONE:  # its hash expired or was deleted: nothing left to run
        registry.remove(job_id)
        return None
    try:
        registry.requeue(job)
    except InvalidJobOperation:  # someone else requeued it meanwhile
        return None
    return REQUEUED


def requeue_all() -> int:
    """Requeue every failed job that can run; returns how many were."""
    conn = redis_connection()
    count = 0
    for name in QUEUES:
        for raw in conn.zrange(_failed_key(name), 0, -1):
            count += requeue(raw.decode()) == REQUEUED
    return count


def delete(job_id: str) -> str | None:
    """Take a failed job off the failed list and delete it (DELETED), or only take it off the
    list when rq-scheduler holds it (DISMISSED); None when it is no longer failed."""
    registry = _registry_of(job_id)
    if registry is None:
        return None
    conn = redis_connection()
    if _scheduler_holds(conn, [job_id]):
        registry.remove(job_id)
        return DISMISSED
    job = read_jobs(conn, [job_id])[0]
    if isinstance(job, Job):
        registry.remove(job, delete_job=True)
    else:  # RQ cannot load what is left of it: its hash goes by name
        registry.remove(job_id)
        conn.delete(Job.key_for(job_id))
    return DELETED
