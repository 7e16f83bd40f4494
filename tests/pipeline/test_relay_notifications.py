"""Notifications still to send when Redis loses their event's job after the listeners are done:
the relay enqueues the job again, once, and never spins on what only a person or a mail server
can send."""

import datetime as dt
import time

from rq.job import Job
from sqlalchemy import select, update

from tests.support.factories import make_service
from tools.embedded_redis import free_port
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.notifications import sending
from webapp.notifications.models import Notification
from webapp.pipeline import relay as pipeline_relay
from webapp.pipeline.delivery import run_delivery, unfinished_listeners_of
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
    [(_, listeners)] = unfinished_listeners_of([event_id])
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
    [(_, listeners)] = unfinished_listeners_of([event_id])
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
    [(_, listeners)] = unfinished_listeners_of([event_id])
    for listener in listeners:
        run_delivery(event_id, listener)
    redis_restarted_empty(app)
    redis_connection().hset(Job.key_for(job_id(event_id)), "last_heartbeat", "2026-01-01")

    assert pipeline_relay.relay() == 1
    work()
    assert [m["To"] for m in smtp.messages] == ["it@acme.example"]


def second_mail(company, event_id, recipient="two@acme.example") -> int:
    """Another mail of the same event, as a listener with two recipients queues."""
    first = db.session.scalars(select(Notification)).first()
    row = Notification(
        company_id=company,
        event_id=event_id,
        service_id=first.service_id,
        listener=first.listener,
        channel="email",
        recipient=recipient,
        subject=first.subject,
        body=first.body,
    )
    db.session.add(row)
    db.session.commit()
    return row.id


def breaking_first(monkeypatch, breaks) -> None:
    """The event's first notification fails in a way no rule knows (`breaks` is called)."""
    real = sending._deliver
    first = db.session.scalars(select(Notification.id).order_by(Notification.id)).first()

    def deliver(notification, transmitting):
        if notification.id == first:
            breaks()
        return real(notification, transmitting)

    monkeypatch.setattr(sending, "_deliver", deliver)


def test_a_notification_that_breaks_keeps_neither_the_others_nor_the_relay_going(
    app, company, work, smtp, monkeypatch
):
    # A bug in one mail ended the event's loop: the other stayed queued behind it, and once
    # RQ gave up, the relay enqueued the job again with fresh retries, for ever. No retry here:
    # the first try must send what can be sent.
    app.config["DELIVERY_RETRY_INTERVALS"] = []
    event_id = activated(company)
    [(_, listeners)] = unfinished_listeners_of([event_id])
    for listener in listeners:
        run_delivery(event_id, listener)
    second_mail(company, event_id)

    def bug():
        raise RuntimeError("a bug")

    breaking_first(monkeypatch, bug)
    redis_restarted_empty(app)
    passes = []
    for _ in range(4):
        passes.append(pipeline_relay.relay())
        work()
    assert passes == [1, 0, 0, 0] and jobs_waiting() == 0
    assert [m["To"] for m in smtp.messages] == ["two@acme.example"]
    assert statuses() == ["failed", "sent"]
    broken = db.session.scalars(select(Notification).where(Notification.status == "failed")).one()
    assert broken.error == "RuntimeError: a bug"


def test_mail_its_job_ran_out_of_time_before_goes_with_one_chance_more_not_for_ever(
    app, company, work, smtp, monkeypatch, as_role
):
    # The job's time ran out on the first mail (a real RQ job timeout), with no retry left:
    # RQ failed the job, the second mail still queued, never tried. Enqueued once more, the job
    # tries it first; the first fails again and nothing is enqueued after that.
    app.config.update(DELIVERY_JOB_TIMEOUT=1, DELIVERY_RETRY_INTERVALS=[])
    event_id = activated(company)
    [(_, listeners)] = unfinished_listeners_of([event_id])
    for listener in listeners:
        run_delivery(event_id, listener)
    second_mail(company, event_id)
    breaking_first(monkeypatch, lambda: time.sleep(30))

    started = time.monotonic()
    work()
    assert time.monotonic() - started < 20  # cut at the job's timeout
    assert Job.fetch(job_id(event_id), connection=redis_connection()).get_status() == "failed"
    assert statuses() == ["failed", "queued"]

    assert pipeline_relay.relay() == 1
    work()
    assert [m["To"] for m in smtp.messages] == ["two@acme.example"]
    assert statuses() == ["failed", "sent"]
    for _ in range(3):
        assert pipeline_relay.relay() == 0
    assert jobs_waiting() == 0

    admin = as_role(UserRole.ADMIN)
    monkeypatch.undo()
    answer = admin.post("/operations/resend")
    assert "1 notifications sent again." in answer.get_data(as_text=True)
    work()
    assert sorted(m["To"] for m in smtp.messages) == ["it@acme.example", "two@acme.example"]
    assert statuses() == ["sent", "sent"]


def given_up(event_id: int) -> None:
    """The event's job as RQ leaves it with its retries used: failed, on no queue."""
    job = Job.fetch(job_id(event_id), connection=redis_connection())
    for queue in all_queues():
        queue.remove(job)
    job.set_status("failed")


def test_mail_left_queued_by_a_job_that_gave_up_before_a_mail_server_was_set_is_sent(
    app, company, work, smtp
):
    server = app.config["MAIL_SERVER"]
    app.config["MAIL_SERVER"] = ""
    event_id = activated(company)
    work()
    given_up(event_id)  # a webhook of the event failed to the end, say; the mail never tried
    app.config["MAIL_SERVER"] = server
    assert pipeline_relay.relay() == 1
    work()
    assert [m["To"] for m in smtp.messages] == ["it@acme.example"]
    assert statuses() == ["sent"] and pipeline_relay.relay() == 0


