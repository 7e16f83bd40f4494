"""Incidents counted per asset: the worst assets of a client (its page, the reports and their
CSV) and one asset's last 90 days, each scoped to the company and the client."""

import csv
import datetime as dt
import io

from sqlalchemy import update

from tests.support.factories import make_client, make_service
from webapp.assets import actions as assets
from webapp.assets import queries
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.incidents import recording
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import UserRole as R
from webapp.services import actions as lc


def _asset(company_id, client_id, name):
    fields = assets.AssetFields(client_id, name, identifiers=(("hostname", name),))
    return assets.create_asset(company_id, fields, "test").id


def _incident(company_id, service, asset, days_ago, resolved=True, breached=()):
    opened = utcnow() - dt.timedelta(days=days_ago, hours=1)
    incident, _ = recording.record(
        company_id,
        recording.NewIncident(
            service,
            f"down {days_ago}d",
            "high",
            opened_at=opened,
            asset_id=asset,
            resolved_at=opened + dt.timedelta(minutes=30) if resolved else None,
        ),
        "test",
    )
    # The marks as the test wants them, whatever the SLA clocks found when it was recorded.
    marks = {
        f"{kind}_breached_at": opened + dt.timedelta(minutes=5) if kind in breached else None
        for kind in ("response", "resolution")
    }
    db.session.execute(update(Incident).where(Incident.id == incident.id).values(**marks))
    db.session.commit()
    return incident.id


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def _service(company_id, client_id, name="Monitoring"):
    service = make_service(company_id, client_id, name=name)
    lc.activate(company_id, service, "test")
    return service


def _world(company, other_company):
    acme = make_client(company)
    service = _service(company, acme)
    web1, web2, db1 = (_asset(company, acme, n) for n in ("web1", "web2", "db1"))
    for _ in range(3):
        _incident(company, service, web1, 2)
    _incident(company, service, web1, 3, resolved=False, breached=("response",))
    _incident(company, service, web1, 120)  # too old for the last 90 days
    _incident(company, service, db1, 5, breached=("response", "resolution"))
    _incident(company, service, db1, 6, resolved=False)
    # Another client's asset, and another company's, with more incidents: never counted.
    bravo = make_client(company, "Bravo Legal", email=None)
    theirs = _asset(company, bravo, "bravo1")
    bravo_service = _service(company, bravo)
    other = make_client(other_company, "Theirs", email=None)
    far = _asset(other_company, other, "far1")
    far_service = _service(other_company, other)
    for _ in range(6):
        _incident(company, bravo_service, theirs, 1)
        _incident(other_company, far_service, far, 1)
    return acme, web1, web2, db1


def test_the_worst_assets_of_a_client_over_the_last_90_days(company, other_company):
    acme, web1, _web2, db1 = _world(company, other_company)
    rows = queries.recent_incidents_by_asset(company, client_id=acme)
    assert rows == [
        queries.AssetIncidents(web1, "web1", 4, 1, 1),
        queries.AssetIncidents(db1, "db1", 2, 1, 2),
    ]  # web2 had none; the old incident, the other client and company are not counted


def test_the_top_five_on_the_client_page_linked_to_each_asset(as_role, company, other_company):
    acme, web1, web2, db1 = _world(company, other_company)
    service = _service(company, acme, "Backup")
    more = [_asset(company, acme, f"pc{n}") for n in range(4)]
    for asset in more:
        _incident(company, service, asset, 1)
    html = as_role(R.VIEWER).get(f"/clients/{acme}").get_data(as_text=True)
    section = html.split('id="client_worst_assets"', 1)[1].split("</section>", 1)[0]
    assert "Assets with most incidents" in html
    shown = [part.split('"', 1)[0] for part in section.split('data-asset="')[1:]]
    assert shown == [str(web1), str(db1), *(str(a) for a in more[:3])]  # top 5, most first
    assert f'href="/assets/{web1}"' in section and "bravo1" not in section


def test_the_asset_page_says_its_last_90_days_with_breaches(as_role, company, other_company):
    _acme, web1, web2, db1 = _world(company, other_company)
    viewer = as_role(R.VIEWER)
    html = viewer.get(f"/assets/{db1}").get_data(as_text=True)
    recent = html.split('id="asset_recent"', 1)[1].split("</p>", 1)[0]
    assert "2</strong> incidents, 1 open" in recent and "2 SLA breaches" in recent
    assert "response breached" in html and "resolution breached" in html
    quiet = viewer.get(f"/assets/{web2}").get_data(as_text=True)
    assert "no incident" in quiet.split('id="asset_recent"', 1)[1].split("</p>", 1)[0]


def test_the_reports_show_the_worst_assets_of_one_client_and_export_them(
    as_role, company, other_company
):
    acme, web1, _web2, db1 = _world(company, other_company)
    viewer = as_role(R.VIEWER)
    # Every client: no such table (it would name devices, not where the trouble lies).
    assert 'id="report_worst_assets"' not in viewer.get("/reports").get_data(as_text=True)
    html = viewer.get(f"/reports?client={acme}").get_data(as_text=True)
    section = html.split('id="report_worst_assets"', 1)[1].split("</section>", 1)[0]
    assert [p.split('"', 1)[0] for p in section.split('data-asset="')[1:]] == [str(web1), str(db1)]
    response = viewer.get(f"/reports/worst-assets.csv?client={acme}")
    assert response.status_code == 200
    rows = _csv(response)
    # The default six months reach back past the 120-day-old incident.
    assert rows == [
        ["asset", "incidents", "open", "sla_breaches"],
        ["web1", "5", "1", "1"],
        ["db1", "2", "1", "2"],
    ]
    # A range with none of them: the header only.
    response = viewer.get(f"/reports/worst-assets.csv?client={acme}&from=2020-01&to=2020-02")
    assert _csv(response) == [["asset", "incidents", "open", "sla_breaches"]]
