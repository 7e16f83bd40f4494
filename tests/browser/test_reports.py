"""The Reports page in Chromium: charts drawn, a client filter swapped in place, a CSV downloaded."""

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_reports_show_charts_filter_by_client_and_download_a_csv(sign_in, live_app):
    page = sign_in("manager")
    page.click("header nav >> text=Reports")
    expect(page.locator("h1")).to_have_text("Reports")
    expect(page.locator("#report_mrr figure.chart svg rect").first).to_be_visible()
    expect(page.locator("#report_health figure.chart svg rect").first).to_be_visible()
    screenshot(page, "reports")

    page.select_option("select[name=client]", label="Acme Dental")
    expect(page).to_have_url(re.compile(r"client=\d+"))
    expect(page.locator("#reports_body .hint").first).to_contain_text("one client")

    with page.expect_download() as download:
        page.click("#report_mrr h2 >> text=CSV")
    path = download.value.path()
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8-sig"))))
    assert rows and set(rows[0]) >= {"month", "currency", "opening", "closing"}
    assert download.value.suggested_filename.startswith("mrr-")
