"""Redis through Sentinel (webapp.redis_client): the settings, and the web's Redis, sign-in limit
and health check reaching the primary through real Sentinels (tests.support.sentinel_cluster).
The failover itself, under load, is tests/chaos/test_sentinel_failover.py."""

import signal
import threading
from contextlib import contextmanager

import pytest

from tests.support.app import make_config
from tests.support.sentinel_cluster import SentinelCluster
from tests.support.sessions import csrf_from
from webapp import ConfigurationError, create_app, redis_client
from webapp.extensions import db
from webapp.pipeline.queues import redis_connection

# Nothing listens there: what works below went through the Sentinels.
NOWHERE = "redis://127.0.0.1:1/0"


@pytest.fixture
def cluster(tmp_path):
    cluster = SentinelCluster(tmp_path / "redis").start()
    yield cluster
    cluster.stop()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"REDIS_SENTINELS": "10.0.0.5", "REDIS_SENTINEL_MASTER": "m"}, "is not host:port"),
        ({"REDIS_SENTINELS": "10.0.0.5:26379,:1", "REDIS_SENTINEL_MASTER": "m"}, "':1'"),
        ({"REDIS_SENTINELS": "10.0.0.5:99999", "REDIS_SENTINEL_MASTER": "m"}, "host:port"),
        ({"REDIS_SENTINELS": "10.0.0.5:26379"}, "REDIS_SENTINEL_MASTER is not"),
    ],
)
def test_sentinel_settings_that_cannot_work_stop_the_app_with_what_to_set(settings, message):
    with pytest.raises(ConfigurationError, match=message):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True, **settings})


def test_sentinel_addresses_are_read_as_host_port_pairs():
    assert redis_client.sentinel_addresses(" a:26379, 10.0.0.6:26380 ,[::1]:26381,") == [
        ("a", 26379),
        ("10.0.0.6", 26380),
        ("::1", 26381),
    ]


def test_the_web_reaches_redis_its_limit_and_health_through_sentinel(app, database_url, cluster):
    settings = {**cluster.settings(), "LOGIN_RATE_LIMIT": "2 per minute"}
    web = create_app(make_config(database_url, NOWHERE, **settings))
    client = web.test_client()
    with web.app_context():
        redis_connection().set("written", "through the Sentinels")
        health = client.get("/healthz").get_json()
        for _ in range(3):
            page = client.get("/login").get_data(as_text=True)
            form = {
                "email": "nobody@msp.example",
                "password": "wrong",
                "csrf_token": csrf_from(page),
            }
            answer = client.post("/login", data=form)
        db.engine.dispose()  # this app's own connections, as the app fixture does for its own
    assert cluster.client().get("written") == b"through the Sentinels"
    assert health["redis"]["ok"] is True, health
    assert answer.status_code == 429  # the third wrong password, counted on the primary
    assert list(cluster.client().scan_iter("LIMITS*"))


class Interrupted(Exception):
    pass


@contextmanager
def interrupted_after(seconds: float):
    """An exception raised in this thread after `seconds`, from a signal handler: what RQ does
    to a worker waiting for a job when it is asked to stop (SIGTERM)."""

    def interrupt(signum, frame):
        raise Interrupted

    previous = signal.signal(signal.SIGUSR1, interrupt)
    main = threading.main_thread().ident
    timer = threading.Timer(seconds, signal.pthread_kill, (main, signal.SIGUSR1))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)


def test_a_read_cut_short_leaves_no_reply_for_the_next_command(cluster):
    conn = redis_client.connect({**cluster.settings(), "REDIS_URL": NOWHERE})
    conn.set("probe", "value")
    with pytest.raises(Interrupted), interrupted_after(0.2):
        conn.blpop(["nothing-comes"], timeout=2)
    # Not the empty answer of the interrupted wait (after it timed out), but GET's own.
    assert conn.get("probe") == b"value"
