"""Security headers, cookies, and the templates that let the policy forbid inline scripts."""

import re
from pathlib import Path

import pytest

from webapp.lifecycle.statuses import UserRole

TEMPLATES = Path(__file__).resolve().parents[2] / "webapp" / "templates"

PAGES = ["/", "/services", "/incidents", "/renewals", "/alerts", "/operations", "/settings"]


@pytest.fixture
def admin(as_role):
    return as_role(UserRole.ADMIN)


def _policy(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


@pytest.mark.parametrize("url", [*PAGES, "/login", "/healthz", "/metrics", "/static/app.css"])
def test_every_response_forbids_inline_scripts_framing_and_sniffing(client, admin, url):
    response = (client if url in ("/login", "/healthz", "/metrics") else admin).get(url)
    response.close()  # a static file is streamed from an open file
    assert response.status_code == 200
    policy = _policy(response)
    assert policy["script-src"] == "'self'"
    assert policy["style-src"].split()[:2] == ["'self'", "'unsafe-hashes'"]
    assert "unsafe-inline" not in policy["style-src"]  # only the empty style's hash
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_the_api_and_its_errors_carry_the_headers_too(client):
    response = client.get("/api/v1/incidents/1")
    assert response.status_code == 401
    assert _policy(response)["script-src"] == "'self'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_queues_page_runs_no_inline_script(admin):
    """It shows third-party text (a webhook's answer in a failed job's error): the policy that
    would stop an injected script stays strict there too."""
    response = admin.get("/operations/queues")
    assert response.status_code == 200
    assert _policy(response)["script-src"] == "'self'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


def test_no_template_has_inline_script_style_or_event_handler():
    """What the policy would block: a page that relied on one would break in the browser."""
    found = []
    for path in TEMPLATES.rglob("*.html"):
        if path.parent.name == "mail":  # email bodies: read by mail clients, never served
            continue
        text = path.read_text()
        for pattern in (
            r"<script(?![^>]*\bsrc=)[^>]*>",
            r"<style\b",
            r"\sstyle=",
            r"\son[a-z]+=",
            r"hx-on",
            r"javascript:",
        ):
            found += [f"{path.relative_to(TEMPLATES)}: {m}" for m in re.findall(pattern, text)]
    assert not found, "\n".join(found)


def test_session_cookie_is_http_only_and_same_site(app, as_role):
    client = as_role(UserRole.ADMIN).client
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert not cookie.secure  # served over plain HTTP in development and tests


def test_behind_https_cookies_are_secure_and_hsts_is_sent(app, as_role):
    app.config.update(SESSION_COOKIE_SECURE=True)
    client = as_role(UserRole.ADMIN).client
    assert client.get_cookie("session").secure
    response = client.get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_no_hsts_over_plain_http(client):
    assert "Strict-Transport-Security" not in client.get("/healthz").headers
