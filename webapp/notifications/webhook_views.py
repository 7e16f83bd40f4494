"""Settings -> Webhooks, for admins: the chat and integration endpoints that get notifications."""

from flask import Blueprint, flash, redirect, url_for
from jinja2_fragments.flask import render_block

from webapp.accounts.access import actor, company_id, requires
from webapp.accounts.permissions import Can
from webapp.extensions import db, htmx
from webapp.forms import ActionForm
from webapp.notifications import actions, queries, webhooks
from webapp.notifications.forms import KIND_LABELS, WebhookForm
from webapp.notifications.models import Webhook
from webapp.rendering import page
from webapp.tenancy import get_or_404

bp = Blueprint("webhooks", __name__, url_prefix="/settings/webhooks")

PANEL = "webhooks_panel"


def _panel(form: WebhookForm | None = None, tested=None, error=None, status: int = 200):
    """The list and the add form: the block on htmx requests, else the page (a change without
    htmx that succeeded redirects instead). `tested` is (webhook id, succeeded, what happened)."""
    context = {
        "hooks": queries.webhooks(company_id()),
        "kinds": KIND_LABELS,
        "shown_url": queries.shown_url,
        "form": form or WebhookForm(formdata=None),
        "action_form": ActionForm(formdata=None),
        "tested": tested,
        "error": error,
    }
    if htmx:
        return render_block("webhooks/index.html", PANEL, **context), status
    return page("webhooks/index.html", **context), status


def _done(message: str):
    flash(message)
    if htmx:
        return _panel()
    return redirect(url_for(".index"), 303)


@bp.get("")
@requires(Can.CONFIGURE)
def index():
    """The company's webhooks, with a test button each, and a form to add one."""
    return _panel()


@bp.post("/add")
@requires(Can.CONFIGURE)
def add():
    """A new webhook, its URL checked before it is saved; errors beside their fields."""
    form = WebhookForm()
    if not form.validate_on_submit():
        return _panel(form, status=422)
    try:
        hook = actions.add_webhook(
            company_id(), form.kind.data, form.url.data, form.secret.data, actor()
        )
    except actions.WebhookRefused as refused:
        getattr(form, refused.field).errors.append(str(refused))
        return _panel(form, status=422)
    return _done(f"Webhook {hook.id} ({KIND_LABELS[hook.kind]}) added: it gets every notice.")


def _act(webhook_id: int):
    """The webhook (a 404 in another company, before the form is read), or a 400 panel."""
    hook = get_or_404(Webhook, company_id(), webhook_id)
    if not ActionForm().validate():
        return hook, _panel(error="This page was stale: reload it and try again.", status=400)
    return hook, None


@bp.post("/<int:webhook_id>/test")
@requires(Can.CONFIGURE)
def test(webhook_id):
    """Post a test message now, through the same checks as a notification; the result shown in
    its row."""
    hook, stale = _act(webhook_id)
    if stale:
        return stale
    db.session.expunge(hook)  # its loaded values suffice: no transaction held over the call
    db.session.rollback()
    try:
        status = webhooks.send_test(hook)
    except webhooks.WebhookFailed as failed:
        return _panel(tested=(hook.id, False, f"Test failed: {failed}."))
    return _panel(tested=(hook.id, True, f"Test sent: the endpoint answered HTTP {status}."))


@bp.post("/<int:webhook_id>/disable")
@requires(Can.CONFIGURE)
def disable(webhook_id):
    """No more notifications to it (nor retries of old ones) until it is enabled again."""
    hook, stale = _act(webhook_id)
    if stale:
        return stale
    actions.set_webhook_active(company_id(), hook.id, False, actor())
    return _done(f"Webhook {hook.id} is disabled: it gets no notices until enabled again.")


@bp.post("/<int:webhook_id>/enable")
@requires(Can.CONFIGURE)
def enable(webhook_id):
    """Notifications go to it again, from the next one on."""
    hook, stale = _act(webhook_id)
    if stale:
        return stale
    actions.set_webhook_active(company_id(), hook.id, True, actor())
    return _done(f"Webhook {hook.id} is enabled: the next notices go to it.")
