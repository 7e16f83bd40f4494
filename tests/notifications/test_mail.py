"""Notifications by email through a real SMTP server (aiosmtpd) on loopback."""

import datetime as dt

from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from tests.support.app import Inbox
from tests.support.factories import make_service, make_user, redis_at
from tools.embedded_redis import RedisServer, free_port
from tools.mail_catcher import start as start_catcher
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.notifications import mailer
from webapp.notifications.mailbox import read_messages
from webapp.notifications.models import Notification
from webapp.notifications.sending import requeue_stalled, send_for_events
from webapp.services import actions as lc


def statuses():
    db.session.rollback()
    return sorted((n.recipient, n.status) for n in db.session.scalars(select(Notification)))


def test_activation_mails_the_client_and_the_account_manager(app, company, work, smtp):
    manager = make_user(company)
    lc.activate(company, make_service(company, manager_id=manager), "test")
    work()
    assert sorted(m["To"] for m in smtp.messages) == ["it@acme.example", "manager@msp.example"]
    message = smtp.messages[0]
    assert message["Subject"] == "Managed Backup is now active"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Managed Backup for Acme Dental is active from" in text
    assert "<h2" in html and "Managed Backup is now active" in html
    assert "notification-" in message["Message-ID"]
    assert statuses() == [("it@acme.example", "sent"), ("manager@msp.example", "sent")]


def test_each_mail_is_sent_once_however_often_the_job_runs(app, company, work, smtp):
    from webapp.pipeline.delivery import deliver_event
    from webapp.pipeline.models import DomainEvent

    lc.activate(company, make_service(company), "test")
    work()
    event_id = db.session.scalar(
        select(DomainEvent.id).where(DomainEvent.type == "ServiceActivated")
    )
    deliver_event(event_id)
    deliver_event(event_id)
    assert len(smtp.messages) == 1


def test_a_refusing_mail_server_is_retried_and_the_failure_is_visible(app, company, work):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())  # nothing listens
    lc.activate(company, make_service(company), "test")
    work()  # the first try and both retries fail
    failed = db.session.scalars(select(Notification)).one()
    assert failed.status == "failed" and "ConnectionRefusedError" in failed.error
    from webapp.pipeline import deliveries
    from webapp.pipeline.models import ListenerDelivery

    assert db.session.scalars(select(ListenerDelivery.status)).all()  # the ledger is intact

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=app.config["MAIL_PORT"])
    controller.start()
    try:
        assert send_for_events([failed.event_id]) == ([], True)
    finally:
        controller.stop()
    assert [m["To"] for m in inbox.messages] == ["it@acme.example"]
    assert statuses() == [("it@acme.example", "sent")]
    assert deliveries.failed() == []


def test_without_a_mail_server_notifications_wait_queued(app, company, work):
    lc.activate(company, make_service(company), "test")
    work()
    assert statuses() == [("it@acme.example", "queued")]


def test_the_catcher_keeps_mail_that_the_mailbox_page_shows(app, company, work, tmp_path):
    port = free_port()
    catcher = start_catcher(port, str(tmp_path / "mailbox"))
    app.config.update(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAILBOX_DIR=str(tmp_path / "mailbox")
    )
    try:
        lc.activate(company, make_service(company), "test")
        work()
    finally:
        catcher.stop()
    messages = read_messages(str(tmp_path / "mailbox"))
    assert [(m["to"], m["subject"]) for m in messages] == [
        ("it@acme.example", "Managed Backup is now active")
    ]


def _claimed_by_a_dead_worker(app, company, work, seconds_ago):
    """An activation mail claimed ("sending") by a worker that died before handing it over."""
    server = app.config["MAIL_SERVER"]
    app.config["MAIL_SERVER"] = ""  # the listener runs; the mail waits queued
    lc.activate(company, make_service(company), "test")
    work()
    app.config["MAIL_SERVER"] = server
    claimed_at = utcnow() - dt.timedelta(seconds=seconds_ago)
    db.session.execute(update(Notification).values(status="sending", sent_at=claimed_at))
    db.session.commit()
    return db.session.scalars(select(Notification)).one()


def test_mail_a_dead_worker_claimed_but_never_handed_over_is_sent_once(app, company, work, smtp):
    app.config["SENDING_STALE_SECONDS"] = 60
    _claimed_by_a_dead_worker(app, company, work, seconds_ago=30)
    assert requeue_stalled() == 0  # its sender may still be on its way
    db.session.execute(update(Notification).values(sent_at=utcnow() - dt.timedelta(minutes=2)))
    db.session.commit()
    assert requeue_stalled() == 1
    work()
    assert requeue_stalled() == 0
    assert [m["To"] for m in smtp.messages] == ["it@acme.example"]
    assert statuses() == [("it@acme.example", "sent")]


