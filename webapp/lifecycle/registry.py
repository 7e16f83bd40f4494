"""The one table of which listeners act on which event, and on which queue.

Listeners are named here, not imported: the names are resolved to functions by
webapp.pipeline.delivery, which keeps this package free of the database. Queues order the work
a worker takes first: billing before alerts before notifications.
"""

from dataclasses import dataclass

from webapp.lifecycle import events as e

BILLING, ALERTS, NOTIFICATIONS, DEFAULT = "billing", "alerts", "notifications", "default"
QUEUES = (BILLING, ALERTS, NOTIFICATIONS, DEFAULT)


@dataclass(frozen=True)
class Listener:
    name: str
    queue: str
    does: str


_start_billing = Listener("billing.start", BILLING, "create recurring billing")
_pause_billing = Listener("billing.pause", BILLING, "pause recurring billing")
_resume_billing = Listener("billing.resume", BILLING, "resume recurring billing")
_stop_billing = Listener("billing.stop", BILLING, "stop recurring billing, prorated final amount")
_extend_billing = Listener("billing.extend", BILLING, "extend the billing term")
_reprice_billing = Listener("billing.reprice", BILLING, "apply the new price")
_follow_billing = Listener("billing.reconcile", BILLING, "bring billing up to date")
_import_billing = Listener(
    "billing.imported", BILLING, "start recurring billing as it was in the old tool"
)
_create_alert = Listener("alerts.create_sla_alert", ALERTS, "create an SLA alert")
_risk_alert = Listener("alerts.create_at_risk_alert", ALERTS, "create an at-risk SLA alert")
_alert_manager = Listener("alerts.alert_account_manager", ALERTS, "alert the account manager")
_recalculate_health = Listener("health.recalculate", ALERTS, "recalculate the health score")


def _notify(what: str) -> Listener:
    return Listener(f"notify.{what}", NOTIFICATIONS, f"notify: {what.replace('_', ' ')}")


REGISTRY: dict[type[e.Event], tuple[Listener, ...]] = {
    e.ServiceProvisioned: (),  # audit only: the outbox row is the record
    e.ServiceActivated: (_start_billing, _notify("activated")),
    e.ServiceSuspended: (_pause_billing, _notify("suspended")),
    e.ServiceResumed: (_resume_billing, _notify("resumed")),
    e.ServiceCancelled: (_stop_billing, _notify("cancelled")),
    e.ServiceRenewed: (_extend_billing,),
    e.ServicePriceChanged: (_reprice_billing, _notify("price_changed")),
    e.ServiceExpired: (_stop_billing, _notify("expired")),
    e.ServiceDueForRenewal: (_notify("renewal_due"),),
    e.ServiceSLAAtRisk: (_risk_alert, _notify("sla_at_risk")),
    e.ServiceSLABreached: (_create_alert, _recalculate_health, _notify("sla_breached")),
    e.ServiceAlertEscalated: (_notify("escalated"),),
    e.ServiceHealthDegraded: (_notify("health_degraded"), _alert_manager),
    e.ServiceSLAChanged: (),  # audit only: who changed the targets, and to what
    # Billing runs on until the cancellation takes effect (ServiceCancelled stops it); it
    # follows the service's version like every change to the service.
    e.ServiceCancellationScheduled: (_follow_billing, _notify("cancellation_scheduled")),
    e.ServiceCancellationUndone: (_follow_billing, _notify("cancellation_undone")),
    # Billing starts as it was in the old tool; the client is not told (DESIGN.md).
    e.ServiceImported: (_import_billing,),
    e.ServiceAccountManagerChanged: (),  # audit only
    # Seats: the billing amount follows (unit price x quantity); billing contacts are told.
    e.ServiceQuantityChanged: (_follow_billing, _notify("quantity_changed")),
    # Invoices: the PDF goes to the client's billing contacts (and webhooks).
    e.InvoiceIssued: (_notify("invoice_issued"),),
    e.CreditNoteIssued: (_notify("credit_note_issued"),),
    e.InvoicePaid: (),  # audit only
    e.BillRunCompleted: (),  # audit only
    # Clients and people: audit only, but for the two mails that carry a signed link.
    e.ClientCreated: (),
    e.ClientUpdated: (),
    e.ClientArchived: (),
    e.ClientRestored: (),
    e.ContactSaved: (),
    e.ContactRemoved: (),
    e.ImportCommitted: (),
    # Assets and what covers them: audit only; seats that follow them change through
    # ServiceQuantityChanged, recorded in the same unit of work.
    e.AssetCreated: (),
    e.AssetUpdated: (),
    e.AssetRetired: (),
    e.AssetReactivated: (),
    e.ServiceCoverageChanged: (),
    e.UserInvited: (_notify("invitation"),),
    e.UserRoleChanged: (),
    e.UserDeactivated: (),
    e.UserReactivated: (),
    e.PasswordResetRequested: (_notify("password_reset"),),
    e.PasswordChanged: (),
    e.SignedOutEverywhere: (),
}

EVENT_TYPES: dict[str, type[e.Event]] = {cls.__name__: cls for cls in REGISTRY}


def listeners_for(event_type: str) -> tuple[Listener, ...]:
    return REGISTRY[EVENT_TYPES[event_type]]


def listener_named(name: str) -> Listener:
    for listeners in REGISTRY.values():
        for listener in listeners:
            if listener.name == name:
                return listener
    raise KeyError(name)


def all_listeners() -> list[Listener]:
    return sorted({x for ls in REGISTRY.values() for x in ls}, key=lambda x: x.name)
