"""CSV downloads: cells safe to open in a spreadsheet, streamed in keyset chunks.

Every export goes through `csv_response`, so each one gets the same guarantees:
- a UTF-8 byte order mark first, so Excel reads "Fjord Shipping"-style names as UTF-8;
- text cells on one line, with no control character (webapp.text folds line breaks, tabs and
  the rest into spaces: text stored before names were refused them may hold some);
- text cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR, LF first, or their
  full-width forms, after any spaces) prefixed with a quote (the OWASP advice); numbers stay
  numbers, so -100.00 is still a number;
- dates as YYYY-MM-DD, times as "YYYY-MM-DD HH:MM:SS" with no offset (the caller converts
  them to the company's zone and names the zone in the column's header);
- a generated ASCII file name (never text a user typed), and no caching of the file.

Rows are read `CHUNK` at a time by `keyset_chunks` (WHERE id > last ORDER BY id LIMIT n):
each read is short and ends its transaction before the rows are sent, so a slow download
holds no cursor, no transaction and no lock, on SQLite or PostgreSQL.
"""

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from enum import Enum

from flask import Response, stream_with_context

from webapp.extensions import db
from webapp.text import one_line

CHUNK = 2000
BOM = "\ufeff"
# OWASP's list, with the full-width forms some spreadsheets also read as formulas; its tab and
# CR (and LF) are folded into spaces first, and cell() looks past leading spaces.
FORMULA_STARTS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
FLUSH_AT = 64 * 1024  # characters buffered before they are sent


def cell(value) -> str:
    """One value as the text of its cell."""
    if type(value) is str:
        # Most cells: a printable string holds none of the characters one_line folds (all
        # are Unicode's Other or Separator), so the regex is skipped: a third of a large
        # download's time went to it.
        text = value if value.isprintable() else one_line(value)
        return "'" + text if text.lstrip().startswith(FORMULA_STARTS) else text
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # 1234.50, never 1.2345E+3
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Enum) and not isinstance(value, str):
        value = value.value
    text = one_line(str(value))
    return "'" + text if text.lstrip().startswith(FORMULA_STARTS) else text


def ascii_filename(name: str) -> str:
    """`name` reduced to letters, digits, dot, dash and underscore, ending in .csv."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "export"
    return safe if safe.endswith(".csv") else safe + ".csv"


def dated_filename(stem: str, day: dt.date) -> str:
    """ "services-2027-04-02.csv": what was exported and on which (company-local) day."""
    return ascii_filename(f"{stem}-{day.isoformat()}")


def csv_response(filename: str, header: list[str], rows: Iterable[Sequence]) -> Response:
    """Stream `rows` (read lazily, inside the request's context) as a CSV attachment."""

    def body() -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write(BOM)
        writer.writerow([cell(h) for h in header])
        for row in rows:
            writer.writerow([cell(v) for v in row])
            if buffer.tell() >= FLUSH_AT:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()

    response = Response(stream_with_context(body()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{ascii_filename(filename)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def keyset_chunks(query, key, size: int = CHUNK) -> Iterator[list]:
    """The rows of `query` in `key` order, `size` at a time: WHERE key > last ORDER BY key.

    Select plain columns, not entities: each read's transaction ends before its rows are
    handed on (an entity would expire with it and be loaded again, row by row). Rows added
    meanwhile with a larger key are included; nothing is read twice or skipped."""
    last = None
    while True:
        chunk = query.order_by(key).limit(size)
        if last is not None:
            chunk = chunk.where(key > last)
        rows = db.session.execute(chunk).all()
        db.session.rollback()  # the read is over: no transaction open while rows are sent
        if rows:
            yield rows
        if len(rows) < size:
            return
        last = rows[-1]._mapping[key]
