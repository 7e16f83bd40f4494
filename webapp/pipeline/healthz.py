"""GET /healthz: the state of the database, Redis, workers and scheduler, as JSON."""

from flask import Blueprint, jsonify

from webapp.pipeline.state import pipeline_state

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 when the database and Redis answer, else 503; the body says what is wrong."""
    state = pipeline_state()
    return jsonify(state), 200 if state["status"] == "ok" else 503
