"""The overview: services by status, MRR, renewals, alerts, recent events, the pipeline."""

from flask import Blueprint

from webapp import read_models as rm
from webapp.auth import company_id, requires
from webapp.permissions import Can
from webapp.pipeline_state import pipeline_state
from webapp.rendering import page

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@requires(Can.VIEW)
def overview():
    """The overview page; its panels refresh themselves when anything changes."""
    cid = company_id()
    services = rm.service_counts(cid)
    return page(
        "dashboard/overview.html",
        fragments=("overview_panels",),
        counts=services.by_status,
        bands=services.bands,
        lowest=rm.lowest_health(cid),
        mrr=rm.mrr_by_currency(cid),
        renewals=rm.term_ends(cid, days=30, limit=8),
        alerts=rm.alerts(cid, state="all", limit=8),
        open_alerts=rm.open_alert_count(cid),
        events=rm.recent_events(cid),
        pipeline=pipeline_state(),
        failed=rm.failed_delivery_count(cid),
    )
