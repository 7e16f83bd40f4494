"""bench.ingest end to end at a tiny size: gunicorn, locust in its own process, the checks."""

import pytest

from bench import ingest
from tests.support.app import BACKEND

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BACKEND != "sqlite", reason="the benchmark brings its own SQLite database"),
]


def test_ingest_benchmark_records_every_incident_posted_and_its_breaches():
    result = ingest.measure(full=False, requests=ingest.BATCH, services=300)

    for phase in ("baseline", "incidents", "alertmanager", "routed"):
        assert result[phase]["errors"] == 0
        assert result[phase]["requests"] > 0
    db = result["database"]
    assert db["api"]["incidents"] == db["api"]["distinct_keys"] == result["posted"]["incidents"]
    posted = result["posted"]
    assert db["alertmanager"]["incidents"] == posted["alerts"] + posted["routed_alerts"]
    assert result["alertmanager"]["incidents"] == posted["alerts"]
    # Alerts with only an instance label each found the asset behind their service.
    assert result["routed"]["incidents"] == db["routed_to_assets"] == posted["routed_alerts"]
    marks = sum(
        db[s]["response_breached"] + db[s]["resolution_breached"] for s in ("api", "alertmanager")
    )
    assert marks > 0
    assert db["breach_events"] == marks
    assert db["breach_events_unpublished"] == 0
    assert len(result["peak_rss_mb"]["workers"]) == 2
    assert "POST /alertmanager" in ingest.report(result)
    assert "routing by host" in ingest.report(result)
