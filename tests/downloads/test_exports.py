"""CSV exports of the services, incidents and activity lists: the pages' own filters plus a
date range and client, cells a spreadsheet cannot run, times in the company's zone, read in
keyset chunks, and nothing of another company's."""

import codecs
import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, insert, select

from tests.support.factories import make_client, make_service
from webapp.company.models import Company
from webapp.date_range import DateRange, local_midnight_utc
from webapp.exports import FORMULA_STARTS, cell, csv_response
from webapp.extensions import db
from webapp.incidents import actions as incidents
from webapp.incidents import recording
from webapp.lifecycle.statuses import BillingCycle, ServiceLevel, ServiceStatus, UserRole
from webapp.services import actions as lc
from webapp.services.models import ClientService
from webapp.text import one_line

R = UserRole

LONDON = "Europe/London"

TODAY = dt.datetime(2027, 4, 2, 10, 0)  # UTC; 11:00 in London (summer time since 28 March)

HYPERLINK = '=HYPERLINK("http://evil.example","click")'


def read_csv(response) -> list[list[str]]:
    raw = response.get_data()
    assert raw.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def column(table, name) -> list[str]:
    index = table[0].index(name)
    return [row[index] for row in table[1:]]


@pytest.fixture
def clock():
    with time_machine.travel(dt.datetime(2027, 1, 10, 9, 0, tzinfo=dt.UTC), tick=False) as t:
        yield t


def at(clock, *args):
    clock.move_to(dt.datetime(*args, tzinfo=dt.UTC))


@pytest.fixture
def world(app, company, other_company, clock):
    """A London company with two clients (one named like a formula) and their services,
    events and incidents, and another company with its own; "now" is TODAY."""
    db.session.get(Company, company).timezone = LONDON
    db.session.commit()
    acme = make_client(company, "Acme")
    evil = make_client(company, HYPERLINK)
    backup = make_service(company, acme, name="Backup", start_date=dt.date(2027, 1, 10))
    lc.activate(company, backup, "test")
    at(clock, 2027, 2, 1, 9)
    firewall = make_service(
        company, evil, name="Firewall", start_date=dt.date(2027, 2, 1), price="250.00"
    )
    lc.activate(company, firewall, "test")
    at(clock, 2027, 3, 20, 9)
    lc.suspend(company, firewall, "test", reason="@SUM(1)")
    at(clock, 2027, 4, 1, 0, 0)
    late_march = _incident(company, backup, "Late March", dt.datetime(2027, 3, 31, 22, 30))
    first_april = _incident(company, backup, "First of April", dt.datetime(2027, 3, 31, 23, 30))
    at(clock, 2027, 4, 1, 9)
    incidents.resolve(company, late_march, "test")
    theirs = make_service(other_company, make_client(other_company, "Their client"), name="Theirs")
    lc.activate(other_company, theirs, "test")
    _incident(other_company, theirs, "Their outage", dt.datetime(2027, 3, 31, 23, 45))
    clock.move_to(TODAY.replace(tzinfo=dt.UTC))
    return {
        "acme": acme,
        "evil": evil,
        "backup": backup,
        "firewall": firewall,
        "late_march": late_march,
        "first_april": first_april,
        "their_client": db.session.get(ClientService, theirs).client_id,
        "theirs": theirs,
    }


def _incident(company_id, service_id, title, opened_at) -> int:
    new = recording.NewIncident(service_id, title, "high", opened_at=opened_at)
    return recording.record(company_id, new, "test")[0].id


def test_text_that_a_spreadsheet_would_run_is_quoted_and_numbers_stay_numbers():
    assert cell(HYPERLINK) == "'" + HYPERLINK
    assert cell("@SUM(1)") == "'@SUM(1)"
    assert [cell(t) for t in ("+1", "-1 day", "\t=x", "\r=x", "\n@x", " =x")] == [
        "'+1",
        "'-1 day",
        "' =x",
        "' =x",
        "' @x",
        "' =x",
    ]
    assert cell("\uff1dHYPERLINK(1)") == "'\uff1dHYPERLINK(1)"  # a full-width equals sign
    assert cell("Acme = best") == "Acme = best"
    assert cell(Decimal("-100.00")) == "-100.00"
    assert cell(Decimal("1.2345E+3")) == "1234.5"
    assert cell(-3) == "-3"
    assert cell(dt.date(2027, 4, 2)) == "2027-04-02"
    assert cell(dt.datetime(2027, 4, 2, 11, 0, 5, 999)) == "2027-04-02 11:00:05"
    assert cell(None) == ""
    assert cell(True) == "true"
    assert cell(ServiceStatus.ACTIVE) == "active"


