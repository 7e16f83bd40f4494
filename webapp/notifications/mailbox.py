"""GET /mailbox: the local mail catcher's messages, newest first (development and demos)."""

import mailbox
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser, BytesParser

from flask import Blueprint, abort, current_app, request

from webapp.accounts.access import requires
from webapp.accounts.permissions import Can
from webapp.rendering import page

bp = Blueprint("mailbox", __name__)


@dataclass(frozen=True)
class MailPage:
    messages: list[dict]
    total: int
    page: int
    pages: int


def _sort_key(message):
    date = message["Date"]
    when = date.datetime if date else None
    return (when is not None, when.timestamp() if when else 0)


def mail_page(directory: str, page_number: int = 1, page_size: int = 50) -> MailPage:
    """One page of the catcher's mail, newest first. Every message's headers are read to
    order them; only the page's messages are read whole."""
    box = mailbox.Maildir(directory, factory=None, create=False)
    headers = []
    for key in box.iterkeys():
        with box.get_file(key) as f:
            headers.append((_sort_key(BytesHeaderParser(policy=policy.default).parse(f)), key))
    headers.sort(reverse=True)
    total = len(headers)
    pages = max(1, -(-total // page_size))
    page_number = min(max(1, page_number), pages)
    start = (page_number - 1) * page_size
    messages = []
    for _, key in headers[start : start + page_size]:
        with box.get_file(key) as f:
            message = BytesParser(policy=policy.default).parse(f)
        text = message.get_body(preferencelist=("plain",))
        messages.append(
            {
                "to": message["To"],
                "subject": message["Subject"],
                "date": message["Date"],
                "text": text.get_content() if text else "",
            }
        )
    return MailPage(messages, total, page_number, pages)


def read_messages(directory: str, limit: int = 50) -> list[dict]:
    """The newest `limit` messages."""
    return mail_page(directory, 1, limit).messages


@bp.get("/mailbox")
@requires(Can.VIEW)
def index():
    """The catcher's mail, when this instance runs one, a page at a time."""
    directory = current_app.config["MAILBOX_DIR"]
    if not directory:
        abort(404)
    wanted = request.args.get("page", 1, type=int)
    try:
        result = mail_page(directory, wanted, current_app.config["PAGE_SIZE"])
    except (FileNotFoundError, mailbox.NoSuchMailboxError):  # the catcher has not started yet
        result = MailPage([], 0, 1, 1)
    return page("mailbox/index.html", fragments=("mailbox_list",), result=result)
