"""The SLA clock over business hours, pauses and daylight-saving changes."""

import datetime as dt

from webapp.lifecycle.sla import DEFAULTS, BusinessHours, deadline, elapsed_minutes

D = dt.datetime
LONDON_9_TO_5 = BusinessHours("Europe/London", {d: (dt.time(9), dt.time(17)) for d in range(5)})


def test_around_the_clock_counts_every_minute():
    assert elapsed_minutes(D(2027, 1, 4, 10), D(2027, 1, 4, 12, 30), None) == 150


def test_business_hours_skip_nights_and_weekends():
    # Friday 16:00 to Monday 10:00 (London is UTC in January): 1 h Friday + 1 h Monday.
    assert elapsed_minutes(D(2027, 1, 8, 16), D(2027, 1, 11, 10), LONDON_9_TO_5) == 120


def test_deadline_rolls_over_the_weekend():
    assert deadline(D(2027, 1, 8, 16), 120, LONDON_9_TO_5) == D(2027, 1, 11, 10)


def test_a_suspension_pauses_the_clock():
    pause = [(D(2027, 1, 4, 11), D(2027, 1, 4, 13))]
    assert elapsed_minutes(D(2027, 1, 4, 10), D(2027, 1, 4, 15), None, pause) == 180
    assert deadline(D(2027, 1, 4, 10), 120, None, pause) == D(2027, 1, 4, 14)


def test_daylight_saving_start_moves_the_window_not_its_length():
    # Clocks go forward on Sunday 28 March 2027; Monday 29 opens at 09:00 BST = 08:00 UTC.
    monday_open = D(2027, 3, 29, 8)
    assert elapsed_minutes(D(2027, 3, 29, 0), D(2027, 3, 29, 23), LONDON_9_TO_5) == 480
    assert deadline(D(2027, 3, 26, 16), 120, LONDON_9_TO_5) == monday_open + dt.timedelta(hours=1)


def test_around_the_clock_over_the_change_counts_real_time():
    # Saturday 12:00 GMT to Sunday 12:00 BST is 23 hours of real time.
    assert elapsed_minutes(D(2027, 3, 27, 12), D(2027, 3, 28, 11), None) == 23 * 60


def test_a_policy_without_open_hours_has_no_deadline():
    assert deadline(D(2027, 1, 4), 60, BusinessHours("UTC", {}), horizon_days=14) is None


def test_defaults_per_service_level_get_faster_with_the_level():
    levels = ["basic", "standard", "premium", "enterprise"]
    assert [DEFAULTS[x].response_minutes for x in levels] == sorted(
        (DEFAULTS[x].response_minutes for x in levels), reverse=True
    )
    assert DEFAULTS["enterprise"].around_the_clock and not DEFAULTS["basic"].around_the_clock
