"""An incident against its policy: which warnings and breaches it reached, each once."""

import datetime as dt

import pytest

from webapp.lifecycle.sla import (
    BREACH,
    DEFAULTS,
    RESOLUTION,
    RESPONSE,
    WARNING,
    BusinessHours,
    IncidentTimes,
    SlaTargets,
    elapsed_minutes,
    evaluate,
    targets_with,
)

D = dt.datetime
OPENED = D(2027, 1, 4, 9)  # a Monday
HOUR_AND_DAY = SlaTargets(60, 24 * 60, "99.9", around_the_clock=True)


def _due(verdict):
    return {(m.kind, m.level) for m in verdict.due}


def test_nothing_is_due_before_the_warning_and_the_next_check_is_the_warning():
    verdict = evaluate(
        IncidentTimes(OPENED), HOUR_AND_DAY, None, (), OPENED + dt.timedelta(minutes=10)
    )
    assert verdict.due == [] and verdict.next_check == OPENED + dt.timedelta(minutes=48)


def test_the_warning_comes_past_the_threshold_then_the_breach_past_the_target():
    just = dt.timedelta(seconds=1)
    at_48 = evaluate(
        IncidentTimes(OPENED), HOUR_AND_DAY, None, (), OPENED + dt.timedelta(minutes=48)
    )
    assert at_48.due == [] and at_48.next_check == OPENED + dt.timedelta(minutes=48)
    past_48 = evaluate(IncidentTimes(OPENED), HOUR_AND_DAY, None, (), at_48.next_check + just)
    assert _due(past_48) == {(RESPONSE, WARNING)}
    assert past_48.next_check == OPENED + dt.timedelta(minutes=60)
    recorded = frozenset({(RESPONSE, WARNING)})
    past_60 = evaluate(
        IncidentTimes(OPENED), HOUR_AND_DAY, None, (), past_48.next_check + just, recorded
    )
    assert _due(past_60) == {(RESPONSE, BREACH)}


def test_an_answer_at_the_very_minute_of_the_target_is_in_time():
    times = IncidentTimes(OPENED, responded_at=OPENED + dt.timedelta(minutes=60))
    verdict = evaluate(
        times,
        HOUR_AND_DAY,
        None,
        (),
        OPENED + dt.timedelta(hours=2),
        frozenset({(RESPONSE, WARNING)}),
    )
    assert (RESPONSE, BREACH) not in _due(verdict)


def test_a_warning_reached_before_an_answer_goes_unannounced_once_answered():
    times = IncidentTimes(OPENED, responded_at=OPENED + dt.timedelta(minutes=55))
    verdict = evaluate(times, HOUR_AND_DAY, None, (), OPENED + dt.timedelta(minutes=56))
    assert verdict.due == [] and [(m.kind, m.level) for m in verdict.passed] == [
        (RESPONSE, WARNING)
    ]


def test_the_earlier_of_answer_and_resolution_stops_the_response_clock():
    times = IncidentTimes(
        OPENED,
        responded_at=OPENED + dt.timedelta(hours=2),
        resolved_at=OPENED + dt.timedelta(minutes=30),
    )
    verdict = evaluate(times, HOUR_AND_DAY, None, (), OPENED + dt.timedelta(hours=3))
    assert verdict.due == [] and verdict.next_check is None


def test_a_night_shift_runs_past_midnight_and_24_00_closes_at_the_end_of_the_day():
    nights = BusinessHours.from_json("UTC", {"0": ["22:00", "06:00"], "1": ["12:00", "24:00"]})
    monday_night = D(2027, 1, 4, 22)
    assert elapsed_minutes(monday_night, D(2027, 1, 5, 23, 59), nights) == 8 * 60 + 12 * 60 - 1
    targets = SlaTargets(120, 600, "99.9")
    verdict = evaluate(IncidentTimes(monday_night), targets, nights, (), monday_night)
    assert verdict.next_check == monday_night + dt.timedelta(minutes=96)


def test_overlapping_windows_count_once():
    hours = BusinessHours.from_json("UTC", {"0": ["20:00", "08:00"], "1": ["06:00", "10:00"]})
    # Monday 20:00 to Tuesday 08:00, then Tuesday's own hours add 08:00-10:00 only.
    assert elapsed_minutes(D(2027, 1, 4, 20), D(2027, 1, 5, 12), hours) == 14 * 60


def test_a_stored_schedule_with_a_day_out_of_range_is_refused():
    with pytest.raises(ValueError, match="not a weekday"):
        BusinessHours.from_json("UTC", {"7": ["08:00", "18:00"]})


