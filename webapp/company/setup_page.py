"""/setup: the installation's first company and its admin, opened by the token the server
printed. While a company exists, or without the token, the page is not there (404): once used,
it is gone, and a stranger learns nothing from it."""

from flask import Blueprint, abort, redirect, render_template, request, url_for

from webapp.accounts.access import sign_in
from webapp.accounts.models import User
from webapp.company import setup
from webapp.company.forms import SetupForm
from webapp.company.settings import zone_names
from webapp.extensions import db

bp = Blueprint("setup", __name__)


@bp.route("/setup", methods=["GET", "POST"])
def index():
    """The setup form (no sign-in: there is nobody to sign in as yet)."""
    token = request.args.get("token", "")
    if not setup.token_matches(token) or setup.company_exists():
        abort(404)
    form = SetupForm()
    if form.validate_on_submit():
        try:
            created = setup.create(form.new_company(), first=True)
        except setup.CompanyExists:
            abort(404)  # another setup finished first
        except setup.SetupRefused as refused:
            form.show(refused.problems)
        else:
            setup.forget_token()
            sign_in(db.session.get(User, created.admin_id))
            return redirect(url_for("dashboard.overview"), 303)
    status = 422 if form.errors else 200
    return render_template("setup/index.html", form=form, token=token, zones=zone_names()), status
