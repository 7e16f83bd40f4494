"""deploy/ stays true to the code: every setting documented, every command real, every file
accepted by the program that reads it (systemd, supervisord, gunicorn, a shell)."""

import getpass
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from supervisor.options import ServerOptions

from tools.embedded_redis import free_port

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
RELEASE_BIN = "/opt/msp-dashboard/.venv/bin/"
VENV_BIN = str(Path(sys.executable).parent) + "/"
ENV_READ = re.compile(r'environ\.get\(\s*"([A-Z_0-9]+)"')


def settings_read_from_environment(path: Path) -> set[str]:
    return set(ENV_READ.findall(path.read_text()))


def env_example_keys() -> set[str]:
    """Keys in the env example, set or commented out (`#KEY=`)."""
    text = (DEPLOY / "msp-dashboard.env.example").read_text()
    return set(re.findall(r"^#?([A-Z][A-Z_0-9]*)=", text, re.MULTILINE))


def test_the_env_example_lists_every_setting_and_nothing_else():
    config = settings_read_from_environment(ROOT / "webapp" / "config.py")
    gunicorn = settings_read_from_environment(DEPLOY / "gunicorn.conf.py")
    assert {"DATABASE_URL", "SECRET_KEY", "METRICS_TOKEN", "TRUSTED_PROXIES"} <= config
    listed = env_example_keys()
    assert config - listed == set(), "settings missing from deploy/msp-dashboard.env.example"
    assert gunicorn - {"PROMETHEUS_MULTIPROC_DIR"} - listed == set()
    assert listed - config - gunicorn - {"FLASK_APP"} == set(), "settings the code never reads"


def test_the_readme_configuration_table_has_a_row_per_setting():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") :]
    table = table[: table.index("\n## ")]
    for name in settings_read_from_environment(ROOT / "webapp" / "config.py"):
        assert f"`{name}`" in table, name


