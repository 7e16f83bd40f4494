"""An SMTP server and a webhook endpoint that refuse, or hang, while a real `flask worker` sends.

Refusing: a real aiosmtpd server answers the message with 451 (a temporary refusal: a 5xx is
permanent and tried once, see tests/notifications/test_undeliverable.py), a loopback HTTP
endpoint with 500. Hanging: both ports accept the connection and never answer. In each case the failure is
visible on the notification with its error, the sends are retried with backoff, no send holds
the worker past its timeout, and once the servers work again every notification arrives
exactly once (counted at the servers: lost is none arrived, doubled more than one).
"""

import contextlib
import json
import re
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from tests.chaos.conftest import wait_until
from tests.support import fault_report
from tests.support.factories import make_client, make_service, make_user
from tools.embedded_redis import free_port
from webapp.extensions import db
from webapp.notifications.models import Notification, Webhook
from webapp.services import actions as lc

pytestmark = pytest.mark.chaos

SERVICES = 5
TIMEOUT = 1  # MAIL_TIMEOUT and WEBHOOK_TIMEOUT, seconds
RETRY_INTERVALS = (2, 4, 8, 8)
# RQ schedules a retry in whole seconds, so one may come up to a second early.
SCHEDULING_SLACK = 1.0


class MailServer:
    """aiosmtpd that refuses each message with 451 while `refusing`; every try is logged."""

    def __init__(self, port: int):
        self.refusing = False
        self.tries: list[tuple[str, float, int]] = []  # (Message-ID, when, reply code)
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=port)
        self.controller.start()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        found = re.search(rb"notification-(\d+)", envelope.original_content)
        with self.lock:
            code = 451 if self.refusing else 250
            self.tries.append((found.group(1).decode(), time.monotonic(), code))
        return "451 4.3.0 Refused for the test" if code == 451 else "250 OK"

    def accepted(self) -> Counter:
        with self.lock:
            return Counter(mid for mid, _, code in self.tries if code == 250)

    def tries_of_one(self, n: int) -> list[float] | None:
        """The times of the first message tried `n` times, if one has been."""
        with self.lock:
            by_message: dict[str, list[float]] = {}
            for message_id, when, _ in self.tries:
                by_message.setdefault(message_id, []).append(when)
        return next((t for t in by_message.values() if len(t) >= n), None)

    def stop(self):
        self.controller.stop()


class WebhookEndpoint:
    """A loopback HTTP endpoint answering 500 while `failing`; every try is logged."""

    def __init__(self, port: int):
        self.failing = False
        self.tries: list[tuple[int, int]] = []  # (event id, status answered)
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with endpoint.lock:
                    status = 500 if endpoint.failing else 200
                    endpoint.tries.append((body["event_id"], status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self) -> Counter:
        with self.lock:
            return Counter(event_id for event_id, status in self.tries if status == 200)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class HangingPort:
    """A port that accepts connections and never answers while `hanging`; otherwise it relays
    each connection to `target`. Logs how long each hung connection was held by its client."""

    def __init__(self, target: int):
        self.target = target
        self.hanging = True
        self.held: list[float] = []  # seconds from accept until the client gave up
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            handler = self._hang if self.hanging else self._relay
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    def _hang(self, conn):
        accepted = time.monotonic()
        with conn:
            while conn.recv(65536):  # read what the client sends; answer nothing
                pass
        self.held.append(time.monotonic() - accepted)

    def _relay(self, conn):
        upstream = socket.create_connection(("127.0.0.1", self.target))

        def pump(src, dst):
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                return
            finally:
                for end in (src, dst):
                    with contextlib.suppress(OSError):
                        end.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pump, args=(upstream, conn), daemon=True).start()
        pump(conn, upstream)
        conn.close()
        upstream.close()

    def stop(self):
        self.stopped = True
        self.listener.close()


@pytest.fixture
def servers(app):
    mail, hook = MailServer(free_port()), WebhookEndpoint(free_port())
    yield mail, hook
    mail.stop()
    hook.stop()


def make_activations(company, webhook_url) -> None:
    db.session.add(Webhook(company_id=company, kind="generic", url=webhook_url))
    db.session.commit()
    manager, client = make_user(company), make_client(company)
    for n in range(SERVICES):
        lc.activate(company, make_service(company, client, name=f"S{n}", manager_id=manager), "t")


def notifications() -> list[Notification]:
    db.session.rollback()
    return list(db.session.scalars(select(Notification).order_by(Notification.id)))


