"""Clients: the list, one client's page, creating and editing one, archiving and restoring,
and its contacts."""

from flask import Blueprint, current_app, flash, redirect, request, url_for
from jinja2_fragments.flask import render_block

from webapp.accounts.access import actor, company_id, requires
from webapp.accounts.permissions import Can
from webapp.assets import queries as assets_queries
from webapp.clients import actions
from webapp.clients import queries as clients_queries
from webapp.clients.actions import ClientRefused
from webapp.clients.forms import ClientForm, ContactForm
from webapp.clients.models import Client
from webapp.extensions import htmx
from webapp.incidents import queries as incidents_queries
from webapp.invoices import queries as invoices_queries
from webapp.rendering import page
from webapp.tenancy import get_or_404

bp = Blueprint("clients", __name__, url_prefix="/clients")

NEW_CONTACT = "contact-new"


def _contact_prefix(contact_id: int) -> str:
    return f"contact-{contact_id}"


@bp.get("")
@requires(Can.VIEW)
def index():
    """Every client with its services, revenue, health, incidents and next term end."""
    query = clients_queries.ClientQuery.from_args(request.args)
    result = clients_queries.clients_page(company_id(), query, current_app.config["PAGE_SIZE"])
    return page(
        "clients/list.html",
        fragments=("clients_table",),
        query=query,
        result=result,
        desc_first=clients_queries.DESC_FIRST,
    )


def _detail_context(client_id: int, contact_forms=None, new_contact=None) -> dict:
    cid = company_id()
    client = get_or_404(Client, cid, client_id)
    services = clients_queries.client_services(cid, client.id)
    contact_forms = contact_forms or {}
    return {
        "client": client,
        "services": services,
        "live": sum(1 for s, _ in services if s.status in clients_queries.LIVE),
        "renewals": clients_queries.terms_ending([s for s, _ in services]),
        "renewal_days": clients_queries.RENEWAL_DAYS,
        "mrr": clients_queries.mrr_by_client(cid, [client.id]).get(client.id, {}),
        "incidents": incidents_queries.incidents(
            cid, incidents_queries.IncidentQuery(state="open", client=client.id), limit=10
        ),
        "activity": clients_queries.client_activity(cid, client.id),
        "invoices": invoices_queries.client_documents(cid, client.id),
        "assets": assets_queries.client_assets(cid, client.id),
        "worst_assets": assets_queries.recent_incidents_by_asset(cid, client_id=client.id),
        "incident_days": assets_queries.INCIDENT_DAYS,
        "contact_forms": {
            c.id: contact_forms.get(c.id)
            or ContactForm(formdata=None, obj=c, prefix=_contact_prefix(c.id))
            for c in client.contacts
        },
        "new_contact": new_contact or ContactForm(formdata=None, prefix=NEW_CONTACT),
    }


@bp.get("/<int:client_id>")
@requires(Can.VIEW)
def detail(client_id):
    """One client: its details, contacts, services, incidents, renewals, revenue, activity."""
    return page(
        "clients/detail.html",
        fragments=("client_main", "client_contacts", "client_live"),
        **_detail_context(client_id),
    )


def _saved(target: str):
    if htmx:
        return "", 200, {"HX-Redirect": target}
    return redirect(target, 303)


def _form_page(form: ClientForm, client: Client | None):
    status = 422 if form.errors else 200
    return page("clients/form.html", fragments=("client_form",), form=form, client=client), status


@bp.route("/new", methods=["GET", "POST"])
@requires(Can.MANAGE_CLIENTS)
def new():
    """Add a client; errors show beside their fields and nothing is saved."""
    form = ClientForm()
    if form.validate_on_submit():
        try:
            client = actions.create_client(company_id(), form.fields(), actor())
        except ClientRefused as exc:
            getattr(form, exc.field).errors.append(str(exc))
        else:
            flash(f"{client.name} added. Add its contacts, so its notices reach someone.")
            return _saved(url_for(".detail", client_id=client.id))
    return _form_page(form, None)


