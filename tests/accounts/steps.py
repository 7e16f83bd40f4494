"""What the people and session tests do in a browser's place: sign in, read the link a mail
carries, choose a password through it, replay captured cookies in a fresh client."""

import re

from sqlalchemy import select

from tests.support.sessions import csrf_from
from webapp.extensions import db
from webapp.notifications.models import Notification

LINK = re.compile(r"https?://\S+/(invite|reset)/([A-Za-z0-9_.-]+)")

NEW_PASSWORD = "a brand new passphrase"

REMEMBER = "remember_token"


def sign_in(client, email, password, remember=False):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    data = {"email": email, "password": password, "csrf_token": token}
    if remember:
        data["remember"] = "y"
    return client.post("/login", data=data)


def post_form(client, url, data):
    """POST a page's form as the browser does: the CSRF token read from the page first."""
    token = csrf_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def mails(listener=None) -> list[Notification]:
    db.session.rollback()
    query = select(Notification).order_by(Notification.id)
    if listener:
        query = query.where(Notification.listener == listener)
    return list(db.session.scalars(query))


def link_in(notification: Notification) -> str:
    """The path of the link in the mail's body (/invite/... or /reset/...)."""
    match = LINK.search(notification.body)
    assert match, notification.body
    return f"/{match.group(1)}/{match.group(2)}"


def choose_password(client, path, password=NEW_PASSWORD, again=None):
    return post_form(
        client, path, {"password": password, "confirm": password if again is None else again}
    )


def cookies_of(client) -> dict[str, str]:
    return {
        name: client.get_cookie(name).value
        for name in ("session", REMEMBER)
        if client.get_cookie(name) is not None
    }


def signed_in_with(app, name, value) -> bool:
    """Does this one cookie, alone in a fresh browser, open a page that needs a sign-in?"""
    fresh = app.test_client()
    fresh.set_cookie(name, value)
    response = fresh.get("/account")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    return False
