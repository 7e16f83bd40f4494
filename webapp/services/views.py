"""Services: the list, one service, provisioning, and the lifecycle buttons."""

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block

from webapp.accounts.access import actor, company_id, requires
from webapp.accounts.models import User
from webapp.accounts.permissions import Can
from webapp.assets import queries as assets_queries
from webapp.extensions import db
from webapp.forms import ActionForm, options
from webapp.health import queries as health_queries
from webapp.incidents import queries as incidents_queries
from webapp.invoices import queries as invoices_queries
from webapp.invoices.dates import service_billing_dates
from webapp.lifecycle.statuses import BillingCycle, ServiceLevel
from webapp.lifecycle.transitions import Action, TransitionRefused, next_status, offered_actions
from webapp.rendering import page
from webapp.services import actions, repricing
from webapp.services import queries as services_queries
from webapp.services.forms import (
    AccountManagerForm,
    BulkPriceForm,
    CancelForm,
    PriceForm,
    ProvisionForm,
    QuantityForm,
    RenewForm,
    SuspendForm,
)
from webapp.services.models import ClientService
from webapp.sla import policy as service_sla
from webapp.sla import queries as sla_queries
from webapp.sla.forms import SlaForm
from webapp.sla.tracking import TRACKED
from webapp.tenancy import get_or_404

bp = Blueprint("services", __name__, url_prefix="/services")

FORMS = {
    Action.ACTIVATE: ActionForm,
    Action.RESUME: ActionForm,
    Action.SUSPEND: SuspendForm,
    Action.CANCEL: CancelForm,
    Action.RENEW: RenewForm,
    Action.CHANGE_PRICE: PriceForm,
    Action.CHANGE_QUANTITY: QuantityForm,
    Action.UNDO_CANCELLATION: ActionForm,
}


def _perform(action: Action, service_id: int, form):
    version = form.version.data or None
    args = (company_id(), service_id, actor())
    if action == Action.ACTIVATE:
        return actions.activate(*args, expected_version=version)
    if action == Action.RESUME:
        return actions.resume(*args, expected_version=version)
    if action == Action.UNDO_CANCELLATION:
        return actions.undo_cancellation(*args, expected_version=version)
    if action == Action.SUSPEND:
        return actions.suspend(*args, reason=form.reason.data.strip(), expected_version=version)
    if action == Action.CANCEL:
        at_end = form.when.data == "term_end"
        return actions.cancel(
            *args, reason=form.reason.data.strip(), at_term_end=at_end, expected_version=version
        )
    if action == Action.CHANGE_PRICE:
        note = (form.note.data or "").strip()
        return actions.change_price(*args, form.price.data, note=note, expected_version=version)
    if action == Action.CHANGE_QUANTITY:
        note = (form.note.data or "").strip()
        return actions.change_quantity(
            *args, form.quantity.data, note=note, expected_version=version
        )
    return actions.renew(*args, months=form.months.data, expected_version=version)


@bp.get("")
@requires(Can.VIEW)
def index():
    """Search, filter, sort and page through services."""
    query = services_queries.ServiceQuery.from_args(request.args, user_id=current_user.id)
    cid = company_id()
    result = services_queries.services(cid, query, current_app.config["PAGE_SIZE"])
    return page(
        "services/list.html",
        fragments=("services_table",),
        query=query,
        result=result,
        sparklines=health_queries.health_sparklines([row[0].id for row in result.rows]),
        clients=services_queries.clients(cid),
    )


def _sla_form(service: ClientService) -> SlaForm:
    """The edit form filled with the service's own values (empty where it uses the default)."""
    clock = service.sla_around_the_clock
    return SlaForm(
        formdata=None,
        data={
            "response_minutes": service.sla_response_minutes,
            "resolution_minutes": service.sla_resolution_minutes,
            "availability_target": service.sla_availability_target,
            "warning_percent": service.sla_warning_percent,
            "clock": "" if clock is None else ("24x7" if clock else "business"),
        },
    )


