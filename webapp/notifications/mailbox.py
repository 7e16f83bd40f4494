"""GET /mailbox: the local mail catcher's messages, newest first (development and demos).

The catcher keeps every company's mail in one folder, and some of it carries a link to choose a
password. So a person sees only the mail addressed to them; an admin also sees the mail to their
own company's addresses (its people, its clients' contacts, its escalation address), never mail
the dashboard sent for another company; and a link to choose a password is masked in every
mail but the reader's own, so nobody can take over someone else's account from this page.
"""

import datetime as dt
import mailbox
import re
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses

from flask import Blueprint, abort, current_app, request
from flask_login import current_user
from sqlalchemy import func, select

from webapp.accounts import tokens
from webapp.accounts.access import requires
from webapp.accounts.models import User
from webapp.accounts.permissions import Can, allows
from webapp.clients.models import Contact
from webapp.company.models import Company
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.notifications.models import Notification
from webapp.rendering import page
from webapp.tenancy import MAX_ID

bp = Blueprint("mailbox", __name__)

# /invite/<token> and /reset/<token>: the token is all a password needs.
_PASSWORD_LINK = re.compile(rf"(/(?:{tokens.INVITATION.path}|{tokens.RESET.path})/)[^\s<>\"')\]]+")
# The Message-ID webapp.notifications.mailer gives each notification's mail.
_NOTIFICATION_ID = re.compile(r"\.notification-(\d{1,18})@")


@dataclass(frozen=True)
class Reader:
    """Whose mail a page shows: the mail to `email`, and (for an admin) the mail to `company`,
    the company's addresses, unless the dashboard sent it for another company."""

    email: str
    company_id: int
    company: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MailPage:
    messages: list[dict]
    total: int
    page: int
    pages: int


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _sort_key(message) -> tuple[bool, float]:
    """(dated?, seconds since 1970 in UTC). A Date of -0000 ("zone unknown", RFC 5322 3.3)
    parses naive: it is read as UTC, never in this host's zone (in which a naive time is
    neither comparable with the others nor, near 9999-12-31, within datetime's range). A
    missing or garbled Date makes the mail undated: it sorts last."""
    try:
        when = message["Date"].datetime
    except Exception:  # the email package raises assorted errors on malformed headers
        return (False, 0.0)
    if not isinstance(when, dt.datetime):
        return (False, 0.0)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return (True, (when - _EPOCH).total_seconds())


def _addresses(message) -> set[str]:
    fields = [str(v) for name in ("To", "Cc") for v in message.get_all(name, [])]
    return {address.lower() for _, address in getaddresses(fields) if address}


def _notification_id(message) -> int | None:
    found = _NOTIFICATION_ID.search(str(message["Message-ID"] or ""))
    return int(found.group(1)) if found else None


def mask_password_links(text: str) -> str:
    return _PASSWORD_LINK.sub(r"\1…", text)


def _readable(headers: list[tuple], reader: Reader | None) -> list[tuple]:
    """(sort key, file key, the reader's own mail?) of the mail `reader` may read."""
    if reader is None:
        return [(key, file_key, True) for key, file_key, _, _ in headers]
    own_address = reader.email.lower()
    own, company = [], []
    for key, file_key, addresses, notification_id in headers:
        if own_address in addresses:
            own.append((key, file_key, True))
        elif addresses & reader.company:
            company.append((key, file_key, notification_id))
    # An address can be a contact at two companies; the notification says whose mail it is.
    ids = {n for _, _, n in company if n is not None and n <= MAX_ID}
    foreign = (
        set(
            db.session.scalars(
                select(Notification.id).where(
                    Notification.id.in_(ids), Notification.company_id != reader.company_id
                )
            )
        )
        if ids
        else set()
    )
    return own + [(key, file_key, False) for key, file_key, n in company if n not in foreign]