@pytest.mark.parametrize(
    "text", ["Acme\r\nLtd", "Acme\u2028Ltd", "Acme\x85Ltd", "Acme\x1b[31mLtd", "Acme\tLtd"]
)
def test_a_text_cell_holds_no_control_character_nor_line_break(text):
    assert cell(text) in ("Acme Ltd", "Acme [31mLtd")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=[]), max_size=12))
def test_any_text_cell_is_the_folded_text_quoted_when_a_formula(text):
    """The rule written out once more, without cell()'s shortcut for printable text (the
    folding skipped there must never have had anything to fold)."""
    folded = one_line(text)
    expected = "'" + folded if folded.lstrip().startswith(FORMULA_STARTS) else folded
    assert cell(text) == expected


def test_a_name_stored_with_a_line_break_is_exported_on_its_row_line(as_role, world):
    # As a row written before names were checked: straight into the table.
    db.session.execute(
        ClientService.__table__.update()
        .where(ClientService.id == world["backup"])
        .values(name="Backup\r\n=HYPERLINK(1)\x07")
    )
    db.session.commit()
    raw = as_role(R.VIEWER).get("/services.csv").get_data().decode("utf-8-sig")
    lines = raw.split("\r\n")
    assert len(lines) == 4 and lines[-1] == ""  # a header, two rows, each on its own line
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", raw.replace("\r\n", ""))
    assert ",Backup =HYPERLINK(1) ," in lines[1]


def test_a_response_is_a_no_store_attachment_with_a_bom_and_an_ascii_name(app):
    with app.test_request_context():
        response = csv_response(
            "mrr 2027-02 → Fjörd.csv", ["amount", "name"], [(Decimal("-100.00"), "-100.00")]
        )
        raw = b"".join(response.response)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="mrr-2027-02-Fj-rd.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    assert raw == codecs.BOM_UTF8 + b"amount,name\r\n-100.00,'-100.00\r\n"


def test_dates_are_the_companys_days():
    london = DateRange(dt.date(2027, 4, 1), dt.date(2027, 4, 1))
    assert local_midnight_utc(dt.date(2027, 4, 1), LONDON) == dt.datetime(2027, 3, 31, 23, 0)
    assert local_midnight_utc(dt.date(2027, 3, 1), LONDON) == dt.datetime(2027, 3, 1, 0, 0)
    assert london.args == {"from": "2027-04-01", "to": "2027-04-01"}
    assert DateRange.from_args({"from": "2027-02-30", "to": "yesterday"}) == DateRange()


def test_services_csv_has_every_field_safe_and_in_the_companys_zone(as_role, world):
    response = as_role(R.VIEWER).get("/services.csv")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="services-2027-04-02.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    table = read_csv(response)
    rows = {row[1]: dict(zip(table[0], row, strict=True)) for row in table[1:]}
    assert list(rows) == ["Backup", "Firewall"]  # id order; the other company's is absent
    firewall = rows["Firewall"]
    assert firewall["client"] == "'" + HYPERLINK
    assert firewall["suspension_reason"] == "'@SUM(1)"
    assert (firewall["price"], firewall["currency"], firewall["monthly_equivalent"]) == (
        "250.00",
        "USD",
        "250.00",
    )
    assert firewall["start_date"] == "2027-02-01"
    assert firewall["term_end"] == "2028-02-01"
    assert firewall["status"] == "suspended"
    # Activated at 09:00 UTC on 1 February: GMT, so 09:00 in London too; the zone is named.
    assert firewall[f"activated_at ({LONDON})"] == "2027-02-01 09:00:00"
    assert firewall["auto_renew"] == "false"


