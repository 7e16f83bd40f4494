"""Redis through Sentinel: the primary SIGKILLed in the middle of 500 activations.

Debian's redis-server as primary and replica and three redis-sentinel processes (quorum 2) on
loopback (tests.support.sentinel_cluster); gunicorn, two `flask worker` and a `flask scheduler`
reach Redis only through the Sentinels (their REDIS_URL points at a port where nothing listens).
This test process makes the activations through the services' actions, publishing through the
Sentinels too. Halfway, the primary is SIGKILLed; the Sentinels promote the replica.

What a failover may cost: publishes fail until the replica is promoted (those events wait in
the outbox for the scheduler's relay), and writes the primary took in its last moment may not
have reached the replica (the relay enqueues again what Redis lost). What it must not cost:
every activation's billing record, both notifications and both mails exist once, with no
process restarted by hand; the web's health check and sign-in limit work on the new primary.
"""

import json
import re
import signal
import subprocess
import time
from collections import Counter

import pytest
from rq import Worker
from rq_scheduler import Scheduler
from sqlalchemy import func, select

from tests.chaos.conftest import wait_until
from tests.chaos.web_checks import billing_off, history_counts
from tests.chaos.web_processes import Browser, Processes, poll, process_env
from tests.support import fault_report
from tests.support.factories import make_client, make_service, make_user
from tests.support.sentinel_cluster import SentinelCluster
from tests.support.sessions import csrf_from
from webapp.extensions import db
from webapp.lifecycle.statuses import DeliveryStatus
from webapp.notifications.models import Notification
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.services import actions as lc

pytestmark = pytest.mark.chaos

ACTIVATIONS = 500
MAILS_PER_ACTIVATION = 2  # the client's contact and the account manager
MANAGER = "manager@msp.example"
# Nothing listens there: a process that used REDIS_URL instead of the Sentinels would fail.
NOWHERE = "redis://127.0.0.1:1/0"
MESSAGE_ID = re.compile(r"\.notification-(\d+)@")


@pytest.fixture
def cluster(tmp_path):
    cluster = SentinelCluster(tmp_path / "redis").start()
    yield cluster
    cluster.stop()


@pytest.fixture
def through_sentinel(app, cluster):
    """This process's app publishes through the Sentinels as well (as the web would)."""
    shared = app.config["REDIS_URL"]
    app.config.update(cluster.settings(), REDIS_URL=NOWHERE)
    app.extensions.pop("redis", None)
    yield
    app.config.update(REDIS_SENTINELS="", REDIS_SENTINEL_MASTER="", REDIS_URL=shared)
    app.extensions.pop("redis", None)


def pending_services(company_id) -> list[int]:
    manager = make_user(company_id, MANAGER)
    client = make_client(company_id)
    return [
        make_service(company_id, client, name=f"S{n}", manager_id=manager)
        for n in range(ACTIVATIONS)
    ]


def pipeline_running(cluster) -> bool:
    """Both workers registered and the scheduler's periodic jobs in place."""
    conn = cluster.client()
    return Worker.count(connection=conn) >= 2 and bool(Scheduler(connection=conn).get_jobs())


def limiter_state(cluster) -> dict[bytes, bytes]:
    """The sign-in limits' keys on the primary, whatever their structure (DUMP serializes any)."""
    conn = cluster.client()
    return {key: conn.dump(key) for key in conn.scan_iter("LIMITS*")}


def wrong_sign_in(web) -> int:
    browser = Browser(web.url)
    form = {"email": MANAGER, "password": "not the password"}
    form["csrf_token"] = csrf_from(browser.get("/login").body)
    return browser.request("POST", "/login", form).status


def stops_when_asked(process, timeout: float = 20) -> bool:
    """SIGTERM (RQ's warm shutdown), and whether the process ended within `timeout`."""
    process.popen.send_signal(signal.SIGTERM)
    try:
        process.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def published(service_id) -> bool:
    """Whether the activation's event reached Redis when it was committed."""
    enqueued_at = db.session.scalar(
        select(DomainEvent.enqueued_at).where(
            DomainEvent.service_id == service_id, DomainEvent.type == "ServiceActivated"
        )
    )
    db.session.rollback()
    return enqueued_at is not None


def all_delivered(ids, smtp) -> bool:
    db.session.rollback()
    events = select(DomainEvent.id).where(DomainEvent.service_id.in_(ids))
    open_deliveries = db.session.scalar(
        select(func.count()).where(
            ListenerDelivery.event_id.in_(events), ListenerDelivery.status != DeliveryStatus.DONE
        )
    )
    unsent = db.session.scalar(
        select(func.count()).where(Notification.service_id.in_(ids), Notification.status != "sent")
    )
    db.session.rollback()
    with smtp.lock:
        mails = len(smtp.messages)
    return open_deliveries == 0 and unsent == 0 and mails >= ACTIVATIONS * MAILS_PER_ACTIVATION


