"""A technician records an incident that is already past its response target, sees the SLA
alert the worker raises for it, and acknowledges the incident."""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser
LIVE = 5_000  # a change made elsewhere shows within 5 seconds


def test_a_late_incident_raises_an_sla_alert_and_is_acknowledged(sign_in, live_app):
    page = sign_in("tech")
    page.goto(live_app.url + "/services?status=active")
    page.locator("#services_table tbody a").first.click()
    service = page.locator("h1").inner_text()
    page.click("[data-link=record-incident]")
    expect(page.locator("h1")).to_have_text("Record an incident")
    expect(page.locator("#service_id option:checked")).to_contain_text(service)

    title = "Mail server not accepting connections"
    page.fill("#title", title)
    page.select_option("#severity", "high")
    # Three days back is past every level's response target, in business hours or 24x7.
    now_local = dt.datetime.strptime(page.input_value("#opened_at"), "%Y-%m-%dT%H:%M")
    page.fill("#opened_at", (now_local - dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#description", "Clients report bounces since the weekend.")
    page.click("button:has-text('Record incident')")

    # It lands on the incident's own page.
    expect(page.locator("h1")).to_have_text(title)
    expect(page.locator("#flash")).to_contain_text(f"recorded: {title}")
    expect(page.locator("#incident_main")).to_contain_text("response breached")
    incident_id = re.search(r"/incidents/(\d+)$", page.url).group(1)

    # The breach was recorded with the incident; the worker turns it into an alert, which
    # the incident's page lists as it arrives.
    raised = page.locator("#incident_main .list")
    expect(raised).to_contain_text("response target breached", timeout=LIVE + 3_000)
    # Open alerts come longest waiting first, a page at a time: the newest is on the last.
    page.click("header nav >> text=Alerts")
    expect(page.locator("h1")).to_have_text("SLA alerts")
    page.goto(live_app.url + "/alerts?page=1000")  # past the last page: the last page
    alert = page.locator(".card.open", has_text=f"incident #{incident_id}: {title}").filter(
        has_text="response target breached"
    )
    expect(alert).to_be_visible()
    expect(alert.locator(f"a[href='/incidents/{incident_id}']")).to_be_visible()

    page.click("header nav >> text=Incidents")
    row = page.locator(f"#incident-{incident_id}")
    row.locator("button:has-text('Acknowledge')").click()
    expect(page.locator("#flash")).to_contain_text(f"Incident #{incident_id} acknowledged.")
    expect(row).to_contain_text("response breached, answered in 3 d")
    expect(row).to_contain_text("Tess Technician")
    expect(row.locator("button:has-text('Acknowledge')")).to_have_count(0)
    expect(row.locator("button:has-text('Resolve')")).to_be_visible()
    screenshot(page, "incidents")
