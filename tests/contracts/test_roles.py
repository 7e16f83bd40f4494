"""Every role against every route: who may look, who may act, and what others are told."""

import pytest
from sqlalchemy import select

from tests.support.factories import (
    breach,
    kept_alert,
    make_client,
    make_invoice,
    make_service,
    make_user,
)
from webapp.accounts import api_tokens
from webapp.assets.actions import AssetFields, create_asset
from webapp.clients.models import Contact
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.notifications.actions import add_webhook
from webapp.services import actions as lc
from webapp.services.models import ClientService

R = UserRole

ALL = tuple(R)


@pytest.fixture
def world(company, work):
    active = make_service(company, name="Active one")
    lc.activate(company, active, "test")
    pending = make_service(company, name="Pending one")
    incident = breach(company, active)
    work()
    from webapp.sla.models import SlaAlert

    alert = db.session.scalars(select(SlaAlert.id)).one()
    token = api_tokens.create(company, "monitoring", "test")[0].id
    webhook = add_webhook(company, "slack", "http://127.0.0.1:9/hook", None, "test").id
    user = make_user(company, "someone@msp.example", R.VIEWER)  # invited: no password yet
    idle = make_client(company, name="Idle client", email="idle@client.example")
    contact = db.session.scalars(select(Contact.id).filter_by(client_id=idle)).one()
    invoice = make_invoice(company, idle)
    asset = create_asset(
        company,
        AssetFields(db.session.get(ClientService, active).client_id, "web1", "server"),
        "test",
    ).id
    return {
        "asset": asset,
        "unrouted": kept_alert(company),
        "invoice": invoice,  # issued: it can be marked paid or voided
        "user": user,
        "client": idle,  # no services: it can be archived
        "contact": contact,
        "active": active,
        "pending": pending,
        "alert": alert,
        "incident": incident,
        "token": token,
        "webhook": webhook,
    }


READS = [
    "/",
    "/services",
    "/services/{active}",
    "/incidents",
    "/incidents/{incident}",
    "/renewals",
    "/alerts",
    "/live",
    "/activity",
    "/reports",
    "/reports/mrr.csv",
    "/services.csv",
    "/incidents.csv",
    "/activity.csv",
    "/account",
    "/clients",
    "/clients?sort=mrr&desc=1&archived=1",
    "/clients/{client}",
    "/invoices",
    "/invoices?status=overdue&kind=invoice&client={client}&from=2026-01-01",
    "/invoices.csv",
    "/invoices/xero.csv",
    "/invoices/quickbooks.csv",
    "/invoices/{invoice}",
    "/invoices/{invoice}.pdf",
    "/invoices/{invoice}.xml",
    "/assets",
    "/assets?q=web&kind=server&status=active&unrouted=1&client={client}",
    "/assets/{asset}",
    "/assets/unrouted",
]


ADMIN_READS = [
    "/operations",
    "/operations/queues",
    "/settings",
    "/settings/people",
    "/settings/import",
    "/settings/webhooks",
    "/settings/import/template/services.csv",
]

# Pages with a form, for the roles that may submit it.
FORM_READS = {
    "/services/new": {R.ADMIN, R.ACCOUNT_MANAGER},
    "/services/price-change?status=active": {R.ADMIN, R.ACCOUNT_MANAGER},
    "/incidents/new": {R.ADMIN, R.TECHNICIAN},
    "/incidents/new?service_id={active}": {R.ADMIN, R.TECHNICIAN},
    "/clients/new": {R.ADMIN, R.ACCOUNT_MANAGER},
    "/clients/{client}/edit": {R.ADMIN, R.ACCOUNT_MANAGER},
    "/assets/new": {R.ADMIN, R.ACCOUNT_MANAGER, R.TECHNICIAN},
    "/assets/{asset}/edit": {R.ADMIN, R.ACCOUNT_MANAGER, R.TECHNICIAN},
    "/assets/unrouted/{unrouted}": {R.ADMIN, R.TECHNICIAN},
}


