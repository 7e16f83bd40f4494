"""The property test's oracle (tests/invoices/oracle.py) on cases worked out by hand."""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

from tests.invoices.oracle import History, Step, expected_total, nominal_start, period_starts

APR = dt.date(2027, 4, 1)  # April has 30 days: a monthly period from Apr 1 is 30 days long


def day(n: int) -> dt.date:
    return APR + dt.timedelta(days=n)


def monthly(*steps, price="30", quantity=1, setup="0") -> History:
    return History(APR, "monthly", Decimal(price), quantity, Decimal(setup), list(steps))


def test_nominal_starts_count_from_the_anchor_and_clamp_to_the_month_end():
    jan31 = dt.date(2027, 1, 31)
    assert [nominal_start(jan31, "monthly", k) for k in range(4)] == [
        jan31,
        dt.date(2027, 2, 28),
        dt.date(2027, 3, 31),
        dt.date(2027, 4, 30),
    ]
    leap = dt.date(2028, 2, 29)
    assert nominal_start(leap, "annual", 1) == dt.date(2029, 2, 28)
    assert nominal_start(leap, "annual", 4) == dt.date(2032, 2, 29)
    assert nominal_start(dt.date(2027, 8, 31), "semi_annual", 1) == dt.date(2028, 2, 29)
    assert nominal_start(leap, "weekly", 1) == dt.date(2028, 3, 7)


def test_periods_in_advance_from_the_first_run_and_after_missed_runs():
    h = monthly(Step(day(0), "run", day(0)), setup="12.50")
    assert expected_total(h) == Fraction("42.50")
    h.steps.append(Step(day(65), "run", day(65)))  # Apr 1, May 1, Jun 1 have started
    assert period_starts(h) == [APR, dt.date(2027, 5, 1), dt.date(2027, 6, 1)]
    assert expected_total(h) == Fraction("102.50")


def test_a_change_counts_from_its_day_and_a_seat_change_multiplies():
    # 10 days at 30/30 a day, then 20 days at 60/30: 10 + 40
    h = monthly(Step(day(10), "price", Decimal("60")), Step(day(10), "run", day(10)))
    assert expected_total(h) == 50
    # 2 seats at 30 for 20 days, 3 from day 20: 2 x 20 + 3 x 10 = 70
    h = monthly(
        Step(day(0), "run", day(0)),
        Step(day(20), "quantity", 3),
        Step(day(21), "run", day(21)),
        quantity=2,
    )
    assert expected_total(h) == 70


def test_suspended_days_push_the_period_and_a_change_then_counts_from_the_resume_day():
    h = monthly(
        Step(day(0), "run", day(0)),
        Step(day(10), "suspend"),
        Step(day(14), "price", Decimal("60")),
        Step(day(15), "run", day(15)),
    )
    # Suspended on the run: the 20 paid days left wait at the price in force (30), the change
    # made in the suspension does not count yet.
    assert expected_total(h) == 30
    h.steps += [Step(day(20), "resume"), Step(day(39), "run", day(39))]
    # 10 days at 1, then 20 days at 2 from the resume day; the period ends on day 40 (May 11)
    assert expected_total(h) == 50
    assert period_starts(h) == [APR]
    h.steps.append(Step(day(40), "run", day(40)))
    # The next period starts May 11 and is 31 days long (nominal May 1 to Jun 1) at 60.
    assert period_starts(h) == [APR, dt.date(2027, 5, 11)]
    assert expected_total(h) == 110


def test_a_stop_while_suspended_is_the_suspensions_first_day_and_credits_the_rest():
    h = monthly(
        Step(day(0), "run", day(0)),
        Step(day(10), "suspend"),
        Step(day(12), "price", Decimal("90")),
        Step(day(15), "cancel_now"),
        Step(day(16), "run", day(16)),
    )
    assert expected_total(h) == 10  # days 0-9 at 30/30; the change never counted


def test_a_period_never_starts_while_suspended_nor_on_or_after_the_stop_day():
    h = monthly(Step(day(30), "suspend"), Step(day(45), "run", day(45)))
    assert period_starts(h) == [APR]  # May 1 is suspended: the second period has not started
    assert expected_total(h) == 30
    h = monthly(Step(day(30), "cancel_now"), Step(day(31), "run", day(31)))
    assert expected_total(h) == 30  # cancelled on May 1: May is not charged


def test_a_cancellation_at_term_end_takes_effect_on_its_day():
    h = monthly(
        Step(day(5), "suspend"),
        Step(day(10), "resume"),
        Step(day(10), "schedule", day(30)),
        Step(day(20), "run", day(20)),
    )
    # The first period ends on day 35 now; until day 30 nothing is credited yet.
    assert expected_total(h) == 30
    h.steps += [Step(day(30), "cancel_due"), Step(day(30), "run", day(30))]
    assert expected_total(h) == 25  # 25 days served (0-4 and 10-29)


def test_one_time_is_charged_once_as_the_first_run_finds_it():
    h = History(
        APR,
        "one_time",
        Decimal("100"),
        2,
        Decimal("5"),
        [Step(day(0), "price", Decimal("120")), Step(day(1), "quantity", 3)],
    )
    h.steps += [
        Step(day(2), "run", day(2)),
        Step(day(3), "cancel_now"),
        Step(day(9), "run", day(9)),
    ]
    assert expected_total(h) == 245  # 120 x 2 + 5: the seat added after its day is not billed


def test_a_period_charged_before_a_suspension_that_same_day_keeps_its_start():
    h = monthly(Step(day(0), "run", day(0)), Step(day(0), "suspend"), Step(day(9), "run", day(9)))
    assert (period_starts(h), expected_total(h)) == ([APR], 30)  # all 30 days carried over
    h.steps += [Step(day(10), "resume"), Step(day(40), "run", day(40))]
    # Served from day 10 for 30 days; the next period starts on day 40 (May 11).
    assert period_starts(h) == [APR, dt.date(2027, 5, 11)]
    # Not charged before the suspension: the period starts when it ends.
    h = monthly(Step(day(0), "suspend"), Step(day(10), "resume"), Step(day(10), "run", day(10)))
    assert (period_starts(h), expected_total(h)) == ([day(10)], 30)
