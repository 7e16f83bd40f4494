"""Query strings the audit and the query fuzzer (tests/fuzz/test_query_params.py) found to be
500s, pinned one by one: an id no table could hold is a filter the list ignores, a day out of
range is the nearest one in range, NUL in a search is dropped, and a report month out of range
is a 422 that says which."""

import pytest

from tests.support.factories import active_service, make_client
from webapp.company.models import Company
from webapp.extensions import db
from webapp.incidents import recording
from webapp.lifecycle.statuses import UserRole

PAST_64_BITS = "99999999999999999999999"


@pytest.fixture
def viewer(as_role, company):
    """A viewer of a company east of UTC (where year 1's first midnight is before year 1 in
    UTC), with one service and one open incident on it."""
    db.session.get(Company, company).timezone = "Asia/Kolkata"
    db.session.commit()
    service = active_service(company, make_client(company), name="Nightly Backup")
    recording.record(company, recording.NewIncident(service, "Disk full", "high"), "test")
    return as_role(UserRole.VIEWER)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"/services?client={PAST_64_BITS}", "Nightly Backup"),
        (f"/services.csv?client={PAST_64_BITS}", "Nightly Backup"),
        (f"/incidents?client={PAST_64_BITS}", "Disk full"),
        (f"/incidents.csv?client={PAST_64_BITS}", "Disk full"),
        (f"/incidents?service={PAST_64_BITS}", "Disk full"),
        (f"/incidents.csv?service={PAST_64_BITS}", "Disk full"),
        (f"/activity?client={PAST_64_BITS}", "Nightly Backup"),
        (f"/activity.csv?client={PAST_64_BITS}", "Nightly Backup"),
        (f"/activity?older_than={PAST_64_BITS}", "Nightly Backup"),
        ("/activity?who=%C2%B2", "Nightly Backup"),  # "²": a digit to isdigit(), not to int()
    ],
)
def test_an_id_no_table_could_hold_is_a_filter_the_list_ignores(viewer, url, shown):
    response = viewer.get(url)
    assert response.status_code == 200, url
    assert shown in response.get_data(as_text=True), url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("/services?q=Nightly%00", "Nightly Backup"),
        ("/services.csv?q=%00Nightly", "Nightly Backup"),
        ("/incidents?q=Disk%00", "Disk full"),
        ("/incidents.csv?q=Disk%00", "Disk full"),
        ("/clients?q=%00", "Acme Dental"),
    ],
)
def test_a_search_with_nul_finds_what_it_would_without(viewer, url, shown):
    # PostgreSQL cannot compare text holding NUL: a 500 there, and no stored name holds one.
    response = viewer.get(url)
    assert response.status_code == 200, url
    assert shown in response.get_data(as_text=True), url


def test_an_older_than_no_table_could_hold_shows_the_newest_page(viewer):
    html = viewer.get(f"/activity?older_than={PAST_64_BITS}").get_data(as_text=True)
    assert "Nightly Backup" in html
    assert 'hx-trigger="data-changed from:body"' in html  # only the newest page follows changes


@pytest.mark.parametrize(
    "url",
    [
        "/incidents?from=0001-01-01",
        "/incidents?to=9999-12-31",
        "/incidents.csv?from=0001-01-01&to=9999-12-31",
        "/services?from=0001-01-01&to=9999-12-31",
        "/activity?to=9999-12-31",
        "/activity.csv?from=0001-01-01",
    ],
)
def test_a_day_past_either_end_of_the_calendar_means_whenever(viewer, url):
    # Year 1's midnight in Kolkata is before year 1 in UTC, and the day after 9999-12-31 is
    # no date: both were an OverflowError.
    response = viewer.get(url)
    assert response.status_code == 200, url
    text = response.get_data(as_text=True)
    assert "Disk full" in text or "Nightly Backup" in text, url


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("to=9999-12", "To is a month from 1900-01 to 2999-12."),
        ("to=0001-01", "To is a month from 1900-01 to 2999-12."),
        ("from=0001-01", "From is a month from 1900-01 to 2999-12."),
        ("from=1899-12&to=1900-01", "From is a month from 1900-01 to 2999-12."),
    ],
)
def test_a_report_month_out_of_range_is_refused_with_the_range(viewer, query, message):
    response = viewer.get(f"/reports?{query}")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert viewer.get(f"/reports/mrr.csv?{query}").status_code == 422


def test_the_first_report_month_in_range_still_reports(viewer):
    assert viewer.get("/reports?from=1900-01&to=1900-06").status_code == 200
