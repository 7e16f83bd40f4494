"""Unrouted alerts: the alerts whose host matched no asset, and routing one to an asset."""

from flask import Blueprint, flash, redirect, url_for

from webapp.accounts.access import actor, company_id, requires
from webapp.accounts.permissions import Can
from webapp.assets import actions, unrouted
from webapp.assets.models import UnroutedAlert
from webapp.assets.queries import clients
from webapp.assets.unrouted_forms import NewAssetForm, RouteForm
from webapp.assets.views import may_change_seats
from webapp.extensions import htmx
from webapp.forms import options
from webapp.rendering import page
from webapp.tenancy import get_or_404

bp = Blueprint("unrouted", __name__, url_prefix="/assets/unrouted")


@bp.get("")
@requires(Can.VIEW)
def index():
    """The alerts not routed yet, the latest seen first."""
    return page("unrouted/index.html", rows=unrouted.open_alerts(company_id()))


def _forms(route_form=None, new_form=None, row=None):
    cid = company_id()
    route_form = route_form or RouteForm(formdata=None)
    new_form = new_form or NewAssetForm(formdata=None, name=row.host if row else None)
    route_form.asset_id.choices = options(unrouted.asset_choices(cid))
    new_form.client_id.choices = options(clients(cid))
    new_form.service_id.choices = options([("", "None yet"), *unrouted.service_choices(cid)])
    return route_form, new_form


def _detail(unrouted_id, route_form=None, new_form=None, status=200):
    row = get_or_404(UnroutedAlert, company_id(), unrouted_id)
    route_form, new_form = _forms(route_form, new_form, row)
    return page(
        "unrouted/detail.html",
        row=row,
        kept=unrouted.kept_alerts(row),
        route_form=route_form,
        new_form=new_form,
    ), status


@bp.get("/<int:unrouted_id>")
@requires(Can.HANDLE_INCIDENTS)
def detail(unrouted_id):
    """One kept alert, with the forms that route it."""
    return _detail(unrouted_id)


def _routed(row, incident_id):
    if incident_id:
        flash(f"Routed: {row.host} is now an identifier of the asset, and the incident is open.")
        target = url_for("incidents.detail", incident_id=incident_id)
    else:
        flash(
            f"Routed: {row.host} is now an identifier of the asset; its alerts had resolved, "
            "and are recorded as resolved incidents."
        )
        target = url_for("assets.detail", asset_id=row.asset_id)
    if htmx:
        return "", 200, {"HX-Redirect": target}
    return redirect(target, 303)


@bp.post("/<int:unrouted_id>/route")
@requires(Can.HANDLE_INCIDENTS)
def route(unrouted_id):
    """Route the alert to an existing asset: remember the host, record the incident."""
    form, _ = _forms(RouteForm(), row=get_or_404(UnroutedAlert, company_id(), unrouted_id))
    if form.validate():
        try:
            row, incident_id = unrouted.route(
                company_id(), unrouted_id, form.asset_id.data, actor()
            )
        except unrouted.RoutingRefused as exc:
            form.asset_id.errors.append(str(exc))
        else:
            return _routed(row, incident_id)
    return _detail(unrouted_id, route_form=form, status=422)


@bp.post("/<int:unrouted_id>/new-asset")
@requires(Can.HANDLE_INCIDENTS)
def new_asset(unrouted_id):
    """Make an asset for the alert's host and route the alert to it."""
    _, form = _forms(
        new_form=NewAssetForm(), row=get_or_404(UnroutedAlert, company_id(), unrouted_id)
    )
    status = 422
    if form.validate():
        try:
            actions.check_new_seat(company_id(), form.service_id.data, may_change_seats())
            row, incident_id, _ = unrouted.route_to_new(
                company_id(), unrouted_id, form.fields(), form.service_id.data, actor()
            )
        except actions.SeatChangeRefused as exc:
            form.service_id.errors.append(str(exc))
            status = 403
        except unrouted.RoutingRefused as exc:
            form.client_id.errors.append(str(exc))
        else:
            return _routed(row, incident_id)
    return _detail(unrouted_id, new_form=form, status=status)
