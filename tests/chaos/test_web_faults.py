"""Faults under the web: Redis gone for 30 s, and the web process killed mid-request.

Everything runs as in production: gunicorn serving the app over loopback, `flask worker` and
`flask scheduler` as processes, a real Redis, the real database, and mail to a real SMTP
server. The requests are the pages' own form posts, signed in, with the CSRF token. Each
scenario counts what was lost or doubled, and both must be nothing.
"""

import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from tests.chaos.web_checks import Acknowledged, billing_off, history_counts
from tests.chaos.web_processes import CUT_OFF, Browser, Processes, poll, process_env
from tests.support import fault_report
from tests.support.factories import make_client, make_service
from tests.support.sessions import add_user
from tools.embedded_redis import RedisServer
from webapp.accounts.models import User
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.registry import QUEUES
from webapp.lifecycle.statuses import DeliveryStatus, UserRole
from webapp.notifications.models import Notification
from webapp.pipeline import relay as outbox
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.relay import HEARTBEAT_KEY

pytestmark = pytest.mark.chaos

MANAGER = "manager@msp.example"
ADMIN = "admin@msp.example"
QUEUE_DOWN = "The queue (Redis) is unreachable"
QUEUE_DOWN_OPERATIONS = "unreachable: changes are kept and sent when it is back"
MESSAGE_ID = re.compile(r"\.notification-(\d+)@")


def people(company_id):
    add_user(company_id, UserRole.ACCOUNT_MANAGER, MANAGER)
    add_user(company_id, UserRole.ADMIN, ADMIN)
    return db.session.scalar(select(User.id).where(User.email == MANAGER))


def services(company_id, count, manager_id) -> list[int]:
    client_id = make_client(company_id, email="it@acme.example")
    return [
        make_service(company_id, client_id, manager_id=manager_id, name=f"Backup {n}")
        for n in range(count)
    ]


# -- Redis stopped for 30 s while 500 transitions are made through the web -----------------

SERVICES = 100
# Five transitions per service, 500 in all. Activation and suspension mail the client and the
# account manager: 6 mails per service.
STEPS = ("activate", "suspend", "resume", "renew", "suspend")
# Client contact and account manager, told of each activation, suspension and resumption
# (a renewal tells nobody): 2 x 4.
MAILS_PER_SERVICE = 8
OUTAGE_SECONDS = 30
CLIENTS = 4


def test_redis_down_30_s_while_500_transitions_are_made(app, company, database_url, smtp, tmp_path):
    ids = services(company, SERVICES, people(company))
    redis = RedisServer().start()
    env = process_env(
        database_url,
        redis.url,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=app.config["MAIL_PORT"],
        RELAY_INTERVAL_SECONDS=1,
        DELIVERY_RETRY_INTERVALS="1,2,4",
    )
    try:
        with Processes(tmp_path) as procs:
            web = procs.gunicorn(env, workers=2)
            # Two workers, as production runs several: a delivery must not happen once per worker.
            workers = [procs.flask(f"worker-{n}", ["worker"], env) for n in (1, 2)]
            scheduler = procs.flask("scheduler", ["scheduler", "--interval", "1"], env)
            browsers = [Browser(web.url).sign_in(MANAGER) for _ in range(CLIENTS)]
            admin = Browser(web.url).sign_in(ADMIN)
            # The outage must find the workers and the scheduler running, not still starting.
            poll(lambda: pipeline_running(admin), 60, what="the workers and the scheduler")
            assert QUEUE_DOWN not in admin.get("/").body

            redis.stop()
            down_at = time.monotonic()
            tried, shown = make_transitions(browsers, ids, admin)
            answered_in = time.monotonic() - down_at
            unsent = unsent_events(ids)
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
            outage = time.monotonic() - down_at
            redis.start()

            delivered = delivered_once(ids, smtp, redis.url, timeout=120)
            alive = {p.name: p.alive() for p in (web, *workers, scheduler)}
    finally:
        redis.stop()

    failed = [t for t in tried if t.status != 200]
    history = history_counts(ids, [t.acknowledged for t in tried if t.status == 200])
    lost = len(failed) + history["lost"] + delivered["lost"]
    doubled = history["doubled"] + delivered["doubled"]
    fault_report.record(
        "web: Redis down 30 s during 500 transitions",
        faults=1,
        inputs=len(tried),
        lost=lost,
        doubled=doubled,
    )
    print(
        f"\nRedis down {outage:.1f} s; {len(tried)} transitions answered in {answered_in:.1f} s; "
        f"all delivered {delivered['seconds']:.1f} s after Redis came back"
    )
    assert failed == []
    assert shown == {"overview": True, "operations": True}
    # Committed with their outbox rows, none claimed as sent while Redis was away.
    assert unsent == len(tried) == SERVICES * len(STEPS)
    assert alive == {"gunicorn": True, "worker-1": True, "worker-2": True, "scheduler": True}
    assert delivered["mails"] == SERVICES * MAILS_PER_SERVICE
    assert lost == 0
    assert doubled == 0


