"""The event pipeline as Prometheus figures, read at scrape time from the database and Redis.

Computed when scraped, not counted as things happen, so the figures are the same whichever
web process (or host) answers the scrape, and they survive restarts. All are totals across
companies: no company, client or service is named, so the scrape shows no tenant's data.
Each source that is down becomes an `_up` of 0 rather than an error.
"""

from flask import current_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from sqlalchemy import distinct, func, select, text

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.registry import QUEUES
from webapp.lifecycle.statuses import UNFINISHED, DeliveryStatus
from webapp.pipeline.liveness import live_workers
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.queues import queue, redis_connection
from webapp.pipeline.schedule import periodic_state
from webapp.pipeline.state import scheduler_alive

# The ledger's statuses worth counting; "done" is most of the table and says nothing new.
COUNTED = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING, DeliveryStatus.FAILED)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def database_families() -> list[GaugeMetricFamily]:
    try:
        db.session.execute(text("SELECT 1"))
        by_status = dict(
            db.session.execute(
                select(ListenerDelivery.status, func.count())
                .where(ListenerDelivery.status.in_(COUNTED))
                .group_by(ListenerDelivery.status)
            ).all()
        )
        waiting = (
            select(ListenerDelivery.event_id)
            .where(ListenerDelivery.status.in_(UNFINISHED))
            .subquery()
        )
        undelivered, oldest = db.session.execute(
            select(
                func.count(distinct(waiting.c.event_id)), func.min(DomainEvent.occurred_at)
            ).join_from(waiting, DomainEvent, DomainEvent.id == waiting.c.event_id)
        ).one()
        unenqueued = db.session.scalar(
            select(func.count()).where(DomainEvent.enqueued_at.is_(None))
        )
    except Exception:  # a scrape reports the database as down, it does not fail
        db.session.rollback()
        return [_gauge("msp_database_up", "1 when the database answers.", 0)]
    finally:
        db.session.rollback()  # no transaction (nor SQLite read lock) outlives the scrape

    deliveries = GaugeMetricFamily(
        "msp_listener_deliveries",
        "Ledger rows by status: pending and retrying still to run, failed after the last try.",
        labels=["status"],
    )
    for status in COUNTED:
        deliveries.add_metric([status.value], by_status.get(status, 0))
    lag = (utcnow() - oldest).total_seconds() if oldest else 0.0
    return [
        _gauge("msp_database_up", "1 when the database answers.", 1),
        deliveries,
        _gauge(
            "msp_deliveries_failed",
            "Deliveries that failed after their last retry and wait for a retry by hand.",
            by_status.get(DeliveryStatus.FAILED, 0),
        ),
        _gauge(
            "msp_events_undelivered",
            "Events with at least one listener not yet done (pending or retrying).",
            undelivered,
        ),
        _gauge(
            "msp_event_lag_seconds",
            "Age of the oldest event with a listener not yet done; 0 when all are delivered.",
            max(lag, 0.0),
        ),
        _gauge(
            "msp_events_unenqueued",
            "Committed events never handed to Redis (waiting for the relay).",
            unenqueued,
        ),
    ]


def redis_families() -> list[GaugeMetricFamily]:
    depth = GaugeMetricFamily(
        "msp_rq_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"]
    )
    failed = GaugeMetricFamily(
        "msp_rq_failed_jobs", "Jobs in each queue's RQ failed registry.", labels=["queue"]
    )
    try:
        conn = redis_connection()
        conn.ping()
        for name in QUEUES:
            q = queue(name)
            depth.add_metric([name], q.count)
            # No cleanup: a scrape only reads.
            failed.add_metric([name], q.failed_job_registry.get_job_count(cleanup=False))
        workers = len(live_workers(conn))
        scheduler_up = scheduler_alive(conn)
        periodic = periodic_state(conn, current_app.config)
    except RedisError:
        return [_gauge("msp_redis_up", "1 when Redis answers.", 0)]
    return [
        _gauge("msp_redis_up", "1 when Redis answers.", 1),
        depth,
        failed,
        _gauge("msp_rq_workers", "Worker processes alive (their heartbeat is current).", workers),
        _gauge("msp_rq_scheduler_up", "1 when an rq-scheduler is alive.", int(scheduler_up)),
        _gauge(
            "msp_periodic_jobs_missing",
            "Periodic jobs a scheduler registered that it no longer holds.",
            sum(p.missing for p in periodic),
        ),
        _gauge(
            "msp_periodic_jobs_late",
            "Periodic jobs that have not run within their interval and its margin.",
            sum(p.late and not p.missing for p in periodic),
        ),
    ]


class PipelineCollector(Collector):
    """Registered on the registry of one scrape, inside its app context."""

    def collect(self):
        yield from redis_families()
        yield from database_families()
