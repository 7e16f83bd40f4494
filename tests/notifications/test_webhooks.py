"""Chat and integration webhooks, received by a real HTTP server on loopback."""

import contextlib
import json
import re
import socket
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import make_url, select

from tests.support.app import BACKEND
from tests.support.factories import make_service
from webapp.config import Config
from webapp.extensions import db
from webapp.notifications import destinations, webhooks
from webapp.notifications.models import Notification, Webhook
from webapp.notifications.sending import requeue_stalled, send_for_events
from webapp.notifications.webhooks import signature
from webapp.pipeline.delivery import run_delivery
from webapp.pipeline.models import DomainEvent
from webapp.services import actions as lc

SECRET = "s3cret-for-tests"


class Receiver:
    def __init__(self):
        self.requests = []
        self.status = 200
        self.delay = 0.0
        self.location = None  # answered with the status, as a redirect would be
        self.reason = None  # the status line's text, when not the standard one
        self.answer = b""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)
                receiver.requests.append((self.path, dict(self.headers), body))
                with contextlib.suppress(OSError):  # a caller that timed out has gone
                    self.send_response(receiver.status, receiver.reason)
                    if receiver.location:
                        self.send_header("Location", receiver.location)
                    self.send_header("Content-Length", str(len(receiver.answer)))
                    self.end_headers()
                    self.wfile.write(receiver.answer)

            def do_GET(self):  # noqa: N802 (what a followed redirect turns a POST into)
                receiver.requests.append((self.path, dict(self.headers), b""))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(app, company):
    r = Receiver()
    for kind in ("slack", "teams", "generic"):
        db.session.add(
            Webhook(
                company_id=company,
                kind=kind,
                url=f"{r.url}/{kind}",
                secret=SECRET if kind == "generic" else None,
            )
        )
    db.session.commit()
    yield r
    r.stop()


def test_each_webhook_gets_the_notification_in_its_format(app, company, work, receiver):
    lc.activate(company, make_service(company), "test")
    work()
    by_path = {path: (headers, json.loads(body)) for path, headers, body in receiver.requests}
    assert set(by_path) == {"/slack", "/teams", "/generic"}
    assert by_path["/slack"][1]["text"].startswith("*Managed Backup is now active*")
    assert by_path["/teams"][1]["@type"] == "MessageCard"
    headers, payload = by_path["/generic"]
    assert payload["event"] == "ServiceActivated" and payload["payload"]["term_end"]
    raw = next(body for path, _, body in receiver.requests if path == "/generic")
    assert headers["X-Signature-256"] == signature(SECRET, headers["X-Timestamp"], raw)
    assert headers["X-Signature-256"] != signature("wrong", headers["X-Timestamp"], raw)


def test_a_failing_webhook_is_retried_and_sent_once_when_it_recovers(app, company, work, receiver):
    receiver.status = 500
    lc.activate(company, make_service(company), "test")
    work()
    failed = db.session.scalars(select(Notification).where(Notification.channel == "slack")).one()
    assert failed.status == "failed" and "500" in failed.error
    receiver.status = 200
    receiver.requests.clear()
    event_id = db.session.scalar(
        select(DomainEvent.id).where(DomainEvent.type == "ServiceActivated")
    )
    assert send_for_events([event_id]) == ([], True)
    assert send_for_events([event_id]) == ([], True)
    assert sorted(path for path, _, _ in receiver.requests) == ["/generic", "/slack", "/teams"]


def test_a_hanging_webhook_times_out_instead_of_blocking_the_worker(app, company, work, receiver):
    app.config["WEBHOOK_TIMEOUT"] = 1
    receiver.delay = 2.5
    lc.activate(company, make_service(company), "test")
    event_id = db.session.scalar(
        select(DomainEvent.id).where(DomainEvent.type == "ServiceActivated")
    )
    run_delivery(event_id, "notify.activated")  # the listener queues them; sending is timed
    started = time.monotonic()
    errors, _ = send_for_events([event_id])
    # 4 s of slack for a loaded machine, still under the 3 x 2.5 s three uncut sends would take.
    assert time.monotonic() - started < 3 * 1 + 4  # three webhooks, each cut at the timeout
    assert len(errors) == 3 and all("timed out" in e for e in errors)


# --- Text from outside reads as text in Slack and Teams ------------------------------------

HOSTILE = "Disk full <!here> <https://evil.example/reset|Open the runbook>"


