"""The rules start at a service's last charged period where nothing moved its periods (no
suspension), instead of counting every period since the anchor: the same lines as the count
from the first period, which a suspension still makes them do."""

import datetime as dt
import random
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta

from webapp.lifecycle import invoicing as rules
from webapp.lifecycle.statuses import BillingCycle as C

CYCLES = [C.WEEKLY, C.MONTHLY, C.QUARTERLY, C.SEMI_ANNUAL, C.ANNUAL]


def test_months_are_added_as_dateutil_adds_them():
    day = dt.date(2023, 1, 1)
    while day < dt.date(2029, 1, 1):
        for months in (1, 2, 3, 6, 12, 13, 35, 121):
            assert rules._plus_months(day, months) == day + relativedelta(months=months)
        day += dt.timedelta(days=1)


@pytest.mark.parametrize("seed", range(4))
def test_the_lines_from_the_cursor_are_those_counted_from_the_first_period(seed):
    rng = random.Random(seed)
    for _ in range(500):
        history, billed, run_date = _case(rng)
        # A suspension after everything looked at changes no line, but makes the rules count
        # the periods from the first one.
        later = rules.Pause(run_date + dt.timedelta(days=400), None)
        walked = rules.History(**{**history.__dict__, "pauses": (later,)})
        assert rules.due_lines(history, billed, run_date) == rules.due_lines(
            walked, billed, run_date
        ), (history, billed, run_date)


def _case(rng: random.Random):
    cycle = rng.choice(CYCLES)
    anchor = dt.date(2019, 1, 1) + dt.timedelta(days=rng.randint(0, 2000))
    if rng.random() < 0.3:
        anchor = anchor.replace(day=28) + relativedelta(day=31)  # a month's end
    run_date = anchor + dt.timedelta(days=rng.randint(0, 2500))
    rates = [rules.Rate(anchor, Decimal(rng.choice(("10", "12.50", "99"))), rng.randint(1, 5), 0)]
    version = 2
    for n in range(rng.randint(0, 3)):
        version += 1
        made = run_date - dt.timedelta(days=rng.randint(0, 400))
        rates.append(
            rules.Rate(max(made, anchor), Decimal(rng.choice(("11", "30"))), 2, version, 100 + n)
        )
    stop = None
    if rng.random() < 0.3:
        stop = rules.Stop(run_date - dt.timedelta(days=rng.randint(0, 200)), 7)
    history = rules.History(
        service_id=1,
        cycle=cycle,
        anchor=anchor,
        version=version,
        rates=tuple(rates),
        stop=stop,
        bound=None if rng.random() < 0.8 else run_date + dt.timedelta(days=rng.randint(-90, 90)),
        setup_fee=Decimal(rng.choice(("0", "50"))),
    )
    # Where earlier runs left it: the periods started some days before this run charged.
    charged = rules.due_lines(history, rules.Billed(), run_date - dt.timedelta(rng.randint(0, 60)))
    billed = rules.Billed(
        periods_charged=charged.periods_charged,
        settled_version=rng.choice((0, 2, version - 1, version)),
        keys=frozenset(rng.sample(["event:100", "event:101", "event:7"], rng.randint(0, 2))),
    )
    return history, billed, run_date
