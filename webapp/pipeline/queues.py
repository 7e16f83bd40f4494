"""Redis and RQ queues for the app, built from REDIS_URL once per app."""

from flask import current_app
from redis import Redis
from rq import Queue

from webapp.lifecycle.registry import QUEUES


def redis_connection() -> Redis:
    ext = current_app.extensions
    if "redis" not in ext:
        ext["redis"] = Redis.from_url(
            current_app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5
        )
    return ext["redis"]


def queue(name: str) -> Queue:
    return Queue(name, connection=redis_connection())


def all_queues() -> list[Queue]:
    return [queue(name) for name in QUEUES]
