"""No N+1: every page and every htmx fragment issues as many SQL statements for 10 rows of
each kind as for 1,000.

The two datasets are built once for the module (in bulk, see tests/support/dataset.py); each page is
requested once to warm up and once counted, at each size. A page whose count grows with the
data loads something per row (a lazy relationship in a template, a query in a loop) or in
batches (selectinload splits its IN list every 500 keys).
"""

import re

import pytest

from tests.support import dataset
from tests.support.app import _empty_tables
from webapp.extensions import db

SMALL, LARGE = 10, 1000


@pytest.fixture(scope="module")
def statements(_schema, database_url, redis_server, tmp_path_factory):
    """{size: {page: [(statement, parameters)]}}, measured on a dataset of each size."""
    found = {}
    with dataset.pages_app(database_url, redis_server.url, tmp_path_factory) as app:
        for n in (SMALL, LARGE):
            found[n] = dataset.visit(app, dataset.build(n))
            db.session.remove()
            _empty_tables()
    return found


def _shown(sql: list[str]) -> str:
    return re.sub(r"(\?, |%\(\w+\)s, ){3,}", "..., ", "\n\n".join(sql))  # long IN lists cut


@pytest.mark.parametrize("name", [name for name, _, _ in dataset.PAGES])
def test_statements_do_not_grow_with_rows(statements, name):
    small = [sql for sql, _ in statements[SMALL][name]]
    large = [sql for sql, _ in statements[LARGE][name]]
    extra = [sql for sql in large if sql not in small] or large
    assert len(small) == len(large), (
        f"{name}: {len(small)} statements for {SMALL} rows, {len(large)} for {LARGE}:\n"
        + _shown(extra)
    )
