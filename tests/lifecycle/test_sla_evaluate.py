"""An incident against its policy: which warnings and breaches it reached, each once."""

import datetime as dt

from webapp.lifecycle.sla import (
    BREACH,
    DEFAULTS,
    RESOLUTION,
    RESPONSE,
    WARNING,
    BusinessHours,
    IncidentTimes,
    SlaTargets,
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


def test_the_warning_comes_at_the_threshold_then_the_breach_at_the_target():
    at_48 = evaluate(
        IncidentTimes(OPENED), HOUR_AND_DAY, None, (), OPENED + dt.timedelta(minutes=48)
    )
    assert _due(at_48) == {(RESPONSE, WARNING)}
    assert at_48.next_check == OPENED + dt.timedelta(minutes=60)
    recorded = frozenset({(RESPONSE, WARNING)})
    at_60 = evaluate(
        IncidentTimes(OPENED), HOUR_AND_DAY, None, (), OPENED + dt.timedelta(minutes=60), recorded
    )
    assert _due(at_60) == {(RESPONSE, BREACH)}


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
