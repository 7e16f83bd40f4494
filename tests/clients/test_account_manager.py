"""Each service's account manager: shown and changed on its page, and "Mine" in the services
list and its CSV."""

from sqlalchemy import select

from tests.support.db_snapshot import changed_tables, snapshot
from tests.support.factories import make_client, make_service, make_user
from webapp.accounts.models import User
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.models import DomainEvent
from webapp.services.models import ClientService


def _service(service_id) -> ClientService:
    db.session.rollback()
    return db.session.get(ClientService, service_id)


def test_the_account_manager_is_shown_and_changed_on_the_service_page(as_role, company):
    first = make_user(company, "ann@msp.example")
    second = make_user(company, "bob@msp.example")
    make_user(company, "tech@msp.example", UserRole.TECHNICIAN)
    gone = make_user(company, "gone@msp.example")
    db.session.get(User, gone).active = False
    db.session.commit()
    service = make_service(company, manager_id=first)
    manager = as_role(UserRole.ACCOUNT_MANAGER)

    page = manager.get(f"/services/{service}").get_data(as_text=True)
    assert '<dd id="account-manager">ann</dd>' in page
    form = page[page.index('name="user_id"') :]
    form = form[: form.index("</select>")]
    assert f'value="{second}"' in form and "bob" in form and "Nobody" in form
    assert "tech" not in form and "gone" not in form  # technicians and deactivated people

    response = manager.post(
        f"/services/{service}/account-manager", {"user_id": str(second)}, target="service_main"
    )
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "data-changed"
    assert "Account manager changed." in response.get_data(as_text=True)
    changed = _service(service)
    assert (changed.account_manager_id, changed.version, changed.status.value) == (
        second,
        2,
        "pending",
    )
    event = db.session.scalars(
        select(DomainEvent).filter_by(type="ServiceAccountManagerChanged")
    ).one()
    assert (event.service_id, event.payload["old_manager_id"], event.payload["new_manager_id"]) == (
        service,
        first,
        second,
    )
    assert manager.post(f"/services/{service}/account-manager", {"user_id": ""}).status_code == 200
    assert _service(service).account_manager_id is None


def test_someone_who_cannot_manage_is_refused_beside_the_field(as_role, company):
    tech = make_user(company, "tech@msp.example", UserRole.TECHNICIAN)
    ann = make_user(company, "ann@msp.example")
    service = make_service(company, manager_id=ann)
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    before = snapshot()
    for sent, message in (
        (str(tech), "Choose one of the active account managers or admins."),
        ("abc", "Invalid Choice: could not coerce."),
        (str(2**40), "Choose one of the active account managers or admins."),
        (str(ann), "That is the service&#39;s account manager already."),
    ):
        response = manager.post(
            f"/services/{service}/account-manager", {"user_id": sent}, target="service_main"
        )
        assert response.status_code == 422, sent
        html = response.get_data(as_text=True)
        assert f'id="user_id-error">{message}' in html, sent
        assert "<details open>" in html
    assert changed_tables(before, snapshot()) == set()
    assert (
        as_role(UserRole.VIEWER)
        .post(f"/services/{service}/account-manager", {"user_id": str(ann)})
        .status_code
        == 403
    )


def test_mine_lists_and_exports_the_services_i_manage(as_role, company):
    manager = as_role(UserRole.ACCOUNT_MANAGER)
    me = db.session.scalar(select(User.id).filter_by(email="account_manager@msp.example"))
    other = make_user(company, "other@msp.example")
    client_id = make_client(company)
    make_service(company, client_id, name="My backup", manager_id=me)
    make_service(company, client_id, name="Their backup", manager_id=other)
    make_service(company, client_id, name="Nobody's backup")

    everything = manager.get("/services").get_data(as_text=True)
    assert "My backup" in everything and "Their backup" in everything
    mine = manager.get("/services?manager=me").get_data(as_text=True)
    assert "My backup" in mine and "Their backup" not in mine and "Nobody" not in mine
    assert 'name="manager" value="me" checked' in mine
    assert "manager=me" in mine[mine.index("Download CSV") - 300 :]
    csv = manager.get("/services.csv?manager=me").get_data(as_text=True)
    assert "My backup" in csv and "Their backup" not in csv
    # Someone who manages nothing sees an empty list, not everyone's.
    viewer = as_role(UserRole.VIEWER)
    assert "No services match." in viewer.get("/services?manager=me").get_data(as_text=True)
