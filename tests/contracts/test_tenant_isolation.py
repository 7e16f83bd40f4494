"""Tenant isolation: another company's ids are a 404 everywhere, and the jobs keep each
company's effects within it.

The route walks read the URL map, so a route added later is covered on the day it is added;
the jobs check is an invariant over every table (no row points at another company's row), so a
table added later is covered too.
"""

import datetime as dt

from sqlalchemy import func, select, text

from tests.api.test_api import API, auth
from tests.support.factories import (
    active_service,
    breach,
    kept_alert,
    make_client,
    make_invoice,
    make_user,
)
from tests.support.sessions import add_user
from webapp.accounts import api_tokens
from webapp.accounts.models import ApiToken, User
from webapp.assets.actions import AssetFields, create_asset
from webapp.clients.models import Client, Contact
from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.extensions import db
from webapp.health import nightly as health_nightly
from webapp.lifecycle.statuses import UserRole
from webapp.notifications.actions import add_webhook
from webapp.notifications.models import Notification, Webhook
from webapp.pipeline.models import DomainEvent
from webapp.renewals import sweep as renewals
from webapp.services import expiry as services_expiry
from webapp.services.models import ClientService
from webapp.sla import sweep as sla
from webapp.sla.models import SlaAlert

OUTSIDE = ("static",)


def _their_rows(other_company, work):
    """Company B's rows, one of each kind a route takes an id of (the alert made by the jobs)."""
    service = active_service(other_company, name="Their backup")
    incident = breach(other_company, service)
    work()
    alert = db.session.scalar(select(SlaAlert.id).where(SlaAlert.incident_id == incident))
    token = api_tokens.create(other_company, "theirs", "test")[0].id
    user = make_user(other_company, "them@their.example", UserRole.ADMIN)
    webhook = add_webhook(other_company, "slack", "http://127.0.0.1:9/theirs", None, "test").id
    return {
        "service_id": service,
        "incident_id": incident,
        "alert_id": alert,
        "token_id": token,
        "user_id": user,
        "webhook_id": webhook,
        "client_id": db.session.scalar(select(ClientService.client_id).filter_by(id=service)),
        "contact_id": db.session.scalar(
            select(Contact.id).filter_by(company_id=other_company).limit(1)
        ),
        "invoice_id": make_invoice(other_company, service_id=service),
        "asset_id": create_asset(
            other_company,
            AssetFields(
                db.session.scalar(select(ClientService.client_id).filter_by(id=service)),
                "Their server",
                identifiers=(("hostname", "their-host"),),
            ),
            "test",
        ).id,
        "unrouted_id": kept_alert(other_company, host="their-unknown"),
    }


def _routes_with_ids(app, api: bool):
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(OUTSIDE) or rule.endpoint.startswith("api.") != api:
            continue
        ids = [a for a in rule.arguments if f"<int:{a}>" in rule.rule]
        if ids:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                found.append((method, rule))
    return found


def _fill(rule, theirs) -> str:
    url = rule.rule
    for argument in rule.arguments:
        assert argument in theirs or f"<int:{argument}>" not in url, (
            f"{rule.rule}: give the walk one of another company's {argument}"
        )
        url = url.replace(f"<int:{argument}>", str(theirs.get(argument, 0)))
        url = url.replace(f"<{argument}>", "activate")
    return url


def _their_state(other_company):
    db.session.rollback()
    return (
        db.session.scalar(
            select(func.count()).select_from(DomainEvent).filter_by(company_id=other_company)
        ),
        db.session.scalar(
            select(func.count())
            .select_from(SlaAlert)
            .filter_by(company_id=other_company)
            .where(SlaAlert.acknowledged_at.is_not(None))
        ),
        db.session.scalar(
            select(func.count())
            .select_from(ApiToken)
            .filter_by(company_id=other_company)
            .where(ApiToken.revoked_at.is_not(None))
        ),
        db.session.execute(
            select(User.id, User.role, User.active, User.session_generation)
            .filter_by(company_id=other_company)
            .order_by(User.id)
        ).all(),
        db.session.execute(
            select(Webhook.id, Webhook.active)
            .filter_by(company_id=other_company)
            .order_by(Webhook.id)
        ).all(),
    )


def test_every_page_and_action_with_another_companys_id_is_a_404(
    app, as_role, company, other_company, work
):
    theirs = _their_rows(other_company, work)
    admin = as_role(UserRole.ADMIN)
    before = _their_state(other_company)
    routes = _routes_with_ids(app, api=False)
    assert len(routes) >= 7
    for method, rule in routes:
        url = _fill(rule, theirs)
        response = admin.get(url) if method == "GET" else admin.post(url, {"reason": "x"})
        assert response.status_code == 404, (method, url, response.status_code)
        assert "Their backup" not in response.get_data(as_text=True)
    assert _their_state(other_company) == before


