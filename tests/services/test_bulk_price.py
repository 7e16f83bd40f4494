"""The bulk price change: services chosen by the list's filters, a preview of every one, then
one price change each, applied all together or, if any changed since the preview, not at all."""

import datetime as dt
import html as html_lib
import re
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import func, select

from tests.support.factories import active_service, make_client, make_service
from webapp.billing.models import RevenueMovement
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole as R
from webapp.pipeline.models import DomainEvent
from webapp.services import actions as lc
from webapp.services import repricing
from webapp.services.models import ClientService

URL = "/services/price-change"
SEEN = re.compile(r'name="services" value="([^"]*)"')


@pytest.fixture
def world(company, other_company):
    acme = make_client(company, name="Acme Dental")
    bolt = make_client(company, name="Bolt Logistics")
    ids = {
        "backup": active_service(company, acme, name="Backup", price="10.10", currency="EUR"),
        "monitoring": active_service(
            company, acme, name="Monitoring", price="19.99", currency="EUR"
        ),
        "firewall": make_service(company, acme, name="Firewall", price="100.00", currency="EUR"),
        "m365": active_service(company, acme, name="M365", price="50.00", currency="EUR"),
        "helpdesk": active_service(company, bolt, name="Helpdesk", price="200.00"),
        "theirs": active_service(other_company, name="Not yours", price="10.00"),
    }
    lc.change_quantity(company, ids["backup"], "test", 3)
    db.session.get(ClientService, ids["firewall"]).service_type = "firewall"
    db.session.commit()
    lc.suspend(company, ids["monitoring"], "test", reason="unpaid")
    lc.cancel(company, ids["m365"], "test", reason="moved away")
    return {"acme": acme, "bolt": bolt, **ids}


def _prices(world):
    db.session.rollback()
    return {
        name: (s.price, s.version)
        for name, service_id in world.items()
        if name not in ("acme", "bolt") and (s := db.session.get(ClientService, service_id))
    }


def _bulk_events():
    db.session.rollback()
    return db.session.scalars(
        select(DomainEvent)
        .where(DomainEvent.type == "ServicePriceChanged")
        .order_by(DomainEvent.service_id)
    ).all()


def _preview(manager, data):
    response = manager.post(URL, {"step": "preview", **data}, htmx=False)
    assert response.status_code == 200, response.get_data(as_text=True)[:800]
    page = response.get_data(as_text=True)
    return page, html_lib.unescape(SEEN.search(page).group(1))


def test_the_preview_lists_every_selected_service_and_changes_nothing(as_role, world):
    manager = as_role(R.ACCOUNT_MANAGER)
    # The list links to the page with its own filters, which the page's form carries on.
    listed = manager.get(f"/services?client={world['acme']}").get_data(as_text=True)
    assert f'href="/services/price-change?client={world["acme"]}"' in listed
    opened = manager.get(f"{URL}?client={world['acme']}").get_data(as_text=True)
    assert f'<option value="{world["acme"]}" selected>Acme Dental</option>' in opened

    before = _prices(world)
    page, seen = _preview(manager, {"client": world["acme"], "by": "percent", "change": "+5"})
    rows = re.findall(
        r'<td><a href="/services/\d+">([^<]+)</a></td>.*?<td class="num nowrap">([\d.,]+) (\w+) '
        r"<small>.*?</td>\s*<td class=\"num nowrap\">([\d.,]+) \w+</td>",
        page,
        re.S,
    )
    # Half away from zero to the cent: 10.605 -> 10.61, 20.9895 -> 20.99.
    assert rows == [
        ("Backup", "10.10", "EUR", "10.61"),
        ("Firewall", "100.00", "EUR", "105.00"),
        ("Monitoring", "19.99", "EUR", "20.99"),
    ]
    assert "<span>3 in EUR</span>" in page
    assert "1 cancelled or expired service the filters select keeps its price." in page
    assert "Apply 3 price changes</button>" in page
    versions = {name: v for name, (_, v) in before.items()}
    assert seen == " ".join(
        f"{world[name]}:{versions[name]}" for name in ("backup", "firewall", "monitoring")
    )
    assert _prices(world) == before
    assert _bulk_events() == []


