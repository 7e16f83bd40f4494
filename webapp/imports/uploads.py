"""An uploaded file between its dry run and its commit: kept in the app's Redis for an hour.

Why Redis: the commit may reach another gunicorn worker, or another web host behind the load
balancer, than the dry run did; they all share the app's one Redis (DESIGN.md, scale-out), not
a directory such as instance/. Re-posting the file in a signed hidden field would send up to
5 MB to the browser and back, past the 500 kB Werkzeug accepts in a form field. The key is
random and names the company, so one company's token never reaches another's file, and it
expires by itself when nobody commits. A commit claims the file (takes it out) before it
writes, so one dry run is committed at most once; a commit that writes nothing gives it back.
"""

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
        _store(company_id, token, upload)
    except RedisError as exc:
        raise UploadUnavailable(str(exc)) from None
    return token


def _store(company_id: int, token: str, upload: Upload) -> None:
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


def claim(company_id: int, token: str) -> Upload | None:
    """Take the file kept under `token` for this company, removing it in the same atomic step:
    of two commits of one dry run (a double click, two tabs), only one gets the file. None when
    there is none (committed already or being committed, expired, another company's, or a
    token we never gave)."""
    if not _TOKEN.fullmatch(token or ""):
        return None
    key = _key(company_id, token)
    try:
        with redis_connection().pipeline(transaction=True) as pipe:  # MULTI ... EXEC
            pipe.hgetall(key)
            pipe.delete(key)
            found, _ = pipe.execute()
    except RedisError as exc:
        raise UploadUnavailable(str(exc)) from None
    if not found:
        return None
    return Upload(
        found[b"kind"].decode(), found[b"filename"].decode(), zlib.decompress(found[b"content"])
    )


def give_back(company_id: int, token: str, upload: Upload) -> bool:
    """A claimed file whose commit wrote nothing: kept under its token again, for another hour,
    so the person can commit it after all. False when Redis cannot take it (then they must
    upload the file again)."""
    try:
        _store(company_id, token, upload)
    except RedisError:
        return False
    return True