def test_a_slow_sender_whose_claim_was_taken_over_sends_nothing(
    app, company, work, smtp, monkeypatch
):
    """Its claim presumed dead and taken over, a sender that was only slow must not send a
    second copy once it reaches the server."""
    notification = _claimed_by_a_dead_worker(app, company, work, seconds_ago=0)
    db.session.execute(update(Notification).values(status="queued"))
    db.session.commit()
    real_send = mailer.send

    def taken_over_meanwhile(message, before_data):
        db.session.execute(update(Notification).values(sent_at=utcnow() + dt.timedelta(hours=1)))
        db.session.commit()
        real_send(message, before_data)

    monkeypatch.setattr(mailer, "send", taken_over_meanwhile)
    assert send_for_events([notification.event_id]) == ([], True)
    assert smtp.messages == []
    assert statuses() == [("it@acme.example", "sending")]  # the other sender's claim


def test_mail_whose_sender_died_mid_hand_over_waits_on_operations_for_a_person(
    app, company, work, smtp, as_role
):
    """A sender killed after DATA leaves it "transmitting": the server may have it, so nothing
    sends it again on its own; Operations lists it once stale and a person may send it again."""
    from webapp.lifecycle.statuses import UserRole as R

    app.config["SENDING_STALE_SECONDS"] = 60
    notification_id = _claimed_by_a_dead_worker(app, company, work, seconds_ago=30).id
    db.session.execute(update(Notification).values(status="transmitting"))
    db.session.commit()
    admin = as_role(R.ADMIN)

    def listed() -> bool:
        return 'id="uncertain_notifications"' in admin.get("/operations").get_data(as_text=True)

    assert not listed()  # its sender may still be on its way
    db.session.execute(update(Notification).values(sent_at=utcnow() - dt.timedelta(minutes=2)))
    db.session.commit()
    assert listed() and requeue_stalled() == 0
    admin.post("/operations/resend")  # "Send all again" is for failed ones only
    work()
    assert smtp.messages == [] and statuses() == [("it@acme.example", "transmitting")]

    response = admin.post("/operations/resend", {"notification": str(notification_id)})
    assert "1 notifications sent again." in response.get_data(as_text=True)
    work()
    assert [m["To"] for m in smtp.messages] == ["it@acme.example"]
    assert statuses() == [("it@acme.example", "sent")] and not listed()


def test_sending_again_while_redis_is_down_changes_nothing(app, company, work, smtp, as_role):
    """ "Nothing was sent" is so: the uncertain mail keeps its warning (and is not picked up by
    a later "Send all again"), the undeliverable one stays undeliverable. They had become
    failed before the enqueue failed."""
    from webapp.lifecycle.statuses import UserRole as R

    app.config["SENDING_STALE_SECONDS"] = 60
    uncertain = _claimed_by_a_dead_worker(app, company, work, seconds_ago=120)
    uncertain.status = "transmitting"
    db.session.add(
        Notification(
            company_id=company,
            event_id=uncertain.event_id,
            service_id=uncertain.service_id,
            listener=uncertain.listener,
            recipient="gone@acme.example",
            subject=uncertain.subject,
            body=uncertain.body,
            status="undeliverable",
            error="Cannot be sent: 550 No such mailbox",
            sent_at=utcnow() - dt.timedelta(hours=1),
        )
    )
    db.session.commit()
    before = statuses()
    assert before == [("gone@acme.example", "undeliverable"), ("it@acme.example", "transmitting")]
    admin = as_role(R.ADMIN)

    with redis_at(app, RedisServer().url):  # never started: nothing listens on its port
        for form in ({"notification": str(uncertain.id)}, {}):
            answer = admin.post("/operations/resend", form).get_data(as_text=True)
            assert "nothing was sent" in answer
            assert statuses() == before
    errors = dict(db.session.execute(select(Notification.recipient, Notification.error)).all())
    assert errors == {
        "gone@acme.example": "Cannot be sent: 550 No such mailbox",
        "it@acme.example": None,
    }

    admin.post("/operations/resend")  # Redis is back: "Send all again" is for failed ones only
    work()
    assert [m["To"] for m in smtp.messages] == ["gone@acme.example"]
    assert statuses() == [("gone@acme.example", "sent"), ("it@acme.example", "transmitting")]