WRITES = {
    # route: (roles allowed, form data)
    "/services/{pending}/activate": ({R.ADMIN, R.ACCOUNT_MANAGER}, {}),
    "/services/{active}/suspend": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"reason": "unpaid"}),
    "/services/{active}/renew": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"months": "12"}),
    "/services/{active}/change_price": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"price": "150.00"}),
    "/services/{active}/change_quantity": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"quantity": "0"}),
    "/services/price-change": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"step": "preview", "change": ""}),
    "/services/{active}/sla": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"warning_percent": "70"}),
    "/services/{active}/account-manager": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"user_id": "x"}),
    "/clients/new": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"name": ""}),
    "/clients/{client}/edit": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"name": ""}),
    "/clients/{client}/archive": ({R.ADMIN, R.ACCOUNT_MANAGER}, {}),
    "/clients/{client}/restore": ({R.ADMIN, R.ACCOUNT_MANAGER}, {}),
    "/clients/{client}/contacts": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"contact-new-name": ""}),
    "/clients/{client}/contacts/{contact}": ({R.ADMIN, R.ACCOUNT_MANAGER}, {}),
    "/clients/{client}/contacts/{contact}/remove": ({R.ADMIN, R.ACCOUNT_MANAGER}, {}),
    "/services/new": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"name": ""}),
    "/incidents/new": ({R.ADMIN, R.TECHNICIAN}, {"title": ""}),
    "/incidents/{incident}/acknowledge": ({R.ADMIN, R.TECHNICIAN}, {}),
    "/incidents/{incident}/resolve": ({R.ADMIN, R.TECHNICIAN}, {}),
    "/alerts/{alert}/acknowledge": ({R.ADMIN, R.TECHNICIAN}, {}),
    "/alerts/acknowledge": ({R.ADMIN, R.TECHNICIAN}, {}),
    "/operations/retry": ({R.ADMIN}, {}),
    "/operations/resend": ({R.ADMIN}, {}),
    "/operations/queues/requeue": ({R.ADMIN}, {}),
    "/operations/queues/delete": ({R.ADMIN}, {"job": "event-1"}),
    "/settings": ({R.ADMIN}, {"timezone": ""}),
    "/settings/invoicing": ({R.ADMIN}, {"tax_rate": ""}),
    "/invoices/{invoice}/paid": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"paid_on": ""}),
    "/invoices/{invoice}/void": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"reason": ""}),
    "/settings/api-tokens": ({R.ADMIN}, {"name": ""}),
    "/settings/api-tokens/{token}/revoke": ({R.ADMIN}, {}),
    "/settings/webhooks/add": ({R.ADMIN}, {"url": ""}),
    "/settings/webhooks/{webhook}/test": ({R.ADMIN}, {}),
    "/settings/webhooks/{webhook}/disable": ({R.ADMIN}, {}),
    "/settings/webhooks/{webhook}/enable": ({R.ADMIN}, {}),
    "/settings/import/dry-run": ({R.ADMIN}, {"kind": "services"}),
    "/settings/import/commit": ({R.ADMIN}, {"token": "expired-or-never-given"}),
    "/settings/people/invite": ({R.ADMIN}, {"email": ""}),
    "/settings/people/{user}/role": ({R.ADMIN}, {"role": "technician"}),
    "/settings/people/{user}/deactivate": ({R.ADMIN}, {}),
    "/settings/people/{user}/reactivate": ({R.ADMIN}, {}),
    "/settings/people/{user}/password-link": ({R.ADMIN}, {}),
    "/account/password": (set(ALL), {}),
    "/settings/routing": ({R.ADMIN}, {"routing_labels": ""}),
    "/assets/unrouted/{unrouted}/route": ({R.ADMIN, R.TECHNICIAN}, {"asset_id": ""}),
    "/assets/unrouted/{unrouted}/new-asset": ({R.ADMIN, R.TECHNICIAN}, {"name": ""}),
    "/assets/new": ({R.ADMIN, R.ACCOUNT_MANAGER, R.TECHNICIAN}, {"name": ""}),
    "/assets/{asset}/edit": ({R.ADMIN, R.ACCOUNT_MANAGER, R.TECHNICIAN}, {"name": ""}),
    "/assets/{asset}/retire": ({R.ADMIN, R.ACCOUNT_MANAGER, R.TECHNICIAN}, {}),
    "/assets/{asset}/reactivate": ({R.ADMIN, R.ACCOUNT_MANAGER, R.TECHNICIAN}, {}),
    "/assets/{asset}/receiving": ({R.ADMIN, R.ACCOUNT_MANAGER, R.TECHNICIAN}, {}),
    "/assets/services/{active}/cover": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"asset_id": "{asset}"}),
    "/assets/services/{active}/uncover": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"asset_id": "{asset}"}),
    "/assets/services/{active}/follow": ({R.ADMIN, R.ACCOUNT_MANAGER}, {"follows": ""}),
}


