"""Which change moves which MRR bucket (design §2.2), without an app or a database."""

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from webapp.lifecycle.billing import ServiceFacts
from webapp.lifecycle.revenue import Movement, movements
from webapp.lifecycle.revenue import MovementKind as K
from webapp.lifecycle.statuses import BillingCycle as C
from webapp.lifecycle.statuses import ServiceStatus as S
from webapp.lifecycle.transitions import Action as A

D = dt.date
TODAY = D(2027, 2, 20)
PENDING = ServiceFacts(
    status=S.PENDING,
    version=1,
    price=Decimal("300.00"),
    currency="EUR",
    cycle=C.MONTHLY,
    activated_on=None,
    term_end=D(2028, 1, 10),
    paused_since=None,
    paused_days=0,
    stop_on=None,
)
ACTIVE = replace(PENDING, status=S.ACTIVE, activated_on=D(2027, 1, 10))
SUSPENDED = replace(ACTIVE, status=S.SUSPENDED, paused_since=D(2027, 2, 1))
TERM_END = ACTIVE.term_end


def m(kind, amount, services, on):
    return [Movement(kind, Decimal(amount), services, on)]


@pytest.mark.parametrize(
    ("before", "after", "action", "expected"),
    [
        pytest.param(
            PENDING, ACTIVE, A.ACTIVATE, m(K.NEW, "300", 1, ACTIVE.activated_on), id="activate"
        ),
        pytest.param(
            ACTIVE,
            replace(ACTIVE, price=Decimal(450)),
            A.CHANGE_PRICE,
            m(K.EXPANSION, "150", 0, TODAY),
            id="price-up",
        ),
        pytest.param(
            ACTIVE,
            replace(ACTIVE, price=Decimal(240)),
            A.CHANGE_PRICE,
            m(K.CONTRACTION, "-60", 0, TODAY),
            id="price-down",
        ),
        pytest.param(
            PENDING, replace(PENDING, price=Decimal(450)), A.CHANGE_PRICE, [], id="price-pending"
        ),
        pytest.param(
            SUSPENDED,
            replace(SUSPENDED, price=Decimal(450)),
            A.CHANGE_PRICE,
            [],
            id="price-suspended",  # nothing billing: resuming brings the new price back
        ),
        # Seats: facts.price is unit price x quantity (webapp.billing.ledger.facts_of).
        pytest.param(
            ACTIVE,
            replace(ACTIVE, price=Decimal(360)),  # 25 -> 30 seats at 12.00
            A.CHANGE_QUANTITY,
            m(K.EXPANSION, "60", 0, TODAY),
            id="seats-up",
        ),
        pytest.param(
            ACTIVE,
            replace(ACTIVE, price=Decimal(240)),
            A.CHANGE_QUANTITY,
            m(K.CONTRACTION, "-60", 0, TODAY),
            id="seats-down",
        ),
        pytest.param(
            PENDING,
            replace(PENDING, price=Decimal(360)),
            A.CHANGE_QUANTITY,
            [],
            id="seats-pending",
        ),
        pytest.param(
            SUSPENDED,
            replace(SUSPENDED, price=Decimal(360)),
            A.CHANGE_QUANTITY,
            [],
            id="seats-suspended",
        ),
        pytest.param(
            replace(ACTIVE, cycle=C.ONE_TIME),
            replace(ACTIVE, price=Decimal(360), cycle=C.ONE_TIME),
            A.CHANGE_QUANTITY,
            [],
            id="seats-one-time",
        ),
        pytest.param(
            ACTIVE,
            replace(ACTIVE, status=S.SUSPENDED, paused_since=TODAY),
            A.SUSPEND,
            m(K.CONTRACTION, "-300", 0, TODAY),
            id="suspend",
        ),
        pytest.param(
            SUSPENDED,
            replace(ACTIVE, paused_days=19),
            A.RESUME,
            m(K.RESUMED, "300", 0, TODAY),
            id="resume",
        ),
        pytest.param(
            ACTIVE,
            replace(ACTIVE, status=S.CANCELLED, stop_on=TODAY),
            A.CANCEL,
            m(K.CHURNED, "-300", -1, TODAY),
            id="cancel-now",
        ),
        pytest.param(
            ACTIVE,
            replace(ACTIVE, status=S.CANCELLED, stop_on=TERM_END),
            A.CANCEL,
            m(K.CHURNED, "-300", -1, TERM_END),
            id="cancel-at-term-end-is-dated-ahead",
        ),
        pytest.param(
            SUSPENDED,
            replace(SUSPENDED, status=S.CANCELLED, stop_on=TODAY),
            A.CANCEL,
            m(K.CHURNED, "0", -1, TODAY),
            id="cancel-suspended-moves-no-revenue",
        ),
        pytest.param(
            SUSPENDED,
            replace(SUSPENDED, status=S.CANCELLED, stop_on=TERM_END),
            A.CANCEL,
            m(K.CHURNED, "0", -1, TERM_END),
            id="cancel-suspended-at-term-end",
        ),
        pytest.param(
            PENDING,
            replace(PENDING, status=S.CANCELLED, stop_on=TODAY),
            A.CANCEL,
            [],
            id="cancel-pending-never-billed",
        ),
        pytest.param(
            ACTIVE,
            replace(ACTIVE, status=S.EXPIRED, stop_on=TERM_END),
            A.EXPIRE,
            m(K.CHURNED, "-300", -1, TERM_END),
            id="expire-dated-back-at-term-end",
        ),
        pytest.param(
            SUSPENDED,
            replace(SUSPENDED, status=S.EXPIRED, stop_on=TERM_END),
            A.EXPIRE,
            m(K.CHURNED, "0", -1, TERM_END),
            id="expire-suspended",
        ),
        pytest.param(ACTIVE, replace(ACTIVE, term_end=D(2029, 1, 10)), A.RENEW, [], id="renew"),
        # A cancellation at term end moves revenue when it takes effect, not when scheduled
        # or undone: the service bills until then (the reports list it as leaving meanwhile).
        pytest.param(ACTIVE, ACTIVE, A.SCHEDULE_CANCELLATION, [], id="schedule-cancellation"),
        pytest.param(ACTIVE, ACTIVE, A.UNDO_CANCELLATION, [], id="undo-cancellation"),
    ],
)
def test_each_change_moves_its_bucket(before, after, action, expected):
    assert movements(before, after, action, TODAY) == expected


