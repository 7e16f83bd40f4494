"""The alerts list a page at a time, and "Acknowledge selected": together, each as one
acknowledgement, never another company's."""

import datetime as dt
import re

import pytest
from sqlalchemy import select

from tests.support.factories import make_service
from webapp.accounts.models import User
from webapp.extensions import db
from webapp.lifecycle.events import ServiceSLABreached
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline import outbox
from webapp.sla.models import SlaAlert
from webapp.sla.views import MOST_SELECTED

R = UserRole
START = dt.datetime(2027, 1, 4, 9)


def add_alerts(company_id, n, acknowledged=0, service_id=None) -> list[int]:
    """`n` alerts raised a minute apart ("alert 00" first), the first `acknowledged` of them
    acknowledged an hour later each (the later raised, the later acknowledged)."""
    service_id = service_id or make_service(company_id)
    ids = []
    for i in range(n):
        event = outbox.record(ServiceSLABreached(service_id, i, "response"), company_id, "t")
        alert = SlaAlert(
            company_id=company_id,
            event_id=event.id,
            service_id=service_id,
            kind="response",
            message=f"alert {i:02}",
            created_at=START + dt.timedelta(minutes=i),
            acknowledged_at=START + dt.timedelta(hours=1, minutes=i) if i < acknowledged else None,
        )
        db.session.add(alert)
        db.session.flush()
        ids.append(alert.id)
    db.session.commit()
    return ids


def messages(html: str) -> list[str]:
    return re.findall(r"<strong>(alert \d+)</strong>", html)


def acknowledged() -> dict[int, int | None]:
    db.session.rollback()
    return dict(db.session.execute(select(SlaAlert.id, SlaAlert.acknowledged_by_id)).all())


@pytest.fixture
def small_pages(app):
    app.config["PAGE_SIZE"] = 3


def test_the_list_comes_a_page_at_a_time_open_first_then_acknowledged(
    as_role, company, small_pages
):
    add_alerts(company, 5, acknowledged=2)  # open: 02, 03, 04; acknowledged: 01, 00
    viewer = as_role(R.VIEWER)
    first = viewer.get("/alerts?state=all").get_data(as_text=True)
    assert messages(first) == ["alert 02", "alert 03", "alert 04"]
    assert "5 alerts · page 1 of 2" in first
    assert 'href="/alerts?state=all&amp;page=2"' in first
    second = viewer.htmx_get("/alerts?state=all&page=2", "alerts_table").get_data(as_text=True)
    assert second.lstrip().startswith('<div id="alerts_table"')
    assert messages(second) == ["alert 01", "alert 00"]  # acknowledged: newest first
    assert "← Previous" in second and "Next →" not in second


def test_a_page_boundary_inside_a_group_and_past_the_last_page(as_role, company, small_pages):
    add_alerts(company, 8, acknowledged=4)  # open: 04..07; acknowledged: 03..00
    viewer = as_role(R.VIEWER)
    assert messages(viewer.get("/alerts?state=all&page=2").get_data(as_text=True)) == [
        "alert 07",
        "alert 03",
        "alert 02",
    ]
    last = viewer.get("/alerts?state=all&page=99").get_data(as_text=True)
    assert messages(last) == ["alert 01", "alert 00"] and "page 3 of 3" in last
    assert messages(viewer.get("/alerts?page=2").get_data(as_text=True)) == ["alert 07"]
    acked = viewer.get("/alerts?state=acknowledged&page=-4").get_data(as_text=True)
    assert messages(acked) == ["alert 03", "alert 02", "alert 01"]


def test_one_page_needs_no_pager(as_role, company):
    add_alerts(company, 2)
    html = as_role(R.VIEWER).get("/alerts").get_data(as_text=True)
    assert messages(html) == ["alert 00", "alert 01"] and 'aria-label="Pages"' not in html


