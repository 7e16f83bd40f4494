"""Values from a page's query string (its filters and cursors), parsed in one place so that
nothing a link can carry reaches the database as a value it refuses: an id past what an id
column holds (SQLite cannot bind an integer past 64 bits, PostgreSQL compares none past 32 with
an integer column) or text holding NUL (PostgreSQL's text cannot). A list ignores a value it
cannot use, as it ignores an unknown filter value. Dates: webapp.date_range."""

from webapp.tenancy import NotFound, parse_id


def id_arg(args, name: str) -> int | None:
    """The id `name` carries; None when it is missing or not one any table could hold (0,
    negative, past 32 bits, not ASCII digits), which no row has either."""
    try:
        return parse_id(args.get(name))
    except NotFound:
        return None


def text_arg(args, name: str, limit: int = 100) -> str:
    """Search text, at most `limit` characters, without NUL: no stored text holds one (the
    forms refuse it), so the search finds what it would without."""
    return args.get(name, "").replace("\x00", "")[:limit]
