"""Worker and scheduler processes, run inside the app (see `flask worker`, `flask scheduler`).

Both outlive Redis going away (a restart, a failover, a dropped network): they wait for it and
start again rather than exit. An exit would leave events unsent until someone restarted them,
and under honcho (`make run`) one process exiting stops all the others, the web with them.
"""

import logging
import time

from flask import current_app
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker
from rq_scheduler import Scheduler

from webapp.notifications import sending as notifications
from webapp.pipeline import relay as pipeline_relay
from webapp.pipeline import schedule
from webapp.pipeline.liveness import Pulse
from webapp.pipeline.queues import queue, redis_connection

log = logging.getLogger(__name__)


REDIS_LOST = (RedisConnectionError, RedisTimeoutError)


def wait_for_redis(timeout: float | None = 30) -> None:
    """Until Redis answers; past `timeout` seconds (None: no limit) its error is raised."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            redis_connection().ping()
            return
        except REDIS_LOST:
            if deadline is not None and time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class DeliveryWorker(SimpleWorker):
    """SimpleWorker runs jobs in this process: the app is built once, and no fork per job.

    Forking a work horse per job costs more than most deliveries take, and the app's engine
    would have to be rebuilt after each fork.

    A job in progress stays in RQ's started registry for its timeout plus a grace; a worker
    killed mid-job (SIGKILL, OOM, a lost host) sends no more heartbeats, so the entry expires
    then and the relay hands the job back (pipeline_recovery.recover_abandoned_jobs). RQ's fixed grace is
    60 s; ours is configurable, and may be short because a job run twice changes nothing.
    """

    abandoned_grace: int = 60

    def get_heartbeat_ttl(self, job) -> int:
        ttl = super().get_heartbeat_ttl(job)
        if job.timeout is None or job.timeout == -1:
            return ttl
        return int(job.timeout) + self.abandoned_grace


class StoppableWorker(DeliveryWorker):
    """The delivery worker as run: it remembers whether a signal (or `rq shutdown`) asked it to stop, tries
    Redis again often while it is away, and registers again if Redis forgot it.

    RQ's work loop also ends, quietly, on any error it cannot handle, such as Redis going away
    while a job finishes; only a stop that was asked for should end the process.
    """

    stop_asked = False
    # RQ doubles its wait between reconnection tries up to this: back within seconds of Redis
    # returning, not after up to a minute (its default) with the outbox piling up meanwhile.
    max_connection_wait_time = 5.0

    def request_stop(self, signum, frame):
        self.stop_asked = True
        super().request_stop(signum, frame)

    def heartbeat(self, timeout=None, pipeline=None):
        """Register again when Redis came back without this worker's record (restarted
        without persistence, or failed over): else /healthz and the overview say no worker
        runs while this one works. A heartbeat alone would write a record with no birth."""
        if pipeline is None and not self.connection.hexists(self.key, "birth"):
            self.connection.delete(self.key)
            self.register_birth()
        super().heartbeat(timeout, pipeline)


def run_worker(queue_names: list[str], burst: bool = False) -> None:
    wait_for_redis()
    pulse = Pulse().start()  # alive from now on, for /healthz (webapp.pipeline.liveness)
    try:
        _work(queue_names, burst, pulse)
    finally:
        pulse.stop()


def _work(queue_names: list[str], burst: bool, pulse: Pulse) -> None:
    while True:
        worker = None
        try:
            pipeline_relay.relay()  # what committed while no worker ran (or Redis was away)
            notifications.requeue_stalled()  # what a worker that died left half sent
            worker = StoppableWorker([queue(n) for n in queue_names], connection=redis_connection())
            worker.abandoned_grace = current_app.config["ABANDONED_JOB_GRACE_SECONDS"]
            pulse.rq_name = worker.name
            pulse.beat()
            worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
        except REDIS_LOST as exc:  # raised by what runs outside RQ's loop, or by its teardown
            log.warning("worker lost Redis: %s", exc)
            if worker is not None and worker.pubsub_thread is not None:
                worker.pubsub_thread.stop()  # the teardown could not; it would retry forever
        if burst or (worker is not None and worker.stop_asked):
            return
        log.warning("worker stopped on an error; it starts again once Redis answers")
        time.sleep(1)  # a lasting error must not turn this into a busy loop
        wait_for_redis(timeout=None)


class PeriodicScheduler(Scheduler):
    """rq-scheduler that keeps the periodic jobs registered and itself visible.

    Each run of its loop (under its lock) first registers again any periodic job it no longer
    holds: one deleted by hand, or lost with Redis's data. Its heartbeat writes its record
    again when Redis came back without it; rq-scheduler would only extend a key that is gone,
    and the scheduler would look stopped while it runs.
    """

    def __init__(self, *args, config, **kwargs):
        super().__init__(*args, **kwargs)
        self.config = config

    def enqueue_jobs(self):
        schedule.restore_missing(self, self.config)
        return super().enqueue_jobs()

    def heartbeat(self):
        if not self.connection.exists(self.key):
            self.connection.hset(self.key, "birth", time.time())
        super().heartbeat()


def run_scheduler(interval: int) -> None:
    """rq-scheduler's loop raises when Redis goes away; a stop signal raises SystemExit."""
    wait_for_redis()
    while True:
        try:
            scheduler = PeriodicScheduler(
                queue=queue("default"),
                connection=redis_connection(),
                interval=interval,
                config=current_app.config,
            )
            ids = schedule.register(scheduler, current_app.config)
            log.info("periodic jobs: %s", ", ".join(ids))
            scheduler.run()
            return
        except REDIS_LOST as exc:
            log.warning("scheduler lost Redis (%s); it starts again once Redis answers", exc)
        time.sleep(1)
        wait_for_redis(timeout=None)
