"""Many writers at once on SQLite's single write lock: each waits its turn, none is refused.

gunicorn with four worker processes and a `flask worker` delivering events all write to one
SQLite file, while people provision services, press lifecycle buttons and record incidents in
parallel through the pages. A writer that read first and then asked for the lock would get
"database is locked" at once (busy_timeout does not help a deferred transaction upgrading);
webapp.database begins every writing unit of work with BEGIN IMMEDIATE so it queues instead.
Nothing may answer 500, nothing may say "database is locked", and every acknowledged write must
be in the database exactly once. It runs on PostgreSQL too, where the same load must hold.
"""

import datetime as dt
import random
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from tests.chaos.web_checks import Acknowledged, history_counts
from tests.chaos.web_processes import Browser, Processes, poll, process_env
from tests.support import fault_report
from tests.support.factories import active_service, make_client, make_service
from tests.support.sessions import add_user
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.forms import LOCAL_INPUT
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import DeliveryStatus, UserRole
from webapp.pipeline.models import ListenerDelivery
from webapp.services.models import ClientService

pytestmark = pytest.mark.chaos

SEED = 7
WEB_WORKERS = 4
MANAGERS = 6  # each alternates: provision a new service, press a button on one of its own
TECHNICIANS = 2  # each records incidents on running services
WRITES_EACH = 50
LOCKED = "database is locked"
# After activation, pressed in this order on each manager's services, round and round.
CYCLE = ("suspend", "resume", "renew")


def test_concurrent_writers_on_sqlite_wait_their_turn(app, company, database_url, tmp_path):
    client_id = make_client(company)
    add_user(company, UserRole.ACCOUNT_MANAGER, "manager@msp.example")
    add_user(company, UserRole.TECHNICIAN, "tech@msp.example")
    own = [[make_service(company, client_id) for _ in range(3)] for _ in range(MANAGERS)]
    running = [active_service(company, client_id) for _ in range(4)]
    env = process_env(database_url, app.config["REDIS_URL"])
    with Processes(tmp_path) as procs:
        web = procs.gunicorn(env, workers=WEB_WORKERS)
        worker = procs.flask("worker", ["worker"], env)
        writers = [
            Manager(Browser(web.url).sign_in("manager@msp.example"), client_id, own[n], n)
            for n in range(MANAGERS)
        ] + [
            Technician(Browser(web.url).sign_in("tech@msp.example"), running, n)
            for n in range(TECHNICIANS)
        ]
        started = time.monotonic()
        threads = [threading.Thread(target=w.run) for w in writers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=240)
        seconds = time.monotonic() - started
        # The worker writes too, meanwhile and after: let it finish before looking.
        poll(lambda: deliveries_done(), 120, what="the worker to deliver every event")
        logs = web.log(last=10**7) + worker.log(last=10**7)

    db.session.rollback()
    answers = Counter(status for w in writers for status in w.statuses)
    refused = sum(count for status, count in answers.items() if status >= 500)
    locked = logs.count(LOCKED) + sum(w.locked for w in writers)
    provisioned = Counter(
        db.session.scalars(select(ClientService.name).where(ClientService.name.like("Writer %")))
    )
    recorded = Counter(db.session.scalars(select(Incident.title)))
    acked_names = [name for w in writers for name in w.names]
    service_ids = [sid for ids in own for sid in ids]
    history = history_counts(service_ids, [a for w in writers for a in w.acknowledged])
    lost = (
        sum(1 for name in acked_names if name not in provisioned and name not in recorded)
        + history["lost"]
    )
    doubled = (
        sum(count - 1 for count in provisioned.values())
        + sum(count - 1 for count in recorded.values())
        + history["doubled"]
    )
    writes = sum(w.writes for w in writers)
    fault_report.record(
        "web: concurrent writers on one database",
        faults=0,
        inputs=writes,
        lost=lost + refused,
        doubled=doubled,
    )
    print(
        f"\n{writes} writes by {len(writers)} people through {WEB_WORKERS} gunicorn workers "
        f"and an RQ worker in {seconds:.1f} s; answers {dict(answers)}"
    )
    assert [e for w in writers for e in w.errors] == []
    assert refused == 0, "a write was answered 5xx"
    assert locked == 0, "'database is locked' reached a person or the logs"
    assert "Traceback" not in logs
    assert set(answers) <= {200}
    assert lost == 0
    assert doubled == 0


class Writer:
    def __init__(self, browser, seed):
        self.browser = browser
        self.rng = random.Random(SEED * 100 + seed)
        self.statuses: list[int] = []
        self.names: list[str] = []  # acknowledged creations, by their unique names
        self.acknowledged: list[Acknowledged] = []
        self.locked = self.writes = 0
        self.errors: list[str] = []

    def run(self):
        try:
            self.write()
        except Exception as exc:  # a cut connection, or anything else: reported by the test
            self.errors.append(repr(exc))

    def post(self, path, form):
        return self.count(self.browser.htmx_post(path, form))

    def count(self, answer):
        self.writes += 1
        self.statuses.append(answer.status)
        self.locked += LOCKED in answer.body
        return answer


class Manager(Writer):
    def __init__(self, browser, client_id, own, n):
        super().__init__(browser, n)
        self.client_id, self.n = client_id, n
        self.version = dict.fromkeys(own, 1)
        self.step = dict.fromkeys(own, 0)

    def write(self):
        for i in range(WRITES_EACH):
            if i % 2 == 0:
                self.provision(f"Writer {self.n}-{i}")
            else:
                self.press(self.rng.choice(list(self.version)))

    def provision(self, name):
        form = {
            "client_id": str(self.client_id),
            "name": name,
            "service_type": "backup",
            "price": "120.00",
            "currency": "USD",
            "billing_cycle": "monthly",
            "term_months": "12",
            "service_level": "standard",
            "setup_fee": "0",
            "csrf_token": self.browser.token,
        }
        if self.post("/services/new", form).status == 200:
            self.names.append(name)

    def press(self, sid):
        step = self.step[sid]
        action = "activate" if step == 0 else CYCLE[(step - 1) % len(CYCLE)]
        answer = self.count(self.browser.transition(sid, action, self.version[sid]))
        if answer.status == 200:
            self.acknowledged.append(Acknowledged(sid, action, self.version[sid]))
            self.version[sid] += 1
            self.step[sid] += 1


class Technician(Writer):
    def __init__(self, browser, running, n):
        super().__init__(browser, MANAGERS + n)
        self.running, self.n = running, n

    def write(self):
        for i in range(WRITES_EACH):
            title = f"Writer incident {self.n}-{i}"
            opened = (utcnow() - dt.timedelta(minutes=5)).strftime(LOCAL_INPUT)
            form = {
                "service_id": str(self.rng.choice(self.running)),
                "title": title,
                "severity": "medium",
                "opened_at": opened,
                "description": "",
                "csrf_token": self.browser.token,
            }
            if self.post("/incidents/new", form).status == 200:
                self.names.append(title)


def deliveries_done() -> bool:
    db.session.rollback()
    open_work = db.session.scalars(
        select(ListenerDelivery.id).where(ListenerDelivery.status != DeliveryStatus.DONE).limit(1)
    ).first()
    db.session.rollback()
    return open_work is None
