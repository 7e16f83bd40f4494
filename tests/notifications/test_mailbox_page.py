"""/mailbox, the local mail catcher's page: newest first, a page at a time, and only the mail
the signed-in person may read (their own; an admin also their company's, never another's), with
links to choose a password masked in anyone else's mail."""

import datetime as dt
import mailbox
import re
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from sqlalchemy import select

from tests.support.factories import make_client, make_service
from webapp.company.models import Company
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.notifications.mailbox import mail_page
from webapp.notifications.models import Notification
from webapp.services import actions as lc


def deliver(directory, n: int, to=lambda i: f"it{i}@client.example") -> None:
    """`n` mails, "Mail 00" the oldest, an hour apart, added in a shuffled order (a catcher's
    file names need not follow the mails' dates); mail i goes to `to(i)`."""
    box = mailbox.Maildir(directory, create=True)
    for i in sorted(range(n), key=lambda i: (i * 7) % n):
        message = EmailMessage()
        message["To"] = to(i)
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
    # Ten mails to the viewer, every third mail to someone else: counted and paged after.
    deliver(catcher, 15, lambda i: "it@client.example" if i % 3 == 2 else "viewer@msp.example")
    viewer = as_role(UserRole.VIEWER)
    first = viewer.get("/mailbox").get_data(as_text=True)
    assert subjects(first) == ["Mail 13", "Mail 12", "Mail 10", "Mail 09"]
    assert "10 messages · page 1 of 3" in first and "Body 13" in first
    assert 'href="/mailbox?page=2"' in first
    third = viewer.htmx_get("/mailbox?page=3", "mailbox_list").get_data(as_text=True)
    assert third.lstrip().startswith('<div id="mailbox_list"')
    assert subjects(third) == ["Mail 01", "Mail 00"]
    assert "← Newer" in third and "Older →" not in third
    # A page past the last shows the last; a nonsense one, the first.
    assert subjects(viewer.get("/mailbox?page=40").get_data(as_text=True)) == subjects(third)
    assert subjects(viewer.get("/mailbox?page=x").get_data(as_text=True))[0] == "Mail 13"


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


def post(directory, to: str, subject: str, body: str, message_id: str | None = None) -> None:
    message = EmailMessage()
    message["To"] = to
    message["From"] = "dashboard@msp.example"
    message["Subject"] = subject
    message["Date"] = format_datetime(dt.datetime(2027, 3, 1, tzinfo=dt.UTC))
    if message_id:
        message["Message-ID"] = message_id
    message.set_content(body)
    mailbox.Maildir(directory, create=True).add(message)


def _shown(session) -> list[str]:
    return sorted(re.findall(r"<strong>([^<]+)</strong>", session.get("/mailbox").get_data(True)))


def test_a_viewer_reads_only_the_mail_addressed_to_them(as_role, company, catcher):
    viewer = as_role(UserRole.VIEWER)
    as_role(UserRole.ADMIN)
    make_client(company, email="it@acme.example")
    post(catcher, "Viewer <VIEWER@msp.example>", "For the viewer", "hello")
    post(catcher, "admin@msp.example", "For the admin", "hello")
    post(catcher, "it@acme.example", "For the client", "hello")
    assert _shown(viewer) == ["For the viewer"]
    assert "Only the mail addressed to you." in viewer.get("/mailbox").get_data(as_text=True)


def test_an_admin_reads_their_companys_mail_and_no_other_companys(
    as_role, company, other_company, catcher, work
):
    admin = as_role(UserRole.ADMIN)
    as_role(UserRole.VIEWER)
    make_client(company, email="it@acme.example")
    db.session.get(Company, company).escalation_email = "oncall@msp.example"
    make_client(other_company, name="Theirs", email="it@theirs.example")
    # One address is a contact at both companies: each company's mail to it stays its own.
    shared = make_client(other_company, name="Shared", email="shared@client.example")
    make_client(company, name="Shared here", email="Shared@Client.example")
    lc.activate(other_company, make_service(other_company, shared), "test")
    work()
    theirs = db.session.scalars(select(Notification.id).filter_by(listener="notify.activated"))
    theirs = theirs.one()
    for to, subject, message_id in (
        ("it@acme.example", "To our client", None),
        ("oncall@msp.example", "To our escalation address", None),
        ("viewer@msp.example", "To our viewer", None),
        ("admin@msp.example", "To the admin", None),
        ("it@theirs.example", "To their client", None),
        ("stranger@elsewhere.example", "To a stranger", None),
        ("shared@client.example", "Their mail to the shared contact", theirs),
    ):
        msgid = make_msgid(idstring=f"notification-{message_id}") if message_id else None
        post(catcher, to, subject, "hello", msgid)
    assert _shown(admin) == [
        "To our client",
        "To our escalation address",
        "To our viewer",
        "To the admin",
    ]
    assert "Mail to you and to your company" in admin.get("/mailbox").get_data(as_text=True)