def test_markup_in_a_service_name_reaches_slack_and_teams_as_text(app, company, work, receiver):
    # It pinged the channel and showed a link whose text hid its target.
    lc.activate(company, make_service(company, name=HOSTILE), "test")
    work()
    by_path = {path: json.loads(body) for path, _, body in receiver.requests}
    notice = db.session.scalars(select(Notification).where(Notification.channel == "slack")).one()
    assert notice.subject == f"{HOSTILE} is now active"
    slack = by_path["/slack"]["text"]
    assert slack.split("\n")[0] == (
        "*Disk full &lt;!here&gt; &lt;https://evil.example/reset|Open the runbook&gt; is now active*"
    )
    assert "<" not in slack and ">" not in slack
    teams = by_path["/teams"]
    assert teams["title"] == (
        r"Disk full &lt;\!here&gt; &lt;https://evil\.example/reset\|Open the runbook&gt; "
        "is now active"
    )
    assert "<" not in teams["text"] and "[" not in teams["text"].replace("\\[", "")
    assert teams["summary"] == notice.subject  # plain text where Teams shows plain text
    assert by_path["/generic"]["subject"] == notice.subject  # machines get what was typed


def test_slack_escapes_its_three_control_characters_and_nothing_else():
    assert webhooks.slack_escape("R&D <!channel> *bold* a>b") == (
        "R&amp;D &lt;!channel&gt; *bold* a&gt;b"
    )


def test_teams_escapes_markdown_and_html():
    text = "[Open](https://evil.example) **now** <img src=x onerror=alert(1)> #1 & `x`"
    assert webhooks.teams_escape(text) == (
        r"\[Open\]\(https://evil\.example\) \*\*now\*\* &lt;img src=x onerror=alert\(1\)&gt; "
        r"\#1 &amp; \`x\`"
    )


# --- Where webhooks may go -----------------------------------------------------------------


@pytest.fixture
def default_policy(app):
    """The shipped configuration: no internal network allowed (the tests' config allows
    loopback for their receivers)."""
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = Config.WEBHOOK_ALLOWED_NETWORKS
    assert app.config["WEBHOOK_ALLOWED_NETWORKS"] == ()


INTERNAL = [
    "http://127.0.0.1:6379",
    "http://localhost:6379/",  # a name that resolves to loopback
    "http://2130706433:6379/",  # 127.0.0.1 written as one number
    "http://[::1]:6379/",
    "http://[::ffff:127.0.0.1]:6379/",  # IPv4-mapped loopback
    "http://0.0.0.0:6379/",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.10/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://168.63.129.16/machine",  # Azure's WireServer, a public address
    "http://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
    "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "http://192.0.0.8/hook",  # IETF protocol assignments: is_global on Python 3.11
    "http://[::ffff:192.0.0.170]/hook",
]


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_and_metadata_addresses_are_refused_by_default(default_policy, url):
    with pytest.raises(destinations.UrlRefused, match="not a public address"):
        destinations.check(url)


def test_a_refusal_says_neither_the_address_nor_whether_the_name_resolved(
    default_policy, caplog, monkeypatch
):
    """An admin typing names of our network must not learn their addresses, nor which exist:
    a name resolving to loopback and one resolving to nothing are refused alike."""
    # The schema fixture's Alembic run (fileConfig) disabled the loggers existing by then.
    monkeypatch.setattr(destinations.log, "disabled", False)
    caplog.set_level("INFO", logger=destinations.log.name)
    refusals = {}
    for host in ("localhost", "host.invalid"):
        with pytest.raises(destinations.UrlRefused) as refused:
            destinations.check(f"http://{host}:6379/")
        refusals[host] = str(refused.value).replace(host, "HOST")
    assert refusals["localhost"] == refusals["host.invalid"]
    assert refusals["localhost"].startswith("HOST is not a public address")
    assert "127.0.0.1" not in refusals["localhost"] and "::1" not in refusals["localhost"]
    # The detail is for the operator's log.
    assert re.search(r"localhost resolves to (127\.0\.0\.1|::1)", caplog.text)
    assert "host.invalid does not resolve" in caplog.text


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://user:pass@8.8.8.8/hook", "user name and password"),
        ("https://token@8.8.8.8/hook", "user name and password"),
        ("ftp://8.8.8.8/hook", "https://"),
        ("file:///etc/passwd", "https://"),
        ("gopher://8.8.8.8:6379/_INFO", "https://"),
        ("https://8.8.8.8:99999/hook", "not a URL"),
        ("https:///hook", "no host"),
        ("https://8.8.8.8/a b", "spaces"),
        ("https://host.invalid/hook", "not a public address"),
        ("", "Paste"),
    ],
)
def test_urls_that_are_not_plain_public_http_are_refused(default_policy, url, says):
    with pytest.raises(destinations.UrlRefused, match=says):
        destinations.check(url)


