"""Listener functions by the names the registry gives them.

A listener takes the stored DomainEvent and makes its effect in the current session; it never
commits (jobs.deliver commits the effect together with the ledger row).
"""

from jobs.listeners import alerts, billing, health, notify

LISTENERS = {
    # Every billing listener reconciles to the service's current state: see lifecycle.billing.
    "billing.start": billing.reconcile,
    "billing.pause": billing.reconcile,
    "billing.resume": billing.reconcile,
    "billing.stop": billing.reconcile,
    "billing.extend": billing.reconcile,
    "billing.reprice": billing.reprice,  # reconciles too, then records the adjustment
    "notify.activated": notify.activated,
    "notify.suspended": notify.suspended,
    "notify.cancelled": notify.cancelled,
    "notify.expired": notify.expired,
    "notify.renewal_due": notify.renewal_due,
    "notify.health_degraded": notify.health_degraded,
    "notify.sla_at_risk": notify.sla_at_risk,
    "notify.sla_breached": notify.sla_breached,
    "notify.escalated": notify.escalated,
    "alerts.create_sla_alert": alerts.create_sla_alert,
    "alerts.create_at_risk_alert": alerts.create_at_risk_alert,
    "alerts.alert_account_manager": alerts.alert_account_manager,
    "health.recalculate": health.recalculate,
}
