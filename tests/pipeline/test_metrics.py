"""GET /metrics: what Prometheus scrapes, read against the real Redis, database and worker."""

import datetime as dt

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from tests.support.factories import fail_listener, make_service, redis_at
from tools.embedded_redis import RedisServer
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.pipeline.models import DomainEvent
from webapp.pipeline.queues import queue
from webapp.services import actions as lc


def scrape(client, **kw) -> dict[tuple, float]:
    """{(sample name, sorted label pairs): value} from one scrape."""
    response = client.get("/metrics", **kw)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for s in family.samples
    }


def value(figures, name, **labels):
    return figures[(name, tuple(sorted(labels.items())))]


def test_queue_depth_is_the_jobs_waiting_in_each_queue(client):
    for _ in range(3):
        queue("alerts").enqueue("builtins.len", "abc")
    queue("billing").enqueue("builtins.len", "abc")
    figures = scrape(client)
    assert value(figures, "msp_redis_up") == 1
    depths = {q: value(figures, "msp_rq_queue_depth", queue=q) for q in ("alerts", "billing")}
    assert depths == {"alerts": 3, "billing": 1}
    assert value(figures, "msp_rq_queue_depth", queue="notifications") == 0


def test_an_undelivered_event_shows_as_lag_until_the_worker_delivers_it(client, company, work):
    lc.activate(company, make_service(company), "test")
    # The event happened ten minutes ago, as if the workers had been behind since.
    db.session.execute(
        update(DomainEvent)
        .where(DomainEvent.type == "ServiceActivated")
        .values(occurred_at=utcnow() - dt.timedelta(minutes=10))
    )
    db.session.commit()
    before = scrape(client)
    assert value(before, "msp_events_undelivered") == 1
    assert value(before, "msp_event_lag_seconds") >= 600
    assert value(before, "msp_listener_deliveries", status="pending") == 2  # billing and mail
    assert value(before, "msp_rq_queue_depth", queue="billing") == 1

    work()
    after = scrape(client)
    assert value(after, "msp_events_undelivered") == 0
    assert value(after, "msp_event_lag_seconds") == 0
    assert value(after, "msp_listener_deliveries", status="pending") == 0
    assert value(after, "msp_rq_queue_depth", queue="billing") == 0


def test_a_delivery_that_fails_for_good_is_counted_in_the_ledger_and_rq(
    client, company, work, monkeypatch
):
    fail_listener(monkeypatch, "notify.activated", RuntimeError("smtp down"))
    lc.activate(company, make_service(company), "test")
    work()
    figures = scrape(client)
    assert value(figures, "msp_deliveries_failed") == 1
    assert value(figures, "msp_listener_deliveries", status="failed") == 1
    assert value(figures, "msp_rq_failed_jobs", queue="billing") == 1
    # Failed is not "still to deliver": the lag is about work the workers have yet to do.
    assert value(figures, "msp_events_undelivered") == 0


def test_each_request_is_counted_in_the_latency_histogram_by_endpoint(client):
    count = "msp_http_request_duration_seconds_count"
    ok = {"endpoint": "health.healthz", "method": "GET", "status": "200"}
    before = scrape(client).get((count, tuple(sorted(ok.items()))), 0)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no/such/page/42")
    figures = scrape(client)
    assert value(figures, count, **ok) == before + 2
    # Unknown paths share one series: a scanner cannot make a series per path.
    assert value(figures, count, endpoint="unmatched", method="GET", status="404") >= 1
    assert not any("42" in dict(labels).get("endpoint", "") for _, labels in figures)


def test_figures_are_totals_that_name_no_company_or_client(client, company, other_company):
    lc.activate(company, make_service(company), "test")
    lc.activate(other_company, make_service(other_company), "test")
    body = client.get("/metrics").get_data(as_text=True)
    assert "Test MSP" not in body and "Other MSP" not in body and "Acme" not in body
    assert "company" not in body
    assert value(scrape(client), "msp_events_undelivered") == 2


def test_with_a_token_set_a_scrape_needs_it(app, client):
    app.config["METRICS_TOKEN"] = "scrape-secret"
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer guessed"})
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert "msp_" not in wrong.get_data(as_text=True)
    figures = scrape(client, headers={"Authorization": "Bearer scrape-secret"})
    assert value(figures, "msp_redis_up") == 1


def test_with_redis_down_metrics_still_answer_with_redis_up_zero(app, client, company):
    lc.activate(company, make_service(company), "test")
    with redis_at(app, RedisServer().url):  # never started: nothing listens on its port
        figures = scrape(client)
    assert value(figures, "msp_redis_up") == 0
    assert not any(name == "msp_rq_queue_depth" for name, _ in figures)
    # The database's figures are still there: the outage does not hide the backlog.
    assert value(figures, "msp_database_up") == 1
    assert value(figures, "msp_events_undelivered") == 1
