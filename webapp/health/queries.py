"""Health as pages show it: the lowest scores, a service's trend, sparklines."""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, union_all

from webapp.charts import sparkline
from webapp.extensions import db
from webapp.health.models import HealthSnapshot
from webapp.services.models import ClientService
from webapp.services.queries import running_in_order


def lowest_health(company_id: int, limit: int = 5):
    return running_in_order(
        [ClientService.company_id == company_id, ClientService.health_score.is_not(None)],
        (ClientService.health_score, ClientService.id),
        limit,
    )


@dataclass(frozen=True)
class HealthTrend:
    """The last health scores, oldest first, as an SVG polyline on a fixed 0-100 scale."""

    scores: list[int]
    since: dt.datetime
    points: str
    last: tuple[float, float]
    guides: dict[int, float]  # band floor -> y
    width: int
    height: int

    @property
    def summary(self) -> str:
        return (
            f"The last {len(self.scores)} health scores went from {self.scores[0]} to "
            f"{self.scores[-1]} (lowest {min(self.scores)}, highest {max(self.scores)})."
        )


def health_trend(service_id: int, limit: int = 30) -> HealthTrend | None:
    """None until there are two scores to draw a line between."""
    rows = db.session.execute(
        select(HealthSnapshot.score, HealthSnapshot.computed_at)
        .where(HealthSnapshot.service_id == service_id)
        .order_by(HealthSnapshot.computed_at.desc(), HealthSnapshot.id.desc())
        .limit(limit)
    ).all()[::-1]
    if len(rows) < 2:
        return None
    scores = [score for score, _ in rows]
    width, height = 240, 48
    points, last, guides = sparkline(scores, width, height)
    return HealthTrend(scores, rows[0][1], points, last, guides, width, height)


def health_sparklines(service_ids: list[int], n: int = 12) -> dict[int, list[int]]:
    """Each service's last `n` scores, oldest first, for a page of service rows.

    One statement however many rows: a part per service, each walking its own
    (service_id, computed_at) index backwards and stopping after `n` (first_ids_across's
    idea); one query with a window function would read every snapshot of every service."""
    if not service_ids:
        return {}
    parts = [
        select(
            HealthSnapshot.service_id,
            HealthSnapshot.computed_at,
            HealthSnapshot.id,
            HealthSnapshot.score,
        )
        .where(HealthSnapshot.service_id == service_id)
        .order_by(HealthSnapshot.computed_at.desc(), HealthSnapshot.id.desc())
        .limit(n)
        for service_id in service_ids
    ]
    merged = union_all(*(select(part.subquery()) for part in parts)).subquery()
    found: dict[int, list[int]] = {service_id: [] for service_id in service_ids}
    for service_id, _, _, score in db.session.execute(
        select(merged).order_by(merged.c.service_id, merged.c.computed_at, merged.c.id)
    ):
        found[service_id].append(score)
    return found