def pipeline_running(browser) -> bool:
    """/healthz says Redis answers, both workers are registered and the scheduler is alive."""
    state = json.loads(browser.get("/healthz").body)
    return state["redis"]["ok"] and state["redis"]["workers"] >= 2 and state["redis"]["scheduler"]


@dataclass(frozen=True)
class Tried:
    acknowledged: Acknowledged  # what it is if the answer is 200
    status: int


def make_transitions(browsers, ids, admin) -> tuple[list[Tried], dict[str, bool]]:
    """Each browser takes its share of the services through STEPS, step by step; meanwhile the
    admin looks at the overview and operations pages. Returns every try and what was shown."""
    tried: list[Tried] = []
    lock = threading.Lock()

    def press(browser, mine):
        version = dict.fromkeys(mine, 1)
        for action in STEPS:
            for sid in mine:
                answer = browser.transition(sid, action, version[sid])
                with lock:
                    tried.append(Tried(Acknowledged(sid, action, version[sid]), answer.status))
                version[sid] += answer.status == 200

    threads = [
        threading.Thread(target=press, args=(b, ids[n :: len(browsers)]))
        for n, b in enumerate(browsers)
    ]
    for t in threads:
        t.start()
    shown = {
        "overview": QUEUE_DOWN in admin.get("/").body,
        "operations": QUEUE_DOWN_OPERATIONS in admin.get("/operations").body,
    }
    for t in threads:
        t.join(timeout=240)
    return tried, shown


def unsent_events(ids) -> int:
    """Transition events of these services that are committed and not marked enqueued."""
    db.session.rollback()
    count = db.session.scalar(
        select(func.count()).where(
            DomainEvent.service_id.in_(ids),
            DomainEvent.type != "ServiceProvisioned",
            DomainEvent.enqueued_at.is_(None),
        )
    )
    db.session.rollback()
    return count


def delivered_once(ids, smtp, redis_url, timeout) -> dict:
    """Wait for every delivery and mail, then for one more relay pass after that (a duplicate
    would come from it), and count: lost = an effect missing, doubled = an effect twice."""
    back = time.monotonic()
    deadline = back + timeout
    while time.monotonic() < deadline and not all_done(ids, smtp):
        time.sleep(0.5)
    seconds = time.monotonic() - back
    settle(redis_url)
    db.session.rollback()
    notifications = db.session.scalars(
        select(Notification).where(Notification.service_id.in_(ids))
    ).all()
    with smtp.lock:
        mailed = Counter(notification_mailed(m) for m in smtp.messages)
    wanted = {n.id for n in notifications}
    expected = SERVICES * MAILS_PER_SERVICE
    lost = (
        unfinished_deliveries(ids)
        + sum(n.status != "sent" for n in notifications)
        + len(wanted - set(mailed))
        + billing_off(ids)
        + max(0, expected - len(notifications))
    )
    doubled = (
        sum(count - 1 for count in mailed.values())
        + len(set(mailed) - wanted)
        + max(0, len(notifications) - expected)
    )
    db.session.rollback()
    return {"seconds": seconds, "mails": mailed.total(), "lost": lost, "doubled": doubled}


