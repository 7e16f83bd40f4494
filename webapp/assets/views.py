"""Assets: the list, one asset's page, adding, editing, retiring and reactivating one, which
services cover it and which receives its incidents, and whether a service's seats follow
the assets it covers."""

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user

from webapp.accounts.access import actor, company_id, requires
from webapp.accounts.permissions import Can, allows
from webapp.assets import actions, unrouted
from webapp.assets import queries as assets_queries
from webapp.assets.actions import AssetRefused
from webapp.assets.forms import IDENTIFIERS_HINT, AssetForm
from webapp.assets.models import Asset
from webapp.extensions import htmx
from webapp.forms import options
from webapp.query_args import id_arg
from webapp.rendering import page
from webapp.services.models import ClientService
from webapp.tenancy import get_or_404, parse_id

bp = Blueprint("assets", __name__, url_prefix="/assets")


@bp.get("")
@requires(Can.VIEW)
def index():
    """Every asset: search by name or identifier, filter by client, type, status, routing."""
    query = assets_queries.AssetQuery.from_args(request.args)
    cid = company_id()
    return page(
        "assets/list.html",
        fragments=("assets_table",),
        query=query,
        result=assets_queries.assets_page(cid, query, current_app.config["PAGE_SIZE"]),
        clients=assets_queries.clients(cid),
        kinds=assets_queries.KIND_LABELS,
        unrouted=unrouted.open_count(cid),
    )


@bp.get("/<int:asset_id>")
@requires(Can.VIEW)
def detail(asset_id):
    """One asset: its identifiers, the services that cover it, its incidents."""
    cid = company_id()
    asset = get_or_404(Asset, cid, asset_id)
    return page(
        "assets/detail.html",
        asset=asset,
        kinds=assets_queries.KIND_LABELS,
        covering=assets_queries.covering_services(cid, asset.id),
        coverable=assets_queries.coverable_services(cid, asset),
        incidents=assets_queries.asset_incidents(cid, asset.id),
        recent=next(iter(assets_queries.recent_incidents_by_asset(cid, asset_id=asset.id)), None),
        incident_days=assets_queries.INCIDENT_DAYS,
    )


def _saved(target: str):
    if htmx:
        return "", 200, {"HX-Redirect": target}
    return redirect(target, 303)


def _form_page(form: AssetForm, asset: Asset | None):
    status = 422 if form.errors else 200
    return page(
        "assets/form.html", fragments=("asset_form",), form=form, asset=asset, hint=IDENTIFIERS_HINT
    ), status


def _with_clients(form: AssetForm) -> AssetForm:
    form.client_id.choices = options(assets_queries.clients(company_id()))
    return form


@bp.route("/new", methods=["GET", "POST"])
@requires(Can.MANAGE_ASSETS)
def new():
    """Add an asset; errors show beside their fields and nothing is saved."""
    form = _with_clients(AssetForm())
    if request.method == "GET" and (client := id_arg(request.args, "client")):
        form.client_id.data = client
    if form.validate_on_submit():
        try:
            asset = actions.create_asset(company_id(), form.fields(), actor())
        except AssetRefused as exc:
            getattr(form, exc.field or "name").errors.append(str(exc))
        else:
            flash(f"{asset.name} added. Choose the services that cover it.")
            return _saved(url_for(".detail", asset_id=asset.id))
    return _form_page(form, None)


@bp.route("/<int:asset_id>/edit", methods=["GET", "POST"])
@requires(Can.MANAGE_ASSETS)
def edit(asset_id):
    """Change an asset's details and identifiers."""
    asset = get_or_404(Asset, company_id(), asset_id)
    if request.method == "GET":
        form = _with_clients(AssetForm(obj=asset))
        form.identifiers.data = "\n".join(f"{i.kind}: {i.value}" for i in asset.identifiers)
    else:
        form = _with_clients(AssetForm())
    if form.validate_on_submit():
        try:
            changes = actions.update_asset(company_id(), asset.id, form.fields(), actor())
        except AssetRefused as exc:
            getattr(form, exc.field or "name").errors.append(str(exc))
        else:
            flash(f"{asset.name} saved." if changes else "Nothing changed.")
            return _saved(url_for(".detail", asset_id=asset.id))
    return _form_page(form, asset)


