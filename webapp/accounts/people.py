"""The company's people: invite, change role, deactivate and reactivate, passwords and sessions.

Every change is one unit of work with its event (service_id None), so it is in the activity trail
and the two mails that carry a signed link (invitation, password reset) are sent exactly once by
the notification listeners, which make the link when they run.

A company always keeps an admin who can sign in: the last active admin with a password cannot
be demoted or deactivated. The check locks the company's row first, so two admins demoting each
other at once cannot both pass it.
"""

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash

from webapp.accounts import passwords, tokens
from webapp.accounts.access import end_sessions, set_password
from webapp.accounts.models import User
from webapp.accounts.permissions import ROLE_LABELS
from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.extensions import db
from webapp.lifecycle import events as e
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.outbox import record, unit_of_work
from webapp.tenancy import NotFound, get_or_404, scoped

ACTIVE, INVITED, DEACTIVATED = "active", "invited", "deactivated"

# Who asked, when nobody signed in did: the "Forgot your password?" form.
FORGOT_ACTOR = "forgot-password form"


class Refused(Exception):
    """The change was not made; the message says why. `field`: the form field it is about."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def status(user: User) -> str:
    if not user.active:
        return DEACTIVATED
    return INVITED if user.password_hash is None else ACTIVE


def people(company_id: int) -> list[User]:
    """Everyone in the company: active and invited first, by name."""
    return list(
        db.session.scalars(
            scoped(User, company_id).order_by(
                case((User.active.is_(True), 0), else_=1), func.lower(User.name), User.id
            )
        )
    )


def by_email(company_id: int, email: str) -> User:
    user = db.session.scalars(
        scoped(User, company_id).where(func.lower(User.email) == email.strip().lower())
    ).first()
    if user is None:
        raise NotFound(f"No one with email {email.strip()} in company {company_id}.")
    return user


def find(company_id: int, user_id: int) -> User:
    return get_or_404(User, company_id, user_id)


def _person(company_id: int, user_id: int) -> User:
    """The person, read afresh and locked for the change (NotFound in another company)."""
    find(company_id, user_id)
    return db.session.scalars(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _keep_an_admin(user: User, action: str) -> None:
    """Refuse to take away the company's last admin who can sign in."""
    db.session.execute(select(Company.id).where(Company.id == user.company_id).with_for_update())
    if status(user) != ACTIVE or user.role != UserRole.ADMIN:
        return
    others = db.session.scalar(
        select(func.count()).where(
            User.company_id == user.company_id,
            User.id != user.id,
            User.role == UserRole.ADMIN,
            User.active.is_(True),
            User.password_hash.is_not(None),
        )
    )
    if not others:
        raise Refused(
            f"{user.name} is the last active admin, so cannot be {action}: "
            "make someone else an admin first."
        )


def invite(company_id: int, name: str, email: str, role: UserRole, actor: str) -> User:
    """A new person without a password yet; the invitation mail carries a link to choose one."""
    name, email = name.strip(), email.strip().lower()
    if not name:
        raise Refused("Give the person's name.", field="name")
    if (taken := _address_taken(company_id, email)) is not None:
        raise taken
    try:
        with unit_of_work():
            user = User(
                company_id=company_id,
                name=name,
                email=email,
                role=UserRole(role),
                invited_at=utcnow(),
            )
            db.session.add(user)
            db.session.flush()
            record(e.UserInvited(None, user.id, email, user.role.value), company_id, actor)
    except IntegrityError:  # invited by someone else a moment ago
        raise _address_taken(company_id, email) or Refused(
            f"{email} could not be invited: try again.", field="email"
        ) from None
    return user


def _address_taken(company_id: int, email: str) -> Refused | None:
    """Why an address with an account already cannot be invited. An address is unique across
    companies; which other one has it is not this company's business, so that answer is neutral."""
    owner = db.session.scalar(select(User.company_id).where(func.lower(User.email) == email))
    if owner is None:
        return None
    if owner == company_id:
        return Refused(f"{email} is already one of your people.", field="email")
    return Refused(
        "This address cannot be invited: it is already in use. "
        "Ask your operator if it should move here.",
        field="email",
    )


