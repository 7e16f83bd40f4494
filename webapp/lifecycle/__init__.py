"""The service lifecycle as pure Python: statuses, transitions, events and their listeners.

Nothing here imports Flask or SQLAlchemy, so the rules can be read and tested on their own.
"""

from webapp.lifecycle.statuses import (
    BillingCycle,
    BillingStatus,
    DeliveryStatus,
    ServiceLevel,
    ServiceStatus,
)
from webapp.lifecycle.transitions import (
    Action,
    ConcurrentTransition,
    InvalidTransition,
    TransitionRefused,
    allowed_actions,
    next_status,
)

__all__ = [
    "Action",
    "BillingCycle",
    "BillingStatus",
    "ConcurrentTransition",
    "DeliveryStatus",
    "InvalidTransition",
    "ServiceLevel",
    "ServiceStatus",
    "TransitionRefused",
    "allowed_actions",
    "next_status",
]