def test_a_public_address_passes_and_keeps_its_path_and_query(default_policy):
    target = destinations.check("https://8.8.8.8/services/T0/B1?x=1")
    assert (target.scheme, target.host, target.port) == ("https", "8.8.8.8", 443)
    assert target.path == "/services/T0/B1?x=1" and target.addresses == ("8.8.8.8",)


def test_an_allowed_network_opens_only_itself_and_never_a_metadata_address(app):
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = ("169.254.0.0/16", "not a network")
    assert destinations.check("http://169.254.1.1/hook").addresses == ("169.254.1.1",)
    for url in ("http://169.254.169.254/", "http://10.0.0.1/", "http://127.0.0.1/"):
        with pytest.raises(destinations.UrlRefused):
            destinations.check(url)


def _only_slack(company, url):
    db.session.add(Webhook(company_id=company, kind="slack", url=url))
    db.session.commit()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_an_internal_address_is_refused_again_when_called(app, company, work, host, monkeypatch):
    # Saved before the rule existed, or a name that resolves elsewhere by now: checked at
    # connect time too, and the endpoint is never reached. Calling again would be refused the
    # same way, so it is undeliverable at once, not retried through every interval.
    checks = []
    real_check = destinations.check
    monkeypatch.setattr(destinations, "check", lambda url: checks.append(url) or real_check(url))
    r = Receiver()
    try:
        _only_slack(company, f"http://{host}:{r.server.server_port}/slack")
        app.config["WEBHOOK_ALLOWED_NETWORKS"] = ()
        lc.activate(company, make_service(company), "test")
        assert work() == 1  # the event's job succeeded at once: nothing for RQ to retry
        assert r.requests == []
    finally:
        r.stop()
    assert len(checks) == 1
    notice = db.session.scalars(select(Notification).where(Notification.channel == "slack")).one()
    assert notice.status == "undeliverable"
    assert notice.error == f"Cannot be sent: {notice.recipient}: address not allowed"


class Killed(BaseException):
    """The worker dying where it is (a SIGKILL leaves the rows as they are)."""


def test_a_sender_killed_while_checking_the_address_leaves_it_sending_then_sends_it_once(
    app, company, work, monkeypatch
):
    # Transmitting means the request may have arrived ("Delivery uncertain", left for a
    # person): a sender that stopped during the DNS look-up and URL check has sent nothing, so
    # the webhook stays "sending" and is taken over and sent, once, automatically.
    r = Receiver()
    try:
        _only_slack(company, f"{r.url}/slack")
        lc.activate(company, make_service(company), "test")
        event_id = db.session.scalar(
            select(DomainEvent.id).where(DomainEvent.type == "ServiceActivated")
        )
        run_delivery(event_id, "notify.activated")

        def killed(url):
            raise Killed

        with monkeypatch.context() as patch:
            patch.setattr(destinations, "check", killed)
            with pytest.raises(Killed):
                send_for_events([event_id])
        db.session.rollback()
        notice = db.session.scalars(
            select(Notification).where(Notification.channel == "slack")
        ).one()
        assert notice.status == "sending"
        notice_id = notice.id

        app.config["SENDING_STALE_SECONDS"] = 0
        assert requeue_stalled() == 1
        work()
        assert [path for path, _, _ in r.requests] == ["/slack"]
    finally:
        r.stop()
    db.session.rollback()
    assert db.session.get(Notification, notice_id).status == "sent"


def test_the_connection_goes_to_the_address_checked_not_a_new_lookup(app):
    # A name that resolved to a public address when checked may resolve to an internal one a
    # moment later (DNS rebinding): the connection is pinned to what was checked. This name
    # resolves to nothing at all, so only the pinned address can have been used.
    r = Receiver()
    try:
        port = r.server.server_port
        target = destinations.Target("http", "rebound.invalid", port, "/pinned", ("127.0.0.1",))
        conn = destinations.connection(target, timeout=5)
        conn.request("POST", target.path, body=b"{}", headers={"Content-Type": "application/json"})
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        r.stop()
    [(path, headers, _)] = r.requests
    assert path == "/pinned" and headers["Host"] == f"rebound.invalid:{port}"


