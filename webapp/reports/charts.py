"""The reports' charts, from their figures: geometry only (webapp/charts.py); the page draws
them with the _charts.html macros and prints each one's figures in a table beneath it."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from webapp import charts

GROWTH = ("new", "expansion", "resumed")

LOSS = ("contraction", "churned")


@dataclass(frozen=True)
class Figure:
    chart: charts.Chart
    title: str
    desc: str
    labels: dict[str, str] | None = None  # legend text for series keys that are not words


def month_label(month: dt.date) -> str:
    return f"{month:%b %Y}"


def _percent(rate: Decimal | None) -> Decimal | None:
    return None if rate is None else rate * 100


def mrr_movements(currency: str, months: list) -> Figure:
    """Growth above the line, losses below it, a bar per month."""
    labels = [month_label(m.month) for m in months]
    series = {k: [getattr(m, k) for m in months] for k in GROWTH}
    series |= {k: [-getattr(m, k) for m in months] for k in LOSS}
    first, last = months[0], months[-1]
    return Figure(
        charts.bar_chart(labels, series, stacked=True, diverging=True, height=220),
        f"MRR movements, {currency}",
        f"{currency} MRR went from {first.opening:,.2f} at the start of {labels[0]} to "
        f"{last.closing:,.2f} at the end of {labels[-1]}.",
    )


def mrr_closing(currency: str, months: list) -> Figure:
    labels = [month_label(m.month) for m in months]
    return Figure(
        charts.line_chart(labels, {"closing": [m.closing for m in months]}, height=160),
        f"MRR at month end, {currency}",
        ", ".join(f"{label}: {m.closing:,.2f}" for label, m in zip(labels, months, strict=True)),
    )


def invoiced_vs_mrr(currency: str, months: list) -> Figure:
    """Two lines: MRR at each month's end and the net invoiced in the month."""
    labels = [month_label(m.month) for m in months]
    return Figure(
        charts.line_chart(
            labels,
            {"closing": [m.mrr for m in months], "invoiced": [m.invoiced for m in months]},
            height=160,
        ),
        f"Invoiced vs MRR, {currency}",
        "; ".join(
            f"{label}: invoiced {m.invoiced:,.2f}, MRR {m.mrr:,.2f}"
            for label, m in zip(labels, months, strict=True)
        ),
        {"closing": "MRR", "invoiced": "Invoiced"},
    )


REVENUE_SERIES = 3  # colours for up to three currencies' revenue churn (app.css)


def churn(currencies: list[str], months: list) -> Figure:
    """Service churn and each currency's revenue churn, in %, one line each."""
    labels = [month_label(m.month) for m in months]
    series = {"services": [_percent(m.service_rate) for m in months]}
    legend = {"services": "Services"}
    for i, currency in enumerate(currencies[:REVENUE_SERIES]):
        series[f"revenue-{i}"] = [_percent(m.revenue_rate.get(currency)) for m in months]
        legend[f"revenue-{i}"] = f"Revenue, {currency}"
    return Figure(
        charts.line_chart(labels, series, height=180),
        "Churn rate, %",
        "Services and revenue lost in each month, as a share of those at its start.",
        legend,
    )


def health_bands(months: list) -> Figure:
    labels = [month_label(m.month) for m in months]
    series = {b: [getattr(m, b) for m in months] for b in ("healthy", "fair", "poor", "critical")}
    return Figure(
        charts.bar_chart(labels, series, stacked=True),
        "Running services by health band",
        "; ".join(
            f"{label}: {m.healthy} healthy, {m.fair} fair, {m.poor} poor, {m.critical} critical"
            for label, m in zip(labels, months, strict=True)
        ),
    )


def breaches(months: list) -> Figure:
    labels = [month_label(m.month) for m in months]
    series = {k: [getattr(m, k) for m in months] for k in ("response", "resolution")}
    return Figure(
        charts.bar_chart(labels, series, stacked=True, height=180),
        "SLA breaches by month",
        "; ".join(f"{label}: {m.total}" for label, m in zip(labels, months, strict=True)),
    )


def breaches_by_client(rows: list) -> Figure:
    labels = [r.client_name[:14] for r in rows]
    series = {k: [getattr(r, k) for r in rows] for k in ("response", "resolution")}
    return Figure(
        charts.bar_chart(labels, series, stacked=True, height=180),
        "SLA breaches by client",
        "; ".join(f"{r.client_name}: {r.total}" for r in rows),
    )


def build(figures: dict, months: list[dt.date]) -> dict:
    """Every chart of the page; none for a figure with nothing to draw."""
    built = {"mrr": {}}
    for currency, rows in figures["mrr"].items():
        if rows:
            built["mrr"][currency] = (mrr_movements(currency, rows), mrr_closing(currency, rows))
    built["invoiced"] = {
        currency: invoiced_vs_mrr(currency, rows)
        for currency, rows in figures["invoiced"].items()
        if rows
    }
    built["churn"] = churn(sorted(figures["mrr"]), figures["churn"]) if figures["churn"] else None
    built["bands"] = health_bands(figures["bands"]) if figures["bands"] else None
    built["breaches"] = breaches(figures["breaches"]) if figures["breaches"] else None
    built["by_client"] = breaches_by_client(figures["by_client"]) if figures["by_client"] else None
    return built
