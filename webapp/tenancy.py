"""The one place queries are scoped to a company. Another company's id is simply not found."""

from sqlalchemy import select

from webapp.extensions import db

MAX_ID = 2**31 - 1  # ids are 32-bit integers on every database


class NotFound(LookupError):
    """No such row in this company (shown as a 404, whether it exists elsewhere or not)."""


def scoped(model, company_id: int):
    return select(model).where(model.company_id == company_id)


def parse_id(text: str | None) -> int:
    """A row id sent as text (a form field): NotFound unless it is one any table could hold."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
        raise NotFound(f"{text[:40]!r} is not a record id.")
    return int(text)


def get_or_404(model, company_id: int, row_id: int, *, for_update: bool = False):
    if not 0 < row_id <= MAX_ID:  # no row has it, and SQLite cannot even compare past 64 bits
        raise NotFound(f"No {model.__name__} {row_id} in this company.")
    query = scoped(model, company_id).where(model.id == row_id)
    if for_update:
        query = query.with_for_update()
    row = db.session.scalars(query).first()
    if row is None:
        raise NotFound(f"No {model.__name__} {row_id} in this company.")
    return row