def test_every_api_route_with_another_companys_id_is_a_404(
    app, client, company, other_company, work
):
    theirs = _their_rows(other_company, work)
    token = api_tokens.create(company, "ours", "test")[1]
    before = _their_state(other_company)
    routes = _routes_with_ids(app, api=True)
    assert len(routes) >= 3
    for method, rule in routes:
        response = client.open(_fill(rule, theirs), method=method, json={}, headers=auth(token))
        assert response.status_code == 404, (method, rule.rule, response.status_code)
        assert response.get_json()["error"]
    response = client.post(
        API + "/incidents",
        json={"service_id": theirs["service_id"], "title": "x", "severity": "high"},
        headers=auth(token),
    )
    assert response.status_code == 404
    assert _their_state(other_company) == before


def test_ids_in_query_strings_and_forms_reach_only_your_own_rows(
    as_role, company, other_company, work
):
    theirs = _their_rows(other_company, work)
    their_client = db.session.scalar(select(Client.id).filter_by(company_id=other_company))
    manager = as_role(UserRole.ADMIN)
    listed = manager.get(f"/services?client={their_client}")
    assert listed.status_code in (200, 404)
    assert "Their backup" not in listed.get_data(as_text=True)

    refused = manager.post(
        "/services/new",
        {"client_id": their_client, "name": "Sneaky", "price": "10", "term_months": "12"},
    )
    assert refused.status_code == 422
    assert (
        db.session.scalar(
            select(func.count()).select_from(DomainEvent).filter_by(company_id=company)
        )
        == 0
    )

    refused = manager.post(
        "/incidents/new",
        {"service_id": theirs["service_id"], "title": "Sneaky", "severity": "high"},
    )
    assert refused.status_code == 422


def _a_company_with_everything(company_id, tag):
    """People, a webhook, a service due for renewal with a breached incident."""
    client = make_client(company_id, name=f"{tag} client", email=f"it@{tag}.example")
    manager = make_user(company_id, f"manager@{tag}.example", UserRole.ACCOUNT_MANAGER)
    add_user(company_id, UserRole.TECHNICIAN, f"tech@{tag}.example")  # one who can sign in
    db.session.add(Webhook(company_id=company_id, kind="generic", url="http://127.0.0.1:9/x"))
    db.session.get(Company, company_id).escalation_email = f"oncall@{tag}.example"
    db.session.commit()
    start = utcnow().date() - dt.timedelta(days=360)
    service = active_service(company_id, client, manager_id=manager, start_date=start)
    breach(company_id, service, severity="critical")
    return service


def _cross_company_references() -> list[str]:
    """Every foreign key between two tenant tables whose rows belong to different companies."""
    found = []
    for table in db.metadata.sorted_tables:
        if "company_id" not in table.c:
            continue
        for fk in table.foreign_keys:
            target = fk.column.table
            if fk.parent.name == "company_id" or "company_id" not in target.c:
                continue
            crossing = db.session.execute(
                text(
                    f"SELECT count(*) FROM {table.name} t JOIN {target.name} r "
                    f"ON t.{fk.parent.name} = r.{fk.column.name} "
                    "WHERE t.company_id <> r.company_id"
                )
            ).scalar()
            if crossing:
                found.append(f"{table.name}.{fk.parent.name}: {crossing}")
    return found


def test_the_jobs_keep_each_companys_effects_within_it(app, work, company, other_company):
    _a_company_with_everything(company, "ours")
    _a_company_with_everything(other_company, "theirs")
    for sweep in (
        sla.sweep,
        renewals.run_renewals,
        health_nightly.recalculate_health,
        services_expiry.expire_due_services,
    ):
        work()
        sweep()
    work()
    db.session.rollback()

    assert _cross_company_references() == []
    notifications = db.session.scalars(select(Notification)).all()
    assert {n.company_id for n in notifications} == {company, other_company}
    for n in notifications:
        tag = "ours" if n.company_id == company else "theirs"
        if n.channel == "email":
            assert n.recipient.endswith(f"@{tag}.example"), (n.listener, n.recipient)
        else:
            hook = db.session.get(Webhook, int(n.recipient.removeprefix("webhook:")))
            assert hook.company_id == n.company_id
    # Each company's technician heard of its own breach, and only of it.
    for tag, company_id in (("ours", company), ("theirs", other_company)):
        tech = db.session.scalar(select(User.email).filter_by(email=f"tech@{tag}.example"))
        mailed = {n.company_id for n in notifications if n.recipient == tech}
        assert mailed == {company_id}
