"""How every process reaches Redis: at REDIS_URL, or through Sentinel when REDIS_SENTINELS is set.

With Sentinel the client asks the Sentinels for the current primary before each new connection
(redis-py's Sentinel.master_for). When the primary dies, connections to it fail, the next one
asks again, and once the Sentinels have promoted the replica every process (web, workers,
scheduler, sign-in and API limits, /healthz) talks to the new primary without a restart. A demoted
primary that still answers refuses writes; redis-py turns that into a ConnectionError too, so
the same reconnection applies.

Commands sent while no primary is known fail like a Redis outage (ConnectionError): the
transitions committed meanwhile wait in the outbox for the relay, and the workers and the
scheduler wait for Redis and carry on (webapp.pipeline.worker).
"""

from redis import Redis
from redis.sentinel import Sentinel, SentinelManagedConnection

# Fail fast enough that a request or a health check is not held up by an unreachable Redis.
TIMEOUTS = {"socket_connect_timeout": 2, "socket_timeout": 5}


class _SentinelConnection(SentinelManagedConnection):
    """A connection to the primary that is closed when a read is cut short, as a direct one is.

    redis-py's Sentinel connection keeps it open instead (redis/redis-py#4292), with the reply
    still to come: the next command on it reads that reply as its own. A worker asked to stop
    while it waits for a job (RQ interrupts the blocking pop) then hung on its own sign-off
    until the pop's timeout, minutes later; any other interrupted read would hand a command
    the wrong answer. PubSub passes its own value, so subscriptions are unchanged.
    """

    def read_response(self, *args, disconnect_on_error=True, **kwargs):
        return super().read_response(*args, disconnect_on_error=disconnect_on_error, **kwargs)


def sentinel_addresses(value: str) -> list[tuple[str, int]]:
    """REDIS_SENTINELS as (host, port) pairs; ValueError saying what is wrong."""
    addresses = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        host, _, port = item.rpartition(":")
        host = host.strip("[]")  # an IPv6 address may be written [::1]:26379
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"REDIS_SENTINELS: {item!r} is not host:port; list the Sentinels as"
                " host:port,host:port (for example 10.0.0.5:26379,10.0.0.6:26379,10.0.0.7:26379)."
            )
        addresses.append((host, int(port)))
    return addresses


def check(config) -> None:
    """ValueError when the Redis settings cannot work, so a process refuses to start."""
    if not config.get("REDIS_SENTINELS"):
        return
    sentinel_addresses(config["REDIS_SENTINELS"])
    if not config.get("REDIS_SENTINEL_MASTER"):
        raise ValueError(
            "REDIS_SENTINELS is set but REDIS_SENTINEL_MASTER is not: set it to the name the"
            " Sentinels monitor the primary by (`sentinel monitor NAME ...` in sentinel.conf)."
        )


def _primary_options(config) -> dict:
    """The primary's database and password (REDIS_URL's host, database and password are not
    used with Sentinel)."""
    return {"db": int(config.get("REDIS_DB", 0)), "password": config.get("REDIS_PASSWORD") or None}


def _sentinel_options(config) -> dict:
    return {**TIMEOUTS, "password": config.get("REDIS_SENTINEL_PASSWORD") or None}


def connect(config) -> Redis:
    """A client for the app's Redis; the only place one is built (see webapp.pipeline.queues)."""
    if not config.get("REDIS_SENTINELS"):
        return Redis.from_url(config["REDIS_URL"], **TIMEOUTS)
    sentinel = Sentinel(
        sentinel_addresses(config["REDIS_SENTINELS"]),
        sentinel_kwargs=_sentinel_options(config),
        **TIMEOUTS,
        **_primary_options(config),
    )
    return sentinel.master_for(
        config["REDIS_SENTINEL_MASTER"], connection_class=_SentinelConnection
    )


def limiter_storage(config) -> tuple[str, dict]:
    """Flask-Limiter's storage settings: the limits package's Redis storage on a pool from
    connect(), so the sign-in limits follow a failover like everything else.

    The pool is always given (Flask-Limiter merges each app's storage options into the ones
    before; a pool left from another app in the same process would otherwise be used)."""
    uri = "redis://" if config.get("REDIS_SENTINELS") else config["REDIS_URL"]
    return uri, {"connection_pool": connect(config).connection_pool}
