"""A notification is never stuck: a name stored with a line break (before names were refused
one) is mailed with its subject on one line, and a mail that can never be sent fails once,
visibly, with why, and is not retried on its own; a person may still send it again."""

import datetime as dt

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from tests.support.app import Inbox
from tests.support.factories import make_client, make_service, make_user
from tools.embedded_redis import free_port
from webapp.clients.models import Contact
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.notifications import mailer
from webapp.notifications.models import Notification
from webapp.notifications.sending import requeue_stalled
from webapp.services import actions as lc
from webapp.services.models import ClientService


def statuses():
    db.session.rollback()
    return sorted((n.recipient, n.status) for n in db.session.scalars(select(Notification)))


def long_ago(app):
    """Every claim older than SENDING_STALE_SECONDS: what requeue_stalled takes over."""
    app.config["SENDING_STALE_SECONDS"] = 60
    db.session.execute(update(Notification).values(sent_at=utcnow() - dt.timedelta(hours=1)))
    db.session.commit()


@pytest.mark.parametrize(
    "name", ["Backup\r\nBcc: spy@evil.example", "Backup\u2028Bcc: spy@evil.example", "Backup\x85"]
)
def test_a_stored_name_with_a_line_break_is_mailed_with_a_subject_on_one_line(
    app, company, work, smtp, name
):
    manager = make_user(company)
    service = make_service(company, manager_id=manager)
    # As a row written before names were checked: straight into the table.
    db.session.execute(update(ClientService).where(ClientService.id == service).values(name=name))
    db.session.commit()
    lc.activate(company, service, "test")
    work()
    assert sorted(m["To"] for m in smtp.messages) == ["it@acme.example", "manager@msp.example"]
    expected = "Backup is now active" if name.endswith("\x85") else name[:6]
    for message in smtp.messages:
        assert message["Subject"].startswith(expected) and "\n" not in message["Subject"]
        assert message["Subject"] in (
            "Backup Bcc: spy@evil.example is now active",
            "Backup is now active",
        )
        assert message["Bcc"] is None
    assert statuses() == [("it@acme.example", "sent"), ("manager@msp.example", "sent")]


def test_a_mail_that_cannot_be_made_fails_once_visibly_and_the_others_go(
    app, company, work, smtp, as_role
):
    manager = make_user(company)
    service = make_service(company, manager_id=manager)
    # An address stored before addresses were checked: no header can hold it.
    db.session.execute(update(Contact).values(email="it@acme.example\r\nBcc: spy@evil.example"))
    db.session.commit()
    lc.activate(company, service, "test")
    assert work() == 1  # the event's job succeeded at once: nothing for RQ to retry
    assert [m["To"] for m in smtp.messages] == ["manager@msp.example"]
    bad = db.session.scalars(select(Notification).where(Notification.status != "sent")).one()
    assert bad.status == "undeliverable" and bad.recipient.startswith("it@acme.example")
    assert bad.error.startswith("Cannot be sent: its mail cannot be made: ValueError:")
    bad_id = bad.id

    # Never stuck: no sender holds it, so nothing takes it over, and no job sends it again.
    long_ago(app)
    assert requeue_stalled() == 0
    lc.suspend(company, service, "test", reason="unpaid")  # another event, another job
    work()
    assert db.session.get(Notification, bad_id).status == "undeliverable"

    page = as_role(UserRole.ADMIN).get("/operations").get_data(as_text=True)
    failed = page.split('id="failed_notifications"')[1].split("</section>")[0]
    assert "Cannot be sent: its mail cannot be made: ValueError" in failed


class Refusing(Inbox):
    """An SMTP server that answers RCPT with `answer`, counting the tries."""

    def __init__(self, answer: str):
        super().__init__()
        self.answer, self.tries = answer, 0

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        self.tries += 1
        if self.answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.answer


@pytest.fixture
def server(app):
    """start(answer): a real SMTP server on loopback that answers RCPT so."""
    running = []

    def start(answer: str) -> Refusing:
        handler = Refusing(answer)
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        running.append(controller)
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
        return handler

    yield start
    for controller in running:
        controller.stop()


def test_an_address_the_server_refuses_for_good_is_tried_once(app, company, work, server, as_role):
    refusing = server("550 5.1.1 No such mailbox here")
    lc.activate(company, make_service(company, make_client(company)), "test")
    work()
    assert refusing.tries == 1
    (notification,) = db.session.scalars(select(Notification)).all()
    assert notification.status == "undeliverable"
    assert "550" in notification.error and "No such mailbox here" in notification.error

    # A person who fixed the cause sends it again: one more try, and it goes.
    accepting = server("250 OK")
    admin = as_role(UserRole.ADMIN)
    answer = admin.post("/operations/resend", {"notification": str(notification.id)})
    assert "1 notifications sent again." in answer.get_data(as_text=True)
    work()
    assert [m["To"] for m in accepting.messages] == ["it@acme.example"]
    assert statuses() == [("it@acme.example", "sent")]


def test_an_address_refused_for_now_is_failed_and_retried(app, company, work, server):
    refusing = server("451 4.3.0 Try again later")
    lc.activate(company, make_service(company, make_client(company)), "test")
    work()
    assert refusing.tries == 1 + len(app.config["DELIVERY_RETRY_INTERVALS"])
    (notification,) = db.session.scalars(select(Notification)).all()
    assert notification.status == "failed" and "451" in notification.error


def test_a_sender_that_breaks_before_handing_over_leaves_it_failed_not_sending(
    app, company, work, smtp, monkeypatch
):
    def broken(message, before_data):
        raise RuntimeError("a bug in the sender")

    monkeypatch.setattr(mailer, "send", broken)
    lc.activate(company, make_service(company), "test")
    work()
    (notification,) = db.session.scalars(select(Notification)).all()
    assert notification.status == "failed"
    assert notification.error == "RuntimeError: a bug in the sender"
    long_ago(app)
    assert requeue_stalled() == 0  # nothing left "sending" to take over again and again
