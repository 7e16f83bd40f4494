"""Settings -> People, for admins: who has an account, inviting, roles, deactivation, resets."""

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block

from webapp.accounts import people
from webapp.accounts.access import actor, company_id, requires
from webapp.accounts.forms import InviteForm, RoleForm
from webapp.accounts.permissions import ROLE_LABELS, Can
from webapp.extensions import htmx
from webapp.forms import ActionForm
from webapp.lifecycle.statuses import UserRole
from webapp.rendering import page

bp = Blueprint("people", __name__, url_prefix="/settings/people")

PANEL = "people_panel"


def _panel(invite_form: InviteForm | None = None, error: str | None = None, status: int = 200):
    """The list and the invite form: the block on htmx requests, else the page (a change
    without htmx that succeeded redirects instead)."""
    context = {
        "people": people.people(company_id()),
        "status_of": people.status,
        "invite_form": invite_form or InviteForm(formdata=None),
        "form": ActionForm(formdata=None),
        "error": error,
    }
    if htmx:
        return render_block("people/index.html", PANEL, **context), status
    return page("people/index.html", **context), status


def _done(message: str):
    flash(message)
    if htmx:
        return _panel()
    return redirect(url_for(".index"), 303)


@bp.get("")
@requires(Can.MANAGE_USERS)
def index():
    """Everyone in the company with their role, last sign-in and status."""
    return _panel()


@bp.post("/invite")
@requires(Can.MANAGE_USERS)
def invite():
    """A new person, mailed a link to choose a password."""
    form = InviteForm()
    if not form.validate_on_submit():
        return _panel(form, status=422)
    try:
        user = people.invite(
            company_id(), form.name.data, form.email.data, UserRole(form.role.data), actor()
        )
    except people.Refused as refused:
        getattr(form, refused.field).errors.append(str(refused))
        return _panel(form, status=422)
    return _done(
        f"{user.name} is invited: a link to choose a password is on its way to {user.email}."
    )


def _change(user_id: int, change):
    """Run `change` on the person (a 404 in another company, before the form is read)."""
    person = people.find(company_id(), user_id)
    if not ActionForm().validate():
        return _panel(error="This page was stale: reload it and try again.", status=400)
    try:
        message = change(person)
    except people.Refused as refused:
        return _panel(error=str(refused), status=409)
    return _done(message)


@bp.post("/<int:user_id>/role")
@requires(Can.MANAGE_USERS)
def set_role(user_id):
    """Give the person another role (never taking away the last admin)."""

    def change(person):
        form = RoleForm()
        if not form.validate():
            raise people.Refused(f"Choose a role for {person.name}.")
        user = people.change_role(company_id(), person.id, UserRole(form.role.data), actor())
        return f"{user.name} is now {ROLE_LABELS[user.role].lower()}."

    return _change(user_id, change)


@bp.post("/<int:user_id>/deactivate")
@requires(Can.MANAGE_USERS)
def deactivate(user_id):
    """They cannot sign in any more; their sessions end now."""

    def change(person):
        people.deactivate(company_id(), person.id, actor(), by_user_id=current_user.id)
        return f"{person.name} is deactivated and signed out everywhere."

    return _change(user_id, change)


@bp.post("/<int:user_id>/reactivate")
@requires(Can.MANAGE_USERS)
def reactivate(user_id):
    """They may sign in again with their password."""

    def change(person):
        people.reactivate(company_id(), person.id, actor())
        return f"{person.name} may sign in again."

    return _change(user_id, change)


@bp.post("/<int:user_id>/password-link")
@requires(Can.MANAGE_USERS)
def password_link(user_id):
    """Mail a password reset, or the invitation again to someone who never chose a password."""

    def change(person):
        sent = people.send_password_link(company_id(), person.id, actor())
        if sent == "invitation":
            return f"The invitation is on its way to {person.email} again."
        return f"A link to choose a new password is on its way to {person.email}."

    return _change(user_id, change)
