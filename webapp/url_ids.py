"""An id in a page's URL past what any table holds is "not found" before a view runs.

The <int:...> converter takes any run of digits; a number past 32 bits would reach the
database, where PostgreSQL refuses it as out of range and SQLite cannot even bind one past
64 bits: a 500 instead of the 404 any other unknown id gets.
"""

from webapp.tenancy import MAX_ID, NotFound

API_BLUEPRINT = "api"  # checks its ids itself, to word its JSON 404s (api/views.py)


def register(app) -> None:
    @app.url_value_preprocessor
    def ids_in_range(endpoint, values):
        if (endpoint or "").split(".")[0] == API_BLUEPRINT:
            return
        for name, value in (values or {}).items():
            # Only too large: 0 may be a route's default.
            if isinstance(value, int) and value > MAX_ID:
                raise NotFound(f"No record {value} ({name}).")