def test_apply_makes_one_price_change_each_in_one_go(as_role, world, work):
    with time_machine.travel(dt.datetime(2027, 6, 1, 9, tzinfo=dt.UTC), tick=False):
        manager = as_role(R.ACCOUNT_MANAGER)  # signed in then: sessions expire
        before = _prices(world)
        _, seen = _preview(manager, {"client": world["acme"], "by": "amount", "change": "2.50"})
        response = manager.post(
            URL,
            {
                "step": "apply",
                "client": world["acme"],
                "by": "amount",
                "change": "2.50",
                "services": seen,
            },
            htmx=False,
        )
        assert response.status_code == 303, response.get_data(as_text=True)[:800]
        assert response.headers["Location"] == f"/services?client={world['acme']}"
        listed = manager.get(response.headers["Location"]).get_data(as_text=True)
        work()
    assert "Prices changed (+2.50 per unit) for 3 services." in listed
    after = _prices(world)
    assert {n: p for n, (p, _) in after.items()} == {
        "backup": Decimal("12.60"),
        "monitoring": Decimal("22.49"),
        "firewall": Decimal("102.50"),
        "m365": Decimal("50.00"),  # cancelled: left out
        "helpdesk": Decimal("200.00"),  # another client
        "theirs": Decimal("10.00"),  # another company
    }
    events = _bulk_events()
    assert sorted(e.service_id for e in events) == sorted(
        world[n] for n in ("backup", "monitoring", "firewall")
    )
    assert {e.actor.split()[-1] for e in events} == {"account_manager@msp.example"}
    by_service = {e.service_id: e.payload for e in events}
    backup = by_service[world["backup"]]
    assert (backup["old_price"], backup["new_price"], backup["quantity"]) == ("10.10", "12.60", 3)
    assert backup["note"] == "Bulk change +2.50 per unit"
    assert backup["effective_on"] == "2027-06-01"
    for name in ("backup", "monitoring", "firewall"):
        payload = by_service[world[name]]
        assert payload["version"] == before[name][1] + 1 == after[name][1]
        assert payload["adjustment"] is None
    # Revenue: the active service steps up by 2.50 for each of its 3 seats; the suspended and
    # the pending one move nothing.
    movements = db.session.execute(
        select(RevenueMovement.service_id, RevenueMovement.kind, RevenueMovement.amount).where(
            RevenueMovement.event_id.in_([e.id for e in events])
        )
    ).all()
    assert movements == [(world["backup"], "expansion", Decimal("7.50"))]
    assert db.session.get(ClientService, world["backup"]).billing.amount == Decimal("37.80")


def test_a_service_changed_since_the_preview_means_nothing_is_applied(as_role, world):
    manager = as_role(R.ACCOUNT_MANAGER)
    data = {"client": world["acme"], "by": "percent", "change": "-10"}
    _, seen = _preview(manager, data)
    lc.change_price(
        db.session.get(ClientService, world["monitoring"]).company_id,
        world["monitoring"],
        "someone",
        Decimal("25.00"),
    )
    before = _prices(world)
    response = manager.post(URL, {"step": "apply", **data, "services": seen}, htmx=False)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Nothing was changed: Monitoring (Acme Dental) changed since the preview." in page
    assert _prices(world) == before  # the others were not changed either
    assert [e.actor for e in _bulk_events()] == ["someone"]
    # The page shows the services as they are now, ready to apply again.
    assert '<td class="num nowrap">22.50 EUR</td>' in page
    again = html_lib.unescape(SEEN.search(page).group(1))
    response = manager.post(URL, {"step": "apply", **data, "services": again}, htmx=False)
    assert response.status_code == 303
    assert _prices(world)["monitoring"][0] == Decimal("22.50")


def test_a_refusal_midway_rolls_back_the_services_changed_before_it(as_role, world, monkeypatch):
    # Another writer gets to the third service between the checks and its guarded UPDATE:
    # the two changed before it are undone with it (one unit of work), events and revenue too.
    real, calls = lc.apply_change, []

    def overtaken(service, action, actor, expected_version, change, also=None):
        calls.append(service.id)
        stale = expected_version + (1 if len(calls) == 3 else 0)
        return real(service, action, actor, stale, change, also)

    manager = as_role(R.ACCOUNT_MANAGER)
    data = {"client": world["acme"], "by": "percent", "change": "5"}
    _, seen = _preview(manager, data)
    before = _prices(world)
    movements = db.session.scalar(select(func.count()).select_from(RevenueMovement))
    monkeypatch.setattr(lc, "apply_change", overtaken)
    response = manager.post(URL, {"step": "apply", **data, "services": seen}, htmx=False)
    assert response.status_code == 409
    assert "was changed by someone else" in response.get_data(as_text=True)
    assert len(calls) == 3
    assert _prices(world) == before
    assert _bulk_events() == []
    assert db.session.scalar(select(func.count()).select_from(RevenueMovement)) == movements


def test_a_price_below_zero_is_refused_for_all(as_role, world):
    manager = as_role(R.ACCOUNT_MANAGER)
    data = {"client": world["acme"], "by": "amount", "change": "-15"}
    page, seen = _preview(manager, data)
    assert "would cost -4.90: a price cannot be below 0" in page
    assert '<button disabled aria-disabled="true">Apply 3 price changes</button>' in page
    before = _prices(world)
    response = manager.post(URL, {"step": "apply", **data, "services": seen}, htmx=False)
    assert response.status_code == 409
    assert "Backup (Acme Dental) would cost -4.90: a price cannot be below 0" in (
        response.get_data(as_text=True)
    )
    assert _prices(world) == before
    assert _bulk_events() == []


