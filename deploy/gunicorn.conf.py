"""gunicorn settings for the web processes: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Every value can be set from the environment (the systemd units and supervisord read
deploy/msp-dashboard.env), so one file serves every host.
"""

import multiprocessing
import os
import shutil
from pathlib import Path

# Behind the load balancer or reverse proxy; 127.0.0.1 when the proxy runs on the same host.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Sync workers: requests are short database reads and writes; the live panels poll (/live)
# rather than hold a connection open. Each worker holds up to 5 (+10 overflow) database
# connections: see deploy/postgresql.md before raising this.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# A request that takes this long is stuck; its worker is replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# A worker is replaced after this many requests (with jitter, so not all at once): bounds
# whatever memory a long-lived process gathers.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10

# "-" is standard output, which journald or supervisord keeps.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Remote address, the client as the proxy saw it, request, status, size, time in microseconds.
access_log_format = '%(h)s %({x-forwarded-for}i)s "%(r)s" %(s)s %(b)s %(D)s'

# Addresses whose X-Forwarded-Proto gunicorn believes (for the request's scheme). The app
# reads X-Forwarded-For/-Proto/-Host itself through TRUSTED_PROXIES (werkzeug's ProxyFix).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# The app is imported in each worker after the fork, so no database connection or Redis
# socket is shared between processes.
preload_app = False


def _multiprocess_dir() -> Path | None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(path) if path else None


def on_starting(server):
    """Start with an empty metrics directory: files left by a previous run's workers would
    be added to this run's figures."""
    directory = _multiprocess_dir()
    if directory is None:
        return
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)


def child_exit(server, worker):
    """A worker that exits (max_requests, timeout, a deploy) leaves its counters in the
    directory, which keep counting in the totals; only its live gauges must be dropped."""
    if _multiprocess_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
