"""A technician ticks alerts and acknowledges them together."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_ticked_alerts_are_acknowledged_together(sign_in, live_app):
    page = sign_in("tech")
    page.goto(live_app.url + "/alerts")
    cards = page.locator(".card.open")
    ticked = [cards.nth(i).get_attribute("id") for i in (0, 2)]  # "alert-<id>"
    for card in ticked:
        page.locator(f"#{card} input.pick").check()
    page.click("button:has-text('Acknowledge selected')")
    expect(page.locator("#flash")).to_contain_text("2 alerts acknowledged.")
    for card in ticked:
        expect(page.locator(f"#{card}")).to_have_count(0)  # left the open alerts
    page.select_option("select[name=state]", "acknowledged")  # the latest first
    for card in ticked:
        expect(page.locator(f"#{card}.done")).to_contain_text("Acknowledged by Tess Technician")