def test_more_than_the_old_hundred_are_reachable(as_role, company):
    add_alerts(company, 130)
    viewer = as_role(R.VIEWER)
    pages = -(-130 // 25)
    last = viewer.get(f"/alerts?page={pages}").get_data(as_text=True)
    assert f"130 alerts · page {pages} of {pages}" in last
    assert messages(last)[-1] == "alert 129"


def test_technicians_tick_and_acknowledge_several_at_once(as_role, company):
    ids = add_alerts(company, 4)
    tech = as_role(R.TECHNICIAN, "night@msp.example")
    page = tech.get("/alerts").get_data(as_text=True)
    assert "Acknowledge selected" in page
    assert page.count('form="alerts_bulk"') == 4
    response = tech.post(
        "/alerts/acknowledge?state=all", {"alert": [ids[0], ids[2]]}, target="alerts_table"
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "2 alerts acknowledged." in html  # the flash, swapped out of band
    assert html.count("Acknowledged by night at") == 2
    night = db.session.scalar(select(User.id).filter_by(email="night@msp.example"))
    assert acknowledged() == {ids[0]: night, ids[1]: None, ids[2]: night, ids[3]: None}


def test_those_acknowledged_meanwhile_keep_their_first_acknowledgement(as_role, company):
    ids = add_alerts(company, 3)
    first = as_role(R.TECHNICIAN, "first@msp.example")
    first.post(f"/alerts/{ids[1]}/acknowledge", target="alerts_table")
    before = acknowledged()[ids[1]]
    late = as_role(R.ADMIN)
    response = late.post("/alerts/acknowledge", {"alert": ids}, target="alerts_table")
    assert response.status_code == 200
    assert "2 alerts acknowledged. 1 had been acknowledged already." in response.get_data(
        as_text=True
    )
    assert acknowledged()[ids[1]] == before


def test_another_companys_alert_among_them_is_a_404_and_nothing_is_acknowledged(
    as_role, company, other_company
):
    ours = add_alerts(company, 2)
    theirs = add_alerts(other_company, 1, service_id=make_service(other_company))
    tech = as_role(R.TECHNICIAN)
    response = tech.post("/alerts/acknowledge", {"alert": [*ours, *theirs]}, target="alerts_table")
    assert response.status_code == 404
    assert "no such record" in response.get_data(as_text=True)
    assert set(acknowledged().values()) == {None}


@pytest.mark.parametrize("sent", ["abc", "0", "-1", "1.5", str(2**63), "1\x00"])
def test_a_garbled_id_is_a_404_not_a_500(as_role, company, sent):
    ours = add_alerts(company, 1)
    response = as_role(R.TECHNICIAN).post(
        "/alerts/acknowledge", {"alert": [ours[0], sent]}, target="alerts_table"
    )
    assert response.status_code == 404
    assert acknowledged() == {ours[0]: None}


def test_nothing_ticked_says_so_in_place(as_role, company):
    add_alerts(company, 1)
    response = as_role(R.TECHNICIAN).post("/alerts/acknowledge", {}, target="alerts_table")
    assert response.status_code == 422
    assert "Tick the alerts to acknowledge first" in response.get_data(as_text=True)
    assert set(acknowledged().values()) == {None}


def test_too_many_at_once_is_refused(as_role, company):
    ours = add_alerts(company, 1)
    response = as_role(R.TECHNICIAN).post(
        "/alerts/acknowledge", {"alert": ours * (MOST_SELECTED + 1)}, target="alerts_table"
    )
    assert response.status_code == 422
    assert f"at most {MOST_SELECTED}" in response.get_data(as_text=True)
    assert acknowledged() == {ours[0]: None}


def test_viewers_see_no_ticks_and_may_not_acknowledge(as_role, company):
    ids = add_alerts(company, 1)
    viewer = as_role(R.VIEWER)
    html = viewer.get("/alerts").get_data(as_text=True)
    assert "Acknowledge selected" not in html and 'name="alert"' not in html
    response = viewer.post("/alerts/acknowledge", {"alert": ids}, target="alerts_table")
    assert response.status_code == 403
    assert acknowledged() == {ids[0]: None}


def test_without_htmx_the_whole_page_comes_back_with_the_message(as_role, company):
    ids = add_alerts(company, 1)
    response = as_role(R.TECHNICIAN).post("/alerts/acknowledge", {"alert": ids}, htmx=False)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<h1>SLA alerts</h1>" in html
    assert html.count("1 alert acknowledged.") == 1