@pytest.mark.parametrize("role", ALL)
@pytest.mark.parametrize("route", READS)
def test_every_role_can_read_every_page(as_role, world, role, route):
    assert as_role(role).get(route.format(**world)).status_code in (200, 204)


@pytest.mark.parametrize("role", ALL)
@pytest.mark.parametrize("route", ADMIN_READS)
def test_only_admins_open_operations_and_settings(as_role, world, role, route):
    response = as_role(role).get(route.format(**world))
    assert response.status_code == (200 if role == R.ADMIN else 403)


@pytest.mark.parametrize("role", ALL)
@pytest.mark.parametrize("route", list(FORM_READS))
def test_forms_open_for_the_roles_that_may_submit_them(as_role, world, role, route):
    response = as_role(role).get(route.format(**world))
    assert response.status_code == (200 if role in FORM_READS[route] else 403)


@pytest.mark.parametrize("role", ALL)
@pytest.mark.parametrize("route", list(WRITES))
def test_each_action_is_allowed_to_its_roles_and_a_clear_403_for_others(
    as_role, world, role, route
):
    allowed, data = WRITES[route]
    data = {name: value.format(**world) for name, value in data.items()}  # ids of the world
    response = as_role(role).post(route.format(**world), data=data)
    if role in allowed:
        assert response.status_code in (200, 422), response.get_data(as_text=True)[:300]
    else:
        assert response.status_code == 403
        assert "Your role cannot" in response.get_data(as_text=True)


def test_a_forbidden_action_changes_nothing(as_role, world):
    as_role(R.VIEWER).post(f"/services/{world['pending']}/activate")
    assert db.session.get(ClientService, world["pending"]).status.value == "pending"


@pytest.mark.parametrize("role", [R.VIEWER, R.TECHNICIAN])
def test_roles_that_cannot_transition_see_no_action_buttons(as_role, world, role):
    html = as_role(role).get(f"/services/{world['active']}").get_data(as_text=True)
    assert 'data-action="' not in html
    assert "Provision a service" not in as_role(role).get("/services").get_data(as_text=True)


def test_account_manager_sees_exactly_the_allowed_actions(as_role, world):
    html = as_role(R.ACCOUNT_MANAGER).get(f"/services/{world['active']}").get_data(as_text=True)
    shown = {
        a
        for a in (
            "activate",
            "suspend",
            "resume",
            "renew",
            "change_price",
            "change_quantity",
            "cancel",
        )
        if f'data-action="{a}"' in html
    }
    assert shown == {"suspend", "renew", "change_price", "change_quantity", "cancel"}


@pytest.mark.parametrize("role", ALL)
def test_retiring_a_seat_needs_the_right_to_change_services(as_role, company, world, role):
    """MANAGE_ASSETS does not lift the role: a seat that follows devices is billing."""
    from webapp.assets import actions as assets

    service = world["active"]
    client_id = db.session.get(ClientService, service).client_id
    other = create_asset(company, AssetFields(client_id, "web2", "server"), "test").id
    for asset in (world["asset"], other):
        assets.cover(company, service, asset, "test")
    assets.set_quantity_follows_assets(company, service, True, "test")
    response = as_role(role).post(f"/assets/{world['asset']}/retire")
    if role in {R.ADMIN, R.ACCOUNT_MANAGER}:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert "Your role cannot" in response.get_data(as_text=True)
    db.session.rollback()  # a fresh read, not this session's snapshot
    assert db.session.get(ClientService, service).quantity == (
        1 if role in {R.ADMIN, R.ACCOUNT_MANAGER} else 2
    )


def test_viewer_sees_no_acknowledge_button(as_role, world):
    button = "/acknowledge"
    assert button not in as_role(R.VIEWER).get("/alerts").get_data(as_text=True)
    assert button in as_role(R.TECHNICIAN).get("/alerts").get_data(as_text=True)


@pytest.mark.parametrize("role", ALL)
def test_the_nav_offers_what_the_role_can_use(as_role, world, role):
    html = as_role(role).get("/").get_data(as_text=True)
    assert 'href="/incidents"' in html
    assert ('href="/incidents/new"' in html) == (role in {R.ADMIN, R.TECHNICIAN})
    assert ('href="/settings"' in html) == (role == R.ADMIN)


