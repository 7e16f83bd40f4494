"""The overview: services by status, MRR, renewals, alerts, open incidents, recent events, the
pipeline."""

from flask import Blueprint

from webapp.accounts.access import company_id, requires
from webapp.accounts.permissions import Can
from webapp.assets import unrouted
from webapp.billing import queries as billing_queries
from webapp.health import queries as health_queries
from webapp.incidents import queries as incidents_queries
from webapp.overview import queries as overview_queries
from webapp.pipeline import queries as pipeline_queries
from webapp.pipeline.state import pipeline_state
from webapp.rendering import page
from webapp.renewals import queries as renewals_queries
from webapp.sla import queries as sla_queries

bp = Blueprint("dashboard", __name__)

OPEN_INCIDENTS_SHOWN = 6


@bp.get("/")
@requires(Can.VIEW)
def overview():
    """The overview page; its panels refresh themselves when anything changes."""
    cid = company_id()
    services = overview_queries.service_counts(cid)
    return page(
        "dashboard/overview.html",
        fragments=("overview_panels",),
        counts=services.by_status,
        bands=services.bands,
        lowest=health_queries.lowest_health(cid),
        mrr=billing_queries.mrr_by_currency(cid),
        renewals=renewals_queries.term_ends(cid, days=30, limit=8),
        alerts=sla_queries.alerts(cid, state="all", limit=8),
        open_alerts=sla_queries.open_alert_count(cid),
        # The incidents page's own query: most severe first, then longest open, with SLA states.
        incidents=incidents_queries.incidents(
            cid, incidents_queries.IncidentQuery(state="open"), limit=OPEN_INCIDENTS_SHOWN
        ),
        events=overview_queries.recent_events(cid),
        pipeline=pipeline_state(),
        failed=pipeline_queries.failed_delivery_count(cid),
        has_clients=overview_queries.has_clients(cid),
        unrouted=unrouted.open_count(cid),
    )
