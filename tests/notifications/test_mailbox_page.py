"""/mailbox, the local mail catcher's page: newest first, a page at a time."""

import datetime as dt
import mailbox
import re
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from webapp.lifecycle.statuses import UserRole
from webapp.notifications.mailbox import mail_page


def deliver(directory, n: int) -> None:
    """`n` mails, "Mail 00" the oldest, an hour apart, added in a shuffled order (a catcher's
    file names need not follow the mails' dates)."""
    box = mailbox.Maildir(directory, create=True)
    for i in sorted(range(n), key=lambda i: (i * 7) % n):
        message = EmailMessage()
        message["To"] = f"it{i}@client.example"
        message["From"] = "dashboard@msp.example"
        message["Subject"] = f"Mail {i:02}"
        message["Date"] = format_datetime(
            dt.datetime(2027, 3, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i)
        )
        message.set_content(f"Body {i:02}")
        box.add(message)


def subjects(html: str) -> list[str]:
    return re.findall(r"<strong>(Mail \d+)</strong>", html)


@pytest.fixture
def catcher(app, tmp_path):
    directory = str(tmp_path / "mailbox")
    app.config.update(MAILBOX_DIR=directory, PAGE_SIZE=4)
    return directory


def test_the_mailbox_comes_a_page_at_a_time_newest_first(as_role, catcher):
    deliver(catcher, 10)
    viewer = as_role(UserRole.VIEWER)
    first = viewer.get("/mailbox").get_data(as_text=True)
    assert subjects(first) == ["Mail 09", "Mail 08", "Mail 07", "Mail 06"]
    assert "10 messages · page 1 of 3" in first and "Body 09" in first
    assert 'href="/mailbox?page=2"' in first
    third = viewer.htmx_get("/mailbox?page=3", "mailbox_list").get_data(as_text=True)
    assert third.lstrip().startswith('<div id="mailbox_list"')
    assert subjects(third) == ["Mail 01", "Mail 00"]
    assert "← Newer" in third and "Older →" not in third
    # A page past the last shows the last; a nonsense one, the first.
    assert subjects(viewer.get("/mailbox?page=40").get_data(as_text=True)) == subjects(third)
    assert subjects(viewer.get("/mailbox?page=x").get_data(as_text=True))[0] == "Mail 09"


def test_an_empty_or_missing_catcher_folder_says_no_mail_yet(as_role, catcher):
    viewer = as_role(UserRole.VIEWER)
    html = viewer.get("/mailbox").get_data(as_text=True)
    assert "No mail yet" in html and 'aria-label="Pages"' not in html


def test_mail_without_a_date_comes_last(catcher):
    deliver(catcher, 2)
    undated = EmailMessage()
    undated["Subject"] = "Mail 99"
    undated.set_content("no date")
    mailbox.Maildir(catcher).add(undated)
    page = mail_page(catcher, 1, 10)
    assert [m["subject"] for m in page.messages] == ["Mail 01", "Mail 00", "Mail 99"]
    assert (page.total, page.pages) == (3, 1)
