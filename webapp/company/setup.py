"""A company from nothing: the company (the MSP) and its first admin, made together.

One function, `create`, holds the rules; the /setup page, `flask setup` and `flask companies
create` all go through it, so a company made any of the three ways is the same. The first
company of an installation is made only while there is none (`first=True`), checked inside the
transaction that makes it, so two setups racing each other cannot make two companies.

The setup token lets whoever started the server (and saw its output) open /setup, and nobody
else: it comes from SETUP_TOKEN, or from the file SETUP_TOKEN_FILE names (`make run DEMO=0`
writes a random one there), read per request so every web worker sees the same token.
"""

import contextlib
import datetime as dt
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from webapp.accounts import passwords
from webapp.accounts.access import set_password
from webapp.accounts.models import User
from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.company.settings import valid_timezone
from webapp.extensions import db
from webapp.forms import CURRENCIES, EMAIL
from webapp.lifecycle.sla import BusinessHours
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.outbox import unit_of_work

# A shorter SETUP_TOKEN could be guessed; the generated ones are 43 characters.
MIN_TOKEN_LENGTH = 16
WEEKDAYS_OPEN = range(5)  # Monday to Friday; Settings has the whole week
DEFAULT_HOURS = (dt.time(8), dt.time(18))


@dataclass(frozen=True)
class NewCompany:
    name: str
    timezone: str
    currency: str
    admin_name: str
    admin_email: str
    password: str
    opens: dt.time = DEFAULT_HOURS[0]
    closes: dt.time = DEFAULT_HOURS[1]


@dataclass(frozen=True)
class Created:
    company_id: int
    admin_id: int


class SetupRefused(Exception):
    """Nothing was made; `problems` maps each field of NewCompany at fault to its message."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__(" ".join(problems.values()))


class CompanyExists(SetupRefused):
    """Setup makes the installation's first company only."""

    def __init__(self):
        super().__init__(
            {"name": "A company exists already: sign in, or use `flask companies create`."}
        )


def problems(new: NewCompany) -> dict[str, str]:
    """What is wrong with `new`, field by field (empty when it can be made)."""
    found = {}
    if not new.name.strip():
        found["name"] = "Enter the company's name."
    elif len(new.name.strip()) > 200:
        found["name"] = "At most 200 characters."
    if not valid_timezone(new.timezone.strip()):
        found["timezone"] = (
            "Not a time zone name we know: use one such as Europe/London or America/New_York."
        )
    if new.currency not in CURRENCIES:
        found["currency"] = f"Choose one of {', '.join(CURRENCIES)}."
    if new.closes <= new.opens:
        found["closes"] = "Closing time must be after opening time."
    if not new.admin_name.strip():
        found["admin_name"] = "Enter the admin's name."
    elif len(new.admin_name.strip()) > 200:
        found["admin_name"] = "At most 200 characters."
    email = new.admin_email.strip()
    if len(email) > 254 or not re.match(EMAIL, email):
        found["admin_email"] = "Enter an email address such as you@example.com."
    if problem := passwords.problem(new.password):
        found["password"] = problem
    return found


def company_exists() -> bool:
    return db.session.scalar(select(Company.id).limit(1)) is not None


def _lock_companies() -> None:
    """Hold off other company-making transactions until this one ends. On SQLite the unit of
    work's BEGIN IMMEDIATE already does (one writer at a time); PostgreSQL needs the lock, or
    two transactions could each see no company and each make one."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE companies IN EXCLUSIVE MODE"))


def _email_taken(email: str) -> bool:
    return db.session.scalar(select(User.id).where(func.lower(User.email) == email)) is not None


EMAIL_TAKEN = "A person with this email exists already (in this or another company)."


def create(new: NewCompany, *, first: bool) -> Created:
    """Make the company and its first admin in one transaction, or nothing (SetupRefused).

    `first`: only if the installation has no company yet (setup); otherwise another company
    beside those there are (an operator hosting several MSPs)."""
    if found := problems(new):
        raise SetupRefused(found)
    email = new.admin_email.strip().lower()
    try:
        with unit_of_work():
            _lock_companies()
            if first and company_exists():
                raise CompanyExists()
            if _email_taken(email):
                raise SetupRefused({"admin_email": EMAIL_TAKEN})
            hours = BusinessHours(
                new.timezone.strip(), {day: (new.opens, new.closes) for day in WEEKDAYS_OPEN}
            )
            company = Company(
                name=new.name.strip(),
                timezone=hours.timezone,
                currency=new.currency,
                business_hours=hours.to_json(),
            )
            db.session.add(company)
            db.session.flush()
            admin = User(
                company_id=company.id,
                email=email,
                name=new.admin_name.strip(),
                role=UserRole.ADMIN,
                password_changed_at=utcnow(),
            )
            set_password(admin, new.password)
            db.session.add(admin)
            db.session.flush()
            created = Created(company.id, admin.id)
    except IntegrityError:
        # The same email taken by a concurrent transaction between the check and the insert.
        raise SetupRefused({"admin_email": EMAIL_TAKEN}) from None
    return created


def companies() -> list[tuple[Company, int]]:
    """Every company with how many people sign in to it, oldest first (for operators)."""
    people = select(User.company_id, func.count().label("n")).group_by(User.company_id).subquery()
    rows = db.session.execute(
        select(Company, func.coalesce(people.c.n, 0))
        .outerjoin(people, people.c.company_id == Company.id)
        .order_by(Company.id)
    ).all()
    return [(company, n) for company, n in rows]


# -- The setup token -----------------------------------------------------------------------


def configured_token() -> str | None:
    """The token /setup asks for, or None (then /setup is not there at all)."""
    token = current_app.config.get("SETUP_TOKEN") or ""
    path = current_app.config.get("SETUP_TOKEN_FILE") or ""
    if not token and path:
        try:
            token = Path(path).read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
    return token if len(token) >= MIN_TOKEN_LENGTH else None


def token_matches(given: str | None) -> bool:
    expected = configured_token()
    if not expected or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def write_new_token(path: str) -> str:
    """A fresh random token in `path`, readable by this user only (like instance/secret_key)."""
    token = secrets.token_urlsafe(32)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)  # a new file gets the mode below; an old one keeps its own
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
    return token


def forget_token() -> None:
    """After setup the token opens nothing; removing its file keeps it from being shown again."""
    path = current_app.config.get("SETUP_TOKEN_FILE")
    if path:
        # A read-only secret mount stays as it is: the token opens nothing now anyway.
        with contextlib.suppress(OSError):
            Path(path).unlink(missing_ok=True)
