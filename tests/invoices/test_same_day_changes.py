"""Several changes of a service on one day are one change (issue 17: seats that follow
devices change once per asset added or retired): one adjustment from the rate before the first
to the rate after the last, rounded once, and never billed twice whatever the runs saw."""

import datetime as dt
from decimal import Decimal

from webapp.lifecycle import invoicing as rules
from webapp.lifecycle.statuses import BillingCycle as C

MARCH = dt.date(2026, 3, 1)
DAY = dt.date(2026, 3, 21)  # 11 of March's 31 days left


def _history(*quantities, price="31.00", day=DAY) -> rules.History:
    """2 seats from March 1st, then one change to each of `quantities` on `day`."""
    rates = [rules.Rate(MARCH, Decimal("31.00"), 2, 1)]
    for n, quantity in enumerate(quantities):
        rates.append(rules.Rate(day, Decimal(price), quantity, 2 + n, 100 + n))
    return rules.History(
        service_id=1, cycle=C.MONTHLY, anchor=MARCH, version=1 + len(quantities), rates=tuple(rates)
    )


def _billed(keys=(), settled=1) -> rules.Billed:
    return rules.Billed(
        periods_charged=1,
        settled_version=settled,
        keys=frozenset(keys),
        line_versions={MARCH: 1},
    )


def _adjustments(history, billed, run=dt.date(2026, 3, 22)):
    outcome = rules.due_lines(history, billed, run)
    return [(ln.key, ln.amount, ln.quantity) for ln in outcome.lines if ln.kind == "adjustment"]


def test_two_seats_added_on_one_day_are_one_adjustment():
    assert _adjustments(_history(3, 4), _billed()) == [("event:101", Decimal("22.00"), 4)]


def test_added_and_taken_away_the_same_day_is_no_change():
    assert _adjustments(_history(3, 2), _billed()) == []
    assert _adjustments(_history(3, 2, 3), _billed()) == [("event:102", Decimal("11.00"), 3)]


def test_the_days_changes_are_rounded_once():
    # Three seats at 1.00 for 11 of 31 days: 1.0645 -> 1.06, where three lines would be 1.05.
    history = _history(3, 4, 5, price="1.00")
    history = rules.History(
        **{
            **history.__dict__,
            "rates": (rules.Rate(MARCH, Decimal("1.00"), 2, 1), *history.rates[1:]),
        }
    )
    assert _adjustments(history, _billed()) == [("event:102", Decimal("1.06"), 5)]


def test_a_change_billed_before_the_next_of_its_day_is_not_billed_again():
    # A run between the day's two changes billed the first alone: the second counts from it.
    after_first = _billed(keys={"event:100"}, settled=2)
    assert _adjustments(_history(3, 4), after_first) == [("event:101", Decimal("11.00"), 4)]
    # And if the cursor is behind both (an earlier change pending), the first is still billed.
    behind = _billed(keys={"event:100"}, settled=1)
    assert _adjustments(_history(3, 4), behind) == [("event:101", Decimal("11.00"), 4)]


def test_changes_merged_into_one_line_are_not_billed_again_from_behind():
    # The day's two changes were billed as the last one's line; a cursor left behind them
    # (a pending change elsewhere) must not bill the first on its own.
    assert _adjustments(_history(3, 4), _billed(keys={"event:101"}, settled=1)) == []


def test_changes_on_different_days_stay_apart():
    history = _history(3, 4)
    second = rules.Rate(dt.date(2026, 3, 25), Decimal("31.00"), 4, 3, 101)
    history = rules.History(**{**history.__dict__, "rates": (*history.rates[:2], second)})
    assert _adjustments(history, _billed(), dt.date(2026, 3, 26)) == [
        ("event:100", Decimal("11.00"), 3),
        ("event:101", Decimal("7.00"), 4),
    ]
