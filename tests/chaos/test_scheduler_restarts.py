"""`flask scheduler` started ten times, each ended by SIGTERM or SIGKILL at a random moment.

Each start registers the periodic jobs again (webapp.pipeline.schedule.register, under fixed ids). At the
end rq-scheduler's registry must hold each periodic job exactly once: lost is one missing,
doubled one registered more than once (or one nobody wants any more).
"""

import random
import signal
import time
from collections import Counter

import pytest
from rq import Queue
from rq_scheduler import Scheduler

from tests.chaos.conftest import wait_until
from tests.support import fault_report
from webapp.lifecycle.registry import DEFAULT
from webapp.pipeline import schedule
from webapp.pipeline.queues import redis_connection

pytestmark = pytest.mark.chaos

STARTS = 10
RELAY = "periodic-relay-outbox"


def test_a_scheduler_restarted_ten_times_holds_each_periodic_job_once(app, flask_process):
    env = {"RELAY_INTERVAL_SECONDS": 1}
    rng = random.Random(6)
    default_queue = Queue(DEFAULT, connection=redis_connection())
    kills = 0
    for start in range(STARTS):
        last = start == STARTS - 1
        if last:
            default_queue.empty()  # what the earlier ones enqueued: the last must enqueue again
        scheduler = flask_process("scheduler", "--interval", "1", **env)
        wait_until(
            lambda p=scheduler: "periodic jobs:" in p.output(), timeout=60, what="registration"
        )
        if last:
            # It still runs its jobs after nine deaths: a dead one's lock has not stuck.
            wait_until(lambda: RELAY in default_queue.job_ids, timeout=30, what="relay enqueued")
        time.sleep(rng.uniform(0, 0.8))  # sometimes idle, sometimes enqueueing
        if rng.random() < 0.5:
            scheduler.kill()
        else:
            scheduler.signal(signal.SIGTERM)
            scheduler.process.wait(timeout=30)
        kills += 1

    wanted = [p.id for p in schedule.periodic_jobs(app.config)]
    held = Counter(job.id for job in Scheduler(connection=redis_connection()).get_jobs())
    lost = sum(1 for job_id in wanted if held[job_id] == 0)
    doubled = sum(n - 1 for n in held.values()) + sum(
        n for job_id, n in held.items() if job_id not in wanted
    )
    entries = redis_connection().zcard(Scheduler.scheduled_jobs_key)
    fault_report.record(
        "scheduler restarted (SIGTERM/SIGKILL)",
        faults=kills,
        inputs=STARTS * len(wanted),
        lost=lost,
        doubled=doubled,
    )
    assert (lost, doubled) == (0, 0), held
    assert entries == len(wanted)
