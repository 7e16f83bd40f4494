"""The browsers a person has signed in from: device cookies, after OWASP's "Slow Down Online
Guessing Attacks with Device Cookies".

Theory of operation. The account-wide back-off (throttle.py) keeps guessing slow, but anyone may
keep it at its longest by typing a wrong password the moment each wait ends, and the owner would
then have to land between two of the attacker's attempts. So each successful check of a password
gives the browser a device cookie naming the account: a browser that presents one valid for the
account it signs in to is not held up by the account's wait. It has its own count instead
(LOGIN_DEVICE_FAILURES attempts, throttle.py), after which that cookie is trusted no more: a
stolen one buys a thief a handful of guesses, not a way round the back-off.

The cookie is the user's id, a random nonce (what its count is kept under) and a fingerprint of
the password hash, signed with SECRET_KEY under its own salt and dated by webapp.clock; it is
HttpOnly, SameSite=Lax, Secure over HTTPS, and lasts a year. Every sign-in replaces it with a
new nonce and retires the old one (a copy taken before is worth nothing from then on); a new
password, however it is set, makes every cookie of the account worthless, and signing out does
not (the browser is still the owner's). One cookie per browser: the last account signed in.
"""

import datetime as dt
import hashlib
import secrets

from flask import after_this_request, current_app, request
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import select

from webapp.accounts.access import normal_email
from webapp.accounts.models import User
from webapp.accounts.tokens import ClockSigner
from webapp.extensions import db
from webapp.tenancy import MAX_ID

COOKIE = "signin_device"
LASTS = dt.timedelta(days=365)
_SALT = "accounts.device-cookie"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT, signer=ClockSigner)


def _fingerprint(password_hash: str | None) -> str:
    # Every hash has its own salt: a new password, even the same one again, is a new fingerprint.
    # The hash's salt is not in the cookie, so the fingerprint cannot test guesses offline.
    return hashlib.sha256(f"device:{password_hash}".encode()).hexdigest()[:16]


def presented_for(email: str) -> str | None:
    """The nonce of this browser's device cookie if it is valid for the account `email` signs in
    to (signed by us, less than a year old, the password unchanged since), else None."""
    cookie = request.cookies.get(COOKIE, "")
    if not cookie or len(cookie) > 512 or not current_app.config["LOGIN_DEVICE_FAILURES"]:
        return None
    try:
        user_id, nonce, fingerprint = _serializer().loads(
            cookie, max_age=int(LASTS.total_seconds())
        )
    except (BadData, ValueError, TypeError):
        return None
    if not (isinstance(user_id, int) and 0 < user_id <= MAX_ID and isinstance(nonce, str)):
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active or normal_email(user.email) != normal_email(email):
        return None
    if fingerprint != _fingerprint(user.password_hash):
        return None
    return nonce


def trust(user_id: int) -> None:
    """After a right password: this browser gets a new device cookie for the account."""
    if not current_app.config["LOGIN_DEVICE_FAILURES"]:
        return
    # Read afresh: signing in may have just upgraded the hash, behind the loaded object's back.
    password_hash = db.session.scalar(select(User.password_hash).where(User.id == user_id))
    value = _serializer().dumps([user_id, secrets.token_urlsafe(16), _fingerprint(password_hash)])
    secure = current_app.config["SESSION_COOKIE_SECURE"] or request.is_secure

    @after_this_request
    def _set(response):
        response.set_cookie(
            COOKIE,
            value,
            max_age=int(LASTS.total_seconds()),
            secure=secure,
            httponly=True,
            samesite="Lax",
        )
        return response
