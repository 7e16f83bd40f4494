"""Settings -> People: the list, invitations end to end, roles, deactivation, password links,
the last admin, and other companies' people out of reach."""

import datetime as dt

import pytest
import time_machine
from sqlalchemy import func, select

from tests.accounts.steps import NEW_PASSWORD, choose_password, link_in, mails, sign_in
from tests.support.factories import make_user
from tests.support.sessions import PASSWORD, add_user
from webapp.accounts import people
from webapp.accounts.models import User
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.notifications.models import Notification, Webhook
from webapp.pipeline.models import DomainEvent

R = UserRole

INVITATION = "notify.invitation"

ADMIN = "admin@msp.example"


def events(kind=None) -> list[DomainEvent]:
    db.session.rollback()
    query = select(DomainEvent).order_by(DomainEvent.id)
    if kind:
        query = query.filter_by(type=kind)
    return list(db.session.scalars(query))


def user(user_id) -> User:
    db.session.rollback()
    return db.session.get(User, user_id)


def _invite(admin, **form):
    data = {"name": "Nina Tech", "email": "nina@msp.example", "role": "technician", **form}
    return admin.post("/settings/people/invite", data, target="people_panel")


@pytest.mark.parametrize("role", [R.ACCOUNT_MANAGER, R.TECHNICIAN, R.VIEWER])
def test_only_admins_reach_people(as_role, role):
    session = as_role(role)
    assert session.get("/settings/people").status_code == 403
    response = session.post("/settings/people/invite", {"name": "x", "email": "x@y.example"})
    assert response.status_code == 403
    assert "Your role cannot manage users" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_the_list_shows_role_last_sign_in_and_status(as_role, company):
    admin = as_role(R.ADMIN)
    invited = make_user(company, "new@msp.example", R.VIEWER)
    gone = add_user(company, R.TECHNICIAN, "gone@msp.example")
    people.deactivate(company, gone, "test")
    html = admin.get("/settings/people").get_data(as_text=True)
    rows = {
        email: html[html.index(f'id="person-{uid}"') :].split("</tr>")[0]
        for email, uid in (
            (ADMIN, user_id_of(ADMIN)),
            ("new@msp.example", invited),
            ("gone@msp.example", gone),
        )
    }
    assert ">active<" in rows[ADMIN] and "(you)" in rows[ADMIN]
    assert "never" not in rows[ADMIN]  # signed in just now
    assert ">invited<" in rows["new@msp.example"] and "never" in rows["new@msp.example"]
    assert "Send the invitation again" in rows["new@msp.example"]
    assert ">deactivated<" in rows["gone@msp.example"] and "Reactivate" in rows["gone@msp.example"]
    assert "Deactivate" not in rows[ADMIN]  # not oneself


def user_id_of(email) -> int:
    return db.session.scalar(select(User.id).filter_by(email=email))


def test_settings_and_the_top_bar_lead_to_people_and_ones_account(as_role):
    admin = as_role(R.ADMIN)
    assert 'href="/settings/people"' in admin.get("/settings").get_data(as_text=True)
    viewer = as_role(R.VIEWER)
    assert 'href="/account"' in viewer.get("/account").get_data(as_text=True)
    page = admin.get("/settings/people").get_data(as_text=True)
    assert 'aria-current="page">Settings</a>' in page


def test_an_invitation_end_to_end_through_the_mail(app, as_role, company, work, smtp):
    admin = as_role(R.ADMIN)
    response = _invite(admin, email=" Nina@MSP.example ")
    assert response.status_code == 200
    assert "nina@msp.example" in response.get_data(as_text=True)
    nina = user_id_of("nina@msp.example")
    invited = user(nina)
    assert invited.password_hash is None and invited.invited_at is not None
    assert invited.role == R.TECHNICIAN and people.status(invited) == "invited"
    [event] = events("UserInvited")
    assert event.service_id is None and event.actor.startswith("user:") and ADMIN in event.actor
    assert event.payload == {
        "service_id": None,
        "user_id": nina,
        "email": "nina@msp.example",
        "role": "technician",
    }

    work()
    [message] = smtp.messages
    assert message["To"] == "nina@msp.example"
    assert "invited" in message["Subject"]
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "7 days" in body and "as technician" in body
    [row] = mails(INVITATION)
    assert row.status == "sent" and row.service_id is None
    link = link_in(row)
    assert link.startswith("/invite/") and link[len("/invite/") :] in body
    html = message.get_body(preferencelist=("html",)).get_content()
    assert f'<a href="http://127.0.0.1:5000{link}"' in html  # a link to click, not just text

    browser = app.test_client()
    page = browser.get(link)
    assert page.status_code == 200 and "Welcome, Nina Tech" in page.get_data(as_text=True)
    response = choose_password(browser, link)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert browser.get("/account").status_code == 200
    assert people.status(user(nina)) == "active"
    assert user(nina).last_sign_in_at is not None
    [changed] = events("PasswordChanged")
    assert changed.payload["how"] == "invitation"

    again = app.test_client().get(link)
    assert again.status_code == 400 and "used already" in again.get_data(as_text=True)
    assert sign_in(app.test_client(), "nina@msp.example", NEW_PASSWORD).status_code == 302


