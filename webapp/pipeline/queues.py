"""Redis and RQ queues for the app; the client is built once per app (webapp.redis_client)."""

from flask import current_app
from redis import Redis
from rq import Queue

from webapp import redis_client
from webapp.lifecycle.registry import QUEUES


def redis_connection() -> Redis:
    ext = current_app.extensions
    if "redis" not in ext:
        ext["redis"] = redis_client.connect(current_app.config)
    return ext["redis"]


def queue(name: str) -> Queue:
    return Queue(name, connection=redis_connection())


def all_queues() -> list[Queue]:
    return [queue(name) for name in QUEUES]
