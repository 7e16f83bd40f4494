"""/healthz: the database, Redis, queues, workers and the scheduler, and what it says when Redis is down."""

from tests.support.factories import redis_at
from tools.embedded_redis import RedisServer


def test_healthz_reports_database_redis_and_pipeline(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "failed_deliveries": 0, "unenqueued_events": 0}
    assert body["redis"]["ok"] is True
    assert set(body["redis"]["queues"]) == {"billing", "alerts", "notifications", "default"}
    assert body["redis"]["workers"] == 0
    assert body["redis"]["scheduler"] is False


def test_healthz_is_503_and_says_why_when_redis_is_down(app, client):
    with redis_at(app, RedisServer().url):  # never started: nothing listens on its port
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["redis"]["ok"] is False and body["redis"]["error"] == "ConnectionError"
    assert body["database"]["ok"] is True
