"""The activity page: the audit trail of who did what, from the events' actors."""

import re

from sqlalchemy import select

from tests.support.factories import active_service, make_service
from webapp.accounts.models import User
from webapp.activity import queries as audit_trail
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.services import actions as lc

R = UserRole


def rows(html: str) -> list[str]:
    """Each table row's cells as one line of text."""
    body = html[html.index("<tbody>") : html.index("</tbody>")] if "<tbody>" in html else ""
    return [
        " | ".join(
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td>(.*?)</td>", row, re.S)
        )
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_a_new_company_is_told_what_will_appear(as_role):
    html = as_role(R.VIEWER).get("/activity").get_data(as_text=True)
    assert "Nothing has happened yet" in html
    assert 'href="/activity" aria-current="page"' in html


def test_each_change_shows_who_made_it_what_it_was_and_its_facts(as_role, company):
    manager = as_role(R.ACCOUNT_MANAGER)
    old = active_service(company, name="Old firewall")
    service_id = make_service(company, name="Backup for Acme")
    db.session.get(User, db.session.scalar(select(User.id))).name = "Mia Manager"
    db.session.commit()
    manager.post(f"/services/{service_id}/activate", {})
    manager.post(f"/services/{service_id}/suspend", {"reason": "unpaid invoice"})
    db.session.rollback()  # the requests wrote meanwhile: start a fresh transaction
    lc.expire(company, old)

    lines = [
        line.split(" | ")
        for line in rows(as_role(R.VIEWER).get("/activity").get_data(as_text=True))
    ]
    mia = "Mia Manager (account_manager@msp.example)"
    old, new = "Old firewall · Acme Dental", "Backup for Acme · Acme Dental"  # and its client
    assert [line[1:4] for line in lines] == [
        ["Scheduler", "expired", old],
        [mia, "suspended", new],
        [mia, "activated", new],
        ["test", "provisioned", new],
        ["test", "activated", old],
        ["test", "provisioned", old],
    ]
    assert lines[1][4] == "reason: unpaid invoice"
    assert lines[2][4].startswith("term ends 20")
    assert lines[0][4].startswith("term ended 20")


def test_filters_by_who_and_by_what(as_role, company):
    manager = as_role(R.ACCOUNT_MANAGER)
    service_id = make_service(company)
    manager.post(f"/services/{service_id}/activate", {})
    manager.post(f"/services/{service_id}/sla", {"response_minutes": "30"})
    db.session.rollback()
    lc.expire(company, active_service(company))
    viewer = as_role(R.VIEWER)
    people = rows(viewer.get("/activity?who=people").get_data(as_text=True))
    assert [line.split(" | ")[2] for line in people] == ["SLA policy changed", "activated"]
    assert people[0].endswith("response 30 min")
    automatic = rows(viewer.get("/activity?who=auto").get_data(as_text=True))
    assert {line.split(" | ")[1] for line in automatic} == {"Scheduler", "test"}
    manager_id = db.session.scalar(select(User.id).filter_by(role=R.ACCOUNT_MANAGER))
    assert len(rows(viewer.get(f"/activity?who={manager_id}").get_data(as_text=True))) == 2
    only = rows(viewer.get("/activity?what=ServiceExpired").get_data(as_text=True))
    assert [line.split(" | ")[2] for line in only] == ["expired"]
    assert "Nothing matches these filters" in viewer.get("/activity?what=ServiceRenewed").get_data(
        as_text=True
    )


def test_older_pages_go_back_by_event_id_to_the_first(as_role, company):
    for i in range(audit_trail.PER_PAGE + 5):
        make_service(company, name=f"Service {i:02}")
    viewer = as_role(R.VIEWER)
    html = viewer.get("/activity").get_data(as_text=True)
    first = rows(html)
    assert len(first) == audit_trail.PER_PAGE and "Service 54" in first[0]
    older = re.search(r'href="(/activity\?older_than=\d+)"', html).group(1)
    second = viewer.get(older).get_data(as_text=True)
    assert [line.split(" | ")[3] for line in rows(second)] == [
        f"Service {i:02} · Acme Dental" for i in range(4, -1, -1)
    ]
    assert "Older →" not in second
    assert "← Newest" in second


def test_another_companys_activity_is_not_shown(as_role, company, other_company):
    make_service(other_company, name="Their secret")
    html = as_role(R.ADMIN).get("/activity").get_data(as_text=True)
    assert "Their secret" not in html and "Nothing has happened yet" in html


def test_actors_read_as_people_api_tokens_and_the_automatic_ones():
    names = {3: "Tess"}
    assert audit_trail.describe_actor("user:3 tess@msp.example", names) == "Tess (tess@msp.example)"
    assert audit_trail.describe_actor("user:4 gone@msp.example", names) == "gone@msp.example"
    assert audit_trail.describe_actor("api:prometheus", names) == "API token prometheus"
    assert audit_trail.describe_actor("sla", names) == "SLA clock"
    assert audit_trail.describe_actor("cli", names) == "cli"
