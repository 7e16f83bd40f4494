"""Template filters and globals: money, local time, actors, badges, sparklines, and the Vary
header."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app, g
from flask_login import current_user
from markupsafe import Markup

from webapp import charts, countries
from webapp.forms import CYCLE_LABELS
from webapp.humanize import human_minutes
from webapp.lifecycle.health import band
from webapp.lifecycle.transitions import Action

ACTION_LABELS = {
    Action.ACTIVATE: "Activate",
    Action.SUSPEND: "Suspend",
    Action.RESUME: "Resume",
    Action.RENEW: "Renew",
    Action.CHANGE_PRICE: "Change price",
    Action.CHANGE_QUANTITY: "Change seats",
    Action.CANCEL: "Cancel",
    Action.UNDO_CANCELLATION: "Undo cancellation",
}


def money(amount, currency: str = "") -> str:
    if amount is None:
        return "—"
    return f"{Decimal(amount):,.2f} {currency}".strip()


def _zone() -> ZoneInfo:
    # Once per request: a list page formats hundreds of times, and each current_user lookup
    # goes through Flask-Login's proxy.
    if "company_zone" not in g:
        try:
            g.company_zone = ZoneInfo(current_user.company.timezone)
        except Exception:  # no user, or an unknown zone: show UTC rather than fail the page
            g.company_zone = ZoneInfo("UTC")
    return g.company_zone


def percent(rate) -> str:
    """A ratio (0.568) as a percentage with one decimal ("56.8%"); none as a dash."""
    if rate is None:
        return "—"
    return f"{Decimal(rate) * 100:.1f}%"


def local(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time in the company's time zone."""
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        value = value.replace(tzinfo=dt.UTC).astimezone(_zone())
    return value.strftime(fmt if isinstance(value, dt.datetime) else "%Y-%m-%d")


def when(value) -> str:
    """A stored UTC time in the company's time zone, short: "14:05" today, else "24 Nov 14:05"."""
    if value is None:
        return "—"
    local_value = value.replace(tzinfo=dt.UTC).astimezone(_zone())
    today = dt.datetime.now(local_value.tzinfo).date()
    if local_value.date() == today:
        return local_value.strftime("%H:%M")
    fmt = "%d %b %H:%M" if local_value.year == today.year else "%d %b %Y %H:%M"
    return local_value.strftime(fmt)


def who(actor: str | None) -> str:
    """An actor as recorded ("user:3 tess@example.com", "sla-sweep") as a person reads it."""
    if not actor:
        return ""
    kind, _, rest = actor.partition(" ")
    return rest if kind.startswith("user:") and rest else actor


def ago(value) -> str:
    if value is None:
        return ""
    seconds = int((dt.datetime.now(dt.UTC).replace(tzinfo=None) - value).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def badge(status) -> Markup:
    value = getattr(status, "value", status) or "none"
    return Markup('<span class="badge badge-{0}">{1}</span>').format(value, value.replace("_", " "))


def health(value) -> Markup:
    if value is None:
        return Markup('<span class="badge">not scored</span>')
    return Markup('<span class="badge health-{0}">{1} {0}</span>').format(band(value), value)


def register(app):
    app.jinja_env.filters.update(
        money=money,
        local=local,
        when=when,
        ago=ago,
        who=who,
        minutes=human_minutes,
        badge=badge,
        health=health,
        percent=percent,
    )
    app.jinja_env.globals.update(
        ACTION_LABELS=ACTION_LABELS,
        CYCLE_LABELS=CYCLE_LABELS,
        COUNTRIES=countries.COUNTRIES,
        spark_geometry=charts.sparkline,
        live_poll_seconds=lambda: current_app.config["LIVE_POLL_SECONDS"],
    )

    @app.after_request
    def vary_on_htmx(response):
        response.vary.add("HX-Request")
        return response
