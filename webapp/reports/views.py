"""Reports: MRR and its movements, invoiced revenue beside it, churn, health bands, SLA breaches
and revenue at risk, by month, with charts and CSV exports. Thin views: the figures come from
webapp.reports.revenue, .invoiced, .health_bands, .breaches, .at_risk and .worst_assets, the charts from webapp.reports.charts, the CSV rows
from webapp.reports.tables."""

import datetime as dt
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta
from flask import Blueprint, abort, render_template, request, url_for
from jinja2_fragments.flask import render_block

from webapp.accounts.access import company_id, requires
from webapp.accounts.permissions import Can
from webapp.clients.models import Client
from webapp.clock import to_local, utcnow
from webapp.company.models import Company
from webapp.date_range import EARLIEST, LATEST
from webapp.exports import csv_response
from webapp.extensions import db, htmx
from webapp.reports import at_risk, breaches, health_bands, invoiced, worst_assets
from webapp.reports import charts as report_charts
from webapp.reports import revenue as revenue_reports
from webapp.reports import tables as report_tables
from webapp.services import queries as services_queries
from webapp.tenancy import get_or_404, parse_id

bp = Blueprint("reports", __name__, url_prefix="/reports")

DEFAULT_MONTHS = 6

MAX_MONTHS = 36


@dataclass(frozen=True)
class ReportQuery:
    first: dt.date  # first day of the first month
    last: dt.date  # first day of the last month
    client: int | None
    today: dt.date  # the company's local date

    @property
    def months(self) -> list[dt.date]:
        return revenue_reports.months_between(self.first, self.last)

    def args(self) -> dict:
        return {
            "from": f"{self.first:%Y-%m}",
            "to": f"{self.last:%Y-%m}",
            "client": self.client,
        }


class FilterError(ValueError):
    """A filter the page cannot use; the message says what to change."""


def _month(text: str, name: str) -> dt.date:
    try:
        month = dt.datetime.strptime(text.strip(), "%Y-%m").date()
    except ValueError:
        raise FilterError(f"{name} is a month such as 2027-02.") from None
    # The months before and after the range are worked out (the default From, the year back
    # for churn): year 1 and 9999 have none.
    if not EARLIEST <= month <= LATEST:
        raise FilterError(f"{name} is a month from {EARLIEST:%Y-%m} to {LATEST:%Y-%m}.")
    return month


def _query() -> ReportQuery:
    company = db.session.get(Company, company_id())
    today = to_local(utcnow(), company.timezone).date()
    this_month = today.replace(day=1)
    args = request.args
    last = _month(args["to"], "To") if args.get("to") else this_month
    first = (
        _month(args["from"], "From")
        if args.get("from")
        else last - relativedelta(months=DEFAULT_MONTHS - 1)
    )
    client = None
    if args.get("client"):
        client = get_or_404(Client, company.id, parse_id(args["client"])).id
    if first > last:
        raise FilterError("From must be the same month as To or before it.")
    if len(revenue_reports.months_between(first, last)) > MAX_MONTHS:
        raise FilterError(f"Choose at most {MAX_MONTHS} months at a time.")
    if first > this_month:
        raise FilterError("From is in the future: there are no figures yet.")
    return ReportQuery(first, min(last, this_month), client, today)


def _figures(q: ReportQuery, every_client: bool = False, only=None) -> dict:
    """The report's sections, or only those named (a CSV needs one or two: computing the
    others too made each download cost the whole page)."""
    cid = company_id()
    wanted = set(only or SECTIONS)
    figures: dict = {}
    if {"mrr", "invoiced"} & wanted:
        figures["mrr"] = revenue_reports.mrr_months(cid, q.first, q.last, q.client, q.today)
    if "invoiced" in wanted:
        figures["invoiced"] = invoiced.invoiced_months(cid, q.months, figures["mrr"], q.client)
    if "churn" in wanted:
        figures["churn"] = revenue_reports.churn_months(cid, q.first, q.last, q.client, q.today)
    if "bands" in wanted:
        figures["bands"] = health_bands.band_months(cid, q.first, q.last, q.client, q.today)
    if "breaches" in wanted:
        figures["breaches"] = breaches.breach_months(cid, q.first, q.last, q.client)
    if "by_client" in wanted:
        figures["by_client"] = breaches.breaches_by_client(
            cid, q.first, q.last, q.client, limit=None if every_client else 10
        )
    if "risk" in wanted:
        figures["risk"] = at_risk.revenue_at_risk(
            cid, q.client, q.today, limit=None if every_client else at_risk.SHOWN
        )
    if "worst_assets" in wanted:
        figures["worst_assets"] = worst_assets.worst_assets(
            cid, q.first, q.last, q.client, limit=None if every_client else worst_assets.SHOWN
        )
    return figures


SECTIONS = ("mrr", "invoiced", "churn", "bands", "breaches", "by_client", "risk", "worst_assets")


@bp.get("")
@requires(Can.VIEW)
def index():
    """The reports for a range of months (default: the last six) and optionally one client."""
    try:
        q = _query()
    except FilterError as exc:
        context = {
            "error": str(exc),
            "clients": services_queries.clients(company_id()),
            "args": request.args,
            "q": None,
        }
        if htmx and request.headers.get("HX-Target") == "reports_body":
            return render_block("reports/index.html", "reports_body", **context), 422
        return render_template("reports/index.html", **context), 422
    figures = _figures(q)
    context = {
        "q": q,
        "args": q.args(),
        "clients": services_queries.clients(company_id()),
        "error": None,
        "charts": report_charts.build(figures, q.months),
        "csv": {
            name: url_for(".export", table=name, **{k: v for k, v in q.args().items() if v})
            for name in report_tables.TABLES
        },
        **figures,
    }
    if htmx and request.headers.get("HX-Target") == "reports_body":
        return render_block("reports/index.html", "reports_body", **context)
    return render_template("reports/index.html", **context)


@bp.get("/<table>.csv")
@requires(Can.VIEW)
def export(table):
    """One report table as CSV, with the page's filters."""
    if table not in report_tables.TABLES:
        abort(404)
    try:
        q = _query()
    except FilterError as exc:
        abort(422, description=str(exc))
    figures = _figures(q, every_client=True, only=report_tables.NEEDS[table])
    header, rows = report_tables.TABLES[table](figures)
    client = f"-client-{q.client}" if q.client else ""
    return csv_response(f"{table}-{q.first:%Y-%m}-to-{q.last:%Y-%m}{client}.csv", header, rows)