def test_a_password_link_shows_only_to_its_owner(as_role, catcher):
    admin = as_role(UserRole.ADMIN)
    technician = as_role(UserRole.TECHNICIAN)
    as_role(UserRole.VIEWER)
    link = "http://dash.example/reset/WzEsImFiYyJd.Z7x-Qw.s1gn_ATURE"
    invite = "http://dash.example/invite/WzIsImRlZiJd.Z7x-Qw.0ther-SIG"
    post(catcher, "technician@msp.example", "Choose a new password", f"Choose it here: {link} If")
    post(catcher, "viewer@msp.example", "You are invited", f"Here ({invite}), for 7 days.")

    own = technician.get("/mailbox").get_data(as_text=True)
    assert link in own and "invite/" not in own
    seen = admin.get("/mailbox").get_data(as_text=True)
    assert "WzEsImFiYyJd" not in seen and "WzIsImRlZiJd" not in seen
    assert "Choose it here: http://dash.example/reset/… If" in seen
    assert "Here (http://dash.example/invite/…), for 7 days." in seen


def raw_mail(to: bytes, date: bytes | None, subject: bytes, extra: bytes = b"") -> bytes:
    head = b"From: someone@elsewhere.example\r\nTo: " + to + b"\r\nSubject: " + subject + b"\r\n"
    head += b"Date: " + date + b"\r\n" if date is not None else b""
    return head + extra + b"\r\nA body\r\n"


@pytest.fixture
def zone(monkeypatch):
    """zone(name): this process's local time zone, for the length of the test."""

    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


def test_a_date_of_unknown_zone_is_read_as_utc_whatever_the_hosts_zone(as_role, catcher, zone):
    viewer = as_role(UserRole.VIEWER)
    box = mailbox.Maildir(catcher, create=True)
    me = b"viewer@msp.example"
    box.add(raw_mail(me, b"Mon, 01 Mar 2027 10:00:00 -0000", b"Mail 01"))
    box.add(raw_mail(me, b"Mon, 01 Mar 2027 10:30:00 +0000", b"Mail 02"))
    box.add(raw_mail(me, b"Fri, 31 Dec 9999 23:59:59 -0000", b"Mail 99"))
    # East of UTC, 9999-12-31 23:59 "local" is past datetime's last year: that was a 500.
    zone("Pacific/Kiritimati")
    response = viewer.get("/mailbox")
    assert response.status_code == 200
    assert subjects(response.get_data(as_text=True))[0] == "Mail 99"
    # West of UTC, a naive 10:00 read as local time came after 10:30 UTC.
    zone("Pacific/Honolulu")
    page = mail_page(catcher, 1, 10)
    assert [m["subject"] for m in page.messages] == ["Mail 99", "Mail 02", "Mail 01"]


def test_one_malformed_mail_breaks_the_page_for_nobody(as_role, catcher):
    admin, viewer = as_role(UserRole.ADMIN), as_role(UserRole.VIEWER)
    box = mailbox.Maildir(catcher, create=True)
    me = b"viewer@msp.example"
    box.add(raw_mail(me, b"Mon, 01 Mar 2027 10:00:00 +0000", b"Mail 01"))
    box.add(raw_mail(me, b"the day after tomorrow", b"Mail 02"))
    box.add(raw_mail(me, b"Mon, 31 Feb 2027 25:61:00 +9999", b"Mail 03"))
    box.add(raw_mail(me, None, b"Mail 04", b"Content-Type: text/plain; charset=x-nonsense\r\n"))
    box.add(raw_mail(b"<", b"Mon, 01 Mar 2027 11:00:00 +0000", b"Mail 05"))  # To cannot parse
    box.add(
        raw_mail(b"Vi\xff\xfeewer <" + me + b">", b"Mon, 01 Mar 2027 12:00:00 +0000", b"Mail 06")
    )
    for session in (admin, viewer):
        response = session.get("/mailbox")
        assert response.status_code == 200
    html = viewer.get("/mailbox?page=2").get_data(as_text=True)
    shown = subjects(viewer.get("/mailbox").get_data(as_text=True)) + subjects(html)
    # Dated first, newest first; the undated (missing or garbled Date) after; mail whose
    # recipients cannot be read is nobody's.
    assert shown[:2] == ["Mail 06", "Mail 01"]
    assert sorted(shown[2:]) == ["Mail 02", "Mail 03", "Mail 04"]
    everything = mail_page(catcher, 1, 10)
    assert len(everything.messages) == 6
    odd_charset = next(m for m in everything.messages if m["subject"] == "Mail 04")
    assert odd_charset["text"].strip() == "A body"
