"""Which change to a service moves its monthly recurring revenue, into which bucket.

A service contributes its price per cycle on a day when its recurring billing runs that day and
is not paused; one-time services never contribute. movements() compares the service's facts
before and after one action and names the step in that contribution, so every change is filed
the moment it is made, in its own transaction (webapp.billing.ledger writes the row).

Suspension is a contraction, not churn: the client still holds the contract, and resuming it
is its own bucket (resumed). Churn means the service ended. So cancelling a suspended service
counts as a service lost but moves no revenue: its revenue left when it was suspended.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from webapp.lifecycle.billing import ServiceFacts
from webapp.lifecycle.statuses import BillingCycle
from webapp.lifecycle.statuses import ServiceStatus as S
from webapp.lifecycle.transitions import Action


class MovementKind(StrEnum):
    NEW = "new"
    EXPANSION = "expansion"
    RESUMED = "resumed"
    CONTRACTION = "contraction"
    CHURNED = "churned"


@dataclass(frozen=True)
class Movement:
    kind: MovementKind
    amount: Decimal  # signed change of the per-cycle amount billing
    services: int  # +1 the service starts billing, -1 it ends, else 0
    effective_on: dt.date


def contribution(facts: ServiceFacts) -> Decimal:
    """The per-cycle amount a running service adds to MRR: its price unless it is suspended."""
    if facts.cycle == BillingCycle.ONE_TIME or facts.activated_on is None:
        return Decimal(0)
    return Decimal(0) if facts.status == S.SUSPENDED else facts.price


def movements(
    before: ServiceFacts, after: ServiceFacts, action: Action, today: dt.date
) -> list[Movement]:
    """The steps in MRR that `action` took the service through (none, or one)."""
    if after.cycle == BillingCycle.ONE_TIME:
        return []
    if before.activated_on is None and action != Action.ACTIVATE:
        return []  # a pending service was never billing: its price or cancellation moves nothing
    match Action(action):
        case Action.ACTIVATE:
            return [Movement(MovementKind.NEW, after.price, 1, after.activated_on)]
        case Action.CHANGE_PRICE | Action.CHANGE_QUANTITY:
            # facts.price is unit price x quantity: a change of either is the step between them.
            # While suspended nothing is billing, so nothing moves: resuming brings back the
            # new amount as resumed revenue (one row per event: the ledger's event_id is unique).
            if before.status == S.SUSPENDED:
                return []
            change = after.price - before.price
            if not change:
                return []
            kind = MovementKind.EXPANSION if change > 0 else MovementKind.CONTRACTION
            return [Movement(kind, change, 0, today)]
        case Action.SUSPEND:
            return [Movement(MovementKind.CONTRACTION, -before.price, 0, after.paused_since)]
        case Action.RESUME:
            return [Movement(MovementKind.RESUMED, after.price, 0, today)]
        case Action.CANCEL | Action.EXPIRE:
            # Dated by when billing stops: ahead for a cancellation at term end, back at the
            # term's end for an expiry (which comes after a grace period).
            return [Movement(MovementKind.CHURNED, -contribution(before), -1, after.stop_on)]
    return []
