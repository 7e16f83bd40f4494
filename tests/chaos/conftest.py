"""Fixtures for fault injection: real `flask` processes (worker, scheduler) that a test can kill.

Each process gets the test app's DATABASE_URL and REDIS_URL (and whatever else the test passes)
and runs in a process group of its own, so a kill takes everything it started with it (a
worker's RQ scheduler child too), as the kernel's OOM killer or a lost host would.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class FlaskProcess:
    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.args = args
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flask", *args],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: killpg reaches its children
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL to the whole group: no handler runs, nothing is cleaned up."""
        self.signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM, and SIGKILL if it has not ended within `timeout`."""
        if self.alive():
            self.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        self.kill()  # the group may still hold children of a process that ended

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def flask_process(app, tmp_path):
    """Start `flask <args>` against the test app's database and Redis; all stopped at the end.

    `flask_process("worker", MAIL_PORT="2525")`: extra keyword arguments become environment
    variables of the process (the app reads its configuration from the environment).
    """
    started: list[FlaskProcess] = []

    def start(*args: str, **env: str) -> FlaskProcess:
        environment = {
            **os.environ,
            "FLASK_APP": "wsgi",
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": app.config["REDIS_URL"],
            "MAIL_SERVER": "",
            "MAILBOX_DIR": "",
            **{k: str(v) for k, v in env.items()},
        }
        log = tmp_path / f"{args[0]}-{len(started)}.log"
        process = FlaskProcess(list(args), environment, log)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop(timeout=5)


def wait_until(condition, timeout: float, interval: float = 0.1, what: str = "", fail=True):
    """Poll `condition` until it returns something truthy; after `timeout` seconds fail, or
    with fail=False return the last (falsy) value so the test can count what is missing."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            if not fail:
                return value
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
