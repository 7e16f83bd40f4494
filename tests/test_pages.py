"""What account managers and technicians see and do on the pages."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.support.factories import active_service, breach, fail_listener, make_client, make_service
from webapp.extensions import db
from webapp.lifecycle.events import ServiceSLABreached
from webapp.lifecycle.statuses import BillingCycle, UserRole
from webapp.pipeline import outbox
from webapp.services import actions as lc
from webapp.services.models import ClientService
from webapp.sla.models import SlaAlert

R = UserRole


@pytest.fixture
def manager(as_role):
    return as_role(R.ACCOUNT_MANAGER)


def test_full_page_on_plain_get_and_block_on_htmx_target(manager, company):
    make_service(company)
    full = manager.get("/services")
    assert "<html" in full.get_data(as_text=True)
    assert "HX-Request" in full.headers["Vary"]
    part = manager.htmx_get("/services", "services_table")
    html = part.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<div id="services_table"')
    # An htmx request aimed at something else still gets the whole page.
    assert "<html" in manager.htmx_get("/services", "somewhere").get_data(as_text=True)


def test_overview_shows_mrr_as_monthly_equivalents_per_currency(manager, company, work):
    client_id = make_client(company)
    for price, cycle, currency in [
        ("120.00", BillingCycle.ANNUAL, "EUR"),
        ("30.00", BillingCycle.MONTHLY, "EUR"),
        ("300.00", BillingCycle.QUARTERLY, "USD"),
        ("999.00", BillingCycle.ONE_TIME, "USD"),
    ]:
        lc.activate(
            company,
            make_service(company, client_id, price=price, cycle=cycle, currency=currency),
            "t",
        )
    make_service(company, client_id, price="500.00")  # pending: no billing, no MRR
    work()
    html = manager.get("/").get_data(as_text=True)
    assert "<strong>40.00</strong> EUR" in html  # 120/12 + 30
    assert "<strong>100.00</strong> USD" in html  # 300/3; the one-time service adds nothing


def test_empty_states_say_what_to_do(manager):
    html = manager.get("/").get_data(as_text=True)
    assert "No running billing yet" in html
    assert "Nothing has happened yet" in html
    assert "No services match" in manager.get("/services").get_data(as_text=True)


def test_services_search_filter_sort_and_paginate(manager, company, app):
    app.config["PAGE_SIZE"] = 2
    acme, bluebird = make_client(company, "Acme Dental"), make_client(company, "Bluebird Logistics")
    for name, client_id, price in [
        ("Backup", acme, "10"),
        ("Monitoring", acme, "30"),
        ("Firewall", bluebird, "20"),
    ]:
        make_service(company, client_id, name=name, price=price)
    lc.activate(company, 1, "t")

    def names(url):
        return re.findall(r'/services/\d+">([^<]+)</a>', manager.get(url).get_data(as_text=True))

    assert names("/services?q=blue") == ["Firewall"]  # the client's name matches too
    assert names("/services?status=active") == ["Backup"]
    assert names(f"/services?client={acme}") == ["Backup", "Monitoring"]
    assert names("/services?sort=price&desc=1") == ["Monitoring", "Firewall"]
    assert names("/services?sort=price&desc=1&page=2") == ["Backup"]
    assert "3 services · page 2 of 2" in manager.get("/services?page=9").get_data(as_text=True)


def _version(service_id):
    db.session.rollback()
    return db.session.get(ClientService, service_id).version


def test_transition_from_the_page_updates_in_place_and_tells_other_panels(manager, company, work):
    service_id = make_service(company)
    response = manager.post(
        f"/services/{service_id}/activate", {"version": _version(service_id)}, target="service_main"
    )
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "data-changed"
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="service_main"') and "Done: activate." in html
    work()
    assert "Next bill" in manager.get(f"/services/{service_id}").get_data(as_text=True)


def test_suspend_needs_a_reason_and_shows_the_error_in_place(manager, company):
    service_id = make_service(company)
    lc.activate(company, service_id, "t")
    response = manager.post(
        f"/services/{service_id}/suspend", {"version": _version(service_id), "reason": " "}
    )
    assert response.status_code == 422
    assert "Say why it is suspended." in response.get_data(as_text=True)
    assert db.session.get(ClientService, service_id).status.value == "active"


def test_stale_page_resuming_a_cancelled_service_gets_409_and_nothing_changes(manager, company):
    service_id = make_service(company)
    lc.activate(company, service_id, "t")
    lc.suspend(company, service_id, "t", reason="unpaid")
    seen = _version(service_id)
    lc.cancel(company, service_id, "someone else", reason="left")  # meanwhile, elsewhere
    before = _version(service_id)
    response = manager.post(
        f"/services/{service_id}/resume", {"version": seen}, target="service_main"
    )
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#flash"
    assert f"Cannot resume service {service_id}: it is cancelled" in response.get_data(as_text=True)
    assert _version(service_id) == before


def test_stale_version_of_an_allowed_action_is_a_409_too(manager, company):
    service_id = make_service(company)
    lc.activate(company, service_id, "t")
    seen = _version(service_id)
    lc.renew(company, service_id, "someone else", months=1)
    response = manager.post(f"/services/{service_id}/suspend", {"version": seen, "reason": "x"})
    assert response.status_code == 409
    assert "changed by someone else" in response.get_data(as_text=True)
    assert db.session.get(ClientService, service_id).status.value == "active"


def test_state_changing_request_without_csrf_token_is_refused(manager, company):
    service_id = make_service(company)
    response = manager.client.post(
        f"/services/{service_id}/activate", headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert db.session.get(ClientService, service_id).status.value == "pending"


def test_provision_form_shows_errors_beside_fields_and_saves_nothing(manager, company):
    make_client(company)
    response = manager.post(
        "/services/new", {"name": "", "price": "12,50", "term_months": "0"}, htmx=False
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert (
        'id="name-error"' in html
        and 'id="price-error"' in html
        and "Between 1 and 120 months." in html
    )
    assert db.session.scalar(select(db.func.count()).select_from(ClientService)) == 0


def test_provision_form_creates_a_pending_service(manager, company):
    client_id = make_client(company)
    data = {
        "client_id": client_id,
        "name": "Managed Backup",
        "service_type": "backup",
        "price": "149.00",
        "currency": "EUR",
        "billing_cycle": "monthly",
        "term_months": "12",
        "service_level": "premium",
        "setup_fee": "0",
    }
    response = manager.post("/services/new", data, target="provision_form")
    db.session.rollback()  # a fresh snapshot: the request committed in its own session
    service = db.session.scalars(select(ClientService)).one()
    assert response.headers["HX-Redirect"] == f"/services/{service.id}"
    assert (service.status.value, service.price, service.currency) == (
        "pending",
        Decimal("149.00"),
        "EUR",
    )


def test_technician_acknowledges_an_alert_recording_who_and_when(as_role, company, work):
    service_id = active_service(company)
    breach(company, service_id, "resolution")
    work()
    alert_id = db.session.scalar(select(SlaAlert.id))
    tech = as_role(R.TECHNICIAN, "night@msp.example")
    response = tech.post(f"/alerts/{alert_id}/acknowledge?state=all", target="alerts_table")
    assert "Acknowledged by night at " in response.get_data(as_text=True)
    db.session.rollback()
    alert = db.session.get(SlaAlert, alert_id)
    assert alert.acknowledged_at is not None and alert.acknowledged_by_id is not None
    first = alert.acknowledged_at
    as_role(R.ADMIN).post(f"/alerts/{alert_id}/acknowledge")
    db.session.rollback()
    assert db.session.get(SlaAlert, alert_id).acknowledged_at == first  # the first one stands


def test_live_poll_is_204_until_something_changes(manager, company, work):
    service_id = make_service(company)
    first = manager.get("/live?stamp=none")
    stamp = (
        re.search(r"stamp=([^\"&]+)", first.get_data(as_text=True)).group(1).replace("&#43;", "+")
    )
    from urllib.parse import unquote_plus

    stamp = unquote_plus(stamp)
    assert manager.get("/live", query_string={"stamp": stamp}).status_code == 204
    lc.activate(company, service_id, "t")
    changed = manager.get("/live", query_string={"stamp": stamp})
    assert changed.status_code == 200 and changed.headers["HX-Trigger"] == "data-changed"
    new_stamp = unquote_plus(re.search(r"stamp=([^\"&]+)", changed.get_data(as_text=True)).group(1))
    assert manager.get("/live", query_string={"stamp": new_stamp}).status_code == 204
    work()  # a delivery finishing is a change too: billing appears
    assert manager.get("/live", query_string={"stamp": new_stamp}).status_code == 200


def test_operations_lists_failed_deliveries_and_retries_them(as_role, company, work, monkeypatch):
    fail_listener(monkeypatch, "notify.activated", ConnectionError("smtp down"))
    lc.activate(company, make_service(company), "t")
    work()
    admin = as_role(R.ADMIN)
    assert "smtp down" in admin.get("/operations").get_data(as_text=True)
    assert "smtp down" in admin.get("/services/1").get_data(as_text=True)
    monkeypatch.undo()
    response = admin.post("/operations/retry", target="operations_panel")
    assert "No failed deliveries." in response.get_data(as_text=True)
    work()
    assert "No failed deliveries." in admin.get("/operations").get_data(as_text=True)


def test_unexpected_error_is_a_500_page_without_a_stack_trace(manager, app, monkeypatch):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    monkeypatch.setattr("webapp.overview.queries.service_counts", lambda cid: 1 / 0)
    response = manager.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong on our side" in html
    assert "Traceback" not in html and "ZeroDivisionError" not in html


def test_unknown_page_is_the_friendly_404(manager):
    response = manager.get("/services/99999")
    assert response.status_code == 404
    assert "There is no such record in your company." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("/", "overview_panels"),
        ("/services", "services_table"),
        ("/services/{id}", "service_live"),
        ("/services/{id}", "service_main"),
        ("/renewals", "renewals_table"),
        ("/alerts", "alerts_table"),
    ],
)
def test_every_live_panel_reloads_as_its_own_block(as_role, company, url, target):
    service_id = make_service(company)
    html = as_role(R.ADMIN).htmx_get(url.format(id=service_id), target).get_data(as_text=True)
    assert html.lstrip().startswith(f'<div id="{target}"'), html[:200]
    assert "<html" not in html


def test_health_shows_on_detail_overview_and_filters_the_list(manager, company):
    from webapp.database import begin_write
    from webapp.health import scores as health_scores

    good, poor = make_service(company, name="Good one"), make_service(company, name="Poor one")
    for service_id in (good, poor):
        lc.activate(company, service_id, "t")
    db.session.execute(
        ClientService.__table__.update()
        .where(ClientService.id == poor)
        .values(satisfaction=1, last_reviewed_on=dt.date.today() - dt.timedelta(days=400))
    )
    db.session.commit()
    for service_id in (good, poor):
        begin_write(db.session)
        health_scores.recalculate(service_id, "t")
        db.session.commit()
    detail = manager.get(f"/services/{poor}").get_data(as_text=True)
    assert "client satisfaction 1/10" in detail and "last review 400 days ago" in detail
    assert "72 fair" in detail  # 100 - 8 - 20
    names = re.findall(
        r'/services/\d+">([^<]+)</a>', manager.get("/services?health=fair").get_data(as_text=True)
    )
    assert names == ["Poor one"]
    overview = manager.get("/").get_data(as_text=True)
    assert 'href="/services?health=healthy"' in overview and "Lowest" in overview


def test_alerts_list_the_longest_waiting_open_alert_first_then_acknowledged(app, company):
    import datetime as dt

    from webapp.sla import queries as sla_queries

    service_id = make_service(company)
    base = dt.datetime(2027, 1, 4, 9)
    for n, (minutes, acked) in enumerate([(30, False), (0, False), (10, True)]):
        event_id = outbox.record(ServiceSLABreached(service_id, n, "response"), company, "t").id
        db.session.add(
            SlaAlert(
                company_id=company,
                event_id=event_id,
                service_id=service_id,
                kind="response",
                message=f"alert {minutes}",
                created_at=base + dt.timedelta(minutes=minutes),
                acknowledged_at=base + dt.timedelta(hours=1) if acked else None,
            )
        )
    db.session.commit()
    rows = sla_queries.alerts(company, state="all")
    assert [r.alert.message for r in rows] == ["alert 0", "alert 30", "alert 10"]


def test_renewals_come_a_page_at_a_time_soonest_first(manager, company):
    from webapp.renewals import queries as renewals_queries

    ids = [active_service(company, name=f"Term {n:02d}") for n in range(53)]
    soon = dt.date.today() + dt.timedelta(days=10)
    for n, service_id in enumerate(ids):
        db.session.execute(
            ClientService.__table__.update()
            .where(ClientService.id == service_id)
            .values(term_end=soon + dt.timedelta(days=n % 60))
        )
    db.session.commit()
    assert renewals_queries.RENEWALS_PER_PAGE == 50
    first = manager.get("/renewals?days=90").get_data(as_text=True)
    assert "53 terms · page 1 of 2" in first and len(re.findall(r"Term \d\d", first)) == 50
    assert first.index("Term 00") < first.index("Term 01")
    second = manager.get("/renewals?days=90&page=2").get_data(as_text=True)
    assert sorted(re.findall(r"Term (\d\d)", second)) == ["50", "51", "52"]
    beyond = manager.get("/renewals?days=90&page=9").get_data(as_text=True)
    assert "page 2 of 2" in beyond  # a page past the end shows the last one


def test_operations_lists_failed_notifications_and_sends_them_again(
    as_role, app, company, work, smtp
):
    from tests.support.factories import make_user
    from tools.embedded_redis import free_port
    from webapp.notifications.models import Notification

    manager = make_user(company, "am@msp.example")
    working_port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = free_port()  # nothing listens: every try is refused
    lc.activate(company, make_service(company, manager_id=manager), "t")
    work()  # the tries run out
    admin = as_role(R.ADMIN)
    html = admin.get("/operations").get_data(as_text=True)
    panel = html[html.index('id="failed_notifications"') :]
    assert "am@msp.example" in panel and "ConnectionRefusedError" in panel
    failed = db.session.execute(
        select(Notification.id, Notification.recipient).filter_by(status="failed")
    ).all()
    assert failed and not smtp.messages

    app.config["MAIL_PORT"] = working_port
    response = admin.post("/operations/resend", target="operations_panel")
    assert f"{len(failed)} notifications sent again." in response.get_data(as_text=True)
    work()
    assert sorted(m["To"] for m in smtp.messages) == sorted(n.recipient for n in failed)
    assert "No failed notifications." in admin.get("/operations").get_data(as_text=True)
    again = admin.post("/operations/resend", {"notification": str(failed[0].id)})
    assert "Nothing to send: it is no longer failed or uncertain." in again.get_data(as_text=True)
    work()
    assert len(smtp.messages) == len(failed)  # sent once each