def test_services_csv_filters_as_the_page_does_plus_the_start_date(as_role, world):
    viewer = as_role(R.VIEWER)

    def names(query):
        return column(read_csv(viewer.get(f"/services.csv?{query}")), "service")

    def shown(query):
        html = viewer.htmx_get(f"/services?{query}", "services_table").get_data(as_text=True)
        return [
            db.session.get(ClientService, int(i)).name
            for i in re.findall(r'href="/services/(\d+)"', html)
        ]

    for query in (
        "status=suspended",
        f"client={world['acme']}",
        "q=acme",
        "from=2027-01-11",
        "to=2027-01-10",
        "from=2027-01-10&to=2027-02-01",
        "sort=price&desc=1&page=1",  # the page's order and page do not cut the export
    ):
        assert sorted(names(query)) == sorted(shown(query)), query
    assert names("from=2027-01-11") == ["Firewall"]
    assert names("to=2027-01-10") == ["Backup"]
    assert names("status=pending") == []


def test_another_companys_client_in_the_filter_gives_an_empty_export(as_role, world):
    table = read_csv(as_role(R.ADMIN).get(f"/services.csv?client={world['their_client']}"))
    assert len(table) == 1 and table[0][0] == "id"


def test_4001_services_are_read_in_three_chunks_complete_and_in_order(as_role, app, company):
    client_id = make_client(company)
    db.session.execute(
        insert(ClientService),
        [
            {
                "company_id": company,
                "client_id": client_id,
                "name": f"Service {i:04}",
                "service_type": "backup",
                "status": ServiceStatus.ACTIVE,
                "billing_cycle": BillingCycle.MONTHLY,
                "price": Decimal("-1.50") if i == 7 else Decimal("10.00"),
                "currency": "EUR",
                "start_date": dt.date(2027, 1, 1),
                "term_months": 12,
                "term_end": dt.date(2028, 1, 1),
                "service_level": ServiceLevel.STANDARD,
            }
            for i in range(4001)
        ],
    )
    db.session.commit()
    expected = db.session.scalars(select(ClientService.id).order_by(ClientService.id)).all()
    viewer = as_role(R.VIEWER)
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def ended(conn):
        statements.append("ROLLBACK")

    event.listen(db.engine, "before_cursor_execute", record)
    event.listen(db.engine, "rollback", ended)
    try:
        response = viewer.get("/services.csv")
        assert response.is_streamed
        table = read_csv(response)  # reading it runs the reads
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
        event.remove(db.engine, "rollback", ended)
    reads = [
        "ROLLBACK" if s == "ROLLBACK" else "chunk"
        for s in statements
        if s == "ROLLBACK" or "ORDER BY client_services.id" in s
    ]
    # Three chunks, and each read ends its transaction before its rows go out: none is held
    # open for as long as the client takes to download.
    assert reads[reads.index("chunk") :][:6] == ["chunk", "ROLLBACK"] * 3
    assert reads.count("chunk") == 3
    assert [int(i) for i in column(table, "id")] == expected
    assert column(table, "service")[:2] == ["Service 0000", "Service 0001"]
    assert column(table, "price")[7] == "-1.50"  # a negative amount stays a number


def test_incidents_csv_uses_the_page_filters_and_the_companys_days(as_role, world):
    viewer = as_role(R.VIEWER)
    response = viewer.get("/incidents.csv?state=all")
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="incidents-2027-04-02.csv"'
    )
    table = read_csv(response)
    assert column(table, "title") == ["Late March", "First of April"]  # not "Their outage"
    # 22:30 and 23:30 UTC on 31 March are 23:30 on the 31st and 00:30 on 1 April in London.
    assert column(table, f"opened_at ({LONDON})") == ["2027-03-31 23:30:00", "2027-04-01 00:30:00"]
    assert column(table, "state") == ["resolved", "open"]
    assert column(table, "client") == ["Acme", "Acme"]

    def titles(query):
        return column(read_csv(viewer.get(f"/incidents.csv?{query}")), "title")

    assert titles("") == ["First of April"]  # the page's default: open ones
    assert titles("state=resolved") == ["Late March"]
    assert titles("state=all&from=2027-04-01") == ["First of April"]
    assert titles("state=all&to=2027-03-31") == ["Late March"]
    assert titles("state=all&severity=critical") == []
    assert titles(f"state=all&client={world['evil']}") == []
    assert titles(f"state=all&client={world['acme']}&q=april") == ["First of April"]
    assert titles(f"state=all&client={world['their_client']}") == []