@bp.route("/<int:client_id>/edit", methods=["GET", "POST"])
@requires(Can.MANAGE_CLIENTS)
def edit(client_id):
    """Change a client's details; the changed fields go into the activity trail."""
    client = get_or_404(Client, company_id(), client_id)
    form = ClientForm(obj=client) if request.method == "GET" else ClientForm()
    if form.validate_on_submit():
        try:
            changes = actions.update_client(company_id(), client.id, form.fields(), actor())
        except ClientRefused as exc:
            getattr(form, exc.field).errors.append(str(exc))
        else:
            flash(f"{client.name} saved." if changes else "Nothing changed.")
            return _saved(url_for(".detail", client_id=client.id))
    return _form_page(form, client)


def _after_change(client_id: int, message: str):
    flash(message)
    if htmx:
        body = render_block("clients/detail.html", "client_main", **_detail_context(client_id))
        return body, 200, {"HX-Trigger": "data-changed"}
    return redirect(url_for(".detail", client_id=client_id), 303)


@bp.post("/<int:client_id>/archive")
@requires(Can.MANAGE_CLIENTS)
def archive(client_id):
    """Archive the client (a 409 while any of its services runs)."""
    client = get_or_404(Client, company_id(), client_id)
    done = actions.archive_client(company_id(), client.id, actor())
    return _after_change(
        client.id,
        f"{client.name} archived: it is left out of the lists and pickers, its history kept."
        if done
        else f"{client.name} was archived already.",
    )


@bp.post("/<int:client_id>/restore")
@requires(Can.MANAGE_CLIENTS)
def restore(client_id):
    """Bring an archived client back."""
    client = get_or_404(Client, company_id(), client_id)
    done = actions.restore_client(company_id(), client.id, actor())
    return _after_change(
        client.id, f"{client.name} restored." if done else f"{client.name} was not archived."
    )


def _contacts_answer(client_id: int, status: int = 200, **forms):
    """The contacts panel (htmx), or the client's page."""
    context = _detail_context(client_id, **forms)
    if htmx:
        body = render_block("clients/detail.html", "client_contacts", **context)
        headers = {"HX-Trigger": "data-changed"} if status == 200 else {}
        return body, status, headers
    if status == 200:
        return redirect(url_for(".detail", client_id=client_id), 303)
    return page("clients/detail.html", **context), status


@bp.post("/<int:client_id>/contacts")
@requires(Can.MANAGE_CLIENTS)
def add_contact(client_id):
    """Add a contact with its roles; errors show in the form."""
    client = get_or_404(Client, company_id(), client_id)
    form = ContactForm(prefix=NEW_CONTACT)
    if not form.validate():
        return _contacts_answer(client.id, 422, new_contact=form)
    contact = actions.save_contact(company_id(), client.id, form.fields(), actor())
    flash(f"{contact.name} added.")
    return _contacts_answer(client.id)


@bp.post("/<int:client_id>/contacts/<int:contact_id>")
@requires(Can.MANAGE_CLIENTS)
def edit_contact(client_id, contact_id):
    """Change a contact's details or roles."""
    client = get_or_404(Client, company_id(), client_id)
    contact = actions.contact_of(company_id(), client.id, contact_id)
    form = ContactForm(prefix=_contact_prefix(contact.id))
    if not form.validate():
        return _contacts_answer(client.id, 422, contact_forms={contact.id: form})
    actions.save_contact(company_id(), client.id, form.fields(), actor(), contact_id=contact.id)
    flash(f"{form.name.data.strip()} saved.")
    return _contacts_answer(client.id)


@bp.post("/<int:client_id>/contacts/<int:contact_id>/remove")
@requires(Can.MANAGE_CLIENTS)
def remove_contact(client_id, contact_id):
    """Remove a contact; notices already sent to it stay as they were."""
    client = get_or_404(Client, company_id(), client_id)
    name = actions.remove_contact(company_id(), client.id, contact_id, actor())
    flash(f"{name} removed.")
    return _contacts_answer(client.id)
