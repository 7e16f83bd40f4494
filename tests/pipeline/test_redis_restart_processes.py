"""`flask worker` and `flask scheduler` outlive a Redis restart, and what the web committed
meanwhile is delivered after it without anyone restarting them."""

import pytest
import redis
from rq import Worker
from sqlalchemy import select

from tests.chaos.web_processes import Processes, poll, process_env
from tests.support.factories import make_service, redis_at
from tools.embedded_redis import RedisServer
from webapp.extensions import db
from webapp.lifecycle.statuses import DeliveryStatus
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.services import actions as lc

pytestmark = pytest.mark.slow


def running(url: str) -> bool:
    """A worker registered, and the scheduler alive: what /healthz reports, read directly."""
    conn = redis.Redis.from_url(url)
    try:
        schedulers = [
            k for k in conn.scan_iter("rq:scheduler_instance:*") if not conn.hexists(k, "death")
        ]
        return Worker.count(connection=conn) >= 1 and bool(schedulers)
    finally:
        conn.close()


def delivered(event_id: int) -> bool:
    db.session.rollback()
    statuses = db.session.scalars(
        select(ListenerDelivery.status).where(ListenerDelivery.event_id == event_id)
    ).all()
    db.session.rollback()
    return bool(statuses) and set(statuses) == {DeliveryStatus.DONE}


def test_worker_and_scheduler_carry_on_after_redis_restarts(app, company, database_url, tmp_path):
    server = RedisServer().start()
    env = process_env(database_url, server.url, RELAY_INTERVAL_SECONDS=1)
    service_id = make_service(company)
    try:
        with Processes(tmp_path) as procs:
            worker = procs.flask("worker", ["worker"], env)
            scheduler = procs.flask("scheduler", ["scheduler", "--interval", "1"], env)
            poll(lambda: running(server.url), 60, what="the worker and the scheduler")

            server.stop()
            # rq-scheduler's loop raises within its interval; the process must not end with it.
            poll(
                lambda: "scheduler lost Redis" in scheduler.log(),
                30,
                what="the scheduler to notice",
            )
            with redis_at(app, server.url):
                lc.activate(company, service_id, "test")  # committed; Redis cannot be told
            event_id = db.session.scalar(
                select(DomainEvent.id).where(DomainEvent.type == "ServiceActivated")
            )
            assert db.session.get(DomainEvent, event_id).enqueued_at is None
            server.start()

            poll(lambda: delivered(event_id), 60, what="the relay and the worker to deliver")
            assert worker.alive() and scheduler.alive()
            poll(lambda: running(server.url), 30, what="both registered again")
    finally:
        server.stop()
