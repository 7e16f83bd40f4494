"""GET /live: tells open pages that something changed, for the cost of one cheap query.

Every page polls it with the stamp it was rendered with. Unchanged: 204, and htmx does
nothing. Changed: the new stamp, and an HX-Trigger that makes each live panel reload itself.
"""

from flask import Blueprint, render_template, request
from flask_login import current_user

from webapp.accounts.access import company_id, requires
from webapp.accounts.permissions import Can
from webapp.overview import queries

bp = Blueprint("live", __name__)


@bp.get("/live")
@requires(Can.VIEW)
def poll():
    """204 while nothing changed; else the new stamp and a data-changed event."""
    stamp = queries.change_stamp(company_id())
    if request.args.get("stamp") == stamp:
        return "", 204
    return render_template("_live.html", stamp=stamp), 200, {"HX-Trigger": "data-changed"}


@bp.app_context_processor
def live_stamp():
    """Every page carries the stamp it was drawn with, which its poll of /live sends back."""

    def stamp():
        return (
            queries.change_stamp(current_user.company_id) if current_user.is_authenticated else ""
        )

    return {"live_stamp": stamp}