def test_the_schedulers_late_cancellation_at_term_end_churns_on_the_day_it_was_due():
    ended = replace(ACTIVE, status=S.CANCELLED, stop_on=TERM_END)
    three_days_late = TERM_END + dt.timedelta(days=3)
    assert movements(ACTIVE, ended, A.CANCEL, three_days_late) == m(K.CHURNED, "-300", -1, TERM_END)


@pytest.mark.parametrize(
    "action", [A.ACTIVATE, A.CHANGE_PRICE, A.SUSPEND, A.RESUME, A.CANCEL, A.EXPIRE]
)
def test_one_time_services_never_move_mrr(action):
    one_time = replace(ACTIVE, cycle=C.ONE_TIME)
    after = replace(one_time, price=Decimal(999), status=S.CANCELLED, stop_on=TODAY)
    assert movements(replace(PENDING, cycle=C.ONE_TIME), after, action, TODAY) == []
    assert movements(one_time, after, action, TODAY) == []


def test_a_price_change_to_the_same_price_is_no_movement():
    assert movements(ACTIVE, ACTIVE, A.CHANGE_PRICE, TODAY) == []


def test_suspend_and_resume_on_one_day_cancel_out():
    out = movements(
        ACTIVE, replace(ACTIVE, status=S.SUSPENDED, paused_since=TODAY), A.SUSPEND, TODAY
    )
    back = movements(
        replace(ACTIVE, status=S.SUSPENDED, paused_since=TODAY), ACTIVE, A.RESUME, TODAY
    )
    assert out[0].amount + back[0].amount == 0
    assert out[0].effective_on == back[0].effective_on
