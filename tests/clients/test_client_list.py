"""/clients: each client with its services by status, MRR per currency, lowest health, open
incidents and next term end; searched, sorted, paged; archived clients only when asked."""

import datetime as dt
import re
from decimal import Decimal

from sqlalchemy import update

from tests.support.factories import active_service, breach, make_client, make_service
from webapp.clients import queries as clients_queries
from webapp.clients.models import Client
from webapp.clock import today, utcnow
from webapp.extensions import db
from webapp.lifecycle.statuses import BillingCycle, UserRole
from webapp.services.models import ClientService


def _set(service_id, **values):
    db.session.execute(update(ClientService).where(ClientService.id == service_id).values(**values))
    db.session.commit()


def names(html: str) -> list[str]:
    """The client names in the list's rows, in order."""
    return re.findall(r'<tr data-client="\d+">\s*<td><a href="/clients/\d+">([^<]+)</a>', html)


def row_of(html: str, client_id: int) -> str:
    start = html.index(f'<tr data-client="{client_id}">')
    return html[start : html.index("</tr>", start)]


def test_each_client_shows_its_services_revenue_health_incidents_and_next_term_end(
    as_role, company, work
):
    acme = make_client(company, name="Acme Dental")
    monthly = active_service(company, acme, price="100.00")
    annual = active_service(company, acme, price="1200.00", cycle=BillingCycle.ANNUAL)
    make_service(company, acme, name="Firewall")  # pending
    euro = active_service(company, acme, price="50.00", currency="EUR")
    breach(company, monthly)
    work()
    _set(monthly, health_score=72, term_end=today() + dt.timedelta(days=40))
    _set(annual, health_score=55, term_end=today() + dt.timedelta(days=20))
    _set(euro, health_score=None)
    quiet = make_client(company, name="Quiet Ltd", email=None)

    html = as_role(UserRole.VIEWER).get("/clients").get_data(as_text=True)

    acme_row = row_of(html, acme)
    assert f'<a href="/clients/{acme}">Acme Dental</a>' in acme_row
    assert '3 <span class="badge badge-active">active</span>' in acme_row
    assert '1 <span class="badge badge-pending">pending</span>' in acme_row
    # 100 a month plus 1200 a year (100 a month): the overview's figure, per currency.
    assert "200.00 USD" in acme_row and "50.00 EUR" in acme_row
    assert "55 poor" in acme_row  # the lowest score of its running services
    assert f'href="/incidents?client={acme}">1</a>' in acme_row
    assert (today() + dt.timedelta(days=20)).isoformat() in acme_row

    quiet_row = row_of(html, quiet)
    assert "none" in quiet_row and "—" in quiet_row and ">0<" in quiet_row


def test_figures_come_from_a_few_grouped_reads_for_the_whole_page(app, company, work):
    first, second = make_client(company, name="A"), make_client(company, name="B")
    active_service(company, first, price="10.00")
    active_service(company, second, price="20.00")
    active_service(company, second, price="5.00", cycle=BillingCycle.QUARTERLY)
    work()
    page = clients_queries.clients_page(company, clients_queries.ClientQuery(), 25)
    by_name = {row.client.name: row for row in page.rows}
    assert by_name["A"].mrr == {"USD": Decimal("10.00")}
    assert str(by_name["B"].mrr["USD"]) == "21.67"  # 20 + 5/3, rounded per cycle
    assert by_name["B"].statuses == {"active": 2}
    assert by_name["B"].services == 2


def test_search_by_name_and_pages(as_role, app, company):
    app.config["PAGE_SIZE"] = 2
    for name in ("Alpha Dental", "Beta Law", "Gamma Dental", "Delta Dental", "Epsilon Law"):
        make_client(company, name=name, email=None)
    viewer = as_role(UserRole.VIEWER)

    first = viewer.get("/clients").get_data(as_text=True)
    assert names(first) == ["Alpha Dental", "Beta Law"]
    assert "5 clients · page 1 of 3" in first
    third = viewer.get("/clients?page=3").get_data(as_text=True)
    assert names(third) == ["Gamma Dental"]
    assert names(viewer.get("/clients?page=99").get_data(as_text=True)) == ["Gamma Dental"]

    searched = viewer.get("/clients?q=dental").get_data(as_text=True)
    assert names(searched) == ["Alpha Dental", "Delta Dental"]
    assert "3 clients · page 1 of 2" in searched
    # The pager keeps the search.
    assert 'href="/clients?sort=name&amp;page=2&amp;q=dental"' in searched
    assert "No clients match." in viewer.get("/clients?q=nothing").get_data(as_text=True)


def test_sorts_by_each_figure_either_way(as_role, company, work):
    big, small, none = (make_client(company, name=n, email=None) for n in ("Big", "Small", "None"))
    big_service = active_service(company, big, price="500.00")
    small_service = active_service(company, small, price="50.00")
    breach(company, small_service)
    work()
    _set(big_service, health_score=90, term_end=today() + dt.timedelta(days=100))
    _set(small_service, health_score=30, term_end=today() + dt.timedelta(days=10))
    viewer = as_role(UserRole.VIEWER)

    def order(args):
        return names(viewer.get(f"/clients?{args}").get_data(as_text=True))

    assert order("") == ["Big", "None", "Small"]
    assert order("sort=name&desc=1") == ["Small", "None", "Big"]
    assert order("sort=mrr&desc=1") == ["Big", "Small", "None"]
    assert order("sort=mrr") == ["None", "Small", "Big"]
    # No running service: no score and no term end, last either way.
    assert order("sort=health") == ["Small", "Big", "None"]
    assert order("sort=health&desc=1") == ["Big", "Small", "None"]
    assert order("sort=term_end") == ["Small", "Big", "None"]
    assert order("sort=incidents&desc=1") == ["Small", "Big", "None"]
    assert order("sort=nonsense") == ["Big", "None", "Small"]
    # MRR and incidents open largest first.
    html = viewer.get("/clients").get_data(as_text=True)
    assert 'href="/clients?sort=mrr&amp;desc=1"' in html
    assert 'href="/clients?sort=health"' in html


def test_archived_clients_are_listed_only_when_asked(as_role, company):
    make_client(company, name="Current", email=None)
    gone = make_client(company, name="Former", email=None)
    db.session.get(Client, gone).archived_at = utcnow()
    db.session.commit()
    viewer = as_role(UserRole.VIEWER)
    assert names(viewer.get("/clients").get_data(as_text=True)) == ["Current"]
    both = viewer.get("/clients?archived=1").get_data(as_text=True)
    assert names(both) == ["Current", "Former"]
    assert "archived</span>" in row_of(both, gone)


def test_the_table_alone_for_htmx_and_the_new_button_for_those_who_may(as_role, company):
    make_client(company, name="Acme", email=None)
    viewer = as_role(UserRole.VIEWER)
    fragment = viewer.client.get(
        "/clients?q=ac", headers={"HX-Request": "true", "HX-Target": "clients_table"}
    ).get_data(as_text=True)
    assert fragment.startswith('\n<div id="clients_table"') or fragment.lstrip().startswith(
        '<div id="clients_table"'
    )
    assert "<html" not in fragment and names(fragment) == ["Acme"]
    assert "New client" not in viewer.get("/clients").get_data(as_text=True)
    for role in (UserRole.ACCOUNT_MANAGER, UserRole.ADMIN):
        assert 'href="/clients/new"' in as_role(role).get("/clients").get_data(as_text=True)
    assert 'href="/clients"' in viewer.get("/").get_data(as_text=True)  # in the top bar
