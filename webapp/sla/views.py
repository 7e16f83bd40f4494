"""SLA alerts for technicians: the open ones first, acknowledged with who and when."""

from flask import Blueprint, abort, request
from flask_login import current_user

from webapp.accounts.access import company_id, requires
from webapp.accounts.permissions import Can
from webapp.forms import ActionForm
from webapp.rendering import page
from webapp.sla import actions as alert_actions
from webapp.sla import queries

bp = Blueprint("alerts", __name__, url_prefix="/alerts")

STATES = ("open", "acknowledged", "all")

KIND_LABELS = {
    "": "Any kind",
    "response": "Response breached",
    "resolution": "Resolution breached",
    "at_risk": "At risk",
    "health": "Health",
}


KINDS = tuple(KIND_LABELS)


def _context():
    state = request.args.get("state", "open")
    kind = request.args.get("kind", "")
    state = state if state in STATES else "open"
    kind = kind if kind in KINDS else ""
    return {
        "state": state,
        "kind": kind,
        "states": STATES,
        "kinds": KINDS,
        "kind_labels": KIND_LABELS,
        "rows": queries.alerts(company_id(), state=state, kind=kind),
        "form": ActionForm(formdata=None),
    }


@bp.get("")
@requires(Can.VIEW)
def index():
    """Alerts with filters by state and kind."""
    return page("alerts/list.html", fragments=("alerts_table",), **_context())


@bp.post("/<int:alert_id>/acknowledge")
@requires(Can.ACKNOWLEDGE)
def acknowledge(alert_id):
    """Record who acknowledged the alert and when; the first acknowledgement stands."""
    if not ActionForm().validate():
        abort(400)
    alert_actions.acknowledge(company_id(), alert_id, current_user.id)
    return page("alerts/list.html", fragments=("alerts_table",), **_context())
