"""Activity: the audit trail of who did what, newest first, for everyone in the company."""

from flask import Blueprint, request
from sqlalchemy import select

from webapp import audit_trail
from webapp.auth import company_id, requires
from webapp.extensions import db
from webapp.models import User
from webapp.permissions import Can
from webapp.rendering import page

bp = Blueprint("activity", __name__, url_prefix="/activity")


@bp.get("")
@requires(Can.VIEW)
def index():
    """Events with their actor, filtered by who and what; "Older" pages back by event id."""
    who = request.args.get("who", "")
    what = request.args.get("what", "")
    people = db.session.execute(
        select(User.id, User.name).where(User.company_id == company_id()).order_by(User.name)
    ).all()
    return page(
        "activity/index.html",
        fragments=("activity_table",),
        who=who,
        what=what,
        people=people,
        who_choices=audit_trail.WHO_CHOICES,
        labels=audit_trail.LABELS,
        trail=audit_trail.page(company_id(), who, what, request.args.get("older_than", type=int)),
        newest=not request.args.get("older_than"),
    )
