"""The web side as real processes, for the chaos tests: gunicorn, `flask worker` and
`flask scheduler`, and a client that signs in and posts the forms as a browser does.

Each process is started in its own process group, so a test can SIGKILL it (gunicorn's master
together with its workers) without reaching anything it did not start. Output goes to a log
file per process, which a failing check quotes.
"""

import contextlib
import http.client
import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.support.sessions import PASSWORD, csrf_from
from tools.embedded_redis import free_port

ROOT = Path(__file__).resolve().parents[2]
# What a request cut off by a killed server raises (refused, reset, closed mid-answer).
CUT_OFF = (OSError, http.client.HTTPException)
# The forms' own fields besides the CSRF token and the version the page was rendered with.
FORM_FIELDS = {
    "activate": {},
    "suspend": {"reason": "chaos: suspended by the test"},
    "resume": {},
    "renew": {"months": "1"},
    "cancel": {"reason": "chaos: cancelled by the test", "when": "now"},
}
VERSION_SHOWN = re.compile(r"<dt>Version</dt><dd>(\d+)</dd>")


def process_env(database_url: str, redis_url: str, **settings) -> dict[str, str]:
    """The environment `make run` gives its processes, on this database and Redis."""
    return {
        **os.environ,
        "FLASK_APP": "wsgi",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "chaos-tests-only",
        "LOGIN_RATE_LIMIT": "10000 per minute",
        "MAIL_SERVER": "",
        "MAILBOX_DIR": "",
        # The daily bill run, due the moment a scheduler starts, would invoice (and mail)
        # the services these tests make beside the effects they count; its own faults are
        # tests/chaos/test_bill_run_faults.py.
        "BILL_RUN_SCHEDULED": "0",
        **{name: str(value) for name, value in settings.items()},
    }


class Process:
    """One command in its own process group, its output in `logdir/name.log`."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logdir: Path):
        self.name, self.argv, self.env = name, argv, env
        self.log_path = Path(logdir) / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> "Process":
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole group: no handler runs, as when the machine loses the process."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)
        self.popen = None

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (a graceful stop), then SIGKILL to the group if it does not end in time."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        self.kill()

    def log(self, last: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-last:] if self.log_path.exists() else ""


class Gunicorn(Process):
    """gunicorn serving wsgi:app on a loopback port, as `make run` serves it."""

    def __init__(
        self, env: dict[str, str], logdir: Path, workers: int = 2, port: int | None = None
    ):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--log-level",
            "warning",
            "wsgi:app",
        ]
        super().__init__("gunicorn", argv, env, logdir)

    def start(self, timeout: float = 60) -> "Gunicorn":
        super().start()
        self.wait_until_serving(timeout)
        return self

    def wait_until_serving(self, timeout: float = 60) -> None:
        """Any answer from /healthz will do: it says 503 while Redis is down, and still serves."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=5):
                    return
            except urllib.error.HTTPError:
                return
            except CUT_OFF:
                if not self.alive():
                    raise RuntimeError(f"gunicorn exited:\n{self.log()}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not serve in time:\n{self.log()}") from None
                time.sleep(0.1)

    def worker_pids(self) -> list[int]:
        try:
            return [p.pid for p in psutil.Process(self.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def kill_worker(self, pid: int) -> bool:
        """SIGKILL one of this gunicorn's workers (the master starts another); False if gone."""
        if pid not in self.worker_pids():
            return False
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True


class Processes:
    """The processes one test starts, all stopped when it ends (last started, first stopped);
    on a failure their logs are printed, and pytest shows them with the failure."""

    def __init__(self, logdir: Path):
        self.logdir = Path(logdir)
        self.started: list[Process] = []

    def gunicorn(self, env: dict[str, str], workers: int = 2) -> Gunicorn:
        server = Gunicorn(env, self.logdir, workers)
        self.started.append(server)
        return server.start()

    def flask(self, name: str, args: list[str], env: dict[str, str]) -> Process:
        process = Process(name, [sys.executable, "-m", "flask", *args], env, self.logdir)
        self.started.append(process)
        return process.start()

    def __enter__(self) -> "Processes":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        for process in reversed(self.started):
            process.stop()
        if exc_type is not None:
            for process in self.started:
                print(f"---- {process.name} log (last lines) ----\n{process.log()}")


@dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to look at (sign-in's 302), not something to follow."""

    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """One person's browser: its own cookies, and the CSRF token its pages carry."""

    def __init__(self, base_url: str, timeout: float = 60):
        self.base_url, self.timeout = base_url, timeout
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _KeepRedirects()
        )
        self.token = ""

    def request(self, method: str, path: str, form=None, headers=None) -> Answer:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=headers or {}
        )
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return Answer(response.status, response.read().decode(), dict(response.headers))
        except urllib.error.HTTPError as error:
            with error:
                return Answer(
                    error.code, error.read().decode(errors="replace"), dict(error.headers)
                )

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def sign_in(self, email: str, password: str = PASSWORD) -> "Browser":
        form = {
            "email": email,
            "password": password,
            "csrf_token": csrf_from(self.get("/login").body),
        }
        answer = self.request("POST", "/login", form)
        assert answer.status == 302, f"sign-in answered {answer.status}: {answer.body[:500]}"
        self.token = csrf_from(self.get("/").body)
        return self

    def htmx_post(self, path: str, form: dict) -> Answer:
        """A form posted the way the pages post it: by htmx, the token in X-CSRFToken."""
        headers = {"X-CSRFToken": self.token, "HX-Request": "true"}
        return self.request("POST", path, form, headers)

    def transition(self, service_id: int, action: str, version: int) -> Answer:
        """Press an action's button on the service's page rendered at `version`."""
        form = {"version": str(version), **FORM_FIELDS[action]}
        return self.htmx_post(f"/services/{service_id}/{action}", form)

    def version_shown(self, service_id: int) -> int:
        """The version the service's page shows (what its forms carry after a reload)."""
        answer = self.get(f"/services/{service_id}")
        match = VERSION_SHOWN.search(answer.body)
        assert answer.status == 200 and match, f"{answer.status}: {answer.body[:500]}"
        return int(match.group(1))


def poll(check, timeout: float, interval: float = 0.25, what: str = "the condition"):
    """check() until it returns something true, within `timeout` seconds; returns that."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