def test_incidents_page_and_csv_list_the_same_incidents(as_role, world):
    viewer = as_role(R.VIEWER)
    for query in ("state=all", "state=all&from=2027-04-01", f"client={world['acme']}&state=all"):
        html = viewer.htmx_get(f"/incidents?{query}", "incidents_table").get_data(as_text=True)
        shown = sorted(int(i) for i in re.findall(r'id="incident-(\d+)"', html))
        exported = sorted(
            int(i) for i in column(read_csv(viewer.get(f"/incidents.csv?{query}")), "id")
        )
        assert shown == exported and shown, query


def test_another_companys_service_in_the_incidents_filter_is_not_found(as_role, world):
    viewer = as_role(R.VIEWER)
    assert viewer.get(f"/incidents?service={world['theirs']}").status_code == 404
    assert viewer.get(f"/incidents.csv?service={world['theirs']}").status_code == 404


def test_activity_csv_filters_by_what_client_and_day(as_role, world):
    viewer = as_role(R.VIEWER)
    response = viewer.get("/activity.csv")
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="activity-2027-04-02.csv"'
    )
    table = read_csv(response)
    assert column(table, "what") == [
        "provisioned",
        "activated",
        "provisioned",
        "activated",
        "suspended",
    ]
    assert "Theirs" not in column(table, "service")
    suspended = dict(zip(table[0], table[5], strict=True))
    assert suspended["detail"] == "reason: @SUM(1)"
    assert suspended["client"] == "'" + HYPERLINK
    assert suspended[f"occurred_at ({LONDON})"] == "2027-03-20 09:00:00"
    assert suspended["who"] == "test"

    def whats(query):
        return column(read_csv(viewer.get(f"/activity.csv?{query}")), "what")

    assert whats("what=ServiceActivated") == ["activated", "activated"]
    assert whats(f"client={world['evil']}") == ["provisioned", "activated", "suspended"]
    assert whats("from=2027-02-01&to=2027-02-28") == ["provisioned", "activated"]
    assert whats("from=2027-03-01") == ["suspended"]
    assert whats("who=people") == []
    assert whats(f"client={world['their_client']}") == []


def test_activity_page_shows_what_its_csv_exports(as_role, world):
    html = as_role(R.VIEWER).get(f"/activity?client={world['evil']}").get_data(as_text=True)
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    assert body.count("<tr>") == 3 and "Backup" not in body


@pytest.mark.parametrize(
    ("page", "target", "query", "link"),
    [
        (
            "/services",
            "services_table",
            "status=active&health=&from=2027-01-01&sort=price&page=1",
            "/services.csv?status=active&amp;from=2027-01-01",
        ),
        (
            "/incidents",
            "incidents_table",
            "state=all&client={acme}&to=2027-04-01",
            "/incidents.csv?state=all&amp;client={acme}&amp;to=2027-04-01",
        ),
        (
            "/activity",
            "activity_table",
            "what=ServiceActivated&from=2027-01-01",
            "/activity.csv?what=ServiceActivated&amp;from=2027-01-01",
        ),
    ],
)
def test_the_download_link_carries_the_filters_after_each_swap(
    as_role, world, page, target, query, link
):
    """The link is inside the block the filter form swaps, so it follows every change; only
    the known filters are carried (url_for's own _external or _scheme could not be forced)."""
    viewer = as_role(R.VIEWER)
    url = f"{page}?{query.format(**world)}&_external=1&_scheme=javascript"
    fragment = viewer.htmx_get(url, target).get_data(as_text=True)
    assert f'href="{link.format(**world)}" download>Download CSV</a>' in fragment
    full = viewer.get(url).get_data(as_text=True)
    assert f'href="{link.format(**world)}" download' in full


def test_sorting_and_paging_keep_the_date_range(as_role, world):
    html = as_role(R.VIEWER).get("/services?from=2027-01-01&to=2027-12-31").get_data(as_text=True)
    assert 'href="/services?sort=price&amp;from=2027-01-01&amp;to=2027-12-31"' in html
    assert 'value="2027-01-01"' in html and 'value="2027-12-31"' in html