def test_a_redirect_is_a_failure_and_is_not_followed(app, company):
    elsewhere, redirecting = Receiver(), Receiver()
    try:
        redirecting.status, redirecting.location = 302, f"{elsewhere.url}/steal"
        hook = Webhook(
            company_id=company, kind="generic", url=f"{redirecting.url}/hook", secret=SECRET
        )
        db.session.add(hook)
        db.session.commit()
        with pytest.raises(webhooks.WebhookFailed) as failed:
            webhooks.send_test(hook)
    finally:
        elsewhere.stop()
        redirecting.stop()
    assert str(failed.value) == "HTTP 302: redirects are not followed"
    assert len(redirecting.requests) == 1
    assert elsewhere.requests == []  # neither the body nor the signature went there


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_failure_is_recorded_in_generic_words_not_socket_or_receiver_text(
    app, company, work, receiver
):
    # "Connection refused" against "timed out" against an answer mapped what listened where;
    # the receiver's own text (its reason phrase, its body) went to Operations and RQ.
    receiver.status, receiver.reason = 500, "Oops <img src=x onerror=alert(1)>"
    receiver.answer = b"<img src=x onerror=alert(1)> internal detail"
    _only_slack(company, f"http://127.0.0.1:{_closed_port()}/closed")
    lc.activate(company, make_service(company), "test")
    work()
    errors = {
        n.recipient: n.error
        for n in db.session.scalars(select(Notification).where(Notification.channel != "email"))
    }
    by_path = {
        h.url.rsplit("/", 1)[1]: f"webhook:{h.id}" for h in db.session.scalars(select(Webhook))
    }
    assert errors[by_path["teams"]] == "WebhookFailed: HTTP 500"
    assert errors[by_path["closed"]] == (
        "WebhookFailed: no answer: host not found, connection refused or timed out"
    )
    assert not any("Errno" in e or "img" in e or "Oops" in e for e in errors.values())


# --- flask webhooks add --------------------------------------------------------------------


def test_the_cli_refuses_an_internal_url_and_saves_nothing(app, runner, company, default_policy):
    result = runner.invoke(
        args=["webhooks", "add", "--kind", "slack", "--url", "http://127.0.0.1:6379"]
    )
    assert result.exit_code == 2 and "not a public address" in result.output
    result = runner.invoke(
        args=["webhooks", "add", "--kind", "slack", "--url", "https://u:p@8.8.8.8/x"]
    )
    assert result.exit_code == 2 and "user name and password" in result.output
    assert db.session.scalars(select(Webhook)).all() == []


def test_the_cli_adds_a_public_webhook(app, runner, company, default_policy):
    result = runner.invoke(
        args=["webhooks", "add", "--kind", "generic", "--url", "https://8.8.8.8/hook"]
    )
    assert result.exit_code == 2 and "secret" in result.output
    args = ["webhooks", "add", "--kind", "generic", "--url", "https://8.8.8.8/hook"]
    result = runner.invoke(args=[*args, "--secret", SECRET])
    assert result.exit_code == 0, result.output
    [hook] = db.session.scalars(select(Webhook)).all()
    assert (hook.url, hook.secret, hook.active) == ("https://8.8.8.8/hook", SECRET, True)


RECEIVER_ISH = "http://127.0.0.1:9"  # allowed by the tests' config; never called here


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's single write lock")
def test_the_cli_waits_for_the_write_lock_while_workers_write(app, runner, company):
    # It read, then asked for the lock: while a worker held it, SQLite refuses the upgrade of
    # a snapshot that the worker's commit made stale ("database is locked", 8 times in 10).
    stop = threading.Event()
    path = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database

    def worker_writes():
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        while not stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE companies SET name = name WHERE id = ?", (company,))
            time.sleep(0.02)
            conn.execute("COMMIT")
            time.sleep(0.002)
        conn.close()

    thread = threading.Thread(target=worker_writes, daemon=True)
    thread.start()
    try:
        results = [
            runner.invoke(
                args=["webhooks", "add", "--kind", "slack", "--url", f"{RECEIVER_ISH}/{n}"]
            )
            for n in range(10)
        ]
    finally:
        stop.set()
        thread.join(timeout=10)
    assert [r.output or repr(r.exception) for r in results if r.exit_code != 0] == []
    db.session.rollback()
    assert len(db.session.scalars(select(Webhook)).all()) == 10
