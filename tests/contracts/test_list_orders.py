"""The orders and counts of the lists that are read per status or severity and merged.

At scale these queries are split (one index walk per status or severity, then merged) so
they stop at the page's limit instead of sorting every row; these tests pin that the split
gives the same rows in the same order as the plain query would.
"""

import datetime as dt

from sqlalchemy import update

from tests.support.factories import active_service, make_client, make_service
from webapp.clock import today, utcnow
from webapp.extensions import db
from webapp.health import queries as health_queries
from webapp.incidents import queries as srm
from webapp.incidents.recording import NewIncident, record
from webapp.lifecycle.statuses import ServiceStatus
from webapp.overview import queries as overview_queries
from webapp.renewals import queries as renewals_queries
from webapp.services import queries as services_queries
from webapp.services.models import ClientService


def _set(service_id, **values):
    db.session.execute(update(ClientService).where(ClientService.id == service_id).values(**values))
    db.session.commit()


def _services(company, specs):
    """specs: (status, days to term end, health score); returns their ids in order given."""
    client = make_client(company)
    ids = []
    for i, (status, days, health) in enumerate(specs):
        sid = make_service(company, client, name=f"svc {i}")
        _set(sid, status=status, term_end=today() + dt.timedelta(days=days), health_score=health)
        ids.append(sid)
    return ids


ACTIVE, SUSPENDED = ServiceStatus.ACTIVE, ServiceStatus.SUSPENDED

CANCELLED, PENDING = ServiceStatus.CANCELLED, ServiceStatus.PENDING


def test_term_ends_merges_active_and_suspended_in_term_order_and_pages(company):
    ids = _services(
        company,
        [
            (ACTIVE, 20, 90),
            (SUSPENDED, 3, 90),
            (CANCELLED, 1, 90),  # not running: never listed
            (ACTIVE, 3, 90),
            (PENDING, 2, 90),
            (SUSPENDED, 10, 90),
            (ACTIVE, 40, 90),  # beyond the window
        ],
    )
    listed = [s.id for s in renewals_queries.term_ends(company, days=30, limit=10)]
    # term 3 twice (tie broken by id), then 10, then 20
    assert listed == [ids[1], ids[3], ids[5], ids[0]]
    pages = [
        [s.id for s in renewals_queries.term_ends(company, 30, limit=2, offset=o)]
        for o in (0, 2, 4)
    ]
    assert pages == [[ids[1], ids[3]], [ids[5], ids[0]], []]
    assert renewals_queries.term_ends_page(company, 30).total == 4


def test_lowest_health_across_statuses_skips_unscored_and_ended(company):
    ids = _services(
        company,
        [
            (ACTIVE, 100, 70),
            (SUSPENDED, 100, 35),
            (CANCELLED, 100, 5),
            (ACTIVE, 100, None),
            (ACTIVE, 100, 35),
            (SUSPENDED, 100, 90),
        ],
    )
    assert [s.id for s in health_queries.lowest_health(company, limit=3)] == [
        ids[1],
        ids[4],
        ids[0],
    ]


def test_service_counts_per_status_and_running_ones_per_health_band(company):
    _services(
        company,
        [
            (ACTIVE, 100, 100),
            (ACTIVE, 100, 80),
            (SUSPENDED, 100, 79),
            (ACTIVE, 100, 40),
            (ACTIVE, 100, 39),
            (ACTIVE, 100, 0),
            (CANCELLED, 100, 10),
            (ACTIVE, 100, None),
        ],
    )
    counts = overview_queries.service_counts(company)
    assert counts.bands == {"healthy": 2, "fair": 1, "poor": 1, "critical": 2}
    assert counts.by_status == {
        "pending": 0,
        "active": 6,
        "suspended": 1,
        "cancelled": 1,
        "expired": 0,
    }


def test_service_search_finds_client_names_and_counts_them(company):
    dental = make_client(company, name="Acme Dental")
    other = make_client(company, name="Harbour Law", email="it@harbour.example")
    make_service(company, dental, name="Firewall")
    make_service(company, other, name="Dental imaging backup")
    make_service(company, other, name="Firewall")
    found = services_queries.services(
        company, services_queries.ServiceQuery(q="dental"), page_size=50
    )
    assert found.total == 2
    assert sorted(service.name for service, _, _ in found.rows) == [
        "Dental imaging backup",
        "Firewall",
    ]


def _incident(company, service, severity, minutes_ago):
    incident, _ = record(
        company,
        NewIncident(
            service,
            f"{severity} {minutes_ago}",
            severity,
            opened_at=utcnow() - dt.timedelta(minutes=minutes_ago),
        ),
        "test",
    )
    return incident.id


def test_open_incidents_most_severe_then_longest_open_across_the_limit(company):
    service = active_service(company)
    low_old = _incident(company, service, "low", 500)
    crit_new = _incident(company, service, "critical", 5)
    high_old = _incident(company, service, "high", 400)
    crit_old = _incident(company, service, "critical", 50)
    medium = _incident(company, service, "medium", 10)
    shown = srm.incidents(company, srm.IncidentQuery(), limit=4)
    assert [row.incident.id for row in shown.rows] == [crit_old, crit_new, high_old, medium]
    assert shown.total == 5
    everything = srm.incidents(company, srm.IncidentQuery(), limit=10)
    assert [row.incident.id for row in everything.rows][-1] == low_old
    # a service's own list is ordered the same way, by the plain query
    of_service = srm.incidents(company, srm.IncidentQuery(service=service), limit=4)
    assert [row.incident.id for row in of_service.rows] == [crit_old, crit_new, high_old, medium]


def test_incident_count_stops_at_the_cap_and_says_over(company, monkeypatch):
    monkeypatch.setattr(srm, "COUNT_CAP", 2)
    service = active_service(company)
    for minutes in (30, 20, 10):
        _incident(company, service, "low", minutes)
    shown = srm.incidents(company, srm.IncidentQuery(), limit=1)
    assert shown.total == 3
    assert shown.total_text == "over 2"
    monkeypatch.setattr(srm, "COUNT_CAP", 3)
    assert srm.incidents(company, srm.IncidentQuery(), limit=1).total_text == "3"
