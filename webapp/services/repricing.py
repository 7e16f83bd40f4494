"""Bulk price change: a percentage or an amount per unit for the services the services list's
filters select, previewed, then applied as one price change each, all or nothing.

The preview shows every selected service with its version; the apply carries those versions
back and applies nothing if any service changed since (or would get a price no service can
have), so what is applied is exactly what was previewed. Each service gets its own
ServicePriceChanged through change_price's own change (actions.price_change), in one unit of
work: the invoicing and the revenue ledger see the same events as for one change at a time.
"""

import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from webapp.clients.models import Client
from webapp.extensions import db
from webapp.forms import MAX_AMOUNT
from webapp.lifecycle.invoicing import cents
from webapp.lifecycle.statuses import BillingCycle, ServiceStatus
from webapp.lifecycle.transitions import TRANSITIONS, Action, TransitionRefused
from webapp.pipeline.outbox import unit_of_work
from webapp.services import actions
from webapp.services.models import ClientService
from webapp.services.queries import ServiceQuery, service_filters
from webapp.tenancy import MAX_ID

# One apply runs about seven statements per service (the guarded UPDATE, the event and its
# deliveries, the revenue row) in one transaction, inside one web request: 1,000 took 2.6 s on
# SQLite and 4.7 s on PostgreSQL on a busy 2-core box, so 2,000 stays well inside gunicorn's
# 30-s worker timeout (and SQLite's single writer is not held for long). Past it, narrow the
# filters and apply in parts.
MAX_SERVICES = 2000

# The statuses a price may change from (pending, active, suspended); ended services are left out.
CHANGEABLE = tuple(sorted(s for s in TRANSITIONS[Action.CHANGE_PRICE].sources if s is not None))

PERCENT, AMOUNT = "percent", "amount"


@dataclass(frozen=True)
class PriceStep:
    """The change: `value` percent of the unit price, or `value` added to it (either sign)."""

    by: str  # PERCENT or AMOUNT
    value: Decimal

    def new_price(self, price: Decimal) -> Decimal:
        """Rounded to the cent, half away from zero (as every amount on an invoice)."""
        if self.by == PERCENT:
            return cents(price * (100 + self.value) / 100)
        return cents(price + self.value)

    @property
    def label(self) -> str:
        if self.by == PERCENT:
            return f"{self.value:+}%"
        return f"{self.value:+.2f} per unit"

    @property
    def note(self) -> str:
        return f"Bulk change {self.label}"


def step_problem(step: PriceStep) -> str | None:
    """What is wrong with a change as given (the page's form says it beside its field)."""
    if not step.value.is_finite():
        return "Enter a number, such as 5 or -2.50."
    if step.value.as_tuple().exponent < -2:
        return "Use at most two decimal places."
    if not step.value:
        return "A change of 0 changes nothing: enter +5, -10 or +2.50, say."
    if step.by == PERCENT and not -100 <= step.value <= 1000:
        return "Enter a percentage from -100 to +1000."
    if step.by == AMOUNT and abs(step.value) > MAX_AMOUNT:
        return f"Enter an amount from -{MAX_AMOUNT} to +{MAX_AMOUNT}."
    return None


@dataclass(frozen=True)
class Row:
    service_id: int
    version: int
    name: str
    client: str
    status: ServiceStatus
    currency: str
    cycle: BillingCycle
    quantity: int
    old: Decimal
    new: Decimal

    @property
    def problem(self) -> str | None:
        return _problem(self.new)

    @property
    def unchanged(self) -> bool:
        return self.new == self.old


@dataclass(frozen=True)
class Preview:
    step: PriceStep
    rows: list[Row]  # at most MAX_SERVICES
    selected: int  # services the filters select whose price may change
    left_out: int  # services the filters select that have ended (cancelled, expired)

    @property
    def too_many(self) -> bool:
        return self.selected > MAX_SERVICES

    @property
    def problems(self) -> list[Row]:
        return [r for r in self.rows if r.problem]

    @property
    def changing(self) -> list[Row]:
        return [r for r in self.rows if not r.unchanged]

    @property
    def per_currency(self) -> dict[str, int]:
        """How many services change price, per currency."""
        return dict(sorted(Counter(r.currency for r in self.changing).items()))

    @property
    def can_apply(self) -> bool:
        return bool(self.changing) and not self.problems and not self.too_many

    @property
    def seen(self) -> str:
        """The services that change and the version each was previewed at, for the apply."""
        return " ".join(f"{r.service_id}:{r.version}" for r in self.changing)