@pytest.mark.parametrize("role", ALL)
def test_only_account_managers_and_admins_see_the_sla_form(as_role, world, role):
    html = as_role(role).get(f"/services/{world['active']}").get_data(as_text=True)
    assert "SLA policy" in html
    assert (f'action="/services/{world["active"]}/sla"' in html) == (
        role in {R.ADMIN, R.ACCOUNT_MANAGER}
    )


def test_another_companys_service_is_a_404_for_reading_and_acting(
    as_role, world, app, other_company
):
    theirs = make_service(other_company, name="Not yours")
    me = as_role(R.ADMIN)
    assert me.get(f"/services/{theirs}").status_code == 404
    response = me.post(f"/services/{theirs}/activate")
    assert response.status_code == 404
    assert db.session.get(ClientService, theirs).status.value == "pending"
    assert "Not yours" not in me.get("/services").get_data(as_text=True)
    assert me.post(f"/services/{theirs}/sla", {"response_minutes": "5"}).status_code == 404
    assert db.session.get(ClientService, theirs).sla_response_minutes is None


# Routes outside the matrix, each for a reason; everything else in the URL map must be in it.
OUTSIDE_THE_MATRIX = {
    "static": "files, public",
    "health.healthz": "public, for load balancers",
    "metrics.metrics": "no session: METRICS_TOKEN or the network guards it; tests/pipeline/test_metrics.py",
    "auth.login": "public; tests/accounts/test_auth.py",
    "auth.logout": "any signed-in user; tests/accounts/test_auth.py",
    "auth.sign_out_everywhere": "any signed-in user; tests/accounts/test_sessions.py",
    "auth.forgot": "public; tests/accounts/test_passwords.py",
    "auth.invitation": "public, with a signed link; tests/accounts/test_people.py",
    "auth.reset": "public, with a signed link; tests/accounts/test_passwords.py",
    "setup.index": "no sign-in: the setup token, while no company exists; tests/company/test_setup.py",
    "mailbox.index": "only with the local mail catcher; tests/notifications/test_mail.py",
}


OUTSIDE_THE_MATRIX_PREFIXES = (
    "api.",  # bearer tokens per company, no roles: tests/api/test_api.py, tests/accounts/test_api_tokens.py
)


def test_the_matrix_covers_every_route_in_the_url_map(app):
    """A route added later fails here until it is given its roles above."""
    adapter = app.url_map.bind("localhost")
    world = {
        "active": 1,
        "pending": 2,
        "alert": 3,
        "incident": 4,
        "token": 5,
        "webhook": 9,
        "user": 6,
        "client": 7,
        "contact": 8,
        "invoice": 10,
        "asset": 11,
        "unrouted": 12,
    }
    covered = set()
    for route in READS + ADMIN_READS + list(FORM_READS):
        covered.add((adapter.match(route.format(**world).split("?")[0], "GET")[0], "GET"))
    for route in WRITES:
        covered.add((adapter.match(route.format(**world), "POST")[0], "POST"))
    missing = sorted(
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
        if rule.endpoint not in OUTSIDE_THE_MATRIX
        and not rule.endpoint.startswith(OUTSIDE_THE_MATRIX_PREFIXES)
        and (rule.endpoint, method) not in covered
    )
    assert missing == []


def test_with_a_second_company_the_queues_are_for_listed_operators_only(
    app, as_role, world, other_company
):
    admin = as_role(R.ADMIN)
    for response in (
        admin.get("/operations/queues"),
        admin.post("/operations/queues/requeue"),
        admin.post("/operations/queues/delete", {"job": "event-1"}),
    ):
        assert response.status_code == 403
        assert "QUEUE_DASHBOARD_OPERATORS" in response.get_data(as_text=True)
    assert 'href="/operations/queues"' not in admin.get("/operations").get_data(as_text=True)

    app.config["QUEUE_DASHBOARD_OPERATORS"] = frozenset({"admin@msp.example", "viewer@msp.example"})
    assert admin.get("/operations/queues").status_code == 200
    assert 'href="/operations/queues"' in admin.get("/operations").get_data(as_text=True)
    # The list does not lift the role.
    assert as_role(R.VIEWER).get("/operations/queues").status_code == 403


def test_the_old_queue_dashboard_is_gone(as_role, world):
    assert as_role(R.ADMIN).get("/rq/").status_code == 404
