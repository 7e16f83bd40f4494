"""Which company the demo seed is playing history for at this moment.

`make run` starts the seed, the worker and the scheduler together, and the scheduler's daily
bill run is due the moment it starts. Billed for today halfway through the seed, the demo
company's remaining nightly runs of the past year would all be refused (runs go forward): the
daily job leaves a company alone while it is marked here, and the seed's own last run bills
today. The mark expires by itself, should the seed die before it is taken off. Without Redis
there is no mark, and no job either to run a bill run meanwhile."""

from contextlib import suppress

from redis.exceptions import RedisError

from webapp.pipeline.queues import redis_connection

KEY = "dashboard:demo:seeding:{}"
EXPIRES_SECONDS = 600  # far longer than a seed takes


def mark(company_id: int) -> None:
    with suppress(RedisError):
        redis_connection().set(KEY.format(company_id), 1, ex=EXPIRES_SECONDS)


def unmark(company_id: int) -> None:
    with suppress(RedisError):
        redis_connection().delete(KEY.format(company_id))


def in_progress(company_id: int) -> bool:
    """False when Redis does not answer: no mark then, and the daily job bills every company
    rather than none."""
    try:
        return bool(redis_connection().exists(KEY.format(company_id)))
    except RedisError:
        return False