def change_role(company_id: int, user_id: int, role: UserRole, actor: str) -> User:
    role = UserRole(role)
    with unit_of_work():
        user = _person(company_id, user_id)
        if user.role == role:
            return user
        if role != UserRole.ADMIN:
            _keep_an_admin(user, f"made {ROLE_LABELS[role].lower()}")
        old = user.role
        user.role = role
        record(
            e.UserRoleChanged(None, user.id, user.email, old.value, role.value), company_id, actor
        )
    return user


def deactivate(company_id: int, user_id: int, actor: str, by_user_id: int | None = None) -> User:
    """They cannot sign in any more, and every session of theirs ends now."""
    with unit_of_work():
        user = _person(company_id, user_id)
        if user.id == by_user_id:
            raise Refused("You cannot deactivate yourself: ask another admin.")
        if not user.active:
            return user
        _keep_an_admin(user, "deactivated")
        user.active = False
        end_sessions(user.id)
        record(e.UserDeactivated(None, user.id, user.email), company_id, actor)
    return user


def reactivate(company_id: int, user_id: int, actor: str) -> User:
    """They may sign in again, with their password; old sessions stay ended."""
    with unit_of_work():
        user = _person(company_id, user_id)
        if user.active:
            return user
        user.active = True
        record(e.UserReactivated(None, user.id, user.email), company_id, actor)
    return user


def send_password_link(company_id: int, user_id: int, actor: str) -> str:
    """Mail a link to choose a password: the invitation again for someone who never chose one,
    else a password reset. Returns which ("invitation" or "reset")."""
    with unit_of_work():
        user = _person(company_id, user_id)
        if not user.active:
            raise Refused(f"{user.name} is deactivated: reactivate them first.")
        if user.password_hash is None:
            # Every invitation has the same password hash (none): moving the generation is what
            # makes the earlier link dead, so only the newest mail works.
            end_sessions(user.id)
            record(e.UserInvited(None, user.id, user.email, user.role.value), company_id, actor)
            return "invitation"
        record(e.PasswordResetRequested(None, user.id, user.email), company_id, actor)
    return "reset"


def forgot(email: str) -> None:
    """Mail a reset link if the address has an active account; say nothing either way."""
    email = (email or "").strip().lower()
    with unit_of_work():
        user = db.session.scalars(select(User).where(func.lower(User.email) == email)).first()
        if user is not None and user.active:
            record(
                e.PasswordResetRequested(None, user.id, user.email), user.company_id, FORGOT_ACTOR
            )


def _new_password(user: User, password: str, how: str, actor: str) -> None:
    if (why := passwords.problem(password)) is not None:
        raise Refused(why, field="password")
    set_password(user, password)
    user.password_changed_at = utcnow()
    db.session.flush()
    end_sessions(user.id)
    record(e.PasswordChanged(None, user.id, user.email, how), user.company_id, actor)


def change_password(user_id: int, current: str, new: str, actor: str) -> User:
    """The person's own change: their current password first. Every other session ends."""
    with unit_of_work():
        user = db.session.get(User, user_id, with_for_update=True, populate_existing=True)
        if not check_password_hash(user.password_hash or "", current):
            raise Refused("That is not your current password.", field="current")
        if new == current:
            raise Refused("Choose a password other than your current one.", field="password")
        _new_password(user, new, "changed", actor)
    return user


def choose_password(purpose: tokens.Purpose, token: str, password: str) -> User:
    """Set the password through an invitation or reset link, which then works no more."""
    with unit_of_work():
        user = tokens.user_for(purpose, token, lock=True)
        how = "invitation" if purpose is tokens.INVITATION else "reset"
        _new_password(user, password, how, f"user:{user.id} {user.email}")
    return user


def set_password_directly(company_id: int, user_id: int, password: str, actor: str) -> User:
    """An operator sets it (`flask users reset-password --password-file`)."""
    with unit_of_work():
        user = _person(company_id, user_id)
        if not user.active:
            raise Refused(f"{user.name} is deactivated: reactivate them first.")
        _new_password(user, password, "reset", actor)
    return user


def sign_out_everywhere(user_id: int, actor: str) -> None:
    with unit_of_work():
        user = db.session.get(User, user_id, with_for_update=True, populate_existing=True)
        end_sessions(user.id)
        record(e.SignedOutEverywhere(None, user.id, user.email), user.company_id, actor)
