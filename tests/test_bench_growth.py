"""The full benchmark run's growth tables (issue 18): each figure at two sizes and its factor."""

import json

import pytest

from bench import bill_run, growth, sweeps
from tests.support.app import BACKEND


def _rows(sweep_s: float, jobs: int) -> list[tuple]:
    return [("sweep_s", "sweep", "s", sweep_s), ("jobs", "  jobs", "", jobs)]


def test_a_growth_table_gives_each_figure_at_both_sizes_and_how_many_times_it_grew():
    table = growth.figures(10_000, 100_000, _rows(0.5, 0), _rows(4.0, 12))

    assert table["services"] == {"smaller": 10_000, "full": 100_000}
    assert table["figures"]["sweep_s"] == {
        "label": "sweep",
        "unit": "s",
        "smaller": 0.5,
        "full": 4.0,
        "factor": 8.0,
    }
    # Grown from nothing: no factor, and none that the JSON record could not hold.
    assert table["figures"]["jobs"]["factor"] is None
    json.dumps(table, allow_nan=False)
    text = growth.table("the sweep", table)
    assert "at 10,000 and 100,000 services" in text
    assert "services x10" in text
    lines = text.splitlines()
    assert lines[2].split() == ["sweep", "(s)", "0.500", "4.00", "8.0"]
    assert lines[3].split() == ["jobs", "0", "12", "-"]


def test_only_the_full_run_measures_at_the_smaller_size():
    assert growth.wanted(True, 100_000, 10_000)
    assert not growth.wanted(False, 100_000, 10_000)
    assert not growth.wanted(True, 5_000, 10_000)
    assert not growth.wanted(True, 100_000, None)


sqlite_only = pytest.mark.skipif(
    BACKEND != "sqlite", reason="the benchmark brings its own databases"
)


@pytest.mark.slow
@sqlite_only
def test_the_full_sweeps_run_reports_how_each_sweep_grew():
    result = sweeps.measure(True, renewal_services=400, health_services=300, growth_from=200)

    for name, services in (("renewals", 400), ("health", 300)):
        table = result[name]["growth"]
        assert table["services"] == {"smaller": 200, "full": services}
        assert result[name]["smaller"]["services"] == 200
        sweep = table["figures"]["sweep_s"]
        assert sweep["full"] == result[name]["sweep_s"]
        assert sweep["smaller"] == result[name]["smaller"]["sweep_s"]
    scored = result["health"]["growth"]["figures"]["recalculated"]
    assert scored["smaller"] < scored["full"]
    text = sweeps.report(result)
    assert "growth, renewal sweep: each figure at 200 and 400 services" in text
    assert "growth, health recalculation: each figure at 200 and 300 services" in text
    json.dumps(result, allow_nan=False)


@pytest.mark.slow
@sqlite_only
def test_the_full_bill_run_measures_the_smaller_size_in_a_process_of_its_own():
    result = bill_run.measure(True, services=300, growth_from=100)

    for database, r in result["databases"].items():
        figures = r["growth"]["figures"]
        assert figures["services_billed"]["smaller"] == r["smaller"]["services_billed"] == 100
        assert figures["services_billed"]["full"] == 300
        assert figures["run_s"]["full"] == r["run_s"]
        assert "parts_s.issue_documents" in figures
        assert f"growth, bill run on {database}" in bill_run.report(result)