def count_effects(ids, smtp) -> dict:
    """lost: an event, ledger row, billing record, notification or mail missing; doubled: one
    present twice (history_counts checks events and ledgers against each service's version)."""
    history = history_counts(ids, [])
    db.session.rollback()
    notifications = db.session.scalars(
        select(Notification).where(Notification.service_id.in_(ids))
    ).all()
    with smtp.lock:
        mailed = Counter(
            int(found[1]) if (found := MESSAGE_ID.search(m["Message-ID"] or "")) else None
            for m in smtp.messages
        )
    wanted = {n.id for n in notifications}
    expected = ACTIVATIONS * MAILS_PER_ACTIVATION
    lost = (
        history["lost"]
        + billing_off(ids)
        + sum(n.status != "sent" for n in notifications)
        + len(wanted - set(mailed))
        + max(0, expected - len(notifications))
    )
    doubled = (
        history["doubled"]
        + sum(count - 1 for count in mailed.values())
        + len(set(mailed) - wanted)
        + max(0, len(notifications) - expected)
    )
    db.session.rollback()
    return {"lost": lost, "doubled": doubled, "mails": mailed.total(), "history": history}


def test_primary_killed_during_500_activations_fails_over_and_loses_nothing(
    app, company, database_url, smtp, cluster, through_sentinel, tmp_path
):
    ids = pending_services(company)
    env = process_env(
        database_url,
        NOWHERE,
        **cluster.settings(),
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=app.config["MAIL_PORT"],
        LOGIN_RATE_LIMIT="1000 per minute",
        RELAY_INTERVAL_SECONDS=1,
        RELAY_STALE_SECONDS=2,
        DELIVERY_RETRY_INTERVALS="1,2,4",
        ABANDONED_JOB_GRACE_SECONDS=1,
        SENDING_STALE_SECONDS=5,
    )
    with Processes(tmp_path) as procs:
        web = procs.gunicorn(env, workers=1)
        workers = [procs.flask(f"worker-{n}", ["worker"], env) for n in (1, 2)]
        scheduler = procs.flask("scheduler", ["scheduler", "--interval", "1"], env)
        poll(lambda: pipeline_running(cluster), 60, what="the workers and the scheduler")

        unsent = 0  # activations whose event could not be published: Redis had no primary
        for n, service_id in enumerate(ids):
            if n == ACTIVATIONS // 2:
                cluster.kill_primary()
                killed_at = time.monotonic()
            lc.activate(company, service_id, "chaos")
            unsent += not published(service_id)
        activations_done = time.monotonic() - killed_at
        cluster.wait_until(cluster.failed_over, 30, "the Sentinels to promote the replica")
        failover_seconds = time.monotonic() - killed_at

        # Bounded: whatever has not arrived by then is counted as lost below.
        wait_until(lambda: all_delivered(ids, smtp), 120, interval=0.5, fail=False)
        delivered_seconds = time.monotonic() - killed_at
        time.sleep(3)  # relay passes after delivery: a duplicate would come from one of them
        effects = count_effects(ids, smtp)

        health = Browser(web.url).get("/healthz")
        before = limiter_state(cluster)
        signed_in = wrong_sign_in(web)
        after = limiter_state(cluster)
        alive = {p.name: p.alive() for p in (web, *workers, scheduler)}
        # Asked to stop, as a deploy does, while idle on the new primary (the scheduler first,
        # so that no job arrives to end their wait): within seconds, not at the wait's timeout.
        stopped = {p.name: stops_when_asked(p) for p in (scheduler, *workers)}

    fault_report.record(
        "Redis primary SIGKILLed, Sentinel failover",
        faults=1,
        inputs=ACTIVATIONS,
        lost=effects["lost"],
        doubled=effects["doubled"],
    )
    detail = {
        **effects,
        "left for the relay": unsent,
        "failover s": round(failover_seconds, 1),
        "activations after the kill s": round(activations_done, 1),
        "all delivered after the kill s": round(delivered_seconds, 1),
    }
    assert (effects["lost"], effects["doubled"]) == (0, 0), detail
    # The kill landed among the activations: some waited in the outbox for the relay.
    assert unsent > 0, detail
    assert all(alive.values()), alive  # nobody restarted anything
    assert all(stopped.values()), stopped
    assert health.status == 200 and json.loads(health.body)["redis"]["ok"], health.body
    # The sign-in limit counted that attempt on the new primary.
    assert signed_in == 401 and after != before and after, (before, after)
