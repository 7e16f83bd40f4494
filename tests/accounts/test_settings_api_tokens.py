"""API tokens on the Settings page: created and shown once, listed by prefix, revoked."""

import re

from sqlalchemy import func, select

from tests.api.test_api import API, auth
from webapp.accounts.models import ApiToken
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole

SHOWN = re.compile(r'id="new_token" value="(mspd_[^"]+)"')


def _api_answers(client, token) -> int:
    return client.get(API + "/incidents/999999", headers=auth(token)).status_code


def test_a_created_token_is_shown_once_works_and_only_its_hash_is_kept(as_role, client):
    admin = as_role(UserRole.ADMIN)
    response = admin.post("/settings/api-tokens", {"name": "prometheus"}, target="api_tokens")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="panel" id="api_tokens"')
    assert "Copy it now: it is not shown again." in html
    token = SHOWN.search(html).group(1)
    assert _api_answers(client, token) == 404  # signed in to the API: the incident is unknown

    page = admin.get("/settings").get_data(as_text=True)
    assert token not in page and f"<code>{token[:11]}…</code>" in page and "prometheus" in page
    stored = db.session.scalars(select(ApiToken)).one()
    assert token not in (stored.token_hash, stored.prefix) and len(stored.token_hash) == 64


def test_a_token_without_a_name_shows_the_error_in_place_and_creates_nothing(as_role):
    response = as_role(UserRole.ADMIN).post("/settings/api-tokens", {"name": " "})
    assert response.status_code == 422
    assert 'id="name-error"' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_a_revoked_token_is_refused_by_the_api_from_then_on(as_role, client):
    admin = as_role(UserRole.ADMIN)
    html = admin.post("/settings/api-tokens", {"name": "alertmanager"}).get_data(as_text=True)
    token = SHOWN.search(html).group(1)
    token_id = db.session.scalar(select(ApiToken.id))
    response = admin.post(f"/settings/api-tokens/{token_id}/revoke", target="api_tokens")
    assert response.status_code == 200
    assert "Token alertmanager revoked" in response.get_data(as_text=True)
    assert "revoked " in response.get_data(as_text=True)
    assert _api_answers(client, token) == 401


def test_without_javascript_the_new_token_comes_back_on_the_whole_page(as_role):
    response = as_role(UserRole.ADMIN).post("/settings/api-tokens", {"name": "script"}, htmx=False)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<h1>Settings</h1>" in html
    assert SHOWN.search(html)
