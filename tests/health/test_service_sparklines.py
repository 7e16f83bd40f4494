"""The services list draws each row's recent health scores as a small labelled sparkline."""

import datetime as dt
import re

from tests.support.dataset import counting
from tests.support.factories import make_service
from webapp.extensions import db
from webapp.health.models import HealthSnapshot
from webapp.lifecycle.statuses import UserRole
from webapp.services import actions as lc


def _scores(company, service_id, scores):
    start = dt.datetime(2027, 1, 1, 21)
    for day, score in enumerate(scores):
        db.session.add(
            HealthSnapshot(
                company_id=company,
                service_id=service_id,
                score=score,
                factors=[],
                computed_at=start + dt.timedelta(days=day),
            )
        )
    db.session.commit()


def test_each_row_shows_its_last_twelve_scores_from_one_query(as_role, company, app):
    viewer = as_role(UserRole.VIEWER)
    trending = make_service(company, name="Alpha backup")
    lc.activate(company, trending, "t")
    once = make_service(company, name="Beta backup")
    lc.activate(company, once, "t")
    _scores(company, trending, [10, 20, *range(60, 100, 4), 95, 88])  # 14 scores
    _scores(company, once, [70])  # nothing to draw a line between yet
    with counting(db.engine) as statements:
        html = viewer.get("/services").get_data(as_text=True)
    labels = re.findall(
        r'<svg class="spark" viewBox="0 0 64 16" role="img" aria-label="([^"]+)"', html
    )
    assert labels == ["Health 60, 64, 68, 72, 76, 80, 84, 88, 92, 96, 95, 88"]  # oldest first
    spark = html[html.index('<svg class="spark"') :]
    spark = spark[: spark.index("</svg>")]
    assert "guide" not in spark and 'r="1.5"' in spark
    assert len(re.findall(r"\d+(?:\.\d+)?,\d+(?:\.\d+)?", spark)) == 12
    snapshot_reads = [sql for sql, _ in statements if "FROM health_snapshots" in sql]
    assert len(snapshot_reads) == 1  # both rows' scores in one statement
