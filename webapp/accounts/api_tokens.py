"""API tokens: a company's keys for the JSON API, stored only as a hash and revocable.

A token is a recognisable prefix and 32 random bytes (secrets.token_urlsafe). Only its SHA-256
is kept. A fast unsalted hash is right here, unlike for passwords: 256 random bits cannot be
guessed or looked up in a table, so a slow hash (scrypt, as for passwords) would only slow every
request down without making a stolen hash any easier to reverse. Looking the token up by its
hash also means no secret is compared character by character in Python.
"""

import datetime as dt
import hashlib
import logging
import secrets

from sqlalchemy import or_, select, update

from webapp.accounts.models import ApiToken
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.pipeline.outbox import unit_of_work
from webapp.tenancy import get_or_404, scoped

log = logging.getLogger(__name__)

# Recognisable in logs, configs and by secret scanners; says nothing about the secret part.
PREFIX = "mspd_"

SHOWN_PREFIX = len(PREFIX) + 6  # what lists show to tell tokens apart (fits ApiToken.prefix)

MAX_TOKEN_LENGTH = 200  # anything longer is not one of ours: refused without a query

# last_used_at is a hint for people ("is this token still in use?"), not an audit log: writing
# it at most once a minute keeps a burst of alerts from queueing on the database's write lock.
LAST_USED_EVERY = dt.timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(company_id: int, name: str, actor: str) -> tuple[ApiToken, str]:
    """A new token for the company; returns its row and the token, which is shown only now."""
    name = (name or "").strip()
    if not name:
        raise ValueError("Give the token a name that says who uses it, e.g. 'prometheus'.")
    if len(name) > 120:
        raise ValueError("A token name has at most 120 characters.")
    token = PREFIX + secrets.token_urlsafe(32)
    with unit_of_work():
        row = ApiToken(
            company_id=company_id,
            name=name,
            token_hash=_digest(token),
            prefix=token[:SHOWN_PREFIX],
            created_by=actor,
        )
        db.session.add(row)
    log.info("API token %s (%s) created by %s", row.id, name, actor)
    return row, token


def tokens(company_id: int) -> list[ApiToken]:
    return list(db.session.scalars(scoped(ApiToken, company_id).order_by(ApiToken.id)))


def revoke(company_id: int, token_id: int, actor: str) -> ApiToken:
    """Revoke the token from now on; revoking it again changes nothing."""
    with unit_of_work():
        row = get_or_404(ApiToken, company_id, token_id)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            log.info("API token %s (%s) revoked by %s", row.id, row.name, actor)
    return row


def authenticate(token: str) -> ApiToken | None:
    """The live token with this value, or None (unknown, malformed or revoked)."""
    token = (token or "").strip()
    if not token.startswith(PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = db.session.scalars(
        select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    now = utcnow()
    if row.last_used_at is None or row.last_used_at <= now - LAST_USED_EVERY:
        _touch(row.id, now)
    return row


def _touch(token_id: int, now: dt.datetime) -> None:
    with unit_of_work():
        db.session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == token_id,
                or_(
                    ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_EVERY
                ),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