def _manager_form(service: ClientService, form=None) -> AccountManagerForm:
    if form is None:
        form = AccountManagerForm(
            formdata=None, version=service.version, user_id=service.account_manager_id
        )
    people = services_queries.account_managers(service.company_id)
    form.user_id.choices = options([("", "Nobody"), *people])
    return form


def _blank_form(action: Action, service: ClientService):
    if action == Action.RENEW:  # one more term of the length agreed, unless changed here
        return RenewForm(formdata=None, version=service.version, months=service.term_months)
    if action == Action.CHANGE_QUANTITY:  # the seats it has, to change from
        return QuantityForm(formdata=None, version=service.version, quantity=service.quantity)
    return FORMS[action](formdata=None, version=service.version)


def _detail_context(service_id: int, forms=None, sla_form=None, manager_form=None):
    cid = company_id()
    service = get_or_404(ClientService, cid, service_id)
    offered = offered_actions(service.status, service.ends_on is not None)
    forms = forms or {}
    timeline = services_queries.service_timeline(service.id)
    return {
        "service": service,
        "actions": offered,
        "forms": {a: forms.get(a) or _blank_form(a, service) for a in offered},
        "timeline": timeline,
        "term": services_queries.term_span(service),
        "renewals": services_queries.renewals_in(timeline),
        "sla": sla_queries.sla_summary(service),
        "sla_form": sla_form or _sla_form(service),
        "incidents": incidents_queries.service_incidents(cid, service.id),
        "recordable": service.status in TRACKED,
        "trend": health_queries.health_trend(service.id),
        "billing_dates": service_billing_dates(cid, service.id),
        "invoice_lines": invoices_queries.service_lines(cid, service.id),
        "manager": db.session.get(User, service.account_manager_id)
        if service.account_manager_id
        else None,
        "manager_form": _manager_form(service, manager_form),
        "service_assets": assets_queries.service_assets(cid, service.id),
        "uncovered_assets": assets_queries.uncovered_assets(cid, service),
    }


@bp.get("/<int:service_id>")
@requires(Can.VIEW)
def detail(service_id):
    """One service: fields, allowed actions, health, SLA, incidents, billing and timeline."""
    return page(
        "services/detail.html",
        fragments=("service_main", "service_live", "service_sla", "service_activity"),
        **_detail_context(service_id),
    )


@bp.post("/<int:service_id>/sla")
@requires(Can.EDIT_SLA)
def edit_sla(service_id):
    """Save the service's own SLA policy (empty: the level's default); open incidents'
    clocks are worked out again in the same transaction."""
    form = SlaForm()
    if form.validate():
        policy = service_sla.SlaPolicy(
            response_minutes=form.response_minutes.data,
            resolution_minutes=form.resolution_minutes.data,
            availability_target=form.availability_target.data,
            warning_percent=form.warning_percent.data,
            around_the_clock={"": None, "24x7": True, "business": False}[form.clock.data],
        )
        try:
            rescheduled = service_sla.save(company_id(), service_id, policy, actor())
        except service_sla.PolicyRefused as exc:
            getattr(form, exc.field).errors.append(str(exc))
        else:
            message = "SLA policy saved."
            if rescheduled:
                message += f" {rescheduled} open incidents follow it now."
            flash(message)
            if not request.headers.get("HX-Request"):
                return redirect(url_for(".detail", service_id=service_id), 303)
            return (
                render_block("services/detail.html", "service_sla", **_detail_context(service_id)),
                200,
                {"HX-Trigger": "data-changed"},
            )
    context = _detail_context(service_id, sla_form=form)
    context["sla_open"] = True
    return page("services/detail.html", fragments=("service_sla",), **context), 422