def mail_page(
    directory: str, page_number: int = 1, page_size: int = 50, reader: Reader | None = None
) -> MailPage:
    """One page of the catcher's mail that `reader` may read (all of it, unmasked, without a
    reader: for tools and tests), newest first. Every message's headers are read to choose
    and order them; only the page's messages are read whole."""
    box = mailbox.Maildir(directory, factory=None, create=False)
    headers = []
    for file_key in box.iterkeys():
        with box.get_file(file_key) as f:
            message = BytesHeaderParser(policy=policy.default).parse(f)
        try:
            addresses, notification_id = _addresses(message), _notification_id(message)
        except Exception:  # a To the email package cannot parse: nobody's mail, shown to none
            addresses, notification_id = set(), None
        headers.append((_sort_key(message), file_key, addresses, notification_id))
    readable = sorted(_readable(headers, reader), reverse=True)
    total = len(readable)
    pages = max(1, -(-total // page_size))
    page_number = min(max(1, page_number), pages)
    start = (page_number - 1) * page_size
    messages = []
    for _, file_key, own in readable[start : start + page_size]:
        with box.get_file(file_key) as f:
            message = BytesParser(policy=policy.default).parse(f)
        text = _body_text(message)
        messages.append(
            {
                "to": _header_text(message, "To"),
                "subject": _header_text(message, "Subject"),
                "date": _header_text(message, "Date"),
                "text": text if own else mask_password_links(text),
            }
        )
    return MailPage(messages, total, page_number, pages)


# One malformed mail in the catcher's folder (any program on the machine may send it one) must
# not break the page for everyone: what cannot be parsed is shown as it was written.


def _printable(text: str) -> str:
    # The parser keeps undecodable bytes as lone surrogates, which no page can be encoded with.
    return text.encode("utf-8", "replace").decode("utf-8")


def _header_text(message, name: str) -> str:
    try:
        value = str(message[name] or "")
    except Exception:  # the email package raises assorted errors on malformed headers
        value = next((str(v) for k, v in message.raw_items() if k.lower() == name.lower()), "")
    return _printable(value)


def _body_text(message) -> str:
    try:
        body = message.get_body(preferencelist=("plain",))
        return _printable(body.get_content() if body else "")
    except Exception:  # an unknown charset, a broken transfer encoding
        raw = message.get_payload(decode=True) if not message.is_multipart() else None
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""


def read_messages(directory: str, limit: int = 50) -> list[dict]:
    """The newest `limit` messages."""
    return mail_page(directory, 1, limit).messages


def company_addresses(company_id: int) -> frozenset[str]:
    """The addresses an admin of the company may read mail to: its people's, its clients'
    contacts' and its escalation address."""
    people = select(func.lower(User.email)).where(User.company_id == company_id)
    contacts = select(func.lower(Contact.email)).where(
        Contact.company_id == company_id, Contact.email.is_not(None)
    )
    escalation = db.session.get(Company, company_id).escalation_email
    found = {*db.session.scalars(people), *db.session.scalars(contacts)}
    return frozenset(found | ({escalation.lower()} if escalation else set()))


def _reader() -> Reader:
    user = current_user
    if user.role == UserRole.ADMIN or allows(user.role, Can.CONFIGURE):
        return Reader(user.email, user.company_id, company_addresses(user.company_id))
    return Reader(user.email, user.company_id)


@bp.get("/mailbox")
@requires(Can.VIEW)
def index():
    """The catcher's mail the signed-in person may read, a page at a time."""
    directory = current_app.config["MAILBOX_DIR"]
    if not directory:
        abort(404)
    wanted = request.args.get("page", 1, type=int)
    reader = _reader()
    try:
        result = mail_page(directory, wanted, current_app.config["PAGE_SIZE"], reader)
    except (FileNotFoundError, mailbox.NoSuchMailboxError):  # the catcher has not started yet
        result = MailPage([], 0, 1, 1)
    return page(
        "mailbox/index.html", fragments=("mailbox_list",), result=result, everyone=reader.company
    )