def notification_mailed(message) -> int | None:
    """The notification a mail was sent for: its Message-ID names it (see webapp.notifications.mailer)."""
    found = MESSAGE_ID.search(message["Message-ID"] or "")
    return int(found.group(1)) if found else None


def unfinished_deliveries(ids) -> int:
    events = select(DomainEvent.id).where(DomainEvent.service_id.in_(ids))
    return db.session.scalar(
        select(func.count()).where(
            ListenerDelivery.event_id.in_(events), ListenerDelivery.status != DeliveryStatus.DONE
        )
    )


def all_done(ids, smtp) -> bool:
    db.session.rollback()
    unsent = db.session.scalar(
        select(func.count()).where(Notification.service_id.in_(ids), Notification.status != "sent")
    )
    done = unfinished_deliveries(ids) == 0 and unsent == 0
    db.session.rollback()
    with smtp.lock:
        return done and len(smtp.messages) >= SERVICES * MAILS_PER_SERVICE


def settle(redis_url, timeout=30) -> None:
    """Until the relay has run again after now and the queues are empty."""
    conn = Redis.from_url(redis_url)
    since = utcnow().isoformat()
    try:
        poll(
            lambda: (
                (conn.get(HEARTBEAT_KEY) or b"").decode() > since
                and all(Queue(name, connection=conn).count == 0 for name in QUEUES)
            ),
            timeout,
            what="one more relay pass and empty queues",
        )
    finally:
        conn.close()


# -- The web process killed mid-request: no half transition ---------------------------------

KILL_SEED = 20240611
KILL_SERVICES = 40
KILL_CLIENTS = 4
KILLS = 16
WHOLE_SERVER_EVERY = 4  # every 4th kill takes gunicorn's master with its workers
# A kill comes after this many more transitions were answered since the last one (so it lands
# on a server that is serving again, however slowly the machine restarts it), then a random
# pause: it finds requests in flight at random points of their handling.
ANSWERED_BETWEEN_KILLS = 4
# 120, not 60: on a loaded 2-core box each gunicorn restart can take several seconds.
KILL_PHASE_LIMIT = 120  # seconds; the kills end earlier on any machine that is not crawling
# How often each action is chosen among those the page offers (cancel ends a service).
WEIGHTS = {"activate": 1, "suspend": 3, "resume": 3, "renew": 2, "cancel": 0.1}
PAGE_ACTIONS = re.compile(r'data-action="(\w+)"')
PAGE_VERSION = re.compile(r'name="version" type="hidden" value="(\d+)"')


def test_web_killed_mid_request_leaves_no_half_transition(
    app, company, database_url, work, tmp_path
):
    ids = services(company, KILL_SERVICES, people(company))
    env = process_env(database_url, app.config["REDIS_URL"])
    with Processes(tmp_path) as procs:
        web = procs.gunicorn(env, workers=2)
        browsers = [Browser(web.url).sign_in(MANAGER) for _ in range(KILL_CLIENTS)]
        stop = threading.Event()
        clients = [
            Clicker(b, ids[n::KILL_CLIENTS], random.Random(KILL_SEED + n + 1), stop)
            for n, b in enumerate(browsers)
        ]
        killer = Killer(web, random.Random(KILL_SEED), stop, clients)
        started = time.monotonic()
        threads = [threading.Thread(target=c.run) for c in [*clients, killer]]
        for t in threads:
            t.start()
        threads[-1].join(timeout=KILL_PHASE_LIMIT)
        stop.set()
        for t in threads:
            t.join(timeout=120)
        seconds = time.monotonic() - started

    # What was committed but never sent (killed between commit and publish) goes by the relay.
    db.session.rollback()
    never_sent = unsent_events(ids)
    outbox.relay()
    work()
    db.session.rollback()
    acknowledged = [a for c in clients for a in c.acknowledged]
    history = history_counts(ids, acknowledged)
    lost = history["lost"] + unfinished_deliveries(ids) + billing_off(ids)
    doubled = history["doubled"]
    tried = sum(c.tried for c in clients)
    cut = sum(c.cut for c in clients)
    errors = [e for c in [*clients, killer] for e in c.errors]
    fault_report.record(
        "web: gunicorn SIGKILLed mid-request",
        faults=killer.kills,
        inputs=tried,
        lost=lost,
        doubled=doubled,
    )
    print(
        f"\n{killer.kills} kills ({killer.whole} of the whole server) in {seconds:.1f} s; "
        f"{tried} transitions tried, {len(acknowledged)} acknowledged, {cut} cut off, "
        f"{never_sent} committed but not sent until the relay"
    )
    assert errors == []
    assert killer.kills >= KILLS // 2 and killer.whole >= 2
    assert cut > 0  # the kills did land during requests
    assert lost == 0
    assert doubled == 0


