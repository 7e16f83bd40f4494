"""The reports' tables as CSV rows: the same figures the page shows, one table per export.

Amounts are plain decimals with the currency in its own column; rates are percentages with one
decimal; months are YYYY-MM."""

from collections.abc import Callable, Iterable
from decimal import Decimal

Table = tuple[list[str], Iterable[list]]


def _month(m) -> str:
    return f"{m:%Y-%m}"


def _pct(rate: Decimal | None) -> str:
    return "" if rate is None else f"{rate * 100:.1f}"


def _money(value) -> Decimal | None:
    # A Decimal, not text: csv_response quotes text that starts with "-" (a formula to a
    # spreadsheet), and a negative amount must stay a number.
    return None if value is None else Decimal(value).quantize(Decimal("0.01"))


def mrr(figures) -> Table:
    header = ["month", "currency", "opening", "new", "expansion", "resumed", "contraction",
              "churned", "closing", "earned", "price_adjustments"]  # fmt: skip
    rows = [
        [
            _month(m.month),
            currency,
            _money(m.opening),
            _money(m.new),
            _money(m.expansion),
            _money(m.resumed),
            _money(m.contraction),
            _money(m.churned),
            _money(m.closing),
            _money(m.earned),
            _money(m.adjustments),
        ]  # fmt: skip
        for currency, months in sorted(figures["mrr"].items())
        for m in months
    ]
    return header, rows


def invoiced_vs_mrr(figures) -> Table:
    """The difference is the sum of the columns after it: periods_less_mrr and the kinds MRR
    does not count."""
    header = ["month", "currency", "mrr_at_month_end", "invoiced_net", "difference",
              "periods_billed", "periods_less_mrr", "setup_fees", "one_time", "adjustments",
              "credits", "voids"]  # fmt: skip
    rows = [
        [
            _month(m.month),
            currency,
            _money(m.mrr),
            _money(m.invoiced),
            _money(m.difference),
            _money(m.periods),
            _money(m.timing),
            _money(m.setup),
            _money(m.once),
            _money(m.adjustments),
            _money(m.credits),
            _money(m.voids),
        ]  # fmt: skip
        for currency, months in sorted(figures["invoiced"].items())
        for m in months
    ]
    return header, rows


def churn(figures) -> Table:
    currencies = sorted(figures["mrr"])
    header = ["month", "services_churned", "services_at_start", "service_churn_pct"]
    header += [f"revenue_churn_pct_{c}" for c in currencies]
    header += [f"net_mrr_churn_pct_{c}" for c in currencies]
    rows = [
        [_month(m.month), m.services_churned, m.services_at_start, _pct(m.service_rate)]
        + [_pct(m.revenue_rate.get(c)) for c in currencies]
        + [_pct(m.net_rate.get(c)) for c in currencies]
        for m in figures["churn"]
    ]
    return header, rows


def health(figures) -> Table:
    header = ["month", "healthy", "fair", "poor", "critical", "unscored"]
    rows = [
        [_month(m.month), m.healthy, m.fair, m.poor, m.critical, m.unscored]
        for m in figures["bands"]
    ]
    return header, rows


def sla_months(figures) -> Table:
    header = ["month", "response_breaches", "resolution_breaches", "total"]
    rows = [[_month(m.month), m.response, m.resolution, m.total] for m in figures["breaches"]]
    return header, rows


def sla_clients(figures) -> Table:
    header = ["client", "response_breaches", "resolution_breaches", "total"]
    rows = [[r.client_name, r.response, r.resolution, r.total] for r in figures["by_client"]]
    return header, rows


def worst_assets(figures) -> Table:
    """Empty (its header only) unless the report is for one client."""
    header = ["asset", "incidents", "open", "sla_breaches"]
    rows = [[r.name, r.incidents, r.open, r.breaches] for r in figures["worst_assets"]]
    return header, rows


def at_risk(figures) -> Table:
    risk = figures["risk"]
    header = ["service", "client", "status", "reasons", "term_end", "health_score",
              "mrr", "currency", "cancellation_effective_on"]  # fmt: skip
    rows = [
        [
            r.service_name,
            r.client_name,
            r.status.value,
            "; ".join(r.reasons),
            r.term_end.isoformat() if r.term_end else "",
            "" if r.health_score is None else r.health_score,
            _money(r.mrr),
            r.currency,
            r.cancellation_effective_on.isoformat() if r.cancellation_effective_on else "",
        ]  # fmt: skip
        for r in [*risk.rows, *risk.scheduled]
    ]
    return header, rows


TABLES: dict[str, Callable[[dict], Table]] = {
    "mrr": mrr,
    "invoiced-vs-mrr": invoiced_vs_mrr,
    "churn": churn,
    "health": health,
    "sla-months": sla_months,
    "sla-clients": sla_clients,
    "at-risk": at_risk,
    "worst-assets": worst_assets,
}

# The sections of webapp.reports.views._figures each table is made of.
NEEDS: dict[str, tuple[str, ...]] = {
    "mrr": ("mrr",),
    "invoiced-vs-mrr": ("mrr", "invoiced"),
    "churn": ("mrr", "churn"),
    "health": ("bands",),
    "sla-months": ("breaches",),
    "sla-clients": ("by_client",),
    "at-risk": ("risk",),
    "worst-assets": ("worst_assets",),
}
