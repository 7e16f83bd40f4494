"""Day one, in a browser: an MSP goes from an empty database to its own company, a client with
contacts, imported services and a second person signed in, without a shell.

Its own app (gunicorn, an RQ worker, a real SMTP catcher behind /mailbox) on an empty database
with a setup token, so nothing of the demo helps it along.
"""

import datetime as dt
import mailbox
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from tests.browser.conftest import ROOT
from tools import mail_catcher
from tools.embedded_redis import free_port

pytestmark = pytest.mark.browser

TOKEN = "day-one-setup-token-0123456789"
ADMIN = ("Ada Admin", "ada@northwind-it.example", "correct horse battery staple")
TECH = ("Tess Tech", "tess@northwind-it.example", "lighthouse kettle orbit 42")


@pytest.fixture(scope="module")
def empty_app(redis_server):
    tmp = Path(tempfile.mkdtemp(prefix="day-one-"))
    port, smtp_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    catcher = mail_catcher.start(smtp_port, str(tmp / "mailbox"))
    env = {
        **os.environ,
        "FLASK_APP": "wsgi",
        "DATABASE_URL": f"sqlite:///{tmp}/day-one.db",
        # Its own Redis database: the other browser tests use 1, the rest of the suite 0.
        "REDIS_URL": redis_server.url.rsplit("/", 1)[0] + "/2",
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "DELIVERY_RETRY_INTERVALS": "1,1",
        "SETUP_TOKEN": TOKEN,
        "PUBLIC_URL": url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "MAILBOX_DIR": str(tmp / "mailbox"),
    }
    subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], env=env, cwd=ROOT, check=True)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
            + ["wsgi:app"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "flask", "worker"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    yield url, tmp / "mailbox"
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=20)
    catcher.stop()


def _mail_to(page, url: str, address: str, subject_part: str) -> str:
    """The text of the newest mail to `address` whose subject has `subject_part`, as /mailbox
    shows it; the worker sends it a moment after the click that caused it."""
    deadline = time.monotonic() + 30
    while True:
        page.goto(url + "/mailbox")
        for message in page.locator("li.message").all():
            text = message.inner_text()
            if address in text and subject_part in text:
                return text
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail to {address} about {subject_part!r}")
        time.sleep(0.5)


def _invitation_link(maildir: Path, url: str, address: str) -> str:
    """The invitation link in the newest mail to `address`, read from the catcher's Maildir
    itself: /mailbox masks a link to choose a password in mail not addressed to the reader, and
    the person invited cannot sign in to read their own before using it."""
    deadline = time.monotonic() + 30
    while True:
        if maildir.exists():
            box = mailbox.Maildir(maildir, factory=None, create=False)
            messages = []
            for key in box.iterkeys():
                with box.get_file(key) as f:
                    messages.append(BytesParser(policy=policy.default).parse(f))
            for message in sorted(messages, key=lambda m: m["Date"].datetime, reverse=True):
                if message["To"] == address:
                    text = message.get_body(preferencelist=("plain",)).get_content()
                    found = re.search(re.escape(url) + r"/invite/\S+", text)
                    if found:
                        return found.group(0)
        if time.monotonic() > deadline:
            raise AssertionError(f"no invitation mailed to {address}")
        time.sleep(0.5)


def _services_csv(tmp: Path, price: str) -> Path:
    term_start = (dt.date.today() - dt.timedelta(days=40)).isoformat()
    path = tmp / "services.csv"
    path.write_text(
        "Client External ID,Name,Type,Status,Start Date,Term (months),Price,Quantity,"
        "Currency,Billing Cycle,Service Level,External ID\n"
        f"ACME,Managed Backup,backup,active,{term_start},12,{price},5,EUR,monthly,enterprise,"
        "S-1\n"
        f"ACME,Endpoint Security,security,pending,{dt.date.today()},12,40.00,1,EUR,monthly,"
        "enterprise,S-2\n"
    )
    return path


