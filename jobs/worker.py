"""Worker and scheduler processes, run inside the app (see `flask worker`, `flask scheduler`)."""

import logging
import time

from flask import current_app
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import SimpleWorker
from rq_scheduler import Scheduler

from jobs import notifications, schedule
from webapp import outbox
from webapp.queues import queue, redis_connection

log = logging.getLogger(__name__)


def wait_for_redis(timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            redis_connection().ping()
            return
        except RedisConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class DeliveryWorker(SimpleWorker):
    """SimpleWorker runs jobs in this process: the app is built once, and no fork per job.

    Forking a work horse per job costs more than most deliveries take, and the app's engine
    would have to be rebuilt after each fork.

    A job in progress stays in RQ's started registry for its timeout plus a grace; a worker
    killed mid-job (SIGKILL, OOM, a lost host) sends no more heartbeats, so the entry expires
    then and the relay hands the job back (outbox.recover_abandoned_jobs). RQ's fixed grace is
    60 s; ours is configurable, and may be short because a job run twice changes nothing.
    """

    abandoned_grace: int = 60

    def get_heartbeat_ttl(self, job) -> int:
        ttl = super().get_heartbeat_ttl(job)
        if job.timeout is None or job.timeout == -1:
            return ttl
        return int(job.timeout) + self.abandoned_grace


def run_worker(queue_names: list[str], burst: bool = False) -> None:
    wait_for_redis()
    outbox.relay()  # what committed while no worker ran
    notifications.requeue_stalled()  # what a worker that died left half sent
    worker = DeliveryWorker([queue(n) for n in queue_names], connection=redis_connection())
    worker.abandoned_grace = current_app.config["ABANDONED_JOB_GRACE_SECONDS"]
    worker.work(burst=burst, with_scheduler=True, logging_level="INFO")


def run_scheduler(interval: int) -> None:
    wait_for_redis()
    scheduler = Scheduler(queue=queue("default"), connection=redis_connection(), interval=interval)
    ids = schedule.register(scheduler, current_app.config)
    log.info("periodic jobs: %s", ", ".join(ids))
    scheduler.run()
