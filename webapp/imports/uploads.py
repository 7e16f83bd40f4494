"""An uploaded file between its dry run and its commit: kept in the app's Redis for an hour.

Why Redis: the commit may reach another gunicorn worker, or another web host behind the load
balancer, than the dry run did; they all share the app's one Redis (DESIGN.md, scale-out), not
a directory such as instance/. Re-posting the file in a signed hidden field would send up to
5 MB to the browser and back, past the 500 kB Werkzeug accepts in a form field. The key is
random and names the company, so one company's token never reaches another's file, and it
expires by itself when nobody commits.
"""

import contextlib
import re
import secrets
import zlib
from dataclasses import dataclass

from redis.exceptions import RedisError

from webapp.pipeline.queues import redis_connection

KEEP_SECONDS = 3600

_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")


class UploadUnavailable(Exception):
    """Redis cannot keep (or give back) the file: the dry run stands, the commit waits."""


@dataclass(frozen=True)
class Upload:
    kind: str
    filename: str
    content: bytes


def _key(company_id: int, token: str) -> str:
    return f"imports:{company_id}:{token}"


def keep(company_id: int, upload: Upload) -> str:
    """Store the file; returns the token its commit form carries."""
    token = secrets.token_urlsafe(24)
    try:
        with redis_connection().pipeline() as pipe:
            pipe.hset(
                _key(company_id, token),
                mapping={
                    "kind": upload.kind,
                    "filename": upload.filename,
                    "content": zlib.compress(upload.content, 1),
                },
            )
            pipe.expire(_key(company_id, token), KEEP_SECONDS)
            pipe.execute()
    except RedisError as exc:
        raise UploadUnavailable(str(exc)) from None
    return token


def fetch(company_id: int, token: str) -> Upload | None:
    """The file kept under `token` for this company; None when there is none (expired,
    committed already, another company's, or a token we never gave)."""
    if not _TOKEN.fullmatch(token or ""):
        return None
    try:
        found = redis_connection().hgetall(_key(company_id, token))
    except RedisError as exc:
        raise UploadUnavailable(str(exc)) from None
    if not found:
        return None
    return Upload(
        found[b"kind"].decode(), found[b"filename"].decode(), zlib.decompress(found[b"content"])
    )


def forget(company_id: int, token: str) -> None:
    """After a commit: the same token cannot commit the file twice (it would change nothing,
    but the page would say it imported again)."""
    with contextlib.suppress(RedisError):  # else it expires by itself
        redis_connection().delete(_key(company_id, token))