def test_a_suspension_longer_than_a_year_still_leaves_a_deadline():
    pause = [(OPENED + dt.timedelta(minutes=10), OPENED + dt.timedelta(days=500))]
    verdict = evaluate(
        IncidentTimes(OPENED), HOUR_AND_DAY, None, pause, OPENED + dt.timedelta(days=500)
    )
    assert verdict.next_check == OPENED + dt.timedelta(days=500, minutes=38)


def test_a_breach_found_late_comes_without_its_warning():
    late = evaluate(IncidentTimes(OPENED), HOUR_AND_DAY, None, (), OPENED + dt.timedelta(hours=2))
    assert _due(late) == {(RESPONSE, BREACH)}
    assert [(m.kind, m.level) for m in late.passed] == [(RESPONSE, WARNING)]


def test_recorded_marks_are_never_due_again():
    recorded = frozenset({(RESPONSE, WARNING), (RESPONSE, BREACH)})
    verdict = evaluate(
        IncidentTimes(OPENED), HOUR_AND_DAY, None, (), OPENED + dt.timedelta(hours=2), recorded
    )
    assert verdict.due == [] and verdict.next_check == OPENED + dt.timedelta(minutes=0.8 * 24 * 60)


def test_an_answer_in_time_stops_the_response_clock_for_good():
    times = IncidentTimes(OPENED, responded_at=OPENED + dt.timedelta(minutes=30))
    verdict = evaluate(times, HOUR_AND_DAY, None, (), OPENED + dt.timedelta(days=3))
    assert _due(verdict) == {(RESOLUTION, BREACH)}


def test_a_late_answer_is_a_breach_even_when_first_looked_at_after_it():
    times = IncidentTimes(OPENED, responded_at=OPENED + dt.timedelta(minutes=61))
    verdict = evaluate(times, HOUR_AND_DAY, None, (), OPENED + dt.timedelta(minutes=62))
    assert _due(verdict) == {(RESPONSE, BREACH)}


def test_resolving_counts_as_the_first_response_and_stops_every_clock():
    times = IncidentTimes(OPENED, resolved_at=OPENED + dt.timedelta(minutes=20))
    verdict = evaluate(times, HOUR_AND_DAY, None, (), OPENED + dt.timedelta(days=5))
    assert verdict.due == [] and verdict.next_check is None


def test_a_suspension_in_force_holds_the_clock_with_no_next_check():
    pause = [(OPENED + dt.timedelta(minutes=10), None)]
    verdict = evaluate(
        IncidentTimes(OPENED), HOUR_AND_DAY, None, pause, OPENED + dt.timedelta(days=2)
    )
    assert verdict.due == [] and verdict.next_check is None


def test_a_past_suspension_moves_the_deadlines_by_its_length():
    pause = [(OPENED + dt.timedelta(minutes=10), OPENED + dt.timedelta(minutes=40))]
    verdict = evaluate(
        IncidentTimes(OPENED), HOUR_AND_DAY, None, pause, OPENED + dt.timedelta(minutes=80)
    )
    assert _due(verdict) == {(RESPONSE, WARNING)}  # 50 of 60 minutes counted
    assert verdict.next_check == OPENED + dt.timedelta(minutes=90)


def test_business_hours_policy_waits_for_monday_morning():
    friday_evening = D(2027, 1, 8, 17, 30)
    hours = BusinessHours("UTC", {d: (dt.time(8), dt.time(18)) for d in range(5)})
    targets = targets_with(DEFAULTS["standard"], response_minutes=60)
    verdict = evaluate(IncidentTimes(friday_evening), targets, hours, (), D(2027, 1, 10, 23))
    assert verdict.due == []
    # 30 minutes on Friday, then 18 more (80% of 60) from 08:00 on Monday.
    assert verdict.next_check == D(2027, 1, 11, 8, 18)


def test_the_service_overrides_only_what_it_sets():
    targets = targets_with(DEFAULTS["premium"], response_minutes=30, warning_percent=None)
    assert (targets.response_minutes, targets.resolution_minutes, targets.warning_percent) == (
        30,
        DEFAULTS["premium"].resolution_minutes,
        80,
    )


def test_business_hours_round_trip_through_json():
    hours = BusinessHours(
        "Europe/Berlin", {0: (dt.time(7, 30), dt.time(16)), 5: (dt.time(9), dt.time(12))}
    )
    assert BusinessHours.from_json("Europe/Berlin", hours.to_json()) == hours
    assert BusinessHours.from_json("UTC", None) == BusinessHours("UTC")
