"""The Reports page and its CSVs: the §9 fixture's figures as a person reads and downloads
them, the filters, and what a bad filter says."""

import csv
import io
import re

import pytest

from tests.support.factories import active_service, breach
from tests.support.sessions import Session, add_user
from webapp.lifecycle.statuses import UserRole

R = UserRole

RANGE = "from=2027-02&to=2027-04"


@pytest.fixture
def viewer(app, msp):
    add_user(msp["company"], R.VIEWER, "v@fixture.example")
    return Session(app.test_client(), "v@fixture.example")


def cells(html: str, section: str) -> list[list[str]]:
    """The rows of the first table in a section, as cell texts."""
    part = html[html.index(f'id="{section}"') :]
    table = part[part.index("<tbody>") : part.index("</tbody>")]
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)
    ]


def download(session, url) -> list[dict]:
    response = session.get(url)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def test_the_mrr_table_shows_the_hand_computed_months(viewer):
    html = viewer.get(f"/reports?{RANGE}").get_data(as_text=True)
    eur = cells(html, "report_mrr")[:3]
    assert eur[0] == [
        "Feb 2027",
        "600.00",
        "0.00",
        "150.00",
        "0.00",
        "60.00",
        "0.00",
        "690.00",
        "666.43",
        "0.00",  # price changes record no billing adjustment: the invoices settle them
    ]
    assert eur[1][7] == "690.00" and eur[2][7] == "690.00" and eur[2][8] == "—"
    assert 'id="mrr-moves-USD-title"' in html and "<rect" in html  # the charts are drawn


def test_churn_and_risk_as_the_fixture_says(viewer):
    # This fixture is the revenue half of §9 (no incidents): its risk is S4's term alone; the
    # health, SLA and risk figures with incidents are pinned in tests/reports/test_health_sla_reports.py.
    html = viewer.get(f"/reports?{RANGE}").get_data(as_text=True)
    churn = cells(html, "report_churn")
    assert churn[0][:3] == ["Feb 2027", "1 of 5", "20.0%"]
    assert churn[0][5] == "56.8%"  # USD revenue churn (EUR columns come first)
    risk = cells(html, "report_risk")
    assert [(r[0], r[2], r[-1]) for r in risk] == [("S4", "term ending", "100.00 USD")]


def test_the_csvs_carry_the_same_figures_and_the_filters(viewer, msp):
    rows = download(viewer, f"/reports/mrr.csv?{RANGE}")
    usd_feb = next(r for r in rows if r["currency"] == "USD" and r["month"] == "2027-02")
    assert (usd_feb["opening"], usd_feb["new"], usd_feb["churned"], usd_feb["closing"]) == (
        "352.00", "100.00", "200.00", "152.00",
    )  # fmt: skip
    bluebird = download(viewer, f"/reports/mrr.csv?{RANGE}&client={msp['bluebird']}")
    assert {r["currency"] for r in bluebird} == {"USD"}
    assert next(r for r in bluebird if r["month"] == "2027-02")["closing"] == "100.00"
    churn = download(viewer, f"/reports/churn.csv?{RANGE}")
    assert churn[0]["service_churn_pct"] == "20.0" and churn[0]["revenue_churn_pct_USD"] == "56.8"


def test_the_filter_swaps_the_body_and_a_bad_month_is_refused_in_place(viewer):
    fragment = viewer.htmx_get(f"/reports?{RANGE}", "reports_body")
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="reports_body">')
    for query, message in (
        ("from=2027-13", "From is a month such as 2027-02."),
        ("from=2027-04&to=2027-02", "From must be the same month as To or before it."),
        ("from=2020-01&to=2027-04", "Choose at most 36 months at a time."),
        # The last month there is: counting past it was a 500; now past the months a filter
        # can name.
        ("to=9999-12", "To is a month from 1900-01 to 2999-12."),
        ("from=2027-01&to=9999-12", "To is a month from 1900-01 to 2999-12."),
        ("to=2999-12", "From is in the future: there are no figures yet."),
    ):
        refused = viewer.htmx_get(f"/reports?{query}", "reports_body")
        assert refused.status_code == 422 and message in refused.get_data(as_text=True)
    assert viewer.get("/reports/mrr.csv?from=nonsense").status_code == 422


def test_another_companys_client_is_a_404(viewer, other_company):
    from tests.support.factories import make_client

    theirs = make_client(other_company, "Theirs")
    assert viewer.get(f"/reports?client={theirs}").status_code == 404
    assert viewer.get(f"/reports/mrr.csv?client={theirs}").status_code == 404
    assert viewer.get("/reports/nope.csv").status_code == 404


def test_a_new_company_sees_what_each_section_will_hold(as_role, company, work):
    html = as_role(R.VIEWER).get("/reports").get_data(as_text=True)
    assert "No recurring revenue in these months." in html
    assert "No revenue at risk" in html and "No breaches in these months." in html
    active_service(company)
    breach(company, active_service(company))
    work()
    html = as_role(R.VIEWER).get("/reports").get_data(as_text=True)
    assert "No recurring revenue" not in html
    closing = [row[7] for row in cells(html, "report_mrr")]
    assert closing[-1] == "200.00"  # two services at 100.00 a month, this month


def test_each_csv_computes_its_own_sections_only_and_says_what_the_whole_report_says(
    app, viewer, monkeypatch
):
    """A download used to compute every section of the page (at 100,000 services the at-risk
    CSV cost as much as the whole report): each now asks for the sections its table is made
    of, and its rows are those of the report computed whole."""
    from flask_login import login_user

    from webapp.accounts.models import User
    from webapp.exports import cell
    from webapp.extensions import db
    from webapp.reports import tables, views

    asked = []
    real = views._figures

    def recording(q, every_client=False, only=None):
        asked.append(only)
        return real(q, every_client, only)

    monkeypatch.setattr(views, "_figures", recording)
    assert set(tables.NEEDS) == set(tables.TABLES)
    for name, needs in tables.NEEDS.items():
        rows = download(viewer, f"/reports/{name}.csv?{RANGE}")
        assert asked.pop() == needs, name
        with app.test_request_context(f"/reports?{RANGE}"):
            user = db.session.scalars(db.select(User).filter_by(email="v@fixture.example")).one()
            login_user(user)
            whole = real(views._query(), every_client=True)
        _, expected = tables.TABLES[name](whole)
        got = [list(r.values()) for r in rows]
        assert got == [[cell(c) for c in row] for row in expected], name
