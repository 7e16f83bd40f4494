"""Signed links that let a person choose a password: an invitation (7 days) or a reset (1 hour).

A token is the user's id and a fingerprint of their password hash and session generation,
signed with SECRET_KEY under a salt per purpose (an invitation token is no reset token), with the
time it was made. Nothing is stored: choosing a password changes the hash, so the fingerprint no
longer matches and the link works once; deactivation and sending the invitation again move the
generation, so a link from before either is dead too (invitations have no hash to tell them
apart). Its time comes from webapp.clock, so a frozen clock ages it too.
"""

import datetime as dt
import hashlib
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from webapp.accounts.models import User
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.tenancy import MAX_ID


@dataclass(frozen=True)
class Purpose:
    salt: str
    path: str  # the page that takes it: /<path>/<token>
    valid_for: dt.timedelta

    @property
    def lasts(self) -> str:
        days, hours = self.valid_for.days, self.valid_for.seconds // 3600
        return f"{days} days" if days else f"{hours} hour" + ("s" if hours != 1 else "")


INVITATION = Purpose("accounts.invitation", "invite", dt.timedelta(days=7))
RESET = Purpose("accounts.password-reset", "reset", dt.timedelta(hours=1))


class LinkRefused(Exception):
    """The link cannot be used; the message says why and what to do instead."""


class ClockSigner(TimestampSigner):
    """Signs with webapp.clock's time, so a frozen or moved clock ages what it signed."""

    def get_timestamp(self) -> int:
        return int(utcnow().replace(tzinfo=dt.UTC).timestamp())


def _serializer(purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt=purpose.salt, signer=ClockSigner
    )


def _fingerprint(user: User) -> str:
    # Changes whenever a password is set (every hash has its own salt): a used link is dead.
    # And whenever the sessions end (deactivation, an invitation sent again): older links too.
    state = f"{user.password_hash or 'no password'}:{user.session_generation}"
    return hashlib.sha256(state.encode()).hexdigest()[:16]


def make(purpose: Purpose, user: User) -> str:
    return _serializer(purpose).dumps([user.id, _fingerprint(user)])


def link(purpose: Purpose, user: User) -> str:
    """The absolute address to mail: workers have no request, so it starts at PUBLIC_URL."""
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    return f"{base}/{purpose.path}/{make(purpose, user)}"


def user_for(purpose: Purpose, token: str, lock: bool = False) -> User:
    """The person the token was made for, if it may still be used; else LinkRefused.

    `lock`: read the row afresh and locked, so two uses of one link at once cannot both pass."""
    ask_again = (
        "Ask an admin to invite you again."
        if purpose is INVITATION
        else "Ask for a new one with “Forgot your password?” on the sign-in page."
    )
    try:
        user_id, fingerprint = _serializer(purpose).loads(
            token, max_age=int(purpose.valid_for.total_seconds())
        )
    except SignatureExpired:
        raise LinkRefused(
            f"This link has expired: it was valid for {purpose.lasts}. {ask_again}"
        ) from None
    except (BadSignature, ValueError, TypeError):
        raise LinkRefused(
            "This link is not valid: check that the whole address was copied from the mail. "
            + ask_again
        ) from None
    if not isinstance(user_id, int) or not 0 < user_id <= MAX_ID:
        raise LinkRefused("This link is not valid. " + ask_again)
    user = db.session.get(User, user_id, with_for_update=lock, populate_existing=lock)
    if user is None or not user.active:
        raise LinkRefused("This link cannot be used: the account is not active.")
    if fingerprint != _fingerprint(user):
        raise LinkRefused(
            "This link has been used already, or a newer one replaced it. "
            "Sign in with your password, or " + ask_again[0].lower() + ask_again[1:]
        )
    return user