def test_one_apply_is_capped_with_a_clear_message(as_role, world, monkeypatch):
    monkeypatch.setattr(repricing, "MAX_SERVICES", 2)
    manager = as_role(R.ACCOUNT_MANAGER)
    data = {"client": world["acme"], "by": "percent", "change": "5"}
    page, _ = _preview(manager, data)
    assert "3 services are selected, and one change takes at most 2" in page
    assert "<button disabled" in page
    seen = " ".join(f"{world[n]}:1" for n in ("backup", "monitoring", "firewall"))
    response = manager.post(URL, {"step": "apply", **data, "services": seen}, htmx=False)
    assert response.status_code == 409
    assert "narrow the filters" in response.get_data(as_text=True)
    assert _bulk_events() == []


@pytest.mark.parametrize(
    ("by", "change", "message"),
    [
        ("percent", "", "Enter the change, such as +5 or -10 (a percentage) or +2.50."),
        ("amount", "   ", "Enter the change, such as +5 or -10 (a percentage) or +2.50."),
        ("percent", "five", "Enter an amount such as 149.00 (digits and a decimal point)."),
        ("percent", "0", "A change of 0 changes nothing"),
        ("percent", "-150", "Enter a percentage from -100 to +1000."),
        ("amount", "1.005", "Use at most two decimal places."),
        ("amount", "99999999999", "Enter an amount from -9999999999.99 to +9999999999.99."),
        ("fraction", "5", "Not a valid choice."),
    ],
)
def test_a_bad_change_is_refused_beside_its_field(as_role, world, by, change, message):
    response = as_role(R.ACCOUNT_MANAGER).post(
        URL, {"step": "preview", "by": by, "change": change}, htmx=False
    )
    assert response.status_code == 422
    assert message in html_lib.unescape(response.get_data(as_text=True))
    assert 'id="price_change_preview"' not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "services",
    ["", "12", "1:x", "99999999999999999999:1", "{theirs}:1", "{backup}:1 {theirs}:2"],
)
def test_a_forged_list_of_services_changes_nothing(as_role, world, services):
    before = _prices(world)
    response = as_role(R.ACCOUNT_MANAGER).post(
        URL,
        {"step": "apply", "by": "percent", "change": "5", "services": services.format(**world)},
        htmx=False,
    )
    assert response.status_code == 409
    assert "Nothing was changed" in response.get_data(as_text=True)
    assert _prices(world) == before
    assert _bulk_events() == []


@pytest.mark.parametrize("role", [R.VIEWER, R.TECHNICIAN])
def test_only_account_managers_and_admins_change_prices_in_bulk(as_role, world, role):
    me = as_role(role)
    assert "price-change" not in me.get("/services").get_data(as_text=True)
    assert me.get(URL).status_code == 403
    seen = f"{world['helpdesk']}:2"
    response = me.post(URL, {"step": "apply", "by": "percent", "change": "5", "services": seen})
    assert response.status_code == 403
    assert _bulk_events() == []
    assert as_role(R.ADMIN).get(URL).status_code == 200


def test_the_cli_previews_applies_and_refuses(runner, company, world):
    client = str(world["acme"])
    dry = runner.invoke(
        args=["service", "bulk-price", "--percent", "5", "--client", client, "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert f"service {world['backup']}  Backup (Acme Dental)  [active]  10.10 -> 10.61 EUR" in (
        dry.output
    )
    assert "3 price changes (+5%): 3 in EUR." in dry.output
    assert "Nothing was changed." in dry.output
    assert _bulk_events() == []

    firewalls = runner.invoke(
        args=["service", "bulk-price", "--amount", "1", "--type", "firewall", "--dry-run"]
    )
    assert "1 price changes (+1.00 per unit): 1 in EUR." in firewalls.output
    assert "Firewall (Acme Dental)  [pending]  100.00 -> 101.00 EUR" in firewalls.output

    only_active = runner.invoke(
        args=["service", "bulk-price", "--percent", "5", "--status", "active", "--type", "backup"]
        + ["--client", client]
    )
    assert only_active.exit_code == 0, only_active.output
    assert "Changed the price of 1 services." in only_active.output
    assert [e.service_id for e in _bulk_events()] == [world["backup"]]

    both = runner.invoke(args=["service", "bulk-price", "--percent", "5", "--amount", "1"])
    assert both.exit_code == 2 and "Give --percent or --amount" in both.output
    negative = runner.invoke(args=["service", "bulk-price", "--amount", "-150", "--client", client])
    assert negative.exit_code == 1
    assert "would get a price no service can have: nothing was changed" in negative.output
    assert len(_bulk_events()) == 1
    assert db.session.scalar(select(func.count()).select_from(DomainEvent)) > 0