def test_sending_the_invitation_again_cancels_the_earlier_link(app, as_role, company, work):
    admin = as_role(R.ADMIN)
    _invite(admin)
    work()
    first = link_in(mails(INVITATION)[0])
    nina = user_id_of("nina@msp.example")
    response = admin.post(f"/settings/people/{nina}/password-link")
    assert "invitation is on its way" in response.get_data(as_text=True)
    work()
    second = link_in(mails(INVITATION)[1])

    page = app.test_client().get(first)
    assert page.status_code == 400 and "newer one" in page.get_data(as_text=True)
    assert choose_password(app.test_client(), first).status_code == 400
    assert user(nina).password_hash is None
    assert choose_password(app.test_client(), second).status_code == 303
    assert people.status(user(nina)) == "active"


def test_an_invitation_link_expires_after_seven_days(app, as_role, company, work):
    start = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        _invite(as_role(R.ADMIN))
        work()
        link = link_in(mails(INVITATION)[0])
        clock.shift(dt.timedelta(days=7) - dt.timedelta(minutes=1))
        assert app.test_client().get(link).status_code == 200
        clock.shift(dt.timedelta(minutes=2))
        response = choose_password(app.test_client(), link)
        assert response.status_code == 400
        assert "expired" in response.get_data(as_text=True)
        assert "7 days" in response.get_data(as_text=True)
        assert user(user_id_of("nina@msp.example")).password_hash is None


def test_the_invitation_goes_to_the_person_only_never_to_a_webhook(as_role, company, work):
    db.session.add(Webhook(company_id=company, kind="slack", url="http://127.0.0.1:9/hook"))
    db.session.commit()
    _invite(as_role(R.ADMIN))
    work()
    assert [(n.channel, n.recipient) for n in mails()] == [("email", "nina@msp.example")]


