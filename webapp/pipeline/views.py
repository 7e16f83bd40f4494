"""Operations, for admins: failed deliveries with retry, the pipeline's figures, and (for the
installation's operators) the queues: RQ's figures, live workers, periodic and failed jobs."""

from functools import wraps

from flask import Blueprint, abort, current_app, flash, request
from flask_login import current_user
from redis.exceptions import RedisError
from sqlalchemy import func, select

from webapp.accounts.access import company_id, requires
from webapp.accounts.permissions import Can, allows
from webapp.company.models import Company
from webapp.extensions import db
from webapp.forms import ActionForm
from webapp.notifications import actions as notification_actions
from webapp.notifications import queries as notification_queries
from webapp.pipeline import deliveries, queries, queue_jobs
from webapp.pipeline.queues import redis_connection
from webapp.pipeline.schedule import periodic_state
from webapp.pipeline.state import pipeline_state
from webapp.rendering import page
from webapp.tenancy import parse_id

bp = Blueprint("operations", __name__, url_prefix="/operations")


def _context():
    return {
        "failed": queries.failed_deliveries(company_id()),
        "failed_notifications": notification_queries.failed(company_id()),
        "uncertain_notifications": notification_queries.uncertain(company_id()),
        "unrouted_notifications": notification_queries.no_recipient(company_id()),
        "pipeline": pipeline_state(),
        "form": ActionForm(formdata=None),
        "may_open_queue_dashboard": may_open_queue_dashboard,
    }


@bp.get("")
@requires(Can.OPERATE)
def index():
    """Failed deliveries and the pipeline's figures."""
    return page("operations/index.html", fragments=("operations_panel",), **_context())


@bp.post("/retry")
@requires(Can.OPERATE)
def retry():
    """Send failed deliveries again: one (delivery=ID) or all of this company's."""
    if not ActionForm().validate():
        abort(400)
    # No `delivery`: the "Retry all" button. A garbled one is not "all": it is no such delivery.
    sent = request.form.get("delivery")
    ids = None if sent is None else [parse_id(sent)]
    count = deliveries.retry(ids, company_id=company_id())
    flash(
        f"{count} deliveries sent again." if count else "Nothing to retry: it is no longer failed."
    )
    return page("operations/index.html", fragments=("operations_panel",), **_context())


@bp.post("/resend")
@requires(Can.OPERATE)
def resend():
    """Send failed notifications again: one (notification=ID) or all of this company's."""
    if not ActionForm().validate():
        abort(400)
    sent = request.form.get("notification")
    ids = None if sent is None else [parse_id(sent)]
    try:
        count = notification_actions.resend(company_id(), ids)
    except RedisError:
        flash("The queue (Redis) is unreachable: nothing was sent. Try again when it is back.")
    else:
        flash(
            f"{count} notifications sent again."
            if count
            else "Nothing to send: it is no longer failed or uncertain."
        )
    return page("operations/index.html", fragments=("operations_panel",), **_context())


def may_open_queue_dashboard(user) -> bool:
    """The queues show every company's jobs and their errors, so they are for the people who
    run the installation: the operators listed in QUEUE_DASHBOARD_OPERATORS or, when none are
    listed, the admins of an installation with a single company (where "every company" is
    theirs)."""
    if not user.is_authenticated or not allows(user.role, Can.OPERATE):
        return False
    operators = current_app.config["QUEUE_DASHBOARD_OPERATORS"]
    if operators:
        return user.email.lower() in operators
    return db.session.scalar(select(func.count()).select_from(Company)) == 1


def operators_only(view):
    """After the role check: the installation's operators only (may_open_queue_dashboard)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not may_open_queue_dashboard(current_user):
            abort(
                403,
                description="The queues show every company's jobs: only the installation's"
                " operators (QUEUE_DASHBOARD_OPERATORS) can open them.",
            )
        return view(*args, **kwargs)

    return wrapped


def _page_number() -> int:
    """?page=N, clamped: an odd or huge value is the first or last page, never an error."""
    text = request.args.get("page", "1")
    if not (text.isascii() and text.isdigit()):
        return 1
    return min(int(text[:9]), 10**6)


def _queues_context():
    context = queue_jobs.overview(_page_number(), current_app.config["PAGE_SIZE"])
    context["periodic"] = periodic_state(redis_connection(), current_app.config)
    return context | {"form": ActionForm(formdata=None)}


def _queues_page():
    try:
        context = _queues_context()
    except RedisError:
        context = {"unreachable": True}
    return page("operations/queues.html", fragments=("queues_panel",), **context)


@bp.get("/queues")
@requires(Can.OPERATE)
@operators_only
def queues():
    """RQ's queues, live workers, periodic jobs and failed jobs."""
    return _queues_page()


def _job_id() -> str:
    sent = request.form.get("job", "")
    if not queue_jobs.is_job_id(sent):
        abort(404, description=f"{sent[:40]!r} is not a job id.")
    return sent


def _write(action) -> str | None:
    """Run a change to RQ's registries; a message instead when Redis does not answer."""
    if not ActionForm().validate():
        abort(400)
    try:
        return action()
    except RedisError:
        return "The queue (Redis) is unreachable: nothing was changed. Try again when it is back."


@bp.post("/queues/requeue")
@requires(Can.OPERATE)
@operators_only
def requeue_job():
    """Put one failed job (job=ID) back on its queue, or all of them (no job)."""
    sent = None if "job" not in request.form else _job_id()

    def requeue():
        if sent is None:
            count = queue_jobs.requeue_all()
            return f"{count} failed jobs put back on their queues." if count else "No failed jobs."
        done = queue_jobs.requeue(sent)
        if done == queue_jobs.REQUEUED:
            return f"Job {sent} put back on its queue."
        if done == queue_jobs.INCOMPLETE:
            return f"Job {sent} cannot be requeued: its record is incomplete. Delete it."
        return f"Job {sent} is no longer failed."

    flash(_write(requeue))
    return _queues_page()


@bp.post("/queues/delete")
@requires(Can.OPERATE)
@operators_only
def delete_job():
    """Delete one failed job (job=ID); a periodic job only leaves the failed list."""
    sent = _job_id()

    def delete():
        done = queue_jobs.delete(sent)
        if done == queue_jobs.DISMISSED:
            return f"Job {sent} taken off the failed list; the scheduler keeps it for its next run."
        return f"Job {sent} deleted." if done else f"Job {sent} is no longer failed."

    flash(_write(delete))
    return _queues_page()
