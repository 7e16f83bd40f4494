"""Each API token's allowance (API_RATE_LIMIT): one token, however many addresses use it, cannot
post without end into the incident pipeline (each incident may mail and call webhooks), and
other tokens, of this company or another, are unaffected.

Counted per token after it is recognised, with the limiter's own strategy and storage (the
app's Redis): an unknown token is a 401 and spends nobody's allowance. When the storage cannot
be reached the request goes through, as the limiter's own limits do (RATELIMIT_SWALLOW_ERRORS).
"""

import logging
import math
import time

from flask import current_app
from limits import RateLimitItem, parse
from limits.errors import StorageError
from redis.exceptions import RedisError

from webapp.api.errors import ApiError
from webapp.extensions import limiter

log = logging.getLogger(__name__)


def allowance(app) -> RateLimitItem:
    """The configured limit; a malformed one stops the app at start rather than each request."""
    try:
        return parse(app.config["API_RATE_LIMIT"])
    except ValueError:
        raise ValueError(
            f"API_RATE_LIMIT={app.config['API_RATE_LIMIT']!r} is not a rate limit; "
            "write it like '600 per minute'."
        ) from None


def spend(token_id: int) -> None:
    """Count one request of the token, or raise a 429 saying when it may ask again."""
    if not limiter.enabled:  # RATELIMIT_ENABLED=False turns every limit off, this one too
        return
    item = allowance(current_app)
    key = ("api-token", str(token_id))
    try:
        if limiter.limiter.hit(item, *key):
            return
        reset_at = limiter.limiter.get_window_stats(item, *key).reset_time
    except (RedisError, StorageError):
        log.warning("API rate limit unavailable (storage): request let through")
        return
    seconds = max(1, math.ceil(reset_at - time.time()))
    raise ApiError(
        429,
        f"This token has used its allowance of {item}; try again in {seconds} seconds.",
        {"Retry-After": str(seconds)},
    )
