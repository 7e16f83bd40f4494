"""Services: the list, one service, provisioning, and the lifecycle buttons."""

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block

from webapp import read_models as rm
from webapp import service_lifecycle as lc
from webapp.auth import actor, company_id, requires
from webapp.forms import ActionForm, CancelForm, ProvisionForm, RenewForm, SuspendForm, options
from webapp.lifecycle.statuses import BillingCycle, ServiceLevel
from webapp.lifecycle.transitions import Action, allowed_actions
from webapp.models import ClientService
from webapp.permissions import Can
from webapp.rendering import page
from webapp.tenancy import get_or_404

bp = Blueprint("services", __name__, url_prefix="/services")

FORMS = {
    Action.ACTIVATE: ActionForm,
    Action.RESUME: ActionForm,
    Action.SUSPEND: SuspendForm,
    Action.CANCEL: CancelForm,
    Action.RENEW: RenewForm,
}


def _perform(action: Action, service_id: int, form):
    version = form.version.data or None
    args = (company_id(), service_id, actor())
    if action == Action.ACTIVATE:
        return lc.activate(*args, expected_version=version)
    if action == Action.RESUME:
        return lc.resume(*args, expected_version=version)
    if action == Action.SUSPEND:
        return lc.suspend(*args, reason=form.reason.data.strip(), expected_version=version)
    if action == Action.CANCEL:
        at_end = form.when.data == "term_end"
        return lc.cancel(
            *args, reason=form.reason.data.strip(), at_term_end=at_end, expected_version=version
        )
    return lc.renew(*args, months=form.months.data, expected_version=version)


def _query() -> rm.ServiceQuery:
    args = request.args
    return rm.ServiceQuery(
        q=args.get("q", "")[:100],
        status=args.get("status", ""),
        client=args.get("client", type=int),
        health=args.get("health", ""),
        sort=args.get("sort", "name") if args.get("sort") in rm.SORTS else "name",
        desc=args.get("desc") == "1",
        page=args.get("page", 1, type=int),
    )


@bp.get("")
@requires(Can.VIEW)
def index():
    """Search, filter, sort and page through services."""
    query = _query()
    cid = company_id()
    return page(
        "services/list.html",
        fragments=("services_table",),
        query=query,
        result=rm.services(cid, query, current_app.config["PAGE_SIZE"]),
        clients=rm.clients(cid),
    )


def _detail_context(service_id: int, forms=None):
    cid = company_id()
    service = get_or_404(ClientService, cid, service_id)
    actions = allowed_actions(service.status)
    forms = forms or {}
    return {
        "service": service,
        "actions": actions,
        "forms": {
            a: forms.get(a) or FORMS[a](formdata=None, version=service.version) for a in actions
        },
        "timeline": rm.service_timeline(service.id),
    }


@bp.get("/<int:service_id>")
@requires(Can.VIEW)
def detail(service_id):
    """One service: fields, allowed actions, billing and its event timeline."""
    return page(
        "services/detail.html",
        fragments=("service_main", "service_live"),
        **_detail_context(service_id),
    )


@bp.post("/<int:service_id>/<action>")
@requires(Can.TRANSITION)
def transition(service_id, action):
    """Take one lifecycle action; a stale or illegal one is a 409 with nothing changed."""
    try:
        action = Action(action)
        form_class = FORMS[action]
    except (ValueError, KeyError):
        return redirect(url_for(".detail", service_id=service_id)), 303
    form = form_class()
    if not form.validate():
        context = _detail_context(service_id, forms={action: form})
        context["open_action"] = action
        return page("services/detail.html", fragments=("service_main",), **context), 422
    _perform(action, service_id, form)
    flash(f"Done: {action.value}.")
    if request.headers.get("HX-Request"):
        body = render_block("services/detail.html", "service_main", **_detail_context(service_id))
        return body, 200, {"HX-Trigger": "data-changed"}  # every live panel on the page refreshes
    return redirect(url_for(".detail", service_id=service_id), 303)


@bp.route("/new", methods=["GET", "POST"])
@requires(Can.TRANSITION)
def new():
    """Provision a service; errors show beside their fields."""
    form = ProvisionForm()
    form.client_id.choices = options((c.id, c.name) for c in rm.clients(company_id()))
    if form.validate_on_submit():
        service = lc.provision(
            company_id(),
            lc.NewService(
                client_id=form.client_id.data,
                name=form.name.data.strip(),
                service_type=form.service_type.data,
                price=form.price.data,
                currency=form.currency.data,
                billing_cycle=BillingCycle(form.billing_cycle.data),
                term_months=form.term_months.data,
                service_level=ServiceLevel(form.service_level.data),
                setup_fee=form.setup_fee.data or 0,
                start_date=form.start_date.data,
                auto_renew=form.auto_renew.data,
                account_manager_id=current_user.id,
            ),
            actor(),
        )
        flash(f"{service.name} is provisioned. Activate it when it goes live.")
        target = url_for(".detail", service_id=service.id)
        if request.headers.get("HX-Request"):
            return "", 200, {"HX-Redirect": target}
        return redirect(target, 303)
    status = 422 if form.errors else 200
    return page("services/new.html", fragments=("provision_form",), form=form), status