@bp.post("/<int:service_id>/<action>")
@requires(Can.TRANSITION)
def transition(service_id, action):
    """Take one lifecycle action; a stale or illegal one is a 409 with nothing changed."""
    try:
        action = Action(action)
        form_class = FORMS[action]
    except (ValueError, KeyError):
        return redirect(url_for(".detail", service_id=service_id)), 303
    service = get_or_404(ClientService, company_id(), service_id)
    # An action the page no longer offers (the status changed) is refused as such, before its
    # form: the form is not on the page, so its field errors could not be shown.
    next_status(action, service.status, service.id)
    form = form_class()
    if isinstance(form, PriceForm):  # a "change" to the price it has is refused beside the field
        form.current_price = service.price
    if isinstance(form, QuantityForm):  # and so are the seats it has
        form.current_quantity = service.quantity
    if not form.validate():
        if form.version.errors:  # a hidden field: said in the page's message area, as a 409
            raise TransitionRefused(form.version.errors[0])
        context = _detail_context(service_id, forms={action: form})
        context["open_action"] = action
        return page("services/detail.html", fragments=("service_main",), **context), 422
    _perform(action, service_id, form)
    flash(f"Done: {action.value}.")
    if request.headers.get("HX-Request"):
        body = render_block("services/detail.html", "service_main", **_detail_context(service_id))
        return body, 200, {"HX-Trigger": "data-changed"}  # every live panel on the page refreshes
    return redirect(url_for(".detail", service_id=service_id), 303)


@bp.post("/<int:service_id>/account-manager")
@requires(Can.TRANSITION)
def change_account_manager(service_id):
    """Give the service another account manager (or none); errors show beside the field."""
    service = get_or_404(ClientService, company_id(), service_id)
    form = _manager_form(service, AccountManagerForm())
    if form.validate():
        try:
            actions.change_account_manager(company_id(), service.id, actor(), form.user_id.data)
        except actions.ManagerRefused as exc:
            form.user_id.errors.append(str(exc))
    if form.errors:
        if form.version.errors:
            raise TransitionRefused(form.version.errors[0])
        context = _detail_context(service_id, manager_form=form)
        return page("services/detail.html", fragments=("service_main",), **context), 422
    flash("Account manager changed.")
    if request.headers.get("HX-Request"):
        body = render_block("services/detail.html", "service_main", **_detail_context(service_id))
        return body, 200, {"HX-Trigger": "data-changed"}
    return redirect(url_for(".detail", service_id=service_id), 303)


@bp.route("/price-change", methods=["GET", "POST"])
@requires(Can.TRANSITION)
def bulk_price():
    """Change the unit price of the services the list's filters select: a preview of every
    one, then all of them or, if any changed since the preview, none (a 409 saying which)."""
    posted = request.method == "POST"
    cid = company_id()
    query = services_queries.ServiceQuery.from_args(
        request.form if posted else request.args, user_id=current_user.id
    )
    form = BulkPriceForm() if posted else BulkPriceForm(formdata=None)
    context = {
        "query": query,
        "form": form,
        "clients": services_queries.clients(cid),
        "types": services_queries.service_types(cid),
        "preview": None,
        "refused": None,
        "max_services": repricing.MAX_SERVICES,
    }
    if not posted:
        return page("services/price_change.html", **context)
    if not form.validate():
        return page("services/price_change.html", **context), 422
    step = repricing.PriceStep(form.by.data, form.change.data)
    if request.form.get("step") == "apply":
        try:
            seen = repricing.parse_seen(request.form.get("services", ""))
            changed = repricing.apply(cid, seen, step, actor())
        except repricing.BulkPriceRefused as exc:
            # What the services are now, to apply again once the reader has seen it.
            context["refused"] = exc.problems
            context["preview"] = repricing.preview(cid, query, step)
            return page("services/price_change.html", **context), 409
        flash(f"Prices changed ({step.label}) for {changed} service{'s' if changed != 1 else ''}.")
        return redirect(url_for(".index", **query.args), 303)
    context["preview"] = repricing.preview(cid, query, step)
    return page("services/price_change.html", **context)


@bp.route("/new", methods=["GET", "POST"])
@requires(Can.TRANSITION)
def new():
    """Provision a service; errors show beside their fields."""
    form = ProvisionForm()
    form.client_id.choices = options(
        (c.id, c.name) for c in services_queries.clients(company_id(), archived=False)
    )
    if form.validate_on_submit():
        service = actions.provision(
            company_id(),
            actions.NewService(
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
