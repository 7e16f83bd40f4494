"""Settings -> Webhooks: adding one (its URL checked in place), a test send through the same
checked path, disabling and enabling; against a real HTTP server on loopback."""

import json

import pytest
from sqlalchemy import select

from tests.notifications.test_webhooks import SECRET, Receiver
from tests.support.db_snapshot import changed_tables, snapshot
from tests.support.factories import make_service
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.notifications.models import Notification, Webhook
from webapp.notifications.sending import send_for_events
from webapp.pipeline.models import DomainEvent
from webapp.services import actions as lc

PANEL = "webhooks_panel"


@pytest.fixture
def endpoint(app):
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def admin(as_role):
    return as_role(UserRole.ADMIN)


def hooks() -> list[Webhook]:
    db.session.rollback()
    return list(db.session.scalars(select(Webhook).order_by(Webhook.id)))


def add(admin, **form):
    return admin.post("/settings/webhooks/add", {"kind": "slack", **form}, target=PANEL)


def test_settings_links_to_webhooks_and_the_page_lists_them_without_their_secret_path(
    admin, company
):
    assert 'href="/settings/webhooks"' in admin.get("/settings").get_data(as_text=True)
    db.session.add(
        Webhook(
            company_id=company,
            kind="slack",
            url="https://hooks.slack.example/services/T000/B000/XXXXSECRETXXXX",
        )
    )
    db.session.commit()
    html = admin.get("/settings/webhooks").get_data(as_text=True)
    assert "https://hooks.slack.example/services/T000/B…" in html
    assert "XXXXSECRETXXXX" not in html


def test_an_admin_adds_a_webhook_that_then_gets_the_notices(admin, company, work, endpoint):
    response = add(admin, url=f"{endpoint.url}/chat")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Webhook 1 (Slack) added" in html and f"{endpoint.url}/chat" in html
    [hook] = hooks()
    assert (hook.company_id, hook.kind, hook.active, hook.secret) == (company, "slack", True, None)
    lc.activate(company, make_service(company), "test")
    work()
    assert [path for path, _, _ in endpoint.requests] == ["/chat"]


@pytest.mark.parametrize(
    ("form", "field", "says"),
    [
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "url", "not a public address"),
        ({"url": "https://user:pw@8.8.8.8/hook"}, "url", "user name and password"),
        ({"url": "javascript:alert(1)"}, "url", "https://"),
        ({"url": ""}, "url", "Paste the webhook"),
        ({"url": "https://8.8.8.8/hook", "kind": "generic"}, "secret", "signs what it sends"),
        ({"url": "https://8.8.8.8/hook", "kind": "irc"}, "kind", "Not a valid choice"),
    ],
)
def test_a_refused_webhook_says_why_beside_its_field_and_saves_nothing(
    app, admin, company, form, field, says
):
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = ()
    before = snapshot()
    response = add(admin, **form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error">' in html and says in html
    assert "No webhook was added" in html
    assert changed_tables(before, snapshot()) == set()


def test_the_form_shows_no_internal_address_and_the_same_refusal_for_a_name_not_found(
    app, admin, company
):
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = ()
    internal = add(admin, url="http://localhost:6379/").get_data(as_text=True)
    missing = add(admin, url="http://host.invalid:6379/").get_data(as_text=True)
    says = "is not a public address that can be reached"
    assert f"localhost {says}" in internal and f"host.invalid {says}" in missing
    assert "127.0.0.1" not in internal and "::1" not in internal
    assert "resolve" not in internal + missing
    assert hooks() == []


def test_the_same_url_twice_is_refused(admin, company):
    assert add(admin, url="https://8.8.8.8/hook").status_code == 200
    response = add(admin, url="https://8.8.8.8/hook")
    assert response.status_code == 422
    assert "Webhook 1 already posts to this URL" in response.get_data(as_text=True)
    assert len(hooks()) == 1


def _hook(company, url, kind="generic", active=True) -> int:
    hook = Webhook(company_id=company, kind=kind, url=url, secret=SECRET, active=active)
    db.session.add(hook)
    db.session.commit()
    return hook.id


def test_a_test_send_goes_out_signed_and_its_answer_shows_in_its_row(admin, company, endpoint):
    hook = _hook(company, f"{endpoint.url}/in")
    before = snapshot()
    response = admin.post(f"/settings/webhooks/{hook}/test", target=PANEL)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'id="webhook-{hook}-test">Test sent: the endpoint answered HTTP 200.' in html
    [(path, headers, body)] = endpoint.requests
    assert path == "/in" and json.loads(body)["event"] == "WebhookTest"
    assert headers["X-Signature-256"].startswith("sha256=")
    assert changed_tables(before, snapshot()) == set()  # a test is not a notification

    endpoint.status, endpoint.answer = 500, b"<b>stack trace of the receiver</b>"
    html = admin.post(f"/settings/webhooks/{hook}/test", target=PANEL).get_data(as_text=True)
    assert f'id="webhook-{hook}-test">Test failed: HTTP 500.' in html
    assert "stack trace" not in html


def test_a_test_send_to_an_internal_address_never_leaves(app, admin, company, endpoint):
    hook = _hook(company, f"{endpoint.url}/in")  # saved while loopback was allowed
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = ()
    html = admin.post(f"/settings/webhooks/{hook}/test", target=PANEL).get_data(as_text=True)
    assert "Test failed: address not allowed." in html
    assert endpoint.requests == []


def test_a_disabled_webhook_gets_no_notices_nor_retries_until_enabled(
    admin, company, work, endpoint
):
    hook = _hook(company, f"{endpoint.url}/in")
    endpoint.status = 500
    lc.activate(company, make_service(company), "first")
    work()
    assert len(endpoint.requests) >= 1  # tried, and failed: a retry is due

    response = admin.post(f"/settings/webhooks/{hook}/disable", target=PANEL)
    assert response.status_code == 200
    assert "disabled" in response.get_data(as_text=True)
    assert hooks()[0].active is False
    endpoint.requests.clear()
    endpoint.status = 200
    first = db.session.scalar(select(DomainEvent.id).where(DomainEvent.type == "ServiceActivated"))
    send_for_events([first])  # the retry: not sent to a disabled webhook
    lc.activate(company, make_service(company, name="Second"), "second")
    work()
    assert endpoint.requests == []
    notice = db.session.scalars(select(Notification).where(Notification.channel == "generic")).one()
    assert notice.status != "sent" and "disabled" in notice.error

    assert admin.post(f"/settings/webhooks/{hook}/enable", target=PANEL).status_code == 200
    assert hooks()[0].active is True
    lc.activate(company, make_service(company, name="Third"), "third")
    work()
    assert len(endpoint.requests) == 1


def test_a_stale_page_is_told_to_reload_and_changes_nothing(app, as_role, company):
    hook = _hook(company, "https://8.8.8.8/hook")
    admin = as_role(UserRole.ADMIN)
    response = admin.client.post(
        f"/settings/webhooks/{hook}/disable", headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert "Reload the page" in response.get_data(as_text=True)
    assert hooks()[0].active is True
