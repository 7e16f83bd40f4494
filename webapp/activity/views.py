"""Activity: the audit trail of who did what, newest first, for everyone in the company."""

from flask import Blueprint, request
from flask_login import current_user
from sqlalchemy import select

from webapp.accounts.access import company_id, requires
from webapp.accounts.models import User
from webapp.accounts.permissions import Can
from webapp.activity import queries
from webapp.extensions import db
from webapp.query_args import id_arg
from webapp.rendering import page
from webapp.services import queries as services_queries

bp = Blueprint("activity", __name__, url_prefix="/activity")


@bp.get("")
@requires(Can.VIEW)
def index():
    """Events with their actor, filtered by who, what, client and day; "Older" pages back by
    event id."""
    query = queries.TrailQuery.from_args(request.args)
    older_than = id_arg(request.args, "older_than")
    cid = company_id()
    people = db.session.execute(
        select(User.id, User.name).where(User.company_id == cid).order_by(User.name)
    ).all()
    return page(
        "activity/index.html",
        fragments=("activity_table",),
        query=query,
        who=query.who,
        what=query.what,
        people=people,
        clients=services_queries.clients(cid),
        who_choices=queries.WHO_CHOICES,
        labels=queries.LABELS,
        trail=queries.page(cid, query, older_than, zone=current_user.company.timezone or "UTC"),
        newest=older_than is None,
    )