def test_the_link_starts_at_public_url(app, as_role, company, work):
    app.config["PUBLIC_URL"] = "https://dash.example.com/msp/"
    _invite(as_role(R.ADMIN))
    work()
    assert "https://dash.example.com/msp/invite/" in mails(INVITATION)[0].body


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"email": ADMIN}, "admin@msp.example is already one of your people"),
        ({"email": "ADMIN@msp.example"}, "admin@msp.example is already one of your people"),
        ({"email": "not an address"}, "Enter an email address"),
        ({"email": ""}, "Give the address"),
        ({"name": "  "}, "Give the person"),
        ({"role": "owner"}, "Not a valid choice"),
        ({"name": "Ni\x00na"}, "NUL"),
    ],
)
def test_a_bad_invitation_is_refused_in_place_and_writes_nothing(as_role, form, error):
    admin = as_role(R.ADMIN)
    response = _invite(admin, **form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error in html and "Nobody was invited" in html
    assert events() == []
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_an_address_in_use_in_another_company_is_refused_without_saying_where(
    as_role, other_company
):
    add_user(other_company, R.TECHNICIAN, "them@other.example")
    admin = as_role(R.ADMIN)
    response = _invite(admin, email="Them@other.example")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "This address cannot be invited: it is already in use." in html
    assert "Ask your operator if it should move here." in html
    assert "already has an account" not in html and "one of your people" not in html
    assert "Other MSP" not in html
    assert events() == []
    assert db.session.scalar(select(func.count()).select_from(User)) == 2


def test_an_address_taken_elsewhere_a_moment_ago_is_refused_as_neutrally(
    app, company, other_company, monkeypatch
):
    add_user(other_company, R.TECHNICIAN, "them@other.example")
    checked = people._address_taken
    calls = []

    def not_yet_the_first_time(company_id, email):  # the account appears between check and write
        calls.append(email)
        return None if len(calls) == 1 else checked(company_id, email)

    monkeypatch.setattr(people, "_address_taken", not_yet_the_first_time)
    with pytest.raises(people.Refused, match="cannot be invited: it is already in use"):
        people.invite(company, "Them", "them@other.example", R.VIEWER, "test")
    assert len(calls) == 2 and events() == []


def test_role_changes_and_deactivation_are_in_the_trail(as_role, company):
    admin = as_role(R.ADMIN)
    tess = add_user(company, R.TECHNICIAN, "tess@msp.example")
    base = f"/settings/people/{tess}"
    assert admin.post(f"{base}/role", {"role": "account_manager"}).status_code == 200
    assert admin.post(f"{base}/role", {"role": "account_manager"}).status_code == 200  # no-op
    assert user(tess).role == R.ACCOUNT_MANAGER
    response = admin.post(f"{base}/deactivate")
    assert response.status_code == 200
    assert "signed out everywhere" in response.get_data(as_text=True)
    assert user(tess).active is False
    assert admin.post(f"{base}/reactivate").status_code == 200
    assert user(tess).active is True
    trail = [(e.type, e.service_id) for e in events()]
    assert trail == [
        ("UserRoleChanged", None),
        ("UserDeactivated", None),
        ("UserReactivated", None),
    ]
    role_changed = events("UserRoleChanged")[0]
    assert role_changed.payload["old_role"] == "technician"
    assert role_changed.payload["new_role"] == "account_manager"
    assert all(e.actor == events()[0].actor and ADMIN in e.actor for e in events())


def test_without_htmx_a_change_redirects_back_to_the_list(as_role, company):
    admin = as_role(R.ADMIN)
    tess = add_user(company, R.TECHNICIAN, "tess@msp.example")
    response = admin.post(f"/settings/people/{tess}/deactivate", htmx=False)
    assert response.status_code == 303 and response.headers["Location"] == "/settings/people"


def test_a_role_change_without_a_role_is_refused_in_place(as_role, company):
    admin = as_role(R.ADMIN)
    tess = add_user(company, R.TECHNICIAN, "tess@msp.example")
    for data in ({}, {"role": "owner"}):
        response = admin.post(f"/settings/people/{tess}/role", data)
        assert response.status_code == 409
        assert "Choose a role" in response.get_data(as_text=True)
    assert user(tess).role == R.TECHNICIAN and events() == []


def test_the_last_admin_can_be_neither_demoted_nor_deactivated(as_role, company):
    admin = as_role(R.ADMIN)
    me = user_id_of(ADMIN)
    invited_admin = make_user(company, "later@msp.example", R.ADMIN)  # cannot sign in yet
    other = add_user(company, R.ADMIN, "other@msp.example")
    people.deactivate(company, other, "test")  # nor can a deactivated one
    before = len(events())

    response = admin.post(f"/settings/people/{me}/role", {"role": "viewer"})
    assert response.status_code == 409
    assert "last active admin" in response.get_data(as_text=True)
    assert user(me).role == R.ADMIN
    with pytest.raises(people.Refused, match="last active admin"):
        people.deactivate(company, me, "cli")
    assert user(me).active and len(events()) == before
    assert invited_admin  # present all along, and not counted

    people.reactivate(company, other, "test")
    assert admin.post(f"/settings/people/{me}/role", {"role": "viewer"}).status_code == 200
    assert user(me).role == R.VIEWER
    # Now `other` is the last one.
    with pytest.raises(people.Refused, match="last active admin"):
        people.change_role(company, other, R.TECHNICIAN, "cli")


def test_an_admin_cannot_deactivate_themselves(as_role, company):
    admin = as_role(R.ADMIN)
    add_user(company, R.ADMIN, "other@msp.example")
    me = user_id_of(ADMIN)
    response = admin.post(f"/settings/people/{me}/deactivate")
    assert response.status_code == 409
    assert "cannot deactivate yourself" in response.get_data(as_text=True)
    assert user(me).active


def test_password_links_an_admin_sends(as_role, company, work):
    admin = as_role(R.ADMIN)
    invited = make_user(company, "new@msp.example", R.VIEWER)
    tess = add_user(company, R.TECHNICIAN, "tess@msp.example")
    response = admin.post(f"/settings/people/{invited}/password-link")
    assert "invitation is on its way" in response.get_data(as_text=True)
    response = admin.post(f"/settings/people/{tess}/password-link")
    assert "new password is on its way" in response.get_data(as_text=True)
    people.deactivate(company, tess, "test")
    response = admin.post(f"/settings/people/{tess}/password-link")
    assert response.status_code == 409 and "reactivate them first" in response.get_data(
        as_text=True
    )
    work()
    sent = [(n.listener, n.recipient) for n in mails()]
    assert sent == [(INVITATION, "new@msp.example")]  # tess was deactivated before it went
    assert [e.type for e in events()] == [
        "UserInvited",
        "PasswordResetRequested",
        "UserDeactivated",
    ]


def test_another_companys_people_are_out_of_reach(app, as_role, company, other_company):
    theirs = add_user(other_company, R.TECHNICIAN, "them@other.example")
    admin = as_role(R.ADMIN)
    assert "them@other.example" not in admin.get("/settings/people").get_data(as_text=True)
    for action, data in (
        ("role", {"role": "admin"}),
        ("deactivate", {}),
        ("reactivate", {}),
        ("password-link", {}),
    ):
        response = admin.post(f"/settings/people/{theirs}/{action}", data)
        assert response.status_code == 404, action
    assert user(theirs).role == R.TECHNICIAN and user(theirs).active
    assert events() == []
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0
    # Their admin sees theirs, not ours.
    add_user(other_company, R.ADMIN, "boss@other.example")
    from tests.support.sessions import Session

    boss = Session(app.test_client(), "boss@other.example")
    html = boss.get("/settings/people").get_data(as_text=True)
    assert "them@other.example" in html and ADMIN not in html
    assert boss.post(f"/settings/people/{user_id_of(ADMIN)}/deactivate").status_code == 404
    assert user(user_id_of(ADMIN)).active


def test_an_invited_person_cannot_sign_in_before_choosing_a_password(app, as_role):
    _invite(as_role(R.ADMIN))
    for guess in ("", PASSWORD, "None"):
        assert sign_in(app.test_client(), "nina@msp.example", guess).status_code == 401
