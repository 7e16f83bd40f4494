import datetime as dt
from decimal import Decimal

import pytest

from webapp.lifecycle.health import HealthInputs, availability, band, degraded, score


def test_a_quiet_new_service_is_fully_healthy():
    assert score(HealthInputs()) == (100, [])


def test_factors_add_up_and_say_why():
    value, factors = score(
        HealthInputs(
            breaches_90d=3,
            availability_pct=Decimal("99.2"),
            availability_target=Decimal("99.9"),
            satisfaction=7,
            days_since_review=120,
            age_days=400,
        )
    )
    labels = {f.label: f.points for f in factors}
    assert labels["3 SLA breaches in 90 days"] == -15
    assert labels["availability 99.2% below 99.9%"] == pytest.approx(-25)  # 0.7 points: capped
    assert labels["client satisfaction 7/10"] == 4
    assert labels["last review 120 days ago"] == -3
    assert value == 100 - 15 - 25 + 4 - 3


def test_each_penalty_has_its_cap():
    value, factors = score(
        HealthInputs(
            breaches_90d=50, incidents_30d={"critical": 10}, days_since_review=1000, age_days=2000
        )
    )
    assert [f.points for f in factors] == [-30, -25, -20]
    assert value == 25


def test_never_reviewed_counts_only_after_90_days():
    assert score(HealthInputs(age_days=30))[0] == 100
    assert score(HealthInputs(age_days=91))[0] == 85


def test_score_is_clamped_and_banded():
    assert score(HealthInputs(satisfaction=10))[0] == 100
    assert [band(v) for v in (100, 80, 79, 60, 59, 40, 39, 0)] == [
        "healthy",
        "healthy",
        "fair",
        "fair",
        "poor",
        "poor",
        "critical",
        "critical",
    ]


def test_a_drop_of_ten_points_is_degraded():
    assert degraded(90, 80) and not degraded(90, 81) and not degraded(None, 10)


def test_availability_merges_overlapping_outages_and_counts_open_ones_to_now():
    start, end = dt.datetime(2027, 1, 1), dt.datetime(2027, 1, 11)  # 240 hours
    h = lambda n: start + dt.timedelta(hours=n)  # noqa: E731
    assert availability([], start, end) == Decimal("100.000")
    # 10-14 and 12-16 overlap: 6 hours down, not 8; plus the open one from 236: 4 more.
    outages = [(h(12), h(16)), (h(10), h(14)), (h(236), None)]
    assert availability(outages, start, end) == Decimal("95.833")
    # An outage that began before the window counts only from the window's start.
    assert availability([(start - dt.timedelta(days=3), h(24))], start, end) == Decimal("90.000")
