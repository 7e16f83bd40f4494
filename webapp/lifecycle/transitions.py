"""Which action may move a service from which status to which.

Theory of operation: a service's status changes only through an action. TRANSITIONS is the whole
rule book: for each action, the statuses it may start from and the status it leads to (None means
the status stays as it is, as with renew). next_status() is the only place that reads the table;
it either names the new status or raises InvalidTransition, and it never changes anything itself,
so a refused action leaves the service exactly as it was.
"""

from dataclasses import dataclass
from enum import StrEnum

from webapp.lifecycle.statuses import ServiceStatus as S


class Action(StrEnum):
    PROVISION = "provision"
    ACTIVATE = "activate"
    SUSPEND = "suspend"
    RESUME = "resume"
    CANCEL = "cancel"
    RENEW = "renew"
    EXPIRE = "expire"
    CHANGE_PRICE = "change_price"
    CHANGE_QUANTITY = "change_quantity"  # seats: the unit price stays
    # Cancel at the end of the term: the service runs on until then (its status stays); the
    # scheduler cancels it on that day (CANCEL), unless it is undone before.
    SCHEDULE_CANCELLATION = "schedule_cancellation"
    UNDO_CANCELLATION = "undo_cancellation"


@dataclass(frozen=True)
class Rule:
    sources: frozenset[S | None]
    target: S | None


NEW = None  # the "status" of a service that does not exist yet

TRANSITIONS: dict[Action, Rule] = {
    Action.PROVISION: Rule(frozenset({NEW}), S.PENDING),
    Action.ACTIVATE: Rule(frozenset({S.PENDING}), S.ACTIVE),
    Action.SUSPEND: Rule(frozenset({S.ACTIVE}), S.SUSPENDED),
    Action.RESUME: Rule(frozenset({S.SUSPENDED}), S.ACTIVE),
    Action.CANCEL: Rule(frozenset({S.PENDING, S.ACTIVE, S.SUSPENDED}), S.CANCELLED),
    Action.RENEW: Rule(frozenset({S.ACTIVE, S.SUSPENDED}), None),
    Action.EXPIRE: Rule(frozenset({S.ACTIVE, S.SUSPENDED}), S.EXPIRED),
    # Also while suspended (DESIGN.md): the change counts from the resume day on the invoices,
    # and moves no revenue until then (resuming brings the new amount back). Pending: the
    # price or seats it will go live with.
    Action.CHANGE_PRICE: Rule(frozenset({S.PENDING, S.ACTIVE, S.SUSPENDED}), None),
    Action.CHANGE_QUANTITY: Rule(frozenset({S.PENDING, S.ACTIVE, S.SUSPENDED}), None),
    # Not while pending: no term is running yet whose end it could wait for (cancel it now).
    Action.SCHEDULE_CANCELLATION: Rule(frozenset({S.ACTIVE, S.SUSPENDED}), None),
    # Whether a cancellation is scheduled is not a status: the action itself refuses when
    # there is none (webapp.services.actions.undo_cancellation).
    Action.UNDO_CANCELLATION: Rule(frozenset({S.ACTIVE, S.SUSPENDED}), None),
}

# Actions a person may take from a page; expire belongs to the scheduler.
USER_ACTIONS = (
    Action.ACTIVATE,
    Action.SUSPEND,
    Action.RESUME,
    Action.RENEW,
    Action.CHANGE_PRICE,
    Action.CHANGE_QUANTITY,
    Action.CANCEL,
    Action.UNDO_CANCELLATION,
)


class TransitionRefused(Exception):
    """A transition that was not made; the service is unchanged. Shown to users as a 409."""


class InvalidTransition(TransitionRefused):
    def __init__(self, service_id, status: S | None, action: Action):
        self.service_id, self.status, self.action = service_id, status, Action(action)
        allowed = sorted(str(s) for s in TRANSITIONS[self.action].sources if s is not None)
        current = status.value if status is not None else "not yet provisioned"
        super().__init__(
            f"Cannot {self.action.value} service {service_id}: it is {current}"
            + (f" ({self.action.value} is allowed from {', '.join(allowed)})." if allowed else ".")
        )


class ConcurrentTransition(TransitionRefused):
    def __init__(self, service_id, action: Action):
        self.service_id, self.action = service_id, Action(action)
        super().__init__(
            f"Service {service_id} was changed by someone else while you tried to "
            f"{self.action.value} it. Nothing was changed; reload to see its current state."
        )


def next_status(action: Action, current: S | None, service_id=None) -> S | None:
    """The status `action` leads to from `current`, or InvalidTransition."""
    rule = TRANSITIONS[Action(action)]
    if current not in rule.sources:
        raise InvalidTransition(service_id, current, action)
    return current if rule.target is None else rule.target


def allowed_actions(current: S | None, actions=USER_ACTIONS) -> list[Action]:
    """The actions that may be taken from `current`, in the order given."""
    return [a for a in actions if current in TRANSITIONS[a].sources]


def offered_actions(current: S | None, cancellation_scheduled: bool) -> list[Action]:
    """The actions a service's page offers: undo only while a cancellation is scheduled, and
    no renewal meanwhile (a term that is ending is not extended: undo the cancellation first)."""
    hidden = Action.RENEW if cancellation_scheduled else Action.UNDO_CANCELLATION
    return [a for a in allowed_actions(current) if a != hidden]
