"""Renewals: terms ending ahead, with renew buttons."""

from flask import Blueprint, request

from webapp.accounts.access import company_id, requires
from webapp.accounts.permissions import Can
from webapp.rendering import page
from webapp.renewals import queries
from webapp.services.forms import RenewForm

bp = Blueprint("renewals", __name__, url_prefix="/renewals")

WINDOWS = (30, 60, 90, 180)


@bp.get("")
@requires(Can.VIEW)
def index():
    """Active and suspended services whose term ends within the chosen window."""
    days = request.args.get("days", 90, type=int)
    days = days if days in WINDOWS else 90
    return page(
        "renewals/list.html",
        fragments=("renewals_table",),
        days=days,
        windows=WINDOWS,
        result=queries.term_ends_page(company_id(), days, request.args.get("page", 1, type=int)),
        form=RenewForm(formdata=None),
    )
