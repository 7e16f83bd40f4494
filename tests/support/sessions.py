"""Signed-in test clients, one per role, that send the CSRF token as the pages do."""

import re

from tests.support.factories import make_user
from webapp.accounts.access import set_password
from webapp.accounts.models import User
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole

PASSWORD = "correct horse battery"

TOKEN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def csrf_from(html: str) -> str:
    match = TOKEN.search(html)
    assert match, "page carries no CSRF token"
    return match.group(1) or match.group(2)


class Session:
    """A test client signed in as one user; post() and htmx() carry the CSRF token."""

    def __init__(self, client, email):
        self.client = client
        page = client.get("/login").get_data(as_text=True)
        response = client.post(
            "/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        self.token = csrf_from(client.get("/").get_data(as_text=True))
        # Signing in wrote (the time of it, on the request's own connection): a read the test
        # began before would be a stale SQLite snapshot that its next write cannot upgrade.
        db.session.rollback()

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def htmx_get(self, url, target):
        return self.client.get(url, headers={"HX-Request": "true", "HX-Target": target})

    def post(self, url, data=None, htmx=True, target="", **kw):
        headers = {"X-CSRFToken": self.token}
        if htmx:
            headers |= {"HX-Request": "true", "HX-Target": target}
        return self.client.post(url, data=data or {}, headers=headers, **kw)


def add_user(company_id, role: UserRole, email=None):
    user_id = make_user(company_id, email=email or f"{role.value}@msp.example", role=role)
    user = db.session.get(User, user_id)
    set_password(user, PASSWORD)
    db.session.commit()
    return user_id
