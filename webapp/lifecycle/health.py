"""A service's health score, 0-100, with the factors that made it, so a page can say why.

Start at 100; SLA breaches in the last 90 days -5 each (at most -30); incidents in the last
30 days weighted by severity (at most -25); availability below target -10 per 0.1 point (at
most -25); client satisfaction 1-10 adds (s/10)*20-10; a review overdue by more than 90 days
-(days-90)/10 (at most -20), never reviewed once the service is 90 days old -15. Clamped to
0-100. A drop of 10 points or more is a ServiceHealthDegraded event.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

SEVERITY_POINTS = {"critical": 8, "high": 5, "medium": 2, "low": 1}
DEGRADED_DROP = 10
# Measured availability counts a service as down while it has an open incident this severe.
OUTAGE_SEVERITY = "critical"
AVAILABILITY_DAYS = 30


@dataclass(frozen=True)
class HealthInputs:
    breaches_90d: int = 0
    incidents_30d: dict[str, int] = field(default_factory=dict)
    availability_pct: Decimal | None = None
    availability_target: Decimal | None = None
    satisfaction: int | None = None
    days_since_review: int | None = None  # None: never reviewed
    age_days: int = 0


@dataclass(frozen=True)
class Factor:
    label: str
    points: float


def score(inputs: HealthInputs) -> tuple[int, list[Factor]]:
    factors: list[Factor] = []
    if inputs.breaches_90d:
        n = inputs.breaches_90d
        factors.append(
            Factor(f"{n} SLA breach{'es' if n != 1 else ''} in 90 days", -min(30, 5 * n))
        )
    weighted = sum(SEVERITY_POINTS.get(sev, 1) * n for sev, n in inputs.incidents_30d.items())
    if weighted:
        total = sum(inputs.incidents_30d.values())
        factors.append(
            Factor(f"{total} incident{'s' if total != 1 else ''} in 30 days", -min(25, weighted))
        )
    if inputs.availability_pct is not None and inputs.availability_target is not None:
        gap = inputs.availability_target - inputs.availability_pct
        if gap > 0:
            factors.append(
                Factor(
                    f"availability {_pct(inputs.availability_pct)}% below "
                    f"{_pct(inputs.availability_target)}%",
                    -min(25.0, float(gap) * 100),
                )
            )
    if inputs.satisfaction is not None:
        factors.append(
            Factor(
                f"client satisfaction {inputs.satisfaction}/10",
                round(inputs.satisfaction / 10 * 20 - 10, 1),
            )
        )
    if inputs.days_since_review is None:
        if inputs.age_days > 90:
            factors.append(Factor("never reviewed", -15))
    elif inputs.days_since_review > 90:
        factors.append(
            Factor(
                f"last review {inputs.days_since_review} days ago",
                -min(20.0, round((inputs.days_since_review - 90) / 10, 1)),
            )
        )
    value = round(100 + sum(f.points for f in factors))
    return max(0, min(100, value)), factors


def band(value: int | None) -> str | None:
    if value is None:
        return None
    if value >= 80:
        return "healthy"
    if value >= 60:
        return "fair"
    if value >= 40:
        return "poor"
    return "critical"


BANDS = ("healthy", "fair", "poor", "critical")
BAND_RANGES = {"healthy": (80, 100), "fair": (60, 79), "poor": (40, 59), "critical": (0, 39)}


def degraded(previous: int | None, current: int) -> bool:
    return previous is not None and previous - current >= DEGRADED_DROP


def availability(outages, start: dt.datetime, end: dt.datetime) -> Decimal:
    """Percent of [start, end) not inside any outage; outages are (opened, resolved or None)."""
    total = (end - start).total_seconds()
    if total <= 0:
        return Decimal(100)
    down, reach = 0.0, start
    for opened, resolved in sorted(outages):
        lo, hi = max(opened, reach), min(resolved or end, end)
        if hi > lo:
            down += (hi - lo).total_seconds()
            reach = hi
    return (Decimal(100) * Decimal(1 - down / total)).quantize(Decimal("0.001"))


def _pct(value: Decimal) -> str:
    return f"{Decimal(value):.3f}".rstrip("0").rstrip(".")
