"""How fast anyone may guess an account's password: a back-off per account that only wrong
passwords earn and a right one clears.

Theory of operation. Every check of a password against an account (signing in, or the current
password when changing it) first takes an attempt. The first LOGIN_ACCOUNT_FREE_FAILURES are
free; each one after that makes the account wait (LOGIN_ACCOUNT_BACKOFF_SECONDS, doubling with
each further failure, at most LOGIN_ACCOUNT_BACKOFF_MAX_SECONDS) before its password is checked
again. The attempt is counted before the password is checked, so a burst of parallel guesses
cannot all slip in ahead of the first count, and a right password deletes the record: successes
never count. The longest wait is a few minutes: once the guessing stops, its owner waits at most
that long in a browser new to the account (a fixed "30 per hour" per account used to lock them
out for the hour, and counted their own sign-ins too). A record is forgotten a day after its
last attempt.

The account is the address as sign-in matches it (access.normal_email): "Tess@MSP.example " and
"tess@msp.example" share one record. Records are named by a hash of it, not the address itself
(people type passwords into the wrong field). They live in the app's Redis; when Redis cannot be
reached, passwords are checked unthrottled rather than nobody signing in, as with the limiter
(RATELIMIT_SWALLOW_ERRORS). Times come from webapp.clock, so tests move them.

The wait holds up strangers only. Anyone may keep it at its longest for as long as they like,
by typing a wrong password the moment each wait ends, so a browser that has signed in to the
account before (its device cookie, devices.py) is not subject to it: its attempts are counted on
the cookie instead, under the cookie's nonce, and after LOGIN_DEVICE_FAILURES of them the cookie
is trusted no more (a stolen one is a handful of guesses). A right password retires the nonce it
came with (the browser gets a new cookie), so that count needs no reset. Attempts refused for the
wait count against the client's address (LOGIN_RATE_LIMIT, views.py): polling for the end of a
wait is not free either.
"""

import datetime as dt
import hashlib
import logging
import math

from flask import current_app
from redis.exceptions import RedisError

from webapp.accounts import devices
from webapp.accounts.access import normal_email
from webapp.clock import utcnow
from webapp.pipeline.queues import redis_connection

log = logging.getLogger(__name__)

FORGOTTEN_AFTER = 24 * 3600

# KEYS[1]: the account's record. ARGV, times in whole milliseconds (exact in Lua's doubles): now,
# free failures, first wait, longest wait, forget after. Answers the milliseconds still to wait
# (the attempt refused, nothing counted), or 0 (the attempt counted).
_ATTEMPT = """
local now = tonumber(ARGV[1])
local waits_until = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if waits_until > now then
  return waits_until - now
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local free = tonumber(ARGV[2])
if failures >= free then
  local wait = math.min(tonumber(ARGV[3]) * 2 ^ (failures - free), tonumber(ARGV[4]))
  redis.call('HSET', KEYS[1], 'until', string.format('%d', now + wait))
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 0
"""

# KEYS[1]: a device cookie's record; ARGV[1]: forget after (ms). Answers how many attempts the
# cookie has made, this one included, or -1 once it is retired (its browser signed in since).
_DEVICE_ATTEMPT = """
if redis.call('HEXISTS', KEYS[1], 'retired') == 1 then
  return -1
end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return attempts
"""


class TooManyFailures(Exception):
    """The account's password is not checked now: too many wrong ones were typed lately."""

    def __init__(self, seconds: int):
        self.seconds = seconds
        super().__init__(
            "Too many wrong passwords were typed for this account. "
            f"Wait {for_how_long(seconds)} and try again."
        )


def for_how_long(seconds: float) -> str:
    """42 -> "42 seconds", 61 -> "2 minutes" (rounded up: never a wait that is too short)."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _record(email: str) -> str:
    return "signin-failures:" + hashlib.sha256(normal_email(email).encode()).hexdigest()


def _now_ms() -> int:
    return int(utcnow().replace(tzinfo=dt.UTC).timestamp() * 1000)


def _device_record(nonce: str) -> str:
    return "signin-device:" + hashlib.sha256(nonce.encode()).hexdigest()


def _device_forgotten_after_ms() -> int:
    return int(devices.LASTS.total_seconds()) * 1000


def _trusted(device: str) -> bool:
    """Does the device cookie with this nonce still have attempts to spare? This one is counted."""
    try:
        attempts = redis_connection().register_script(_DEVICE_ATTEMPT)(
            keys=[_device_record(device)], args=[_device_forgotten_after_ms()]
        )
    except RedisError:
        log.warning("sign-in back-off unavailable (Redis): checking the password unthrottled")
        return True
    return 0 < attempts <= current_app.config["LOGIN_DEVICE_FAILURES"]


def attempt(email: str, device: str | None = None) -> None:
    """Count an attempt at the account's password, or raise TooManyFailures while it must wait.

    `device`: the nonce of the browser's device cookie, when it is valid for this account
    (devices.presented_for); while it has attempts to spare, they are counted on it instead and
    the account's wait does not apply."""
    if device is not None and _trusted(device):
        return
    config = current_app.config
    longest = config["LOGIN_ACCOUNT_BACKOFF_MAX_SECONDS"]
    try:
        wait_ms = redis_connection().register_script(_ATTEMPT)(
            keys=[_record(email)],
            args=[
                _now_ms(),
                max(1, config["LOGIN_ACCOUNT_FREE_FAILURES"]),
                config["LOGIN_ACCOUNT_BACKOFF_SECONDS"] * 1000,
                longest * 1000,
                max(FORGOTTEN_AFTER, 2 * longest) * 1000,
            ],
        )
    except RedisError:
        log.warning("sign-in back-off unavailable (Redis): checking the password unthrottled")
        return
    if wait_ms > 0:
        raise TooManyFailures(math.ceil(wait_ms / 1000))


def succeeded(email: str, device: str | None = None) -> None:
    """The right password: the account's failures are forgotten, and the device cookie it came
    with (if any) is retired, its browser getting a new one (devices.trust)."""
    try:
        with redis_connection().pipeline() as pipe:
            pipe.delete(_record(email))
            if device is not None:
                pipe.hset(_device_record(device), "retired", 1)
                pipe.pexpire(_device_record(device), _device_forgotten_after_ms())
            pipe.execute()
    except RedisError:
        log.warning("sign-in back-off unavailable (Redis): failures not cleared")
