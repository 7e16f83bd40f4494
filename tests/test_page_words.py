"""The words and shapes the pages use: durations, weekly hours, SLA states, sparklines, local
time and the settings' parsers. Pure functions: no app, no database."""

import datetime as dt

import pytest

from webapp.charts import sparkline
from webapp.clock import from_local, to_local
from webapp.company.settings import parse_reminder_days, valid_timezone
from webapp.humanize import human_minutes
from webapp.incidents.models import Incident
from webapp.lifecycle.sla import BusinessHours, SlaTargets
from webapp.sla.queries import describe_clock, describe_week, sla_states

T = dt.time


@pytest.mark.parametrize(
    ("minutes", "days", "text"),
    [
        (0.2, True, "1 min"),
        (35, True, "35 min"),
        (60, True, "1 h"),
        (90, True, "1 h 30 min"),
        (1440, True, "24 h"),
        (2880, True, "2 d"),
        (3000, True, "2 d 2 h"),
        (2880, False, "48 h"),
    ],
)
def test_durations_in_human_units(minutes, days, text):
    assert human_minutes(minutes, days=days) == text


def test_weekly_hours_join_runs_of_equal_days():
    nine_five = (T(9), T(17))
    assert describe_week({d: (T(8), T(18)) for d in range(5)}) == "Mon–Fri 08:00–18:00"
    week = {0: nine_five, 1: nine_five, 2: (T(9), T(13)), 3: nine_five, 5: (T(10), T(14))}
    assert (
        describe_week(week)
        == "Mon–Tue 09:00–17:00, Wed 09:00–13:00, Thu 09:00–17:00, Sat 10:00–14:00"
    )
    assert describe_week({}) == "no open hours"


def test_the_clock_is_24x7_or_business_hours_in_the_zone():
    hours = BusinessHours("Europe/London")
    assert describe_clock(SlaTargets(60, 240, "99.9", around_the_clock=True), hours) == "24x7"
    assert (
        describe_clock(SlaTargets(60, 240, "99.9"), hours)
        == "business hours (Europe/London, Mon–Fri 08:00–18:00)"
    )


OPENED = dt.datetime(2027, 1, 4, 9)  # a Monday
TARGETS = SlaTargets(60, 240, "99.9", around_the_clock=True)


def states(now, **times):
    incident = Incident(opened_at=OPENED, **times)
    return [(s.tone, s.text) for s in sla_states(incident, TARGETS, BusinessHours(), [], now)]


def test_sla_states_while_the_clocks_run():
    assert states(OPENED + dt.timedelta(minutes=20)) == [
        ("due", "response due in 40 min"),
        ("due", "resolution due in 3 h 40 min"),
    ]
    assert states(OPENED + dt.timedelta(minutes=50)) == [  # past 80 % of the response target
        ("warn", "response due in 10 min"),
        ("due", "resolution due in 3 h 10 min"),
    ]
    # Past the deadline before the sweep has recorded it: breached all the same.
    assert states(OPENED + dt.timedelta(minutes=61))[0] == ("bad", "response breached")


def test_sla_states_once_the_clocks_stopped():
    answered = OPENED + dt.timedelta(minutes=12)
    assert states(OPENED + dt.timedelta(hours=1), acknowledged_at=answered)[0] == (
        "good",
        "answered in 12 min",
    )
    late = {"acknowledged_at": OPENED + dt.timedelta(hours=2), "response_breached_at": OPENED}
    assert states(OPENED + dt.timedelta(hours=3), **late)[0] == (
        "bad",
        "response breached, answered in 2 h",
    )
    resolved = OPENED + dt.timedelta(minutes=30)
    assert states(OPENED + dt.timedelta(hours=5), resolved_at=resolved) == [
        ("good", "answered in 30 min"),  # resolving is also the first response
        ("good", "resolved in 30 min"),
    ]


def test_a_suspended_service_pauses_the_clock():
    incident = Incident(opened_at=OPENED)
    pauses = [(OPENED + dt.timedelta(minutes=10), None)]  # suspended, not yet resumed
    result = sla_states(incident, TARGETS, BusinessHours(), pauses, OPENED + dt.timedelta(hours=5))
    assert [s.tone for s in result] == ["paused", "paused"]
    assert result[0].text == "response clock paused (service suspended)"


def test_sparkline_points_run_left_to_right_with_100_at_the_top():
    points, last, guides = sparkline([100, 0, 50], width=108, height=58, pad=4)
    assert points == "4,4 54,54 104,29"
    assert last == (104, 29)
    assert guides == {40: 34, 60: 24, 80: 14}


def test_local_times_to_utc_and_back_across_daylight_saving():
    assert from_local(dt.datetime(2026, 7, 1, 10), "Europe/London") == dt.datetime(2026, 7, 1, 9)
    assert from_local(dt.datetime(2026, 12, 1, 10), "Europe/London") == dt.datetime(2026, 12, 1, 10)
    assert to_local(dt.datetime(2026, 7, 1, 9), "Europe/London") == dt.datetime(2026, 7, 1, 10)
    # The hour that happens twice in autumn is taken as the first (still summer time).
    assert from_local(dt.datetime(2026, 10, 25, 1, 30), "Europe/London") == dt.datetime(
        2026, 10, 25, 0, 30
    )
    with pytest.raises(ValueError, match="did not happen in Europe/London"):
        from_local(dt.datetime(2026, 3, 29, 1, 30), "Europe/London")


def test_reminder_days_are_positive_whole_numbers_largest_first():
    assert parse_reminder_days("7, 30,14,30") == (30, 14, 7)
    for bad in ("", "30,-1", "30,1.5", "0", "366", "1,2,3,4,5,6,7,8,9"):
        with pytest.raises(ValueError):
            parse_reminder_days(bad)


def test_time_zones_are_names_zoneinfo_knows():
    assert valid_timezone("Europe/London") and valid_timezone("UTC")
    for bad in ("Mars/Olympus", "../etc/passwd", "", "europe/london"):
        assert not valid_timezone(bad)