def test_a_shell_reads_the_env_example_as_systemd_does(tmp_path):
    """supervisord's commands source it with sh; quoted values must come out unquoted."""
    done = subprocess.run(
        ["sh", "-c", 'set -a; . "$1"; env', "sh", str(DEPLOY / "msp-dashboard.env.example")],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stderr == ""
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert values["FLASK_APP"] == "wsgi"
    assert values["REDIS_URL"].startswith("redis://")


def _unit(path: Path) -> dict[str, dict[str, str]]:
    """{section: {key: value}}; a key given twice (systemd allows it) keeps every value,
    one per line. configparser would refuse the repeat."""
    sections: dict[str, dict[str, str]] = {}
    current = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, value = line.split("=", 1)
        current[key] = f"{current[key]}\n{value}" if key in current else value
    return sections


def test_the_units_are_the_web_a_templated_worker_one_scheduler_and_migrations():
    names = {u.name for u in UNITS}
    assert names == {
        "msp-web.service",
        "msp-worker@.service",
        "msp-scheduler.service",
        "msp-migrate.service",
    }
    commands = {u.name: _unit(u)["Service"]["ExecStart"].removeprefix(RELEASE_BIN) for u in UNITS}
    assert commands == {
        "msp-web.service": "gunicorn -c deploy/gunicorn.conf.py wsgi:app",
        "msp-worker@.service": "flask worker",
        "msp-scheduler.service": "flask scheduler",
        "msp-migrate.service": "flask db upgrade",
    }
    web = _unit(DEPLOY / "systemd" / "msp-web.service")["Service"]
    assert "PROMETHEUS_MULTIPROC_DIR=/run/msp-web/" in web["Environment"]
    # Only the web processes serve requests: the others must not write request metrics.
    for unit in UNITS:
        if unit.name != "msp-web.service":
            assert "PROMETHEUS" not in unit.read_text(), unit.name


def test_systemd_accepts_the_units(tmp_path):
    """`systemd-analyze verify`, with the release's paths pointed at this virtualenv (it
    checks that each ExecStart exists). CI installs systemd; without it this fails."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is not installed (apt-get install systemd)"
    copies = []
    for unit in UNITS:
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace(RELEASE_BIN, VENV_BIN))
        copies.append(
            str(copy).replace("@.service", "@1.service") if "@" in unit.name else str(copy)
        )
    done = subprocess.run([analyze, "verify", *copies], capture_output=True, text=True, timeout=120)
    problems = [
        line for line in done.stderr.splitlines() if str(tmp_path) in line or "msp-" in line
    ]
    assert done.returncode == 0 and problems == [], done.stderr


def _flask_env(app) -> dict:
    return {
        **os.environ,
        "FLASK_APP": "wsgi",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
    }


def test_every_flask_command_in_deploy_is_a_real_cli_command(app):
    """Each `flask ...` of the units and supervisord.conf, asked for its --help by the real
    CLI (which knows `db` from Flask-Migrate as well as the app's own commands)."""
    texts = [u.read_text() for u in UNITS] + [(DEPLOY / "supervisord.conf").read_text()]
    found = {
        tuple(shlex.split(m.group(1)))
        for text in texts
        for m in re.finditer(r"(?:/|\s)flask ((?:[a-z][a-z-]*(?: |$))+)", text, re.MULTILINE)
    }
    assert {("worker",), ("scheduler",), ("db", "upgrade")} <= found
    for args in found:
        done = subprocess.run(
            [sys.executable, "-m", "flask", *args, "--help"],
            env=_flask_env(app),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert done.returncode == 0, (args, done.stderr[-500:])


def test_supervisord_accepts_its_config_with_the_same_processes(tmp_path):
    """Parsed by supervisord's own option parser (it refuses unknown users, so the user is
    this one here)."""
    fragment = tmp_path / "msp.conf"
    fragment.write_text(
        (DEPLOY / "supervisord.conf")
        .read_text()
        .replace("user = msp", f"user = {getpass.getuser()}")
    )
    main = tmp_path / "supervisord.conf"
    main.write_text(
        f"[supervisord]\nlogfile={tmp_path}/s.log\npidfile={tmp_path}/s.pid\n"
        f"[include]\nfiles={fragment}\n"
    )
    options = ServerOptions()
    options.realize(args=["-c", str(main)])
    (group,) = options.process_group_configs
    commands = {
        p.name: p.command.rsplit("exec .venv/bin/", 1)[1].rstrip("'") for p in group.process_configs
    }
    assert commands == {
        "web": "gunicorn -c deploy/gunicorn.conf.py wsgi:app",
        **{f"worker-{n}": "flask worker" for n in range(1, 5)},
        "scheduler": "flask scheduler",
    }
    web = next(p for p in group.process_configs if p.name == "web")
    assert "PROMETHEUS_MULTIPROC_DIR" in web.environment


def test_gunicorn_accepts_its_config_and_the_app_loads(app):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--check-config",
            "-c",
            "deploy/gunicorn.conf.py",
            "wsgi:app",
        ],
        env=_flask_env(app),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def _get(url: str, deadline: float) -> str:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _healthz_count(body: str) -> float:
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if (
                s.name == "msp_http_request_duration_seconds_count"
                and s.labels.get("endpoint") == "health.healthz"
            ):
                return s.value
    return 0


def test_under_gunicorn_metrics_add_up_every_worker_process(app, tmp_path):
    """Two gunicorn workers, multiprocess mode as the web unit sets it: every scrape, from
    whichever worker answers it, counts all the requests (a worker's own registry would
    count only its share). A stale file from an earlier run is cleared at start."""
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "histogram_999999.db").write_bytes(b"left from an earlier run")
    env = {
        **_flask_env(app),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "GUNICORN_ACCESS_LOG": str(tmp_path / "access.log"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _get(base + "/healthz", time.monotonic() + 60)  # up; this request counts too

        def hit():
            for _ in range(10):
                _get(base + "/healthz", time.monotonic() + 30)

        threads = [threading.Thread(target=hit) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        counts = [_healthz_count(_get(base + "/metrics", time.monotonic() + 30)) for _ in range(4)]
    finally:
        os.killpg(server.pid, 15)
        _, stderr = server.communicate(timeout=60)
    assert counts == [31] * 4, stderr.decode()[-2000:]
    assert not (metrics_dir / "histogram_999999.db").exists()
    assert "GET /healthz" in (tmp_path / "access.log").read_text()  # the access log is kept
