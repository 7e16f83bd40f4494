"""Chat and integration webhooks, received by a real HTTP server on loopback."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from tests.support.factories import make_service
from webapp.extensions import db
from webapp.notifications.models import Notification, Webhook
from webapp.notifications.sending import send_for_event
from webapp.notifications.webhooks import signature
from webapp.pipeline.delivery import run_delivery
from webapp.pipeline.models import DomainEvent
from webapp.services import actions as lc

SECRET = "s3cret-for-tests"


class Receiver:
    def __init__(self):
        self.requests = []
        self.status = 200
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)
                receiver.requests.append((self.path, dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(app, company):
    r = Receiver()
    for kind in ("slack", "teams", "generic"):
        db.session.add(
            Webhook(
                company_id=company,
                kind=kind,
                url=f"{r.url}/{kind}",
                secret=SECRET if kind == "generic" else None,
            )
        )
    db.session.commit()
    yield r
    r.stop()


def test_each_webhook_gets_the_notification_in_its_format(app, company, work, receiver):
    lc.activate(company, make_service(company), "test")
    work()
    by_path = {path: (headers, json.loads(body)) for path, headers, body in receiver.requests}
    assert set(by_path) == {"/slack", "/teams", "/generic"}
    assert by_path["/slack"][1]["text"].startswith("*Managed Backup is now active*")
    assert by_path["/teams"][1]["@type"] == "MessageCard"
    headers, payload = by_path["/generic"]
    assert payload["event"] == "ServiceActivated" and payload["payload"]["term_end"]
    raw = next(body for path, _, body in receiver.requests if path == "/generic")
    assert headers["X-Signature-256"] == signature(SECRET, headers["X-Timestamp"], raw)
    assert headers["X-Signature-256"] != signature("wrong", headers["X-Timestamp"], raw)


def test_a_failing_webhook_is_retried_and_sent_once_when_it_recovers(app, company, work, receiver):
    receiver.status = 500
    lc.activate(company, make_service(company), "test")
    work()
    failed = db.session.scalars(select(Notification).where(Notification.channel == "slack")).one()
    assert failed.status == "failed" and "500" in failed.error
    receiver.status = 200
    receiver.requests.clear()
    event_id = db.session.scalar(
        select(DomainEvent.id).where(DomainEvent.type == "ServiceActivated")
    )
    assert send_for_event(event_id) == []
    assert send_for_event(event_id) == []
    assert sorted(path for path, _, _ in receiver.requests) == ["/generic", "/slack", "/teams"]


def test_a_hanging_webhook_times_out_instead_of_blocking_the_worker(app, company, work, receiver):
    app.config["WEBHOOK_TIMEOUT"] = 1
    receiver.delay = 2.5
    lc.activate(company, make_service(company), "test")
    event_id = db.session.scalar(
        select(DomainEvent.id).where(DomainEvent.type == "ServiceActivated")
    )
    run_delivery(event_id, "notify.activated")  # the listener queues them; sending is timed
    started = time.monotonic()
    errors = send_for_event(event_id)
    # 4 s of slack for a loaded machine, still under the 3 x 2.5 s three uncut sends would take.
    assert time.monotonic() - started < 3 * 1 + 4  # three webhooks, each cut at the timeout
    assert len(errors) == 3 and all("timed out" in e for e in errors)
