"""One worker for the pipeline benchmark, as `flask worker` runs it (a SimpleWorker on every
queue). With --burst it works until the queues are empty and prints when it started and
ended (epoch seconds, JSON), so several workers' wall time can be told apart from their
start-up; without it, it works until SIGTERM."""

import json
import sys
import time

from rq import SimpleWorker

from webapp import create_app
from webapp.pipeline.queues import all_queues, redis_connection

if __name__ == "__main__":
    burst = "--burst" in sys.argv
    app = create_app()
    with app.app_context():
        worker = SimpleWorker(all_queues(), connection=redis_connection())
        started = time.time()
        worker.work(burst=burst, logging_level="WARNING")
        print(json.dumps({"started": started, "ended": time.time()}))
        sys.exit(0)
