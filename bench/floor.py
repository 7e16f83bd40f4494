"""The server of the pages benchmark: the app as `wsgi:app` serves it, with one page more, the
floor. It is signed in and drawn in the base layout like every page, and runs no query of its
own, so its time is what any page pays before its own work: the request, the session, the
user, the layout. gunicorn calls `served()` (its app factory syntax) in each worker."""

from flask import Flask, render_template_string
from flask_login import login_required

from webapp import create_app

FLOOR = "/bench/floor"
PAGE = '{% extends "base.html" %}{% block content %}<main><h1>Floor</h1></main>{% endblock %}'


def with_floor(app: Flask) -> Flask:
    @app.get(FLOOR)
    @login_required
    def bench_floor():
        return render_template_string(PAGE)

    return app


def served() -> Flask:
    return with_floor(create_app())
