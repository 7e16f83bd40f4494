"""The transition table, without an app or a database."""

import pytest

from webapp.lifecycle import (
    Action,
    InvalidTransition,
    ServiceStatus,
    allowed_actions,
    next_status,
)
from webapp.lifecycle.transitions import TRANSITIONS, offered_actions

S = ServiceStatus
LEGAL = {
    (Action.PROVISION, None): S.PENDING,
    (Action.ACTIVATE, S.PENDING): S.ACTIVE,
    (Action.SUSPEND, S.ACTIVE): S.SUSPENDED,
    (Action.RESUME, S.SUSPENDED): S.ACTIVE,
    (Action.CANCEL, S.PENDING): S.CANCELLED,
    (Action.CANCEL, S.ACTIVE): S.CANCELLED,
    (Action.CANCEL, S.SUSPENDED): S.CANCELLED,
    (Action.RENEW, S.ACTIVE): S.ACTIVE,
    (Action.RENEW, S.SUSPENDED): S.SUSPENDED,
    (Action.EXPIRE, S.ACTIVE): S.EXPIRED,
    (Action.EXPIRE, S.SUSPENDED): S.EXPIRED,
    # Price and seats: also while suspended (DESIGN.md), never once ended; the status stays.
    (Action.CHANGE_PRICE, S.PENDING): S.PENDING,
    (Action.CHANGE_PRICE, S.ACTIVE): S.ACTIVE,
    (Action.CHANGE_PRICE, S.SUSPENDED): S.SUSPENDED,
    (Action.CHANGE_QUANTITY, S.PENDING): S.PENDING,
    (Action.CHANGE_QUANTITY, S.ACTIVE): S.ACTIVE,
    (Action.CHANGE_QUANTITY, S.SUSPENDED): S.SUSPENDED,
    # At the end of a running term; the status stays until the scheduler cancels it.
    (Action.SCHEDULE_CANCELLATION, S.ACTIVE): S.ACTIVE,
    (Action.SCHEDULE_CANCELLATION, S.SUSPENDED): S.SUSPENDED,
    (Action.UNDO_CANCELLATION, S.ACTIVE): S.ACTIVE,
    (Action.UNDO_CANCELLATION, S.SUSPENDED): S.SUSPENDED,
}
ALL_PAIRS = [(a, s) for a in Action for s in [None, *S]]
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in LEGAL]


@pytest.mark.parametrize(("action", "status"), list(LEGAL))
def test_legal_transition_leads_to_its_status(action, status):
    assert next_status(action, status, 7) == LEGAL[(action, status)]


@pytest.mark.parametrize(("action", "status"), ILLEGAL)
def test_illegal_transition_is_refused_naming_service_status_and_action(action, status):
    with pytest.raises(InvalidTransition) as refused:
        next_status(action, status, 42)
    message = str(refused.value)
    assert "service 42" in message
    assert action.value in message
    assert (status.value if status else "not yet provisioned") in message
    assert refused.value.status == status


def test_resume_of_cancelled_service_says_where_resume_is_allowed():
    with pytest.raises(
        InvalidTransition, match=r"it is cancelled \(resume is allowed from suspended\)"
    ):
        next_status(Action.RESUME, S.CANCELLED, 3)


def test_terminal_statuses_allow_no_user_action():
    assert allowed_actions(S.CANCELLED) == []
    assert allowed_actions(S.EXPIRED) == []


def test_allowed_actions_match_the_table():
    assert allowed_actions(S.PENDING) == [
        Action.ACTIVATE,
        Action.CHANGE_PRICE,
        Action.CHANGE_QUANTITY,
        Action.CANCEL,
    ]
    assert allowed_actions(S.ACTIVE) == [
        Action.SUSPEND,
        Action.RENEW,
        Action.CHANGE_PRICE,
        Action.CHANGE_QUANTITY,
        Action.CANCEL,
        Action.UNDO_CANCELLATION,
    ]
    assert allowed_actions(S.SUSPENDED) == [
        Action.RESUME,
        Action.RENEW,
        Action.CHANGE_PRICE,
        Action.CHANGE_QUANTITY,
        Action.CANCEL,
        Action.UNDO_CANCELLATION,
    ]


def test_a_page_offers_undo_only_while_a_cancellation_is_scheduled_and_then_no_renewal():
    assert offered_actions(S.ACTIVE, cancellation_scheduled=False) == [
        Action.SUSPEND,
        Action.RENEW,
        Action.CHANGE_PRICE,
        Action.CHANGE_QUANTITY,
        Action.CANCEL,
    ]
    # Still running until its term end: suspend, price and seat changes and cancelling now stay.
    assert offered_actions(S.ACTIVE, cancellation_scheduled=True) == [
        Action.SUSPEND,
        Action.CHANGE_PRICE,
        Action.CHANGE_QUANTITY,
        Action.CANCEL,
        Action.UNDO_CANCELLATION,
    ]
    assert offered_actions(S.SUSPENDED, cancellation_scheduled=True) == [
        Action.RESUME,
        Action.CHANGE_PRICE,
        Action.CHANGE_QUANTITY,
        Action.CANCEL,
        Action.UNDO_CANCELLATION,
    ]
    assert offered_actions(S.CANCELLED, cancellation_scheduled=False) == []


def test_every_action_has_exactly_one_rule():
    assert set(TRANSITIONS) == set(Action)
