"""Full pages on plain requests, a named block on htmx requests that target it."""

from flask import render_template, request
from jinja2_fragments.flask import render_block

from webapp.extensions import htmx


def page(template: str, fragments: tuple[str, ...] = (), **context):
    """Render `template`, or only the block named like the htmx request's target element.

    Branching on HX-Target (not on HX-Request alone) means a request from any other element
    still gets the whole page; the block lives in the page template where it is shown.
    """
    target = request.headers.get("HX-Target", "")
    if htmx and target in fragments:
        return render_block(template, target, **context)
    return render_template(template, **context)
