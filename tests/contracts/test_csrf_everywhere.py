"""Every state-changing route of the app refuses a request without the CSRF token.

Walks the URL map rather than a list, so a route added later is covered on the day it is
added. One kind is exempt on purpose, and the test says so: the JSON API (a bearer token,
no cookies: another site's form cannot send it).
"""

import pytest
from sqlalchemy import func, select

from webapp import create_app
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole
from webapp.pipeline.models import DomainEvent

WRITES = {"POST", "PUT", "PATCH", "DELETE"}

EXEMPT_PREFIXES = ("/api/v1/",)


def _writing_routes():
    """(method, url) for each writing rule, its int arguments filled with 1."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & WRITES):
            url = rule.rule
            for argument in rule.arguments:
                url = url.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "x")
            found.append((method, url))
    return sorted(found)


ROUTES = [r for r in _writing_routes() if not r[1].startswith(EXEMPT_PREFIXES)]


def test_the_walk_finds_the_routes_it_should():
    urls = {url for _, url in ROUTES}
    assert {"/login", "/services/new", "/services/1/x", "/incidents/new", "/settings"} <= urls
    assert len(ROUTES) >= 11


@pytest.mark.parametrize(("method", "url"), ROUTES, ids=[f"{m} {u}" for m, u in ROUTES])
def test_a_write_without_the_token_is_refused_and_changes_nothing(as_role, method, url):
    admin = as_role(UserRole.ADMIN)
    events = db.session.scalar(select(func.count()).select_from(DomainEvent))
    response = admin.client.open(url, method=method, data={"name": "x", "reason": "x"})
    assert response.status_code == 400, (url, response.status_code)
    assert "Reload the page and try again" in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(DomainEvent)) == events


@pytest.mark.parametrize(("method", "url"), ROUTES[:3], ids=[f"{m} {u}" for m, u in ROUTES[:3]])
def test_a_wrong_token_is_refused_too(as_role, method, url):
    admin = as_role(UserRole.ADMIN)
    response = admin.client.open(url, method=method, data={"csrf_token": "forged"})
    assert response.status_code == 400
