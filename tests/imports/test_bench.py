"""bench.imports end to end at a small size: every service stored, re-import unchanged."""

import pytest

from bench import imports
from tests.support.app import BACKEND

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BACKEND != "sqlite", reason="the benchmark brings its own SQLite database"),
]


def test_the_import_benchmark_stores_every_service_once_and_reports_against_the_target():
    result = imports.measure(full=False, services=300, clients=30)
    assert result["clients_created"] == 30
    assert result["services_created"] == result["services_stored"] == 300
    assert result["service_imported_events"] == 300
    assert result["again_unchanged"] == 300
    text = imports.report(result)
    assert "target: under 30 s for dry run + commit: met" in text
    assert "baseline: bare INSERT of the same rows" in text
