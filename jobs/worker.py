"""Worker and scheduler processes, run inside the app (see `flask worker`, `flask scheduler`)."""

import logging
import time

from flask import current_app
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import SimpleWorker
from rq_scheduler import Scheduler

from jobs import schedule
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


def run_worker(queue_names: list[str], burst: bool = False) -> None:
    """SimpleWorker runs jobs in this process: the app is built once, and no fork per job.

    Forking a work horse per job costs more than most deliveries take, and the app's engine
    would have to be rebuilt after each fork.
    """
    wait_for_redis()
    outbox.relay()  # what committed while no worker ran
    worker = SimpleWorker([queue(n) for n in queue_names], connection=redis_connection())
    worker.work(burst=burst, with_scheduler=True, logging_level="INFO")


def run_scheduler(interval: int) -> None:
    wait_for_redis()
    scheduler = Scheduler(queue=queue("default"), connection=redis_connection(), interval=interval)
    ids = schedule.register(scheduler, current_app.config)
    log.info("periodic jobs: %s", ", ".join(ids))
    scheduler.run()
