"""`flask seed-scale`: a company at scale, in bulk, that the app and the jobs take as it is."""

from sqlalchemy import func, select

from webapp.accounts.models import User
from webapp.billing.models import RecurringBilling
from webapp.clients.models import Client
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import ServiceStatus
from webapp.pipeline import relay as outbox
from webapp.pipeline.models import DomainEvent
from webapp.services.models import ClientService
from webapp.sla import sweep as sla
from webapp.sla.models import SlaAlert


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_seed_scale_writes_the_sizes_asked_for_in_every_status(runner, app):
    out = runner.invoke(args=["seed-scale", "--services", "300", "--incidents", "2000"])
    assert out.exit_code == 0, out.output
    assert "300 services, 2,000 incidents, 3,000 events" in out.output
    assert (count(Client), count(ClientService), count(Incident)) == (6, 300, 2000)
    statuses = {s for (s,) in db.session.execute(select(ClientService.status).distinct())}
    assert statuses == set(ServiceStatus)
    pending = count(ClientService, ClientService.status == ServiceStatus.PENDING)
    assert count(RecurringBilling) == 300 - pending  # every service that started is billed
    assert count(SlaAlert) == 10  # 5 per 1,000 incidents, each with its event
    assert count(DomainEvent) == 3000 + 10


def test_the_seeded_history_is_delivered_and_open_clocks_are_swept(runner, app):
    runner.invoke(args=["seed-scale", "--services", "200", "--incidents", "3000"])
    assert outbox.relay() == 0  # history is not sent again
    open_incidents = count(Incident, Incident.resolved_at.is_(None))
    assert open_incidents > 0
    result = sla.sweep()
    assert result.failed == 0 and result.incidents_checked == open_incidents


def test_the_pages_open_on_the_seeded_company(runner, app):
    out = runner.invoke(args=["seed-scale", "--services", "200"])
    email, password = out.output.split("Sign in as ")[1].strip().rstrip(".").split(" / ")
    client = app.test_client()
    page = client.get("/login")
    token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1]
    client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token.split('"')[0]},
    )
    for path in ("/", "/services", "/incidents", "/alerts", "/renewals", "/operations"):
        assert client.get(path).status_code == 200, path


def test_each_scale_seed_has_its_own_admin_password_and_no_other_sign_in(runner, app):
    """A password in the source would open any installation that ran seed-scale by mistake."""
    from webapp.accounts.access import authenticate

    first = runner.invoke(args=["seed-scale", "--services", "20"]).output
    second = runner.invoke(args=["seed-scale", "--services", "20"]).output
    (email1, password1), (email2, password2) = (
        out.split("Sign in as ")[1].strip().rstrip(".").split(" / ") for out in (first, second)
    )
    assert password1 != password2 and len(password1) >= 16
    assert authenticate(email1, password1) is not None
    assert authenticate(email2, password1) is None
    others = db.session.scalars(select(User).where(User.email != email1, User.email != email2))
    assert all(authenticate(u.email, password1) is None for u in others)
