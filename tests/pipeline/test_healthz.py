"""/healthz: the database, Redis, queues, live workers and the scheduler's periodic jobs, and
what it says when one of them fails."""

import datetime as dt
import json
import os
import signal
import time

import pytest
from rq import Worker
from rq.registry import FinishedJobRegistry
from rq_scheduler import Scheduler
from sqlalchemy import update

from tests.chaos.web_processes import Processes, poll, process_env
from tests.support.factories import make_service, redis_at
from tools.embedded_redis import RedisServer
from webapp.extensions import db
from webapp.pipeline import schedule
from webapp.pipeline.liveness import Pulse
from webapp.pipeline.models import DomainEvent
from webapp.pipeline.queues import redis_connection
from webapp.services import actions as lc

PERIODIC = {
    "periodic-relay-outbox",
    "periodic-sla-sweep",
    "periodic-expire-due-services",
    "periodic-renewals",
    "periodic-recalculate-health",
}


def test_healthz_reports_database_redis_and_pipeline(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["problems"] == []
    assert body["database"] == {
        "ok": True,
        "failed_deliveries": 0,
        "unenqueued_events": 0,
        "waiting_events": 0,
    }
    assert body["redis"]["ok"] is True
    assert set(body["redis"]["queues"]) == {"billing", "alerts", "notifications", "default"}
    assert body["redis"]["workers"] == 0
    # No scheduler has ever run here (a web host alone): nothing registered can be late.
    assert body["redis"]["scheduler"] is False
    assert body["redis"]["periodic"] == {"missing": [], "late": []}


def test_healthz_is_503_and_says_why_when_redis_is_down(app, client):
    with redis_at(app, RedisServer().url):  # never started: nothing listens on its port
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["redis"]["ok"] is False and body["redis"]["error"] == "ConnectionError"
    assert body["database"]["ok"] is True


def _age_events(seconds: int) -> None:
    db.session.execute(
        update(DomainEvent).values(
            occurred_at=DomainEvent.occurred_at - dt.timedelta(seconds=seconds)
        )
    )
    db.session.commit()


def test_events_waiting_with_no_live_worker_make_healthz_not_ok(app, client, company):
    lc.activate(company, make_service(company), "test")  # its deliveries wait for a worker
    fresh = client.get("/healthz")
    assert fresh.status_code == 200  # just committed: a worker has not had time yet
    assert fresh.get_json()["database"]["waiting_events"] == 0

    _age_events(app.config["WAITING_EVENTS_GRACE_SECONDS"] + 5)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"]["waiting_events"] == 1
    assert body["problems"] == ["1 events wait and no worker is alive."]

    pulse = Pulse(app).start()  # a live worker (busy elsewhere): the events will be taken
    try:
        body = client.get("/healthz").get_json()
        assert (body["status"], body["redis"]["workers"]) == ("ok", 1)
    finally:
        pulse.stop()
    assert client.get("/healthz").get_json()["redis"]["workers"] == 0


def _scheduler_at(app, since: float) -> None:
    """The periodic jobs as a scheduler registers them, registered `since` (unix time)."""
    schedule.register(Scheduler(connection=redis_connection()), app.config)
    conn = redis_connection()
    for job_id, raw in conn.hgetall(schedule.REGISTERED_KEY).items():
        record = json.loads(raw) | {"since": since}
        conn.hset(schedule.REGISTERED_KEY, job_id, json.dumps(record))


def test_a_periodic_job_that_has_not_run_within_its_interval_is_late(app, client):
    hours_ago = time.time() - 2 * 3600
    _scheduler_at(app, since=hours_ago)
    conn = redis_connection()
    for job_id in PERIODIC - {"periodic-relay-outbox", "periodic-sla-sweep"}:
        schedule.record_run(conn, job_id)  # these ran just now
    conn.hset(schedule.LAST_RUN_KEY, "periodic-sla-sweep", hours_ago)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["redis"]["periodic"] == {
        "missing": [],
        "late": ["periodic-relay-outbox", "periodic-sla-sweep"],
    }
    assert body["redis"]["scheduler"] is False
    assert "periodic-sla-sweep" in body["problems"][0]

    for job_id in PERIODIC:
        schedule.record_run(conn, job_id)
    assert client.get("/healthz").status_code == 200


def running_workers(client) -> int:
    return client.get("/healthz").get_json()["redis"]["workers"]


@pytest.mark.slow
def test_a_sigkilled_worker_is_not_counted_though_rq_still_lists_it(
    app, client, database_url, tmp_path
):
    env = process_env(database_url, app.config["REDIS_URL"], WORKER_HEARTBEAT_SECONDS=1)
    with Processes(tmp_path) as procs:
        doomed = procs.flask("worker-1", ["worker"], env)
        procs.flask("worker-2", ["worker"], env)
        poll(lambda: Worker.count(connection=redis_connection()) == 2, 90, what="two workers")
        poll(lambda: running_workers(client) == 2, 30, what="two live workers")

        doomed.kill()  # SIGKILL to its group: nothing is cleaned up
        started = time.monotonic()
        poll(lambda: running_workers(client) == 1, 30, what="the dead worker to drop out")
        # RQ keeps its registration until a TTL of minutes; /healthz no longer counts it.
        assert time.monotonic() - started < 30
        assert Worker.count(connection=redis_connection()) == 2


def _held(conn) -> set[str]:
    return {j.id for j in Scheduler(connection=conn).get_jobs()} & PERIODIC


@pytest.mark.slow
def test_periodic_jobs_deleted_by_hand_make_healthz_not_ok_until_the_scheduler_restores_them(
    app, client, database_url, tmp_path
):
    conn = redis_connection()
    env = process_env(database_url, app.config["REDIS_URL"], WORKER_HEARTBEAT_SECONDS=1)
    with Processes(tmp_path) as procs:
        procs.flask("worker", ["worker"], env)
        scheduler = procs.flask("scheduler", ["scheduler", "--interval", "1"], env)
        poll(
            lambda: set(schedule._decoded_keys(conn.hkeys(schedule.LAST_RUN_KEY))) == PERIODIC,
            120,
            what="every periodic job to run once",
        )
        poll(lambda: client.get("/healthz").status_code == 200, 30, what="healthz ok")
        assert client.get("/healthz").get_json()["redis"]["scheduler"] is True

        # What rq-dashboard's "empty" did to the finished registry of `default`, with the
        # scheduler held still so that it cannot put them back before /healthz is asked.
        os.killpg(scheduler.pid, signal.SIGSTOP)
        try:
            finished = FinishedJobRegistry("default", connection=conn)
            deleted = set(finished.get_job_ids())
            for job_id in deleted:
                finished.remove(job_id, delete_job=True)
            assert deleted & PERIODIC, deleted
            response = client.get("/healthz")
            assert response.status_code == 503
            body = response.get_json()
            assert set(body["redis"]["periodic"]["missing"]) == deleted & PERIODIC
            assert body["redis"]["scheduler"] is False
        finally:
            os.killpg(scheduler.pid, signal.SIGCONT)

        poll(lambda: _held(conn) == PERIODIC, 30, what="the scheduler to register them again")
        poll(lambda: client.get("/healthz").status_code == 200, 30, what="healthz ok again")
        assert "registered again" in scheduler.log(20000)
