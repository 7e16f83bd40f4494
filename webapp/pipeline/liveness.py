"""Which worker processes are alive: each beats a short-lived key in Redis from a thread.

RQ's own registration is no proof of life. A worker killed by SIGKILL (or the OOM killer, or
a lost host) keeps its record until its TTL runs out: 420 s when idle, the job's timeout plus
a grace while it runs one, and an idle worker refreshes it only between its long blocking
waits for work. /healthz counted 12 workers for about seven minutes after 10 of them were
killed. A beat every WORKER_HEARTBEAT_SECONDS from a thread of the worker's process, that
runs out after three missed beats, is gone within seconds of the process, whatever the
process was doing; and it beats while the worker's start-up relay runs, before RQ knows it.
"""

import contextlib
import logging
import os
import socket
import threading
import time
import uuid

from flask import Flask, current_app
from redis.exceptions import RedisError

from webapp.pipeline.queues import redis_connection

log = logging.getLogger(__name__)

# {process: the time its beat runs out}, and {process: the RQ worker it runs}: reading the
# live ones is one range of a sorted set, not a scan of Redis's keys.
ALIVE_KEY = "dashboard:workers:alive"
NAMES_KEY = "dashboard:workers:names"
MISSED_BEATS = 3


class Pulse:
    """A worker process's beat. `rq_name` is the RQ worker it runs now (None while it starts)."""

    def __init__(self, app: Flask | None = None):
        self.app = app or current_app._get_current_object()
        self.every = self.app.config["WORKER_HEARTBEAT_SECONDS"]
        self.ident = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.rq_name: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-pulse", daemon=True)

    def start(self) -> "Pulse":
        self.beat()
        self._thread.start()
        return self

    def beat(self) -> None:
        with self.app.app_context():
            try:
                conn = redis_connection()
                now = time.time()
                dead = conn.zrangebyscore(ALIVE_KEY, "-inf", now)
                with conn.pipeline() as pipe:
                    pipe.zadd(ALIVE_KEY, {self.ident: now + self.every * MISSED_BEATS})
                    pipe.hset(NAMES_KEY, self.ident, self.rq_name or "")
                    if dead:  # others whose beat ran out: nobody else tidies them
                        pipe.zrem(ALIVE_KEY, *dead)
                        pipe.hdel(NAMES_KEY, *dead)
                    pipe.execute()
            except RedisError as exc:  # Redis away: the beat resumes when it is back
                log.debug("worker pulse: %s", exc)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.beat()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every + 5)
        # Redis away: its entry runs out on its own.
        with self.app.app_context(), contextlib.suppress(RedisError):
            conn = redis_connection()
            conn.zrem(ALIVE_KEY, self.ident)
            conn.hdel(NAMES_KEY, self.ident)


def live_workers(conn) -> list[dict]:
    """Each live worker process: its host, pid, and the RQ worker it runs ('' while it starts)."""
    idents = [i.decode() for i in conn.zrangebyscore(ALIVE_KEY, time.time(), "+inf")]
    names = conn.hmget(NAMES_KEY, idents) if idents else []
    found = []
    for ident, name in zip(idents, names, strict=True):
        host, pid, _ = ident.rsplit(":", 2)
        found.append({"host": host, "pid": int(pid), "rq_name": (name or b"").decode()})
    return sorted(found, key=lambda w: (w["host"], w["pid"]))
