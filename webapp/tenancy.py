"""The one place queries are scoped to a company. Another company's id is simply not found."""

from sqlalchemy import select

from webapp.extensions import db


class NotFound(LookupError):
    """No such row in this company (shown as a 404, whether it exists elsewhere or not)."""


def scoped(model, company_id: int):
    return select(model).where(model.company_id == company_id)


def get_or_404(model, company_id: int, row_id: int, *, for_update: bool = False):
    query = scoped(model, company_id).where(model.id == row_id)
    if for_update:
        query = query.with_for_update()
    row = db.session.scalars(query).first()
    if row is None:
        raise NotFound(f"No {model.__name__} {row_id} in this company.")
    return row
