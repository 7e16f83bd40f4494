"""Redis restarted empty while mails are still to send, after their events' listeners are done.

Everything real: a Redis server, `flask worker` and `flask scheduler` processes, and an aiosmtpd
server on loopback. The company's mail is set up late, as on a new installation: the first
activations are made before any mail server is configured (their mails wait "queued", on
purpose, and nothing may spin on them); then the server is configured but its provider answers
451 "try again later" for a while (the next activations' mails fail, each with a retry pending
in Redis). Redis is then restarted with no data, which loses every job and pending retry, and
the provider accepts mail again. Only the relay can find these mails now: every one must
arrive exactly once (counted at the server by the notification named in its Message-ID).
"""

import re
import threading
from collections import Counter

import pytest
from aiosmtpd.controller import Controller
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from tests.chaos.web_processes import Processes, poll, process_env
from tests.support import fault_report
from tests.support.factories import make_client, make_service, make_user, redis_at
from tools.embedded_redis import RedisServer, free_port
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.registry import QUEUES
from webapp.lifecycle.statuses import DeliveryStatus
from webapp.notifications.models import Notification
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.relay import HEARTBEAT_KEY
from webapp.services import actions as lc

pytestmark = pytest.mark.chaos

BEFORE_MAIL = 10  # activations made before any mail server is configured
WHILE_REFUSED = 10  # activations made while the mail provider answers 451
MAILS_EACH = 2  # the client's contact and the account manager
MESSAGE_ID = re.compile(rb"\.notification-(\d+)@")
REQUEUED = "unsent notifications enqueued again"


class MailProvider:
    """aiosmtpd that answers 451 to every recipient while `refusing`; counts every try."""

    def __init__(self):
        self.refusing = True
        self.tries = 0
        self.mailed: Counter = Counter()  # notification id -> messages accepted
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        with self.lock:
            self.tries += 1
            if self.refusing:
                return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        found = MESSAGE_ID.search(envelope.original_content)
        with self.lock:
            self.mailed[int(found.group(1)) if found else None] += 1
        return "250 OK"

    def stop(self):
        self.controller.stop()


def test_redis_restarted_empty_with_mails_queued(app, company, database_url, tmp_path):
    client_id = make_client(company, email="it@acme.example")
    manager_id = make_user(company)
    services = [
        make_service(company, client_id, manager_id=manager_id, name=f"Backup {n}")
        for n in range(BEFORE_MAIL + WHILE_REFUSED)
    ]
    expected = len(services) * MAILS_EACH
    redis = RedisServer().start()
    provider = MailProvider()
    # A retry waits longer than the test: only Redis holds it, and the restart loses it.
    app.config["DELIVERY_RETRY_INTERVALS"] = [600]  # for the jobs this process enqueues
    # The relay looks for lost jobs of notifications older than RELAY_STALE_SECONDS only.
    base = {
        "RELAY_INTERVAL_SECONDS": 1,
        "RELAY_STALE_SECONDS": 3,
        "DELIVERY_RETRY_INTERVALS": "600",
    }
    no_mail = process_env(database_url, redis.url, **base)
    with_mail = process_env(
        database_url, redis.url, MAIL_SERVER="127.0.0.1", MAIL_PORT=provider.port, **base
    )
    try:
        with Processes(tmp_path) as procs, redis_at(app, redis.url):
            # No mail server yet: the listeners run, the mails wait queued.
            first = start_pipeline(procs, no_mail, "before-mail")
            for sid in services[:BEFORE_MAIL]:
                lc.activate(company, sid, "test")
            poll(lambda: listeners_done(services[:BEFORE_MAIL]), 90, what="the first listeners")
            relay_passes(redis.url, 2)
            assert count_status("queued") == BEFORE_MAIL * MAILS_EACH
            spun = sum(p.log(last=10**7).count(REQUEUED) for p in first)
            for process in first:
                process.stop()

            # A mail server is configured; its provider answers "try again later".
            second = start_pipeline(procs, with_mail, "refused")
            for sid in services[BEFORE_MAIL:]:
                lc.activate(company, sid, "test")
            poll(lambda: listeners_done(services), 90, what="the second listeners")
            # Every mail tried once and refused: the first ones too, found by the relay.
            settled(lambda: count_status("failed") == expected, 90)
            relay_passes(redis.url, 2)
            tries_while_refused = provider.tries

            # Redis restarted with no data: every job and pending retry is gone.
            redis.stop()
            provider.refusing = False
            redis = RedisServer(port=redis.port).start()

            settled(lambda: count_status("sent") == expected, 120)
            relay_passes(redis.url, 2)
            alive = all(p.alive() for p in second)
    finally:
        redis.stop()
        provider.stop()

    db.session.rollback()
    notifications = db.session.scalars(select(Notification)).all()
    wanted = {n.id for n in notifications}
    with provider.lock:
        mailed = Counter(provider.mailed)
    lost = (
        sum(n.status != "sent" for n in notifications)
        + len(wanted - set(mailed))
        + max(0, expected - len(notifications))
    )
    doubled = sum(count - 1 for count in mailed.values()) + len(set(mailed) - wanted)
    fault_report.record(
        "Redis restarted empty with mails queued",
        faults=1,
        inputs=expected,
        lost=lost,
        doubled=doubled,
    )
    assert spun == 0, "the relay enqueued mail that waits for a mail server to be configured"
    # While refused, each mail was tried once and then left to its retry waiting in Redis: not
    # once per relay (each worker runs one as it starts, the scheduler every second).
    assert tries_while_refused == expected
    assert alive
    assert lost == 0
    assert doubled == 0


def start_pipeline(procs, env, name):
    """Two workers (a delivery must not happen once per worker) and the scheduler."""
    return [
        procs.flask(f"{name}-worker-1", ["worker"], env),
        procs.flask(f"{name}-worker-2", ["worker"], env),
        procs.flask(f"{name}-scheduler", ["scheduler", "--interval", "1"], env),
    ]


def listeners_done(service_ids) -> bool:
    """Each service's activation recorded, and every listener of it done."""
    db.session.rollback()
    events = select(DomainEvent.id).where(
        DomainEvent.service_id.in_(service_ids), DomainEvent.type == "ServiceActivated"
    )
    recorded = db.session.scalar(select(func.count()).select_from(events.subquery()))
    unfinished = db.session.scalar(
        select(func.count()).where(
            ListenerDelivery.event_id.in_(events), ListenerDelivery.status != DeliveryStatus.DONE
        )
    )
    db.session.rollback()
    return recorded == len(service_ids) and unfinished == 0


def settled(check, timeout) -> bool:
    """check() until true or `timeout` seconds pass; whether it became true (the test then
    counts what is missing rather than stopping at the first wait)."""
    try:
        poll(check, timeout)
    except AssertionError:
        return False
    return True


def count_status(status) -> int:
    db.session.rollback()
    found = db.session.scalar(
        select(func.count()).select_from(Notification).where(Notification.status == status)
    )
    db.session.rollback()
    return found


def relay_passes(redis_url, passes, timeout=60) -> None:
    """Until the relay has run `passes` more times and the queues are empty."""
    conn = Redis.from_url(redis_url)
    try:
        for _ in range(passes):
            since = utcnow().isoformat()
            poll(
                lambda since=since: (
                    (conn.get(HEARTBEAT_KEY) or b"").decode() > since
                    and all(Queue(name, connection=conn).count == 0 for name in QUEUES)
                ),
                timeout,
                what="a relay pass and empty queues",
            )
    finally:
        conn.close()
