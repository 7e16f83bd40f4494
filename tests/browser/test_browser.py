"""Clicking through the real app as its users do."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser
LIVE = 5_000  # a change made elsewhere shows within 5 seconds


def test_sign_in_opens_a_populated_overview(sign_in):
    page = sign_in("manager")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("text=Monthly recurring revenue")).to_be_visible()
    expect(page.locator("#overview_panels .counts").first).to_contain_text("active")
    expect(page.locator("#overview_panels")).to_contain_text("healthy")
    screenshot(page, "overview")


def test_wrong_password_stays_on_sign_in_with_a_message(browser, live_app):
    page = browser.new_page()
    page.goto(live_app.url + "/login")
    page.fill("#email", "manager@example.com")
    page.fill("#password", "nope")
    page.click("button:has-text('Sign in')")
    expect(page.locator(".field-error")).to_contain_text("do not match an account")
    page.close()


def test_provision_activate_and_watch_billing_appear(sign_in, live_app):
    page = sign_in("manager")
    page.click("header nav >> text=Services")
    page.click("text=Provision a service")
    page.fill("#name", "Browser Backup")
    page.fill("#price", "abc")
    page.click("button:has-text('Provision')")
    expect(page.locator("#price-error")).to_be_visible()  # inline, nothing saved
    page.fill("#price", "250.00")
    page.select_option("#currency", "EUR")
    page.click("button:has-text('Provision')")
    expect(page.locator("h1")).to_have_text("Browser Backup")
    expect(page.locator("#service-status")).to_have_text("pending")
    expect(page.locator("#billing")).to_contain_text("Billing starts when the service is activated")

    page.click("button[data-action=activate]")
    expect(page.locator("#service-status")).to_have_text("active")
    # The worker creates the billing record; the page shows it without a reload.
    expect(page.locator("#billing")).to_contain_text("Next bill", timeout=LIVE + 3_000)
    expect(page.locator("#billing")).to_contain_text("250.00 EUR")
    expect(page.locator("header.topbar")).to_have_count(
        1
    )  # the panel swapped, not a page in a page
    screenshot(page, "service-detail")

    page.click("summary[data-action=suspend]")
    page.click("button:has-text('Suspend service')")
    expect(page.locator("#reason-error")).to_have_text("Say why it is suspended.")
    page.fill("#reason", "Invoice 60 days overdue")
    page.click("button:has-text('Suspend service')")
    expect(page.locator("#service-status")).to_have_text("suspended")
    expect(page.locator(".timeline")).to_contain_text("Reason: Invoice 60 days overdue")
    expect(page.locator("#billing")).to_contain_text("Paused since", timeout=LIVE + 3_000)

    page.click("button[data-action=resume]")
    expect(page.locator("#service-status")).to_have_text("active")
    expect(page.locator("#billing")).not_to_contain_text("Paused since", timeout=LIVE + 3_000)

    page.click("summary[data-action=cancel]")
    page.fill("#actions details[open] #reason", "Client moved to in-house IT")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Cancel service')")
    expect(page.locator("#service-status")).to_have_text("cancelled")
    expect(page.locator("#actions")).to_contain_text("No actions")
    expect(page.locator("#billing")).to_contain_text("final amount", timeout=LIVE + 3_000)


def test_viewer_sees_no_action_buttons(sign_in, live_app):
    page = sign_in("viewer")
    page.goto(live_app.url + "/services?status=active")
    page.locator("#services_table tbody a").first.click()
    expect(page.locator("#billing")).to_be_visible()
    assert page.locator("[data-action]").count() == 0
    assert page.locator("#actions").count() == 0


def test_stale_page_shows_the_409_message_in_place(sign_in, live_app):
    page = sign_in("manager")
    page.goto(live_app.url + "/services?status=suspended")
    page.locator("#services_table tbody a").first.click()
    service_id = re.search(r"/services/(\d+)", page.url).group(1)
    expect(page.locator("button[data-action=resume]")).to_be_visible()

    live_app.flask("service", "cancel", service_id, "--reason", "Cancelled by a colleague")
    # The poll's 5 s plus 3 s for a loaded machine, as the other live checks here.
    expect(page.locator("#service-status")).to_have_text("cancelled", timeout=LIVE + 3_000)

    page.click("button[data-action=resume]")  # the button of the page as it was loaded
    expect(page.locator("#flash .error-box")).to_contain_text(
        f"Cannot resume service {service_id}: it is cancelled"
    )
    expect(page.locator("#service-status")).to_have_text("cancelled")


def test_technician_acknowledges_an_alert_on_a_phone(sign_in, live_app):
    page = sign_in("tech", width=390, height=844)
    page.goto(live_app.url + "/alerts")
    first = page.locator(".card.open").first
    expect(first).to_be_visible()
    message = first.locator("strong").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    first.locator("button:has-text('Acknowledge')").click()
    expect(page.locator(".card.open", has_text=message)).to_have_count(0)  # it left the open list
    page.select_option("select[name=state]", "acknowledged")  # the latest first
    acknowledged = page.locator(".card.done", has_text=message)
    expect(acknowledged).to_contain_text("Acknowledged by Tess Technician")


def test_alerts_page_for_the_readme(sign_in, live_app):
    page = sign_in("tech")
    page.goto(live_app.url + "/alerts?state=all")
    expect(page.locator("h1")).to_have_text("SLA alerts")
    screenshot(page, "alerts")


def test_clients_list_links_each_client_to_its_page(sign_in):
    page = sign_in("manager")
    page.click("header nav >> text=Clients")
    expect(page.locator("h1")).to_have_text("Clients")
    first = page.locator("table a[href^='/clients/']").first
    name = first.inner_text()
    screenshot(page, "clients")
    first.click()
    expect(page.locator("h1")).to_contain_text(name)
    expect(page.locator("#client_contacts")).to_contain_text("Primary")
    screenshot(page, "client-detail")
