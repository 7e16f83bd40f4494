"""People who sign in, and the API tokens monitoring tools use."""

import datetime as dt

from flask_login import UserMixin
from sqlalchemy import String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.database import TenantMixin, _enum
from webapp.extensions import db
from webapp.lifecycle.statuses import (
    UserRole,
)


class User(UserMixin, TenantMixin, db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[UserRole] = mapped_column(_enum(UserRole))
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None until an invite is taken
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # A deactivated person cannot sign in; their name stays on what they did.
    active: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    # Part of every session and remember-me cookie: bumping it (sign-out, deactivation, a new
    # password, "sign out everywhere") ends all of them at once, on the server.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    invited_at: Mapped[dt.datetime | None]
    last_sign_in_at: Mapped[dt.datetime | None]
    password_changed_at: Mapped[dt.datetime | None]

    company: Mapped[Company] = relationship()

    def get_id(self) -> str:
        # What Flask-Login keeps in the session and the remember-me cookie; the loader
        # (webapp.accounts.access.load_user) refuses it once the generation has moved on.
        return f"{self.id}:{self.session_generation}"

    @property
    def is_active(self) -> bool:
        return self.active


class ApiToken(TenantMixin, db.Model):
    """A company's key for the JSON API. Only its SHA-256 is kept; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to tell tokens apart
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
