"""SECRET_KEY is required outside tests: no built-in key anyone could read and forge with."""

import os
import subprocess
import sys

import pytest

from webapp import ConfigurationError, create_app
from webapp.config import secret_key_from_environment

NO_DB = {"SQLALCHEMY_DATABASE_URI": "sqlite://"}


def test_the_app_refuses_to_start_without_a_key():
    with pytest.raises(ConfigurationError, match="SECRET_KEY is not set") as refused:
        create_app({**NO_DB, "SECRET_KEY": None})
    assert "secrets.token_hex(32)" in str(refused.value)  # says how to make one


def test_a_short_key_is_refused():
    with pytest.raises(ConfigurationError, match="at least 16"):
        create_app({**NO_DB, "SECRET_KEY": "secret"})


def test_a_testing_app_without_a_key_gets_a_random_one():
    first = create_app({**NO_DB, "SECRET_KEY": None, "TESTING": True})
    second = create_app({**NO_DB, "SECRET_KEY": None, "TESTING": True})
    assert len(first.secret_key) == 64
    assert first.secret_key != second.secret_key


def test_the_key_comes_from_the_environment_first_then_the_file(tmp_path, monkeypatch):
    key_file = tmp_path / "secret_key"
    key_file.write_text("from-the-file-0123456789\n")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY_FILE", str(key_file))
    assert secret_key_from_environment() == "from-the-file-0123456789"
    monkeypatch.setenv("SECRET_KEY", "from-the-environment-0123")
    assert secret_key_from_environment() == "from-the-environment-0123"
    monkeypatch.delenv("SECRET_KEY")
    monkeypatch.delenv("SECRET_KEY_FILE")
    assert secret_key_from_environment() is None


def _flask(env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SECRET_KEY_FILE")}
    env.update(env_changes, FLASK_APP="wsgi", DATABASE_URL="sqlite://")
    return subprocess.run(
        [sys.executable, "-m", "flask", "routes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_process_started_without_a_key_stops_and_says_why():
    done = _flask({})
    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr


def test_a_process_reads_the_key_file_make_run_writes(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text("0123456789abcdef0123456789abcdef\n")
    done = _flask({"SECRET_KEY_FILE": str(key_file)})
    assert done.returncode == 0, done.stderr
    assert "/healthz" in done.stdout
