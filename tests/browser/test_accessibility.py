"""Every page of the app, as an admin sees it on the demo data (and the pages a signed-out
visitor can open), checked with axe-core: no serious or critical violation. And on a phone's
width, no page scrolls sideways.

The pages come from the URL map, so a page added later is checked on the day it is added;
a page that takes ids is opened at the first link to it found on the pages visited before
(the demo seed's records), so it needs no list here either.
"""

import datetime as dt
import mailbox
import re
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from playwright.sync_api import expect

from webapp import create_app

pytestmark = pytest.mark.browser

AXE = "/static/vendor/axe-core/axe.min.js"  # served by the app: the CSP allows only 'self'
FAILING_IMPACTS = {"serious", "critical"}

# Not the app's own pages: a third party's dashboard, JSON, probes, files, and the live
# check's answers (fragments for htmx).
OUTSIDE = ("static", "api.", "health.", "metrics.", "live.")
PHONE = {"width": 390, "height": 844}


def _rules():
    """(endpoint, rule text) of every GET route that may be a page."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    return sorted(
        (rule.endpoint, rule.rule)
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.endpoint.startswith(OUTSIDE)
    )


def _pattern(rule: str) -> re.Pattern:
    """/clients/<int:client_id>/edit -> ^/clients/\\d+/edit$"""
    parts = re.split(r"(<[^>]+>)", rule)
    return re.compile(
        "^"
        + "".join(
            (r"\d+" if p.startswith("<int:") else r"[^/?#]+") if p.startswith("<") else re.escape(p)
            for p in parts
        )
        + "$"
    )


def _is_html(page, url: str) -> bool:
    """Whether `url` answers 200 with a page (not a CSV, a 204 or a redirect elsewhere)."""
    response = page.request.get(url, max_redirects=0)
    return response.status == 200 and response.headers.get("content-type", "").startswith(
        "text/html"
    )


def _links(page, base: str) -> set[str]:
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    return {h.removeprefix(base).split("#")[0].split("?")[0] for h in hrefs if h.startswith(base)}


def _pages(page, base: str) -> list[str]:
    """Every page the URL map holds, its ids taken from links on the pages before it.
    Fails naming a page that takes a number if no visited page links to it."""
    rules = _rules()
    waiting = {rule: _pattern(rule) for _, rule in rules if "<" in rule}
    found, seen_links = [], set()
    queue = [rule for _, rule in rules if "<" not in rule]
    while queue:
        url = queue.pop(0)
        if url in found or not _is_html(page, base + url):
            continue
        found.append(url)
        page.goto(base + url)
        seen_links |= _links(page, base)
        for rule, pattern in list(waiting.items()):
            match = next((link for link in sorted(seen_links) if pattern.match(link)), None)
            if match:
                queue.append(match)
                del waiting[rule]
    unreached = sorted(rule for rule in waiting if "<int:" in rule)
    assert not unreached, f"no page of the demo links to {unreached}: link them, or add one here"
    return found


def _violations(page) -> list[str]:
    page.add_script_tag(url=AXE)
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['impact']}: {v['id']} ({v['help']})\n"
        + "\n".join(f"    {n['target']}: {n['failureSummary']}" for n in v["nodes"][:5])
        for v in result["violations"]
        if v["impact"] in FAILING_IMPACTS
    ]


def _mail(live_app, count: int) -> None:
    """Mail in the catcher's folder, so /mailbox shows its cards (and its meta line): to the
    admin who opens the pages, as /mailbox shows a person only mail they may read."""
    box = mailbox.Maildir(live_app.env["MAILBOX_DIR"], create=True)
    for n in range(count):
        message = EmailMessage()
        message["To"] = "admin@example.com"
        message["From"] = "dashboard@msp.example"
        message["Subject"] = f"Managed Backup is now active ({n})"
        message["Date"] = format_datetime(
            dt.datetime(2027, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=n)
        )
        message.set_content("Managed Backup for Acme Dental is active.")
        box.add(message)


@pytest.fixture(scope="module")
def admin_pages(browser, live_app):
    """The pages an admin can open, found once for the module."""
    _mail(live_app, 3)
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_app.url + "/login")
    page.fill("#email", "admin@example.com")
    page.fill("#password", "demo-admin")
    page.click("button:has-text('Sign in')")
    page.wait_for_url(live_app.url + "/")
    found = _pages(page, live_app.url)
    context.close()
    return found


def test_the_walk_finds_the_pages_it_should(admin_pages):
    expected = {"/", "/services", "/incidents", "/incidents/new", "/alerts", "/renewals"}
    expected |= {"/reports", "/activity", "/mailbox", "/operations", "/settings"}
    assert expected <= set(admin_pages), admin_pages
    assert any(re.fullmatch(r"/services/\d+", url) for url in admin_pages), admin_pages
    assert any(re.fullmatch(r"/incidents/\d+", url) for url in admin_pages)


def test_no_page_has_a_serious_accessibility_violation(sign_in, live_app, admin_pages):
    page = sign_in("admin")
    failures = {}
    for url in admin_pages:
        page.goto(live_app.url + url)
        if found := _violations(page):
            failures[url] = found
    assert not failures, "\n\n".join(f"{url}:\n" + "\n".join(v) for url, v in failures.items())


def test_the_pages_before_signing_in_have_none_either(browser, live_app):
    context = browser.new_context()
    page = context.new_page()
    public = [
        rule
        for _, rule in _rules()
        if "<" not in rule and _is_html(page, live_app.url + rule)  # not sent to sign in
    ]
    assert "/login" in public
    failures = {}
    for url in public:
        page.goto(live_app.url + url)
        if found := _violations(page):
            failures[url] = found
    context.close()
    assert not failures, "\n\n".join(f"{url}:\n" + "\n".join(v) for url, v in failures.items())


def test_on_a_phone_no_page_scrolls_sideways(sign_in, live_app, admin_pages):
    page = sign_in("admin", **PHONE)  # the most links in the top bar
    wide = {}
    for url in [*admin_pages, "/alerts?state=all"]:
        page.goto(live_app.url + url)
        overflow = page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth,"
            " document.querySelector('header.topbar').getBoundingClientRect().height]"
        )
        if overflow[0] > overflow[1]:
            wide[url] = overflow[0]
    assert not wide, f"wider than the phone's {PHONE['width']} px: {wide}"


def test_the_top_bar_is_compact_on_a_phone(sign_in, live_app):
    page = sign_in("admin", **PHONE)
    bar = page.locator("header.topbar")
    expect(bar.locator("a.quick")).to_be_in_viewport()
    box = bar.bounding_box()
    assert box["width"] <= PHONE["width"]
    # Brand, nav, the quick button and who is signed in: a few short rows, not a screenful.
    assert box["height"] <= 200, box
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_churn_table_fits_its_panel(sign_in, live_app):
    page = sign_in("manager")
    page.goto(live_app.url + "/reports")
    table = page.locator("#report_churn .scroll-x")
    expect(table.locator("tbody tr").first).to_be_visible()
    scroll, shown = table.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert scroll <= shown, f"the churn table is {scroll} px wide in a {shown} px panel"
