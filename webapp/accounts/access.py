"""Sign-in with email and password, sessions by Flask-Login, and the role check for views.

Sessions end on the server: every session and remember-me cookie names the person's session
generation (User.get_id), and the loader refuses one whose generation has moved on. Signing out,
deactivation, a new password and "sign out everywhere" move it (end_sessions)."""

from functools import wraps
from urllib.parse import urlsplit

from flask import abort, redirect, request, url_for
from flask_login import current_user, login_required, login_user
from sqlalchemy import func, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.accounts.models import User
from webapp.accounts.permissions import Can, allows
from webapp.clock import utcnow
from webapp.extensions import db, login_manager
from webapp.pipeline.outbox import unit_of_work
from webapp.tenancy import MAX_ID

# A hash to compare against when the email is unknown, so both cases take the same time.
_NO_USER_HASH = generate_password_hash("no such user")

# The method and cost werkzeug uses now ("scrypt:32768:8:1"); a stored hash with any other
# (an older pbkdf2, or scrypt at a lower cost) is replaced at the next successful sign-in.
CURRENT_HASH_METHOD = _NO_USER_HASH.split("$", 1)[0]


@login_manager.user_loader
def load_user(session_id: str):
    """The person a session or remember-me cookie names, unless the cookie is from an earlier
    session generation (signed out, deactivated, a new password, "sign out everywhere")."""
    user_id, _, generation = session_id.partition(":")
    numbers = (user_id, generation)
    if not all(n.isascii() and n.isdigit() and len(n) <= 18 for n in numbers):
        return None  # a cookie from before generations (just the id) signs in again
    if not 0 < int(user_id) <= MAX_ID:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_generation != int(generation):
        return None
    return user


def end_sessions(user_id: int) -> None:
    """End every session and remember-me cookie of the person, in the open unit of work."""
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(session_generation=User.session_generation + 1)
        .execution_options(synchronize_session="fetch")
    )


def sign_out(user_id: int) -> None:
    """Signing out ends the person's sessions everywhere: a copied cookie is worth nothing."""
    with unit_of_work():
        end_sessions(user_id)


def sign_in(user: User, remember: bool = False) -> None:
    """Start a session for `user` (of the current generation) and note when."""
    with unit_of_work():
        db.session.execute(
            update(User)
            .where(User.id == user.id)
            .values(last_sign_in_at=utcnow())
            .execution_options(synchronize_session="fetch")
        )
    login_user(user, remember=remember)


def set_password(user: User, password: str) -> None:
    user.password_hash = generate_password_hash(password)  # scrypt, werkzeug's current default


def normal_email(email: str) -> str:
    """The address as sign-in looks it up: any two ways of typing it that find the same person
    give the same string (the sign-in back-off counts per this)."""
    return email.strip().lower()


def authenticate(email: str, password: str) -> User | None:
    user = db.session.scalars(
        select(User).where(func.lower(User.email) == normal_email(email))
    ).first()
    found = user is not None and user.password_hash is not None
    # Checked against the dummy hash when there is nothing to check against, for the same time;
    # its own password ("no such user") must then open nothing.
    matches = check_password_hash(user.password_hash if found else _NO_USER_HASH, password)
    if not (found and matches and user.active):  # one answer for all, after the same work
        return None
    if user.password_hash.split("$", 1)[0] != CURRENT_HASH_METHOD:
        # Only now is the password in hand; upgrading here keeps every hash current without
        # asking anyone to reset theirs. Only over the hash just checked: a password changed
        # meanwhile is not put back.
        checked = user.password_hash
        with unit_of_work():
            db.session.execute(
                update(User)
                .where(User.id == user.id, User.password_hash == checked)
                .values(password_hash=generate_password_hash(password))
                .execution_options(synchronize_session=False)
            )
    return user


def requires(capability: Can):
    """Views that need a capability: signed in, and a role that has it (else 403 saying so)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not allows(current_user.role, capability):
                abort(403, description=f"Your role cannot {capability.value}.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


def safe_next(target: str) -> str | None:
    """A path on this site to return to after sign-in, or None (never another host)."""
    cleaned = "".join(ch for ch in target if ch.isprintable() and not ch.isspace())
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc or not cleaned.startswith("/") or cleaned.startswith("//"):
        return None
    if cleaned.startswith("/\\"):
        return None
    return cleaned


@login_manager.unauthorized_handler
def unauthorized():
    """Pages redirect to sign-in; an htmx request from an expired session reloads the page
    there (a 401 with HX-Redirect) instead of swapping the sign-in form into a panel."""
    login = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
    if request.headers.get("HX-Request"):
        return "", 401, {"HX-Redirect": url_for("auth.login")}
    return redirect(login)


def company_id() -> int:
    return current_user.company_id


def actor() -> str:
    return f"user:{current_user.id} {current_user.email}"
