"""The app a job runs in: the worker's own (pushed by `flask worker`), or one built per process."""

from contextlib import contextmanager

from flask import current_app, has_app_context

_app = None


@contextmanager
def app_context():
    global _app
    if has_app_context():
        yield current_app
        return
    if _app is None:
        from webapp import create_app

        _app = create_app()
    with _app.app_context():
        yield _app
