"""GET /metrics for Prometheus: request latency, and the event pipeline's figures.

Request latency is counted by a hook around every request. gunicorn runs several worker
processes, each with its own counters: when PROMETHEUS_MULTIPROC_DIR is set (deploy/ sets it
for the web processes) prometheus_client keeps them in files there and a scrape adds up every
process's; otherwise (`make run`, tests) one process's registry is read. The pipeline's
figures are read at scrape time (webapp.pipeline.metric_families), so any process can answer.

No sign-in (Prometheus has no session) and nothing per tenant. With METRICS_TOKEN set a
scrape needs `Authorization: Bearer <token>`; without it, keep /metrics reachable only from
the monitoring network (the reverse proxy can refuse it from outside).
"""

import hmac
import os
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)

from webapp.pipeline.metric_families import PipelineCollector

bp = Blueprint("metrics", __name__)

# Registered on no registry at import: each scrape builds its own (see _registry).
REQUEST_SECONDS = Histogram(
    "msp_http_request_duration_seconds",
    "Time from the request's arrival in Flask to its response, by endpoint, method and status.",
    ["endpoint", "method", "status"],
    registry=None,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def register(app: Flask) -> None:
    @app.before_request
    def start_clock():
        g.request_started = time.perf_counter()

    @app.after_request
    def observe_latency(response):
        started = g.pop("request_started", None)
        if started is not None:
            # The endpoint's name, never the path: ids in paths would make a series per record.
            REQUEST_SECONDS.labels(
                request.endpoint or "unmatched", request.method, str(response.status_code)
            ).observe(time.perf_counter() - started)
        return response

    app.register_blueprint(bp)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_SECONDS)
    registry.register(PipelineCollector())
    return registry


def _authorized() -> bool:
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


@bp.get("/metrics")
def metrics():
    if not _authorized():
        return Response(
            "A bearer token is needed.\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
            mimetype="text/plain",
        )
    return Response(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
