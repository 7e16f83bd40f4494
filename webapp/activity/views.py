"""Activity: the audit trail of who did what, newest first, for everyone in the company."""

from flask import Blueprint, request
from flask_login import current_user
from sqlalchemy import select

from webapp.accounts.access import company_id, requires
from webapp.accounts.models import User
from webapp.accounts.permissions import Can
from webapp.activity import queries as audit_trail
from webapp.date_range import DateRange
from webapp.extensions import db
from webapp.rendering import page
from webapp.services import queries as rm

bp = Blueprint("activity", __name__, url_prefix="/activity")


def _query() -> audit_trail.TrailQuery:
    args = request.args
    return audit_trail.TrailQuery(
        who=args.get("who", "")[:20],
        what=args.get("what", "")[:60],
        client=args.get("client", type=int),
        occurred=DateRange.from_args(args),
    )


@bp.get("")
@requires(Can.VIEW)
def index():
    """Events with their actor, filtered by who, what, client and day; "Older" pages back by
    event id."""
    query = _query()
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
        clients=rm.clients(cid),
        who_choices=audit_trail.WHO_CHOICES,
        labels=audit_trail.LABELS,
        trail=audit_trail.page(
            cid,
            query,
            request.args.get("older_than", type=int),
            zone=current_user.company.timezone or "UTC",
        ),
        newest=not request.args.get("older_than"),
    )
