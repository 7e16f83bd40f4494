"""SLA alerts for technicians: the open ones first, acknowledged with who and when."""

from flask import Blueprint, abort, current_app, flash, request
from flask_login import current_user

from webapp.accounts.access import company_id, requires
from webapp.accounts.permissions import Can
from webapp.forms import ActionForm
from webapp.rendering import page
from webapp.sla import actions as alert_actions
from webapp.sla import queries
from webapp.tenancy import parse_id

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

# More than a few pages' worth in one request is not a person ticking boxes.
MOST_SELECTED = 500


def _filters() -> dict:
    """The list's state, kind and page, as the query string gives them (bad ones: defaults)."""
    state = request.args.get("state", "open")
    kind = request.args.get("kind", "")
    return {
        "state": state if state in STATES else "open",
        "kind": kind if kind in KINDS else "",
        "page": request.args.get("page", 1, type=int),
    }


def _context():
    f = _filters()
    return {
        "state": f["state"],
        "kind": f["kind"],
        "states": STATES,
        "kinds": KINDS,
        "kind_labels": KIND_LABELS,
        "result": queries.alert_page(
            company_id(), f["state"], f["kind"], f["page"], current_app.config["PAGE_SIZE"]
        ),
        "form": ActionForm(formdata=None),
    }


@bp.get("")
@requires(Can.VIEW)
def index():
    """Alerts with filters by state and kind, a page at a time."""
    return page("alerts/list.html", fragments=("alerts_table",), **_context())


@bp.post("/<int:alert_id>/acknowledge")
@requires(Can.ACKNOWLEDGE)
def acknowledge(alert_id):
    """Record who acknowledged the alert and when; the first acknowledgement stands."""
    if not ActionForm().validate():
        abort(400)
    alert_actions.acknowledge(company_id(), alert_id, current_user.id)
    return page("alerts/list.html", fragments=("alerts_table",), **_context())


@bp.post("/acknowledge")
@requires(Can.ACKNOWLEDGE)
def acknowledge_selected():
    """Acknowledge the ticked alerts (`alert`, once per id) together; those someone answered
    first keep their acknowledgement. Another company's or a garbled id is a 404."""
    if not ActionForm().validate():
        abort(400)
    ids = [parse_id(sent) for sent in request.form.getlist("alert")]
    status = 200
    if not ids:
        flash("Tick the alerts to acknowledge first: nothing was changed.", "error")
        status = 422
    elif len(ids) > MOST_SELECTED:
        flash(f"Select at most {MOST_SELECTED} alerts at a time: nothing was changed.", "error")
        status = 422
    else:
        outcome = alert_actions.acknowledge_many(company_id(), ids, current_user.id)
        flash(
            f"{outcome.done} alert{'s' if outcome.done != 1 else ''} acknowledged."
            + (f" {outcome.already} had been acknowledged already." if outcome.already else "")
        )
    return page("alerts/list.html", fragments=("alerts_table",), **_context()), status