def test_an_msp_starts_from_an_empty_database(browser, empty_app, tmp_path):
    url, maildir = empty_app
    admin_context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = admin_context.new_page()
    page.set_default_timeout(15_000)

    # Without the token there is nothing at /setup.
    assert page.goto(url + "/setup").status == 404

    # 1. The company and its first admin, from the printed address.
    page.goto(f"{url}/setup?token={TOKEN}")
    page.fill("[name=name]", "Northwind IT")
    page.fill("[name=timezone]", "UTC")
    page.select_option("[name=currency]", "EUR")
    page.fill("[name=admin_name]", ADMIN[0])
    page.fill("[name=admin_email]", ADMIN[1])
    page.fill("[name=password]", ADMIN[2])
    page.fill("[name=confirm]", ADMIN[2])
    page.click("button:has-text('Create the company')")
    page.wait_for_url(url + "/")
    assert page.goto(f"{url}/setup?token={TOKEN}").status == 404  # once only

    # 2. A client with a billing (and primary) contact and a technical one.
    page.goto(url + "/clients/new")
    page.fill("[name=name]", "Acme Dental")
    page.fill("[name=external_id]", "ACME")
    page.click("button:has-text('Add client')")
    page.wait_for_url(re.compile(r".*/clients/\d+$"))
    for name, email, roles in (
        ("Olivia Office", "olivia@acme.example", ("Primary", "Billing")),
        ("Tom Tech", "tom@acme.example", ("Technical",)),
    ):
        page.click("#add_contact summary")
        form = page.locator("#add_contact form")
        form.get_by_label("Name", exact=True).fill(name)
        form.get_by_label("Email", exact=True).fill(email)
        for role in roles:
            form.get_by_label(role).check()
        form.locator("button:has-text('Add contact')").click()
        page.locator("#client_contacts li", has_text=name).wait_for()
    contacts = page.locator("#client_contacts").inner_text()
    assert "Billing" in contacts and "Technical" in contacts

    # 3. Services from a CSV: the dry run shows the bad row in place; fixed, then committed.
    page.goto(url + "/settings/import")
    page.select_option("#kind", "services")
    page.set_input_files("#file", str(_services_csv(tmp_path, price="twelve")))
    page.click("button:has-text('Dry run')")
    error_row = page.locator("tr", has_text="Managed Backup")
    assert "price" in error_row.inner_text().lower()
    assert page.locator("button:has-text('Import')").first.is_disabled()
    page.set_input_files("#file", str(_services_csv(tmp_path, price="12.50")))
    page.click("button:has-text('Dry run')")
    page.locator("button.primary:has-text('Import')").click()
    page.goto(url + "/services")
    assert page.locator("text=Managed Backup").count() >= 1
    assert page.locator("text=Endpoint Security").count() >= 1

    # 4. A technician is invited, sets a password through the mail, and signs in.
    page.goto(url + "/settings/people")
    page.fill("#people_panel [name=name]", TECH[0])
    page.fill("#people_panel [name=email]", TECH[1])
    page.select_option("#people_panel select[name=role]:not([id^=role-])", "technician")
    page.click("button:has-text('Send invitation')")
    page.locator("#people_panel", has_text=TECH[1]).wait_for()
    link = _invitation_link(maildir, url, TECH[1])

    tech_context = browser.new_context(viewport={"width": 1280, "height": 900})
    tech = tech_context.new_page()
    tech.set_default_timeout(15_000)
    tech.goto(link)
    tech.fill("[name=password]", TECH[2])
    tech.fill("[name=confirm]", TECH[2])
    tech.click("button:has-text('Set password')")
    tech.wait_for_url(url + "/")

    # 5. An incident on the imported active service that is already past its response target
    # raises an SLA alert, which the technician acknowledges.
    page.goto(url + "/incidents/new")
    backup = page.locator("[name=service_id] option", has_text="Managed Backup")
    page.select_option("[name=service_id]", backup.get_attribute("value"))
    page.fill("[name=title]", "Backups failing since last night")
    page.select_option("[name=severity]", "critical")
    opened = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=2)
    page.fill("[name=opened_at]", opened.strftime("%Y-%m-%dT%H:%M"))
    page.click("form button.primary")
    page.wait_for_url(re.compile(r".*/incidents/\d+$"))

    deadline = time.monotonic() + 30
    while not tech.goto(url + "/alerts") or not tech.locator("li.card.open").count():
        assert time.monotonic() < deadline, "the SLA alert never appeared"
        time.sleep(0.5)
    card = tech.locator("li.card.open").first
    card_id = card.get_attribute("id")
    card.get_by_role("button", name="Acknowledge", exact=True).click()
    tech.locator(f"#{card_id}").wait_for(state="detached")  # the open list lets it go
    tech.goto(url + "/alerts?state=acknowledged")
    assert f"Acknowledged by {TECH[0]}" in tech.locator(f"#{card_id} .ack").inner_text()

    # 6. The manager activates the imported pending service; the client's contact is told.
    page.goto(url + "/services?q=Endpoint")
    page.locator("a", has_text="Endpoint Security").first.click()
    page.click("button:has-text('Activate')")
    page.locator("text=Active").first.wait_for()
    mail = _mail_to(page, url, "olivia@acme.example", "Endpoint Security")
    assert "active" in mail.lower()

    admin_context.close()
    tech_context.close()