class Killer:
    """SIGKILLs a gunicorn worker (its master starts another) at seeded random moments while
    requests are being answered; every WHOLE_SERVER_EVERY-th kill takes the master with its
    workers, and the server is started again."""

    def __init__(self, web, rng: random.Random, stop: threading.Event, clients):
        self.web, self.rng, self.stop, self.clients = web, rng, stop, clients
        self.kills = self.whole = 0
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            self.kill_at_random()
        except Exception as exc:  # reported by the test, with the server's log
            self.errors.append(f"{exc!r}\n{self.web.log()}")

    def answered(self) -> int:
        return sum(len(c.acknowledged) for c in self.clients)

    def kill_at_random(self) -> None:
        while self.kills < KILLS:
            due = self.answered() + ANSWERED_BETWEEN_KILLS
            while self.answered() < due:
                if self.stop.wait(0.05):
                    return
            if self.stop.wait(self.rng.uniform(0.0, 0.3)):
                return
            if (self.kills + 1) % WHOLE_SERVER_EVERY == 0:
                self.web.kill()
                self.kills += 1
                self.whole += 1
                self.web.start()
                continue
            workers = self.web.worker_pids()
            if workers and self.web.kill_worker(self.rng.choice(workers)):
                self.kills += 1


class Clicker:
    """One person pressing the actions each service's page offers, at random, with the
    version the page showed; after a cut-off request or a 409 it reloads the page, as a
    person would."""

    def __init__(self, browser, ids, rng: random.Random, stop: threading.Event):
        self.browser, self.rng, self.stop = browser, rng, stop
        self.pages = {sid: None for sid in ids}
        self.acknowledged: list[Acknowledged] = []
        self.errors: list[str] = []
        self.tried = self.cut = 0

    def run(self) -> None:
        try:
            self.click_at_random()
        except Exception as exc:  # reported by the test
            self.errors.append(repr(exc))

    def click_at_random(self) -> None:
        for sid in self.pages:
            self.pages[sid] = self.reload(sid)
        while not self.stop.is_set():
            open_ones = [sid for sid, (_, actions) in self.pages.items() if actions]
            if not open_ones:
                return
            sid = self.rng.choice(open_ones)
            version, actions = self.pages[sid]
            action = self.rng.choices(actions, [WEIGHTS[a] for a in actions])[0]
            self.tried += 1
            try:
                answer = self.browser.transition(sid, action, version)
            except CUT_OFF:
                self.cut += 1
                self.pages[sid] = self.reload(sid)
                continue
            if answer.status == 200:
                self.acknowledged.append(Acknowledged(sid, action, version))
                self.pages[sid] = page_state(answer.body)
            elif answer.status == 409:  # an earlier, cut-off request had been committed
                self.pages[sid] = self.reload(sid)
            else:
                self.errors.append(f"{action} {sid}: {answer.status} {answer.body[:300]}")
                self.pages[sid] = self.reload(sid)

    def reload(self, sid, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                answer = self.browser.get(f"/services/{sid}")
                if answer.status == 200:
                    return page_state(answer.body)
            except CUT_OFF:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"service {sid}'s page did not load again")
            time.sleep(0.1)


def page_state(body: str) -> tuple[int | None, list[str]]:
    """The version the page's forms carry, and the actions it offers."""
    version = PAGE_VERSION.search(body)
    actions = [a for a in dict.fromkeys(PAGE_ACTIONS.findall(body)) if a in WEIGHTS]
    return (int(version.group(1)) if version else None), actions