def start_worker(app, flask_process, mail_port: int):
    # The retry policy travels with the job, so this process (which enqueues the
    # activations' jobs) needs it as much as the worker.
    app.config["DELIVERY_RETRY_INTERVALS"] = list(RETRY_INTERVALS)
    return flask_process(
        "worker",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=mail_port,
        MAIL_TIMEOUT=TIMEOUT,
        WEBHOOK_TIMEOUT=TIMEOUT,
        WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",  # the endpoint is on loopback
        DELIVERY_RETRY_INTERVALS=",".join(map(str, RETRY_INTERVALS)),
    )


def each(status: str):
    """A poll: every notification (two mails and a webhook per activation) in `status`."""

    def poll() -> list[Notification] | None:
        rows = notifications()
        if len(rows) == 3 * SERVICES and all(n.status == status for n in rows):
            return rows
        return None

    return poll


def each_failed_once():
    """A poll: every notification has failed at least once (its error kept), whatever its
    state now: with retries running, "all failed at the same moment" may never be seen on a
    busy machine, as the first ones are being tried again while the last ones fail."""

    def poll() -> list[Notification] | None:
        rows = notifications()
        if len(rows) == 3 * SERVICES and all(n.error for n in rows):
            return rows
        return None

    return poll


def count_arrivals(rows, mail: MailServer, hook: WebhookEndpoint) -> tuple[int, int]:
    """Lost and doubled, per notification, as the servers accepted them."""
    mails, posts = mail.accepted(), hook.accepted()
    arrived = [mails[str(n.id)] if n.channel == "email" else posts[n.event_id] for n in rows]
    lost = sum(1 for a in arrived if a == 0)
    doubled = sum(a - 1 for a in arrived if a > 1)
    return lost, doubled


def test_refusing_servers_are_retried_with_backoff_and_deliver_once_they_work(
    app, company, servers, flask_process
):
    mail, hook = servers
    mail.refusing = hook.failing = True
    start_worker(app, flask_process, mail.controller.port)
    make_activations(company, f"http://127.0.0.1:{hook.server.server_port}/hook")

    failed = wait_until(each_failed_once(), timeout=90, what="failures")
    # Visible, each with the server's answer.
    errors = {n.channel: n.error for n in failed}
    assert "451" in errors["email"] and "Refused for the test" in errors["email"]
    assert "500" in errors["generic"]

    # Retried with backoff: the tries of one message further and further apart.
    tries = wait_until(lambda: mail.tries_of_one(3), timeout=40, what="two retries")
    first, second = tries[1] - tries[0], tries[2] - tries[1]
    assert first >= RETRY_INTERVALS[0] - SCHEDULING_SLACK, tries
    # A stall in the first wait alone can eat the 2 s the backoff adds: allow the slack again.
    assert second >= RETRY_INTERVALS[1] - SCHEDULING_SLACK and second > first - SCHEDULING_SLACK, (
        tries
    )

    mail.refusing = hook.failing = False
    rows = wait_until(each("sent"), timeout=60, what="delivery once the servers work")
    lost, doubled = count_arrivals(rows, mail, hook)
    refusals = sum(1 for *_, code in mail.tries if code != 250) + sum(
        1 for _, status in hook.tries if status != 200
    )
    fault_report.record(
        "SMTP 451 and webhook 500, then working",
        faults=refusals,
        inputs=len(rows),
        lost=lost,
        doubled=doubled,
    )
    assert (lost, doubled) == (0, 0)


def test_hanging_servers_cost_a_timeout_each_and_deliver_once_they_answer(
    app, company, servers, flask_process
):
    mail, hook = servers
    mail_port, hook_port = HangingPort(mail.controller.port), HangingPort(hook.server.server_port)
    try:
        start_worker(app, flask_process, mail_port.port)
        make_activations(company, f"http://127.0.0.1:{hook_port.port}/hook")
        failed = wait_until(each_failed_once(), timeout=90, what="timeouts")
        assert all("timed out" in n.error for n in failed), {n.error for n in failed}
        # Each send gave up at its timeout: the worker was never held longer.
        held = mail_port.held + hook_port.held
        assert len(held) >= len(failed)
        # Loose for a loaded box: our accept may run late (held < TIMEOUT), a pause adds seconds.
        assert min(held) >= TIMEOUT * 0.5 and max(held) < TIMEOUT + 5, sorted(held)

        mail_port.hanging = hook_port.hanging = False
        rows = wait_until(each("sent"), timeout=60, what="delivery once the servers answer")
    finally:
        mail_port.stop()
        hook_port.stop()
    lost, doubled = count_arrivals(rows, mail, hook)
    fault_report.record(
        "SMTP and webhook hanging, then answering",
        faults=len(held),
        inputs=len(rows),
        lost=lost,
        doubled=doubled,
    )
    assert (lost, doubled) == (0, 0)
