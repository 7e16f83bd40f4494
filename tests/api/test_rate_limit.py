"""The API's rate limit: per token (not per address), a JSON 429 with Retry-After past it, set by
API_RATE_LIMIT and written in the OpenAPI document."""

import pytest

from tests.support.app import make_config
from webapp import create_app
from webapp.accounts import api_tokens
from webapp.api.openapi import document

API = "/api/v1"


@pytest.fixture
def tokens(app, company):
    app.config["API_RATE_LIMIT"] = "3 per minute"
    return [api_tokens.create(company, name, "test")[1] for name in ("prometheus", "grafana")]


def read(client, token, address="192.0.2.1"):
    return client.get(
        f"{API}/incidents/1",
        headers={"Authorization": f"Bearer {token}"},
        environ_base={"REMOTE_ADDR": address},
    )


def test_a_token_past_its_allowance_is_told_to_wait_in_json(client, tokens):
    first, _ = tokens
    assert [read(client, first).status_code for _ in range(3)] == [404] * 3  # counted too
    refused = read(client, first)
    assert refused.status_code == 429
    assert refused.mimetype == "application/json"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    body = refused.get_json()
    assert list(body) == ["error"]
    assert "3 per 1 minute" in body["error"] and "try again in" in body["error"]


def test_the_limit_is_the_tokens_not_the_addresss(client, tokens):
    first, second = tokens
    for _ in range(3):
        read(client, first)
    # The same token from elsewhere is still refused; another token from the same address is not.
    assert read(client, first, address="198.51.100.7").status_code == 429
    assert read(client, second).status_code == 404
    # A request without a known token is a 401, whoever's allowance is used up.
    assert read(client, "mspd_unknown").status_code == 401


def test_posts_are_counted_like_reads(client, tokens):
    first, _ = tokens
    headers = {"Authorization": f"Bearer {first}"}
    codes = [
        client.post(f"{API}/alertmanager", json={"alerts": []}, headers=headers).status_code
        for _ in range(4)
    ]
    assert codes[-1] == 429 and 429 not in codes[:3]


def test_the_document_lists_the_429_on_every_operation_that_needs_a_token(app):
    doc = document(app)
    assert "Retry-After" in doc["components"]["responses"]["TooManyRequests"]["headers"]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            public = op.get("security") == []
            assert ("429" in op["responses"]) is not public, (method, path)


def test_a_malformed_limit_stops_the_app_at_start(database_url, redis_server):
    with pytest.raises(ValueError, match="API_RATE_LIMIT='lots' is not a rate limit"):
        create_app(make_config(database_url, redis_server.url, API_RATE_LIMIT="lots"))