def test_mail_whose_job_gave_up_twice_is_failed_visibly_not_enqueued_for_ever(
    app, company, work, smtp, as_role
):
    server = app.config["MAIL_SERVER"]
    app.config["MAIL_SERVER"] = ""
    event_id = activated(company)
    work()
    given_up(event_id)
    app.config["MAIL_SERVER"] = server
    assert pipeline_relay.relay() == 1  # one chance more...
    given_up(event_id)  # ...which ended before the mail too
    for _ in range(3):
        assert pipeline_relay.relay() == 0
    assert jobs_waiting() == 0 and smtp.messages == []
    assert statuses() == ["failed"]
    assert db.session.scalars(select(Notification.error)).one() == sending.GAVE_UP
    page = as_role(UserRole.ADMIN).get("/operations").get_data(as_text=True)
    listed = page.split('id="failed_notifications"')[1].split("</section>")[0]
    assert "it@acme.example" in listed and "stopped for good" in listed


def test_a_fresh_notification_is_left_to_its_job_until_the_relay_deems_it_stale(
    app, company, work, smtp
):
    # Each relay pass (every 10 s) looked up every queued notification's job, however fresh.
    app.config["RELAY_STALE_SECONDS"] = 300
    event_id = activated(company)
    [(_, listeners)] = unfinished_listeners_of([event_id])
    for listener in listeners:
        run_delivery(event_id, listener)
    redis_restarted_empty(app)
    assert pipeline_relay.relay() == 0

    db.session.execute(update(Notification).values(created_at=utcnow() - dt.timedelta(seconds=301)))
    db.session.commit()
    assert pipeline_relay.relay() == 1
    work()
    assert [m["To"] for m in smtp.messages] == ["it@acme.example"]


def command_calls(conn, command: str) -> int:
    return conn.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0)


def test_whether_a_job_is_on_its_queue_is_asked_per_job_not_by_reading_the_queue(
    app, company, work, smtp
):
    # A backlog of 100,000 jobs was read whole (LRANGE) on each relay pass to find the one a
    # killed worker took off its queue without starting it.
    lost = activated(company)
    lc.activate(company, make_service(company, name="Second"), "test")
    waiting = max(db.session.scalars(select(DomainEvent.id)))
    for event_id in (lost, waiting):
        [(_, listeners)] = unfinished_listeners_of([event_id])
        for listener in listeners:
            run_delivery(event_id, listener)
    conn = redis_connection()
    job = Job.fetch(job_id(lost), connection=conn)
    assert conn.lrem(f"rq:queue:{job.origin}", 0, job.id) == 1  # taken off, never started
    assert Job.fetch(job_id(waiting), connection=conn).get_status() == "queued"

    before = command_calls(conn, "lrange"), command_calls(conn, "lpos")
    assert pipeline_relay.relay() == 1
    after = command_calls(conn, "lrange"), command_calls(conn, "lpos")
    assert after[0] == before[0] and after[1] - before[1] == 2
    work()
    assert sorted(m["To"] for m in smtp.messages) == ["it@acme.example"] * 2
    assert pipeline_relay.relay() == 0


def test_mail_whose_job_finished_before_a_mail_server_was_set_goes_once_one_is(
    app, company, work, smtp
):
    server = app.config["MAIL_SERVER"]
    app.config["MAIL_SERVER"] = ""
    event_id = activated(company)
    work()
    assert Job.fetch(job_id(event_id), connection=redis_connection()).get_status() == "finished"
    assert statuses() == ["queued"] and pipeline_relay.relay() == 0

    app.config["MAIL_SERVER"] = server
    assert pipeline_relay.relay() == 1
    work()
    assert [m["To"] for m in smtp.messages] == ["it@acme.example"]
    assert pipeline_relay.relay() == 0


def test_a_job_whose_time_runs_out_in_a_listener_stops_there(app, company, work, monkeypatch):
    # RQ's alarm fires once: a listener that swallowed it let the job run on with no limit.
    from webapp.pipeline import delivery

    app.config.update(DELIVERY_JOB_TIMEOUT=1, DELIVERY_RETRY_INTERVALS=[])
    event_id = activated(company)
    [(_, listeners)] = unfinished_listeners_of([event_id])
    ran, real = [], delivery.run_delivery

    def run(event_id, listener, event=None):
        ran.append(listener)
        if len(ran) == 1:
            time.sleep(30)
        return real(event_id, listener, event)

    monkeypatch.setattr(delivery, "run_delivery", run)
    started = time.monotonic()
    work()
    assert time.monotonic() - started < 20
    assert ran == listeners[:1]
    assert Job.fetch(job_id(event_id), connection=redis_connection()).get_status() == "failed"


def test_a_job_not_found_near_the_head_of_a_long_queue_is_taken_as_waiting(
    app, company, monkeypatch
):
    # LPOS looks only so far (a job missing from a backlog of 100,000 would be a full scan per
    # relay pass): past that, in a longer queue, the job is taken as waiting; in a short one
    # not found is lost.
    from webapp.pipeline import recovery

    monkeypatch.setattr(recovery, "LPOS_MAXLEN", 5)
    event_id = activated(company)  # its job queued on its queue
    conn = redis_connection()
    job = Job.fetch(job_id(event_id), connection=conn)
    key = f"rq:queue:{job.origin}"
    conn.lrem(key, 0, job.id)
    assert recovery.job_states([event_id], conn) == {event_id: None}
    conn.rpush(key, *[f"backlog-{n}" for n in range(6)])
    assert recovery.job_states([event_id], conn) == {event_id: "queued"}
