"""GET /mailbox: the local mail catcher's messages, newest first (development and demos)."""

import mailbox
from email import policy
from email.parser import BytesParser

from flask import Blueprint, abort, current_app

from webapp.accounts.access import requires
from webapp.accounts.permissions import Can
from webapp.rendering import page

bp = Blueprint("mailbox", __name__)


def read_messages(directory: str, limit: int = 50) -> list[dict]:
    box = mailbox.Maildir(directory, factory=None, create=False)
    messages = []
    for key in box.iterkeys():
        with box.get_file(key) as f:
            message = BytesParser(policy=policy.default).parse(f)
        text = message.get_body(preferencelist=("plain",))
        messages.append(
            {
                "to": message["To"],
                "subject": message["Subject"],
                "date": message["Date"],
                "text": text.get_content() if text else "",
                "sort": message["Date"].datetime if message["Date"] else None,
            }
        )
    messages.sort(key=lambda m: (m["sort"] is None, m["sort"]), reverse=True)
    return messages[:limit]


@bp.get("/mailbox")
@requires(Can.VIEW)
def index():
    """The catcher's mail, when this instance runs one."""
    directory = current_app.config["MAILBOX_DIR"]
    if not directory:
        abort(404)
    try:
        messages = read_messages(directory)
    except FileNotFoundError:
        messages = []
    return page("mailbox/index.html", fragments=("mailbox_list",), messages=messages)
