"""Incidents: the list (open first), one incident, recording one, acknowledging and resolving."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block

from webapp.accounts.access import actor, company_id, requires, safe_next
from webapp.accounts.permissions import Can
from webapp.clock import from_local, to_local, utcnow
from webapp.extensions import htmx
from webapp.forms import ActionForm, options
from webapp.incidents import actions as incidents
from webapp.incidents import queries, recording
from webapp.incidents.checks import IncidentRefused
from webapp.incidents.forms import IncidentForm
from webapp.lifecycle.statuses import Severity
from webapp.query_args import id_arg
from webapp.rendering import page
from webapp.services import queries as services_queries
from webapp.services.models import ClientService
from webapp.tenancy import NotFound, get_or_404

bp = Blueprint("incidents", __name__, url_prefix="/incidents")


def _list_context():
    query = queries.IncidentQuery.from_args(request.args)
    cid = company_id()
    return {
        "query": query,
        "states": queries.STATES,
        "severities": queries.SEVERITIES,
        "result": queries.incidents(cid, query),
        "clients": services_queries.clients(cid),
        "service": get_or_404(ClientService, cid, query.service) if query.service else None,
        "form": ActionForm(formdata=None),
    }


def _detail_context(incident_id: int):
    cid = company_id()
    row = queries.incident(cid, incident_id)
    if row is None:
        raise NotFound(f"No incident {incident_id} in this company.")
    alerts = queries.incident_alerts(cid, incident_id)
    return {
        "row": row,
        "asset": queries.asset_of(cid, row.incident),
        "alerts": alerts,
        "form": ActionForm(formdata=None),
    }


@bp.get("")
@requires(Can.VIEW)
def index():
    """Open incidents first, with their SLA clocks; filters by state, severity and name."""
    return page("incidents/list.html", fragments=("incidents_table",), **_list_context())


@bp.get("/<int:incident_id>")
@requires(Can.VIEW)
def detail(incident_id):
    """One incident: its times, who has it, its SLA clocks and the alerts it raised."""
    return page(
        "incidents/detail.html", fragments=("incident_main",), **_detail_context(incident_id)
    )


@bp.route("/new", methods=["GET", "POST"])
@requires(Can.HANDLE_INCIDENTS)
def new():
    """Record an incident; its start is typed in the company's time; errors show in place."""
    cid = company_id()
    zone = current_user.company.timezone or "UTC"
    form = IncidentForm()
    choices = queries.recordable_services(cid)
    form.service_id.choices = options([("", "Choose a service…"), *choices])
    unavailable = None
    if request.method == "GET":
        form.opened_at.data = to_local(utcnow(), zone).replace(second=0, microsecond=0)
        wanted = id_arg(request.args, "service_id")
        if wanted:
            service = get_or_404(ClientService, cid, wanted)
            if wanted in {value for value, _ in choices}:
                form.service_id.data = wanted
            else:
                unavailable = service
    if form.validate_on_submit() and (opened_at := _opened_at_utc(form, zone)):
        try:
            incident, _ = recording.record(
                cid,
                recording.NewIncident(
                    service_id=form.service_id.data,
                    title=form.title.data.strip(),
                    severity=Severity(form.severity.data),
                    opened_at=opened_at,
                    description=form.description.data,
                    assignee_id=current_user.id,  # whoever records it has it
                ),
                actor(),
            )
        except IncidentRefused as exc:
            now = to_local(utcnow(), zone)
            form.opened_at.errors.append(f"{exc} It is {now:%Y-%m-%d %H:%M} in {zone} now.")
        else:
            flash(f"Incident #{incident.id} recorded: {incident.title}.")
            # Its own page: what whoever recorded it does next (acknowledge, follow its clocks).
            target = url_for(".detail", incident_id=incident.id)
            if request.headers.get("HX-Request"):
                return "", 200, {"HX-Redirect": target}
            return redirect(target, 303)
    status = 422 if form.errors else 200
    return (
        page(
            "incidents/new.html",
            fragments=("incident_form",),
            form=form,
            zone=zone,
            unavailable=unavailable,
        ),
        status,
    )


def _opened_at_utc(form: IncidentForm, zone: str):
    try:
        return from_local(form.opened_at.data, zone)
    except ValueError as exc:
        form.opened_at.errors.append(str(exc))
        return None


def _after_change(incident_id: int):
    """The block that asked (the list's table or the incident's page), or a redirect back."""
    target = request.headers.get("HX-Target", "")
    if htmx and target == "incidents_table":
        return render_block("incidents/list.html", "incidents_table", **_list_context())
    if htmx:
        return render_block(
            "incidents/detail.html", "incident_main", **_detail_context(incident_id)
        )
    back = safe_next(request.form.get("next", "")) or url_for(".detail", incident_id=incident_id)
    return redirect(back, 303)


@bp.post("/<int:incident_id>/acknowledge")
@requires(Can.HANDLE_INCIDENTS)
def acknowledge(incident_id):
    """The first response: who and when; it also makes the acknowledger the assignee if none."""
    if not ActionForm().validate():
        abort(400)
    me = actor()
    incident = incidents.acknowledge(company_id(), incident_id, me, user_id=current_user.id)
    if incident.acknowledged_by == me:
        flash(f"Incident #{incident.id} acknowledged.")
    elif incident.acknowledged_at is None:
        flash(f"Incident #{incident.id} was already resolved.")
    else:
        flash(f"Incident #{incident.id} was already acknowledged.")
    return _after_change(incident.id)


@bp.post("/<int:incident_id>/resolve")
@requires(Can.HANDLE_INCIDENTS)
def resolve(incident_id):
    """Resolved (and so answered, if nobody had); resolving again changes nothing."""
    if not ActionForm().validate():
        abort(400)
    me = actor()
    incident = incidents.resolve(company_id(), incident_id, me)
    if incident.resolved_by == me:
        flash(f"Incident #{incident.id} resolved.")
    else:
        flash(f"Incident #{incident.id} was already resolved.")
    return _after_change(incident.id)