def may_change_seats() -> bool:
    """Managing assets does not lift the role: a change that would set the quantity of a
    service whose seats follow devices (billing) needs the right to change services."""
    return allows(current_user.role, Can.TRANSITION)


def _set_status(asset_id: int, change, done_text: str, same_text: str):
    asset = get_or_404(Asset, company_id(), asset_id)
    try:
        done = change(company_id(), asset.id, actor(), may_change_seats=may_change_seats())
    except actions.SeatChangeRefused as exc:
        abort(403, description=str(exc))
    flash((done_text if done else same_text).format(asset.name))
    return _saved(url_for(".detail", asset_id=asset.id))


@bp.post("/<int:asset_id>/retire")
@requires(Can.MANAGE_ASSETS)
def retire(asset_id):
    """Retire it: no longer a seat of the services that cover it."""
    return _set_status(asset_id, actions.retire_asset, "{} retired.", "{} was retired already.")


@bp.post("/<int:asset_id>/reactivate")
@requires(Can.MANAGE_ASSETS)
def reactivate(asset_id):
    """Bring a retired asset back."""
    return _set_status(
        asset_id, actions.reactivate_asset, "{} is active again.", "{} was active already."
    )


@bp.post("/<int:asset_id>/receiving")
@requires(Can.MANAGE_ASSETS)
def receiving(asset_id):
    """Choose which of the services covering it receives its incidents (or none)."""
    asset = get_or_404(Asset, company_id(), asset_id)
    raw = request.form.get("service_id", "")
    service_id = parse_id(raw) if raw.strip() else None
    done = actions.set_receiving_service(company_id(), asset.id, service_id, actor())
    flash("Its incidents go to the service chosen." if done else "Nothing changed.")
    return _saved(url_for(".detail", asset_id=asset.id))


def _back(service_id: int, asset_id: int | None = None):
    if request.form.get("back") == "asset" and asset_id:
        return _saved(url_for(".detail", asset_id=asset_id))
    return _saved(url_for("services.detail", service_id=service_id) + "#service_assets")


@bp.post("/services/<int:service_id>/cover")
@requires(Can.TRANSITION)
def cover(service_id):
    """The service covers one more of its client's assets (seats may follow)."""
    service = get_or_404(ClientService, company_id(), service_id)
    asset_id = parse_id(request.form.get("asset_id"))
    done = actions.cover(company_id(), service.id, asset_id, actor())
    flash(f"{service.name} covers it now." if done else f"{service.name} covered it already.")
    return _back(service.id, asset_id)


@bp.post("/services/<int:service_id>/uncover")
@requires(Can.TRANSITION)
def uncover(service_id):
    """The service no longer covers the asset (seats may follow)."""
    service = get_or_404(ClientService, company_id(), service_id)
    asset_id = parse_id(request.form.get("asset_id"))
    done = actions.uncover(company_id(), service.id, asset_id, actor())
    flash(f"{service.name} no longer covers it." if done else "It was not covered.")
    return _back(service.id, asset_id)


@bp.post("/services/<int:service_id>/follow")
@requires(Can.TRANSITION)
def follow(service_id):
    """Let the service's seats follow the active assets it covers, or set them by hand."""
    service = get_or_404(ClientService, company_id(), service_id)
    follows = request.form.get("follows") == "1"
    service = actions.set_quantity_follows_assets(company_id(), service.id, follows, actor())
    flash(
        f"Its seats follow its active assets: {service.quantity} now."
        if follows
        else "Its seats are set by hand again."
    )
    return _back(service.id)
