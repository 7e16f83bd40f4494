"""`make run` seeds the demo; `make run DEMO=0` starts empty and prints the setup address.

The Procfile's web line is run by a shell as honcho runs it, with stand-ins for `flask` and
`gunicorn` that say what they were asked (which branch runs), and once for real up to gunicorn
against a new SQLite database (it stays empty and prints a working address)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from webapp import create_app
from webapp.accounts.models import User
from webapp.clients.models import Client
from webapp.company.models import Company
from webapp.extensions import db
from webapp.services.models import ClientService

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def web_command() -> str:
    procfile = (ROOT / "Procfile").read_text()
    return re.search(r"^web: (.+)$", procfile, re.MULTILINE).group(1)


@pytest.fixture
def stand_ins(tmp_path):
    """`flask` and `gunicorn` that print their arguments, first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("flask", "gunicorn"):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\necho "{name} $*"\n')
        script.chmod(0o755)
    return bin_dir


def run_web_line(stand_ins, **env) -> list[str]:
    done = subprocess.run(
        ["sh", "-c", web_command()],
        env={"PATH": f"{stand_ins}:/usr/bin:/bin", "WEB_PORT": "5000", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.splitlines()


def test_the_web_process_seeds_the_demo_by_default(stand_ins):
    expected = "flask seed-demo --if-empty --wait"
    assert run_web_line(stand_ins)[0] == expected
    assert run_web_line(stand_ins, DEMO="1")[0] == expected


def test_with_demo_0_the_web_process_prints_the_setup_address_instead(stand_ins):
    ran = run_web_line(stand_ins, DEMO="0")
    assert ran[0] == "flask setup-token --base http://127.0.0.1:5000"
    assert ran[1].startswith("gunicorn ")
    assert not any("seed-demo" in line for line in ran)


def make_dry_run(*args) -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", *args],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in ("DEMO", "SETUP_TOKEN")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_make_run_demo_0_makes_a_fresh_token_before_honcho_starts():
    recipe = make_dry_run("DEMO=0")
    token_at = recipe.index("flask setup-token --new --base http://127.0.0.1:")
    assert token_at < recipe.index("honcho start")
    assert "demo sign-ins" not in recipe


def test_make_run_without_the_flag_keeps_the_demo():
    recipe = make_dry_run()
    assert "setup-token" not in recipe
    assert "demo sign-ins are printed below" in recipe


def test_make_run_gives_every_process_the_same_token_file_and_the_demo_flag():
    makefile = (ROOT / "Makefile").read_text()
    assert "run: export SETUP_TOKEN_FILE := $(CURDIR)/instance/setup_token" in makefile
    assert re.search(r"^export .*\bDEMO\b", makefile, re.MULTILINE)


def test_the_demo_0_start_leaves_the_database_empty_and_prints_a_working_address(tmp_path):
    """The web line for real, up to gunicorn: migrate, then what the Procfile runs first."""
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "FLASK_APP": "wsgi",
        "DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db",
        "SETUP_TOKEN_FILE": str(tmp_path / "setup_token"),
        "DEMO": "0",
        "WEB_PORT": "5000",
    }
    env.pop("SETUP_TOKEN", None)
    subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=120,
    )
    before_gunicorn = web_command().split(" && gunicorn")[0]
    done = subprocess.run(
        ["sh", "-c", before_gunicorn],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-800:]
    token = (tmp_path / "setup_token").read_text().strip()
    assert f"Open http://127.0.0.1:5000/setup?token={token} to create your company" in done.stdout

    # The address opens the setup form of that empty database.
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"],
            "TESTING": True,
            "SETUP_TOKEN": "",
            "SETUP_TOKEN_FILE": env["SETUP_TOKEN_FILE"],
        }
    )
    with app.app_context():
        for table in (Company, User, Client, ClientService):
            assert db.session.scalar(select(func.count()).select_from(table)) == 0, table
        browser = app.test_client()
        assert browser.get(f"/setup?token={token}").status_code == 200
        assert browser.get("/setup?token=guessed").status_code == 404
        db.session.remove()
        db.engine.dispose()
