"""Operations, for admins: failed deliveries with retry, queue figures, and rq-dashboard at /rq."""

from flask import Blueprint, abort, flash, request
from flask_login import current_user

from webapp import deliveries
from webapp import read_models as rm
from webapp.auth import company_id, requires
from webapp.forms import ActionForm
from webapp.permissions import Can, allows
from webapp.pipeline_state import pipeline_state
from webapp.rendering import page
from webapp.tenancy import parse_id

bp = Blueprint("operations", __name__, url_prefix="/operations")


def _context():
    return {
        "failed": rm.failed_deliveries(company_id()),
        "pipeline": pipeline_state(),
        "form": ActionForm(formdata=None),
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


def mount_rq_dashboard(app):
    """rq-dashboard at /rq, for admins only."""
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
        if not allows(current_user.role, Can.OPERATE):
            abort(403, description="Only admins can open the queue dashboard.")
        return None