def _problem(new: Decimal) -> str | None:
    if new < 0:
        return f"would cost {new:.2f}: a price cannot be below 0"
    if new > MAX_AMOUNT:
        return f"would cost more than {MAX_AMOUNT}"
    return None


def preview(company_id: int, query: ServiceQuery, step: PriceStep) -> Preview:
    """Every service the filters select whose price may change, with its new price."""
    filters = service_filters(company_id, query)
    selected = db.session.scalar(
        select(func.count()).where(*filters, ClientService.status.in_(CHANGEABLE))
    )
    left_out = db.session.scalar(
        select(func.count()).where(*filters, ClientService.status.not_in(CHANGEABLE))
    )
    rows = db.session.execute(
        select(
            ClientService.id,
            ClientService.version,
            ClientService.name,
            Client.name,
            ClientService.status,
            ClientService.currency,
            ClientService.billing_cycle,
            ClientService.quantity,
            ClientService.price,
        )
        .join(Client, ClientService.client_id == Client.id)
        .where(*filters, ClientService.status.in_(CHANGEABLE))
        .order_by(Client.name, ClientService.name, ClientService.id)
        .limit(MAX_SERVICES)
    ).all()
    return Preview(
        step=step,
        rows=[Row(*r[:8], old=r.price, new=step.new_price(r.price)) for r in rows],
        selected=selected,
        left_out=left_out,
    )


class BulkPriceRefused(TransitionRefused):
    """A bulk price change applied to nothing; `problems` says which services, and why."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "Nothing was changed: "
            + (
                "; ".join(problems[:5])
                + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            )
            + "."
        )


SEEN_PART = re.compile(r"(\d{1,10}):(\d{1,10})", re.ASCII)


def parse_seen(text: str) -> dict[int, int]:
    """The preview's "id:version ..." list; BulkPriceRefused for anything else."""
    seen = {}
    for part in (text or "").split():
        match = SEEN_PART.fullmatch(part)
        if match is None or not 0 < int(match[1]) <= MAX_ID or int(match[2]) > MAX_ID:
            raise BulkPriceRefused(
                ["this page's list of services is not one we sent: preview again"]
            )
        seen[int(match[1])] = int(match[2])
    if not seen:
        raise BulkPriceRefused(["no service to change: preview first"])
    if len(seen) > MAX_SERVICES:
        raise BulkPriceRefused([too_many(len(seen))])
    return seen


def too_many(count: int) -> str:
    return (
        f"{count:,} services are selected, and one change takes at most {MAX_SERVICES:,}: "
        "narrow the filters (by client or status, say) and change them in parts"
    )


def apply(company_id: int, seen: dict[int, int], step: PriceStep, actor: str) -> int:
    """Change the price of every service in `seen` (id: version previewed) by `step`, in one
    unit of work; returns how many changed. BulkPriceRefused, with nothing changed, when any
    of them is not this company's, has changed since, or would get a price no service can have.
    A service whose price the step leaves as it is, is left alone."""
    if len(seen) > MAX_SERVICES:
        raise BulkPriceRefused([too_many(len(seen))])
    with unit_of_work():
        services = _services(company_id, list(seen))
        problems = []
        for service_id in sorted(set(seen) - set(services)):
            problems.append(f"service {service_id} is not one of this company's services")
        for service in services.values():
            label = f"{service.name} ({service.client.name})"
            if service.version != seen[service.id]:
                problems.append(f"{label} changed since the preview")
            elif service.status not in CHANGEABLE:
                problems.append(f"{label} is {service.status.value}")
            elif problem := _problem(step.new_price(service.price)):
                problems.append(f"{label} {problem}")
        if problems:
            raise BulkPriceRefused(problems)
        changed = 0
        for service in services.values():
            new_price = step.new_price(service.price)
            if new_price == service.price:
                continue
            # The guarded UPDATE still refuses a change made since the read above (another
            # writer on PostgreSQL): the whole unit of work rolls back then.
            actions.apply_change(
                service,
                Action.CHANGE_PRICE,
                actor,
                seen[service.id],
                actions.price_change(new_price, step.note),
            )
            changed += 1
    return changed


def _services(company_id: int, ids: list[int]) -> dict[int, ClientService]:
    """The company's services among `ids`, in id order, with their clients."""
    found = {}
    for start in range(0, len(ids), 500):  # bound parameters per statement stay few
        part = ids[start : start + 500]
        for service in db.session.scalars(
            select(ClientService)
            .options(
                joinedload(ClientService.client, innerjoin=True),
                selectinload(ClientService.billing),  # the revenue facts read it
            )
            .where(ClientService.company_id == company_id, ClientService.id.in_(part))
        ):
            found[service.id] = service
    return dict(sorted(found.items()))
