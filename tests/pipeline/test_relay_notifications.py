"""Notifications still to send when Redis loses their event's job after the listeners are done:
the relay enqueues the job again, once, and never spins on what only a person or a mail server
can send."""

from rq.job import Job
from sqlalchemy import select

from tests.support.factories import make_service
from tools.embedded_redis import free_port
from webapp.extensions import db
from webapp.notifications.models import Notification
from webapp.pipeline import relay as pipeline_relay
from webapp.pipeline.delivery import run_delivery, unfinished_listeners
from webapp.pipeline.models import DomainEvent
from webapp.pipeline.publishing import job_id
from webapp.pipeline.queues import all_queues, redis_connection
from webapp.services import actions as lc


def activated(company) -> int:
    lc.activate(company, make_service(company), "test")
    return db.session.scalar(select(DomainEvent.id).where(DomainEvent.type == "ServiceActivated"))


def statuses() -> list[str]:
    db.session.rollback()
    found = list(db.session.scalars(select(Notification.status).order_by(Notification.id)))
    db.session.rollback()
    return found


def jobs_waiting() -> int:
    return sum(q.count for q in all_queues())


def redis_restarted_empty(app) -> None:
    app.extensions["redis"].flushdb()


def test_mail_queued_when_redis_lost_the_job_after_the_listeners_is_sent_once(
    app, company, work, smtp
):
    event_id = activated(company)
    # The worker ran every listener, then died before sending: the mail waits queued.
    _, listeners = unfinished_listeners(event_id)
    for listener in listeners:
        run_delivery(event_id, listener)
    assert statuses() == ["queued"]
    redis_restarted_empty(app)

    assert pipeline_relay.relay() == 1
    work()
    assert [m["To"] for m in smtp.messages] == ["it@acme.example"]
    assert statuses() == ["sent"]
    assert pipeline_relay.relay() == 0 and jobs_waiting() == 0


def test_failed_mail_whose_pending_retry_redis_lost_is_tried_again(app, company, work, smtp):
    app.config["DELIVERY_RETRY_INTERVALS"] = [600]  # the retry waits in Redis meanwhile
    server, port = app.config["MAIL_PORT"], free_port()
    app.config["MAIL_PORT"] = port  # nothing listens: refused, failed, retried later
    event_id = activated(company)
    work()
    assert statuses() == ["failed"]
    job = Job.fetch(job_id(event_id), connection=redis_connection())
    assert job.get_status() == "scheduled"
    assert pipeline_relay.relay() == 0  # its retry is pending: left to RQ

    redis_restarted_empty(app)
    app.config["MAIL_PORT"] = server
    assert pipeline_relay.relay() == 1
    work()
    assert [m["To"] for m in smtp.messages] == ["it@acme.example"]
    assert statuses() == ["sent"]
    assert pipeline_relay.relay() == 0


def test_failed_mail_whose_retries_rq_used_up_waits_for_a_person(app, company, work, smtp):
    app.config["MAIL_PORT"] = free_port()
    event_id = activated(company)
    work()  # the first try and both retries (TestingConfig) fail
    assert statuses() == ["failed"]
    assert Job.fetch(job_id(event_id), connection=redis_connection()).get_status() == "failed"

    for _ in range(3):
        assert pipeline_relay.relay() == 0
    assert jobs_waiting() == 0


def test_mail_waiting_for_a_mail_server_is_not_spun_on_and_goes_once_one_is_set(
    app, company, work, smtp
):
    server = app.config["MAIL_SERVER"]
    app.config["MAIL_SERVER"] = ""
    activated(company)
    work()
    assert statuses() == ["queued"]
    redis_restarted_empty(app)
    for _ in range(3):
        assert pipeline_relay.relay() == 0
    assert jobs_waiting() == 0

    app.config["MAIL_SERVER"] = server
    assert pipeline_relay.relay() == 1
    work()
    assert [m["To"] for m in smtp.messages] == ["it@acme.example"]
    assert pipeline_relay.relay() == 0


def test_queued_mail_whose_job_is_on_its_queue_is_left_to_it(app, company, work, smtp):
    event_id = activated(company)
    _, listeners = unfinished_listeners(event_id)
    for listener in listeners:
        run_delivery(event_id, listener)
    waiting = jobs_waiting()
    assert waiting == 1 and statuses() == ["queued"]

    assert pipeline_relay.relay() == 0
    assert jobs_waiting() == waiting
    work()
    assert [m["To"] for m in smtp.messages] == ["it@acme.example"]


def test_a_job_left_half_written_by_a_running_worker_counts_as_lost(app, company, work, smtp):
    """A worker whose job ran while Redis restarted empty writes its heartbeat into a new,
    partial job hash: no job RQ could load or run, and no reason for the relay to stop."""
    event_id = activated(company)
    _, listeners = unfinished_listeners(event_id)
    for listener in listeners:
        run_delivery(event_id, listener)
    redis_restarted_empty(app)
    redis_connection().hset(Job.key_for(job_id(event_id)), "last_heartbeat", "2026-01-01")

    assert pipeline_relay.relay() == 1
    work()
    assert [m["To"] for m in smtp.messages] == ["it@acme.example"]
