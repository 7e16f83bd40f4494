"""Operations, for admins: failed deliveries with retry, queue figures, and rq-dashboard at /rq."""

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
from webapp.pipeline import deliveries, queries
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
    """rq-dashboard shows every company's jobs and their errors, so it is for the people who run
    the installation: the operators listed in QUEUE_DASHBOARD_OPERATORS or, when none are listed,
    the admins of an installation with a single company (where "every company" is theirs)."""
    if not user.is_authenticated or not allows(user.role, Can.OPERATE):
        return False
    operators = current_app.config["QUEUE_DASHBOARD_OPERATORS"]
    if operators:
        return user.email.lower() in operators
    return db.session.scalar(select(func.count()).select_from(Company)) == 1


def mount_rq_dashboard(app):
    """rq-dashboard at /rq, for the installation's operators only."""
    import rq_dashboard
    from rq_dashboard.web import setup_rq_connection

    from webapp.extensions import csrf

    app.config.setdefault("RQ_DASHBOARD_REDIS_URL", app.config["REDIS_URL"])
    with app.app_context():
        setup_rq_connection(app)
    # Its own pages post by XHR without our token; the admin check and SameSite cookies guard it.
    csrf.exempt(rq_dashboard.blueprint)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix="/rq")

    @app.before_request
    def admins_only_in_rq():
        if request.blueprint != "rq_dashboard":
            return None
        if not current_user.is_authenticated:
            return app.login_manager.unauthorized()
        if not may_open_queue_dashboard(current_user):
            abort(
                403,
                description="The queue dashboard shows every company's jobs: only the"
                " installation's operators (QUEUE_DASHBOARD_OPERATORS) can open it.",
            )
        return None
