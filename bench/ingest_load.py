"""The load generator for bench.ingest: locust replaying a prepared list of requests once.

bench.ingest runs this in a process of its own (`python -m locust -f bench/ingest_load.py
--headless --users N ...`), so the load is made outside the server's processes. It reads:

  INGEST_REQUESTS  a JSON file [[method, path, body or null], ...]: each is sent exactly once,
                   by whichever user is free, and the run ends when the last is answered
                   (or at --run-time, whichever is first)
  INGEST_TOKEN     the company's API token, sent as a bearer token
  INGEST_OUT       where to write, per request answered: [start (epoch s), latency (ms),
                   status, body (only with INGEST_KEEP_BODY=1)]

Latencies are timed here rather than read from locust's statistics, whose percentiles are
rounded to two significant digits; locust's own summary is still printed to its log.
"""

import json
import os
import time

import gevent
from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser

with open(os.environ["INGEST_REQUESTS"]) as f:
    REQUESTS = json.load(f)
HEADERS = {
    "Authorization": f"Bearer {os.environ['INGEST_TOKEN']}",
    "Content-Type": "application/json",
}
KEEP_BODY = os.environ.get("INGEST_KEEP_BODY") == "1"

answered: list = []
state = {"next": 0, "in_flight": 0}


class Replay(FastHttpUser):
    wait_time = constant(0)  # a closed loop: each user sends its next request on an answer

    @task
    def send(self):
        if state["next"] >= len(REQUESTS):
            raise StopUser()
        method, path, body = REQUESTS[state["next"]]
        state["next"] += 1
        state["in_flight"] += 1
        started, clock = time.time(), time.perf_counter()
        try:
            with self.client.request(
                method,
                path,
                data=body,
                headers=HEADERS,
                name=path.split("?")[0].rstrip("0123456789"),
                catch_response=True,
            ) as response:
                latency = (time.perf_counter() - clock) * 1000
                status = response.status_code
                if not 200 <= status < 300:
                    response.failure(f"{status}: {(response.text or '')[:200]}")
                answered.append([started, latency, status, response.text if KEEP_BODY else None])
        finally:
            state["in_flight"] -= 1
        if state["next"] >= len(REQUESTS) and state["in_flight"] == 0:
            gevent.spawn(self.environment.runner.quit)  # every request has been answered


@events.quitting.add_listener
def _write(environment, **_):
    with open(os.environ["INGEST_OUT"], "w") as f:
        json.dump(answered, f)
