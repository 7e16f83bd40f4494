"""Run one burst worker in this process and print how long it worked, as JSON."""

import json
import sys
import time

from rq import SimpleWorker

from webapp import create_app
from webapp.queues import all_queues, redis_connection

if __name__ == "__main__":
    app = create_app()
    with app.app_context():
        worker = SimpleWorker(all_queues(), connection=redis_connection())
        started = time.perf_counter()
        worker.work(burst=True, logging_level="WARNING")
        print(json.dumps({"seconds": time.perf_counter() - started}))
        sys.exit(0)
