"""The one clock: frozen for a block (the demo seed's history), and back after it."""

import datetime as dt

from webapp.clock import frozen, today, utcnow


def test_the_clock_can_be_frozen_for_a_block_and_comes_back():
    at = dt.datetime(2026, 1, 31, 21, 0)
    with frozen(at):
        assert utcnow() == at and today() == dt.date(2026, 1, 31)
        with frozen(at + dt.timedelta(days=1)):
            assert today() == dt.date(2026, 2, 1)
        assert utcnow() == at
    assert abs(utcnow() - dt.datetime.now(dt.UTC).replace(tzinfo=None)) < dt.timedelta(seconds=5)
