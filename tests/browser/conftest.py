"""The real app in a browser: gunicorn, an RQ worker process, real Redis, Debian's Chromium.

CI fails (not skips) when Chromium is missing: .ci/run installs it.
"""

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tools.embedded_redis import free_port

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORDS = {
    "admin": ("admin@example.com", "demo-admin"),
    "manager": ("manager@example.com", "demo-manager"),
    "tech": ("tech@example.com", "demo-tech"),
    "viewer": ("viewer@example.com", "demo-viewer"),
}


class LiveApp:
    def __init__(self, env, url):
        self.env, self.url = env, url

    def flask(self, *args) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "flask", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="session")
def live_app(redis_server):
    tmp = tempfile.mkdtemp(prefix="browser-")
    port = free_port()
    env = {
        **os.environ,
        "FLASK_APP": "wsgi",
        "DATABASE_URL": f"sqlite:///{tmp}/browser.db",
        # Its own Redis database: the other tests empty database 0 after each test.
        "REDIS_URL": redis_server.url.rsplit("/", 1)[0] + "/1",
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "DELIVERY_RETRY_INTERVALS": "1,1",
        "MAIL_SERVER": "",
        # /mailbox shows this folder (nothing delivers to it unless a test does).
        "MAILBOX_DIR": f"{tmp}/mailbox",
    }
    live = LiveApp(env, f"http://127.0.0.1:{port}")
    live.flask("db", "upgrade")
    live.flask("seed-demo")
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "wsgi:app",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "flask", "worker"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(live.url + "/healthz", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    yield live
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=20)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import expect

    expect.set_options(timeout=10_000)  # a loaded CI machine; the 5 s live check sets its own
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: install Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def sign_in(browser, live_app):
    """Pages signed in as one of the demo users. Whatever the test does, no page may break
    the Content-Security-Policy: Chromium reports each refusal on the console."""
    contexts, refused = [], []

    def open_as(who: str, width=1280, height=900):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.on(
            "console",
            lambda message: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        page.set_default_timeout(10_000)
        page.goto(live_app.url + "/login")
        email, password = PASSWORDS[who]
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(live_app.url + "/")
        return page

    yield open_as
    for context in contexts:
        context.close()
    assert not refused, "\n".join(refused)


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
