"""Domain events: frozen facts, named in the past tense, that background listeners act on.

Each event carries ids and plain values only (never objects), so it can be stored as JSON in the
outbox and rebuilt in a worker with from_payload().
"""

import dataclasses
import datetime as dt
import types
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Event:
    service_id: int

    @property
    def name(self) -> str:
        return type(self).__name__

    def payload(self) -> dict:
        return {k: _to_json(v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_payload(cls, payload: dict) -> "Event":
        hints = {f.name: f.type for f in dataclasses.fields(cls)}
        return cls(**{k: _from_json(hints[k], v) for k, v in payload.items() if k in hints})


@dataclass(frozen=True)
class ServiceProvisioned(Event):
    client_id: int
    price: Decimal
    currency: str
    billing_cycle: str


@dataclass(frozen=True)
class ServiceActivated(Event):
    activated_on: dt.date
    term_end: dt.date


@dataclass(frozen=True)
class ServiceSuspended(Event):
    reason: str


@dataclass(frozen=True)
class ServiceResumed(Event):
    paused_days: int


@dataclass(frozen=True)
class ServiceCancelled(Event):
    reason: str
    effective_on: dt.date
    at_term_end: bool


@dataclass(frozen=True)
class ServiceRenewed(Event):
    months: int
    term_end: dt.date


@dataclass(frozen=True)
class ServiceExpired(Event):
    term_end: dt.date


@dataclass(frozen=True)
class ServicePriceChanged(Event):
    """A new price per cycle (a change of seats is a price change with a note). The prorated
    adjustment for the rest of the cycle is worked out when the change is made, so it depends
    on nothing that happens later; None when nothing is billing yet."""

    old_price: Decimal
    new_price: Decimal
    currency: str
    cycle: str
    effective_on: dt.date
    note: str
    adjustment: Decimal | None
    period_start: dt.date | None
    period_end: dt.date | None


@dataclass(frozen=True)
class ServiceDueForRenewal(Event):
    term_end: dt.date
    days_before: int


@dataclass(frozen=True)
class ServiceSLABreached(Event):
    incident_id: int
    kind: str  # "response" or "resolution"


@dataclass(frozen=True)
class ServiceSLAAtRisk(Event):
    """An incident's clock reached the policy's warning threshold (80% by default)."""

    incident_id: int
    kind: str  # "response" or "resolution"


@dataclass(frozen=True)
class ServiceAlertEscalated(Event):
    """An SLA alert stayed unacknowledged past the company's escalation time."""

    alert_id: int
    waited_minutes: int


@dataclass(frozen=True)
class ServiceSLAChanged(Event):
    """Someone changed the service's own SLA policy; None is the service level's default."""

    response_minutes: int | None
    resolution_minutes: int | None
    availability_target: str | None  # a decimal percentage, as text
    warning_percent: int | None
    around_the_clock: bool | None


@dataclass(frozen=True)
class ServiceHealthDegraded(Event):
    previous_score: int
    score: int


def _to_json(value):
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _from_json(hint, value):
    if value is None:
        return None
    if isinstance(hint, types.UnionType):  # "Decimal | None": the value is the non-None kind
        hint = next(h for h in hint.__args__ if h is not type(None))
    if hint in (dt.date, "dt.date"):
        return dt.date.fromisoformat(value)
    if hint in (Decimal, "Decimal"):
        return Decimal(value)
    return value
