"""Company settings, for admins: time zone, business hours, escalation, renewal reminders."""

import datetime as dt

from flask import Blueprint, flash, redirect, request, url_for
from jinja2_fragments.flask import render_block

from webapp.accounts import api_tokens
from webapp.accounts.access import actor, company_id, requires
from webapp.accounts.forms import ApiTokenForm
from webapp.accounts.permissions import Can
from webapp.assets.routing import parse_routing_labels
from webapp.company import settings as company_settings
from webapp.company.forms import InvoicingForm, RoutingForm, SettingsForm
from webapp.company.models import Company
from webapp.extensions import db, htmx
from webapp.forms import ActionForm
from webapp.lifecycle.sla import WEEKDAYS
from webapp.rendering import page
from webapp.sla.queries import DAY_NAMES, describe_week

bp = Blueprint("settings", __name__, url_prefix="/settings")

DEFAULT_DAY = (dt.time(8), dt.time(18))  # shown for a closed day, ready to be ticked open


def _form_data(current: company_settings.CompanySettings) -> dict:
    return {
        "timezone": current.timezone,
        "days": [
            {
                "is_open": day in current.week,
                "opens": current.week.get(day, DEFAULT_DAY)[0],
                "closes": current.week.get(day, DEFAULT_DAY)[1],
            }
            for day in WEEKDAYS
        ],
        "escalate_after_minutes": current.escalate_after_minutes,
        "escalation_email": current.escalation_email or "",
        "reminder_days": ",".join(str(d) for d in current.reminder_days),
        "incident_notices_to_clients": current.incident_notices_to_clients,
    }


def _from_form(form: SettingsForm) -> company_settings.CompanySettings:
    return company_settings.CompanySettings(
        timezone=form.timezone.data.strip(),
        week={
            day: (entry.form.opens.data, entry.form.closes.data)
            for day, entry in enumerate(form.days.entries)
            if entry.form.is_open.data
        },
        escalate_after_minutes=form.escalate_after_minutes.data,
        escalation_email=(form.escalation_email.data or "").strip() or None,
        reminder_days=company_settings.parse_reminder_days(form.reminder_days.data),
        incident_notices_to_clients=form.incident_notices_to_clients.data,
    )


def _invoicing_form() -> InvoicingForm:
    company = db.session.get(Company, company_id())
    return InvoicingForm(formdata=None, obj=company_settings.invoicing(company))


def _context(
    form: SettingsForm,
    token_form: ApiTokenForm | None = None,
    new_token=None,
    invoicing_form: InvoicingForm | None = None,
    routing_form: RoutingForm | None = None,
) -> dict:
    company = db.session.get(Company, company_id())
    current = company_settings.current(company)
    return {
        "form": form,
        "invoicing_form": invoicing_form or _invoicing_form(),
        "routing_form": routing_form
        or RoutingForm(formdata=None, routing_labels=company.routing_labels),
        "token_form": token_form or ApiTokenForm(formdata=None),
        "tokens": api_tokens.tokens(company_id()),
        "new_token": new_token,
        "revoke_form": ActionForm(formdata=None),
        "current": current,
        "hours_text": describe_week(current.week),
        "day_names": DAY_NAMES,
        "zones": company_settings.zone_names(),
    }


@bp.route("", methods=["GET", "POST"])
@requires(Can.CONFIGURE)
def index():
    """The settings form; saved in one transaction, errors beside their fields."""
    if request.method == "POST":
        form = SettingsForm()
    else:
        form = SettingsForm(
            data=_form_data(company_settings.current(db.session.get(Company, company_id())))
        )
    if form.validate_on_submit():
        saved = company_settings.save(company_id(), _from_form(form))
        message = "Settings saved."
        if saved.clock_changed and saved.rescheduled:
            message += (
                f" The SLA clocks of {saved.rescheduled} open incidents follow the new hours."
            )
        flash(message)
        if not htmx:
            return redirect(url_for(".index"), 303)
        fresh = SettingsForm(
            formdata=None,
            data=_form_data(company_settings.current(db.session.get(Company, company_id()))),
        )
        return render_block("settings/index.html", "settings_form", **_context(fresh))
    status = 422 if form.errors else 200
    return page("settings/index.html", fragments=("settings_form",), **_context(form)), status


def _current_form() -> SettingsForm:
    current = company_settings.current(db.session.get(Company, company_id()))
    return SettingsForm(formdata=None, data=_form_data(current))


@bp.post("/invoicing")
@requires(Can.CONFIGURE)
def invoicing():
    """Invoice numbers, the tax rate and payment terms, for the documents issued from now on."""
    form = InvoicingForm(company_id=company_id())
    if not form.validate():
        context = _context(_current_form(), invoicing_form=form)
        return page("settings/index.html", fragments=("invoicing_form",), **context), 422
    company_settings.save_invoicing(company_id(), form.settings())
    flash("Invoicing settings saved: documents issued from now on follow them.")
    if not htmx:
        return redirect(url_for(".index"), 303)
    return render_block("settings/index.html", "invoicing_form", **_context(_current_form()))


@bp.post("/routing")
@requires(Can.CONFIGURE)
def routing():
    """The alert labels that name the asset an alert is about, in the order they are tried."""
    form = RoutingForm()
    if not form.validate():
        context = _context(_current_form(), routing_form=form)
        return page("settings/index.html", fragments=("routing_form",), **context), 422
    company_settings.save_routing_labels(
        company_id(), parse_routing_labels(form.routing_labels.data)
    )
    flash("Alert routing saved: the next alerts are routed by these labels.")
    if not htmx:
        return redirect(url_for(".index"), 303)
    return render_block("settings/index.html", "routing_form", **_context(_current_form()))


def _tokens_panel(token_form: ApiTokenForm | None = None, new_token=None, status=200):
    """The API tokens panel after a change; without htmx, the whole page (the new token is
    shown once, so it cannot go through a redirect and a flash message in the cookie)."""
    form = SettingsForm(
        formdata=None,
        data=_form_data(company_settings.current(db.session.get(Company, company_id()))),
    )
    context = _context(form, token_form, new_token)
    if htmx:
        return render_block("settings/index.html", "api_tokens", **context), status
    return page("settings/index.html", **context), status


@bp.post("/api-tokens")
@requires(Can.CONFIGURE)
def create_api_token():
    """A new token for the JSON API, shown once; only its hash is kept."""
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _tokens_panel(form, status=422)
    row, token = api_tokens.create(company_id(), form.name.data, actor())
    flash(f"Token {row.name} created. Copy it now: it is not shown again.")
    return _tokens_panel(new_token=token)


@bp.post("/api-tokens/<int:token_id>/revoke")
@requires(Can.CONFIGURE)
def revoke_api_token(token_id):
    """Refuse the token from now on (revoking twice changes nothing)."""
    if not ActionForm().validate():
        return _tokens_panel(status=400)
    row = api_tokens.revoke(company_id(), token_id, actor())
    flash(f"Token {row.name} revoked: requests with it are refused from now on.")
    return _tokens_panel()
