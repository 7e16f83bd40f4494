"""Sign-in and sign-out pages, and `can` for templates."""

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from webapp.accounts.access import authenticate, safe_next
from webapp.accounts.forms import LoginForm
from webapp.accounts.permissions import ROLE_LABELS, Can, allows
from webapp.extensions import limiter

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"],
    methods=["POST"],
    key_func=lambda: "account:" + request.form.get("email", "").strip().lower()[:254],
)
def login():
    """Sign in."""
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user, remember=form.remember.data)
            target = safe_next(request.args.get("next", ""))
            return redirect(target or url_for("dashboard.overview"))
        form.password.errors.append("That email and password do not match an account.")
    return render_template("auth/login.html", form=form), 200 if not form.errors else 401


@bp.post("/logout")
@login_required
def logout():
    """Sign out."""
    logout_user()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))


def can(capability: str) -> bool:
    """In templates: may the signed-in person do this?"""
    if "viewer_role" not in g:  # asked per row on list pages: look the user up once
        g.viewer_role = current_user.role if current_user.is_authenticated else None
    return g.viewer_role is not None and allows(g.viewer_role, Can(capability))


@bp.record_once
def _template_globals(state):
    state.app.jinja_env.globals.update(can=can, Can=Can, ROLE_LABELS=ROLE_LABELS)
