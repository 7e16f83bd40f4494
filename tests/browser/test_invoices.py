"""Invoices in Chromium: the demo's year of invoices, one opened, marked paid in place, its PDF
downloaded."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_an_issued_invoice_is_marked_paid_in_place_and_its_pdf_downloads(sign_in):
    page = sign_in("manager")
    page.click("header nav >> text=Invoices")
    expect(page.locator("h1")).to_have_text("Invoices")
    expect(page.locator("#invoice_totals")).to_contain_text("Outstanding")
    screenshot(page, "invoices")

    page.select_option("select[name=status]", "issued")
    expect(page).to_have_url(re.compile(r"status=issued"))
    page.locator("#invoices a[href^='/invoices/']").first.click()
    expect(page.locator("h1")).to_contain_text("issued")
    screenshot(page, "invoice")

    page.click("summary[data-action=paid]")
    page.fill("input[name=reference]", "Bank transfer 4471")
    page.locator("#invoice_actions button.primary").click()
    expect(page.locator("#invoice-status")).to_contain_text("reference Bank transfer 4471")
    expect(page.locator("h1")).to_contain_text("paid")

    with page.expect_download() as download:
        page.click("#invoice_downloads >> text=PDF")
    assert download.value.suggested_filename.endswith(".pdf")
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
