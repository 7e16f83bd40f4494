"""CSV downloads of the lists: /services.csv, /incidents.csv, /activity.csv.

Each reads its page's own query string parser (`from_args` of the list's query), so a page's "Download CSV" link, which
carries the page's filters, exports exactly what the page lists (every row of it, not one
page). They live in their own blueprint because the pages' blueprints are mounted under
/services, /incidents and /activity, where "/services.csv" cannot be spelled.
"""

from flask import Blueprint, request
from flask_login import current_user

from webapp.accounts.access import company_id, requires
from webapp.accounts.permissions import Can
from webapp.activity.queries import TrailQuery
from webapp.clock import to_local, utcnow
from webapp.downloads import tables
from webapp.exports import csv_response, dated_filename
from webapp.incidents.queries import IncidentQuery
from webapp.services.models import ClientService
from webapp.services.queries import ServiceQuery
from webapp.tenancy import get_or_404

bp = Blueprint("exports", __name__)


def _download(table: tables.Table, zone: str):
    day = to_local(utcnow(), zone).date()
    return csv_response(dated_filename(table.stem, day), table.header, table.rows)


def _zone() -> str:
    return current_user.company.timezone or "UTC"


@bp.get("/services.csv")
@requires(Can.VIEW)
def services_csv():
    """The services list as CSV: its filters, plus `from`/`to` on the start date."""
    zone = _zone()
    return _download(
        tables.services(
            company_id(), ServiceQuery.from_args(request.args, user_id=current_user.id), zone
        ),
        zone,
    )


@bp.get("/incidents.csv")
@requires(Can.VIEW)
def incidents_csv():
    """The incidents list as CSV: its filters, plus client and `from`/`to` on opened_at."""
    query = IncidentQuery.from_args(request.args)
    if query.service:  # as on the page: another company's service is not found
        get_or_404(ClientService, company_id(), query.service)
    zone = _zone()
    return _download(tables.incidents(company_id(), query, zone), zone)


@bp.get("/activity.csv")
@requires(Can.VIEW)
def activity_csv():
    """The activity trail as CSV: who and what, plus client and `from`/`to` on occurred_at."""
    zone = _zone()
    return _download(tables.events(company_id(), TrailQuery.from_args(request.args), zone), zone)
