"""Sign-in and sign-out, one's own account (password, "sign out everywhere"), the links that let
a person choose a password (invitation, reset, "Forgot your password?"), and `can` for templates."""

import math
import time

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_limiter import RateLimitExceeded
from flask_login import current_user, login_required, logout_user

from webapp.accounts import devices, people, throttle, tokens
from webapp.accounts.access import (
    actor,
    authenticate,
    normal_email,
    safe_next,
    sign_in,
    sign_out,
)
from webapp.accounts.forms import ChangePasswordForm, ChoosePasswordForm, ForgotForm, LoginForm
from webapp.accounts.permissions import ROLE_LABELS, Can, allows
from webapp.errors import render_error
from webapp.extensions import limiter

bp = Blueprint("auth", __name__)

# The same answer whether the address has an account or not: nobody learns who does from it.
FORGOT_ANSWER = (
    "If that address has an account, a link to choose a new password is on its way. "
    f"It works once, for {tokens.RESET.lasts}."
)


def _per_account(prefix: str):
    return lambda: prefix + normal_email(request.form.get("email", ""))[:254]


def _wrong_password_or_waited(response) -> bool:
    # Only failures spend a client's allowance: an office behind one address signing in at
    # nine is not refused, nor is a person who typed the right password. Attempts refused for
    # an account's wait spend it too: polling for the moment a wait ends is not free.
    return response.status_code in (401, 429)


@bp.errorhandler(RateLimitExceeded)
def _too_many(exc: RateLimitExceeded):
    """A limit of these pages (per client, per address asked about), with how long to wait."""
    breached = limiter.current_limit
    seconds = breached.reset_at - time.time() if breached else 60
    message = f"Too many attempts. Wait {throttle.for_how_long(seconds)} and try again."
    body, status, *headers = render_error(429, message)
    return body, status, {**(headers[0] if headers else {}), **_retry_after(seconds)}


def _retry_after(seconds: float) -> dict:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_RATE_LIMIT"],
    methods=["POST"],
    deduct_when=_wrong_password_or_waited,
)
def login():
    """Sign in."""
    form = LoginForm()
    if form.validate_on_submit():
        device = devices.presented_for(form.email.data)
        try:
            throttle.attempt(form.email.data, device)
        except throttle.TooManyFailures as wait:
            form.password.errors.append(str(wait))
            body = render_template("auth/login.html", form=form)
            return body, 429, _retry_after(wait.seconds)
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            throttle.succeeded(form.email.data, device)
            sign_in(user, remember=form.remember.data)
            devices.trust(user.id)
            target = safe_next(request.args.get("next", ""))
            return redirect(target or url_for("dashboard.overview"))
        form.password.errors.append("That email and password do not match an account.")
    return render_template("auth/login.html", form=form), 200 if not form.errors else 401


@bp.post("/logout")
@login_required
def logout():
    """Sign out: this session and every other one of this person end (a copied cookie too)."""
    sign_out(current_user.id)
    logout_user()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))


@bp.get("/account")
@login_required
def account():
    """One's own account: who, the password, and the sessions."""
    return render_template("auth/account.html", form=ChangePasswordForm(formdata=None))


@bp.post("/account/password")
@login_required
def change_password():
    """A new password, the current one first; other browsers are signed out, this one stays.
    Guesses at the current password wait as sign-in's do: a stolen session gains nothing."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        email, device = current_user.email, devices.presented_for(current_user.email)
        try:
            throttle.attempt(email, device)
            user = people.change_password(
                current_user.id, form.current.data, form.password.data, actor()
            )
        except throttle.TooManyFailures as wait:
            form.current.errors.append(str(wait))
            body = render_template("auth/account.html", form=form)
            return body, 429, _retry_after(wait.seconds)
        except people.Refused as refused:
            if refused.field != "current":  # the current password was right
                throttle.succeeded(email, device)
                devices.trust(current_user.id)
            getattr(form, refused.field).errors.append(str(refused))
        else:
            throttle.succeeded(email, device)
            sign_in(user, remember=_has_remember_cookie())
            devices.trust(user.id)  # the new password made every device cookie worthless
            flash("Your password is changed. Every other session of yours has ended.")
            return redirect(url_for("auth.account"), 303)
    return render_template("auth/account.html", form=form), 422


def _has_remember_cookie() -> bool:
    # Keep "keep me signed in" across the change, with a cookie of the new generation.
    return current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_everywhere():
    """End every session of this person, in every browser, this one included."""
    people.sign_out_everywhere(current_user.id, actor())
    logout_user()
    flash("You are signed out everywhere: every browser must sign in again.")
    return redirect(url_for("auth.login"), 303)


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
@limiter.limit(
    lambda: current_app.config["PASSWORD_RESET_RATE_LIMIT"],
    methods=["POST"],
    key_func=_per_account("reset:"),
)
def forgot():
    """Ask for a link to choose a new password."""
    form = ForgotForm()
    if form.validate_on_submit():
        people.forgot(form.email.data)
        flash(FORGOT_ANSWER)
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/forgot.html", form=form), 422 if form.errors else 200


def _choose(purpose: tokens.Purpose, token: str):
    try:
        user = tokens.user_for(purpose, token)
    except tokens.LinkRefused as refused:
        return render_template("auth/link_refused.html", message=str(refused)), 400
    form = ChoosePasswordForm()
    if form.validate_on_submit():
        try:
            user = people.choose_password(purpose, token, form.password.data)
        except tokens.LinkRefused as refused:  # used a moment ago, in another tab
            return render_template("auth/link_refused.html", message=str(refused)), 400
        except people.Refused as refused:
            form.password.errors.append(str(refused))
        else:
            sign_in(user)
            devices.trust(user.id)  # the new password made every device cookie worthless
            flash(f"Your password is set. Welcome, {user.name}.")
            return redirect(url_for("dashboard.overview"), 303)
    status = 422 if form.errors else 200
    return render_template("auth/choose.html", form=form, user=user, purpose=purpose), status


@bp.route(f"/{tokens.INVITATION.path}/<token>", methods=["GET", "POST"])
def invitation(token):
    """Accept an invitation: choose a password, then in."""
    return _choose(tokens.INVITATION, token)


@bp.route(f"/{tokens.RESET.path}/<token>", methods=["GET", "POST"])
def reset(token):
    """Choose a new password through a reset link."""
    return _choose(tokens.RESET, token)


def can(capability: str) -> bool:
    """In templates: may the signed-in person do this?"""
    if "viewer_role" not in g:  # asked per row on list pages: look the user up once
        g.viewer_role = current_user.role if current_user.is_authenticated else None
    return g.viewer_role is not None and allows(g.viewer_role, Can(capability))


@bp.record_once
def _template_globals(state):
    state.app.jinja_env.globals.update(can=can, Can=Can, ROLE_LABELS=ROLE_LABELS)
