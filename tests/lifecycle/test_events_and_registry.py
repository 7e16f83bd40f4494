import datetime as dt
import subprocess
import sys
from decimal import Decimal

import pytest

from webapp.lifecycle import events as e
from webapp.lifecycle.registry import EVENT_TYPES, QUEUES, REGISTRY, all_listeners

EVENTS = {
    "ServiceProvisioned",
    "ServiceActivated",
    "ServiceSuspended",
    "ServiceResumed",
    "ServiceCancelled",
    "ServiceRenewed",
    "ServiceExpired",
    "ServiceDueForRenewal",
    "ServiceSLABreached",
    "ServiceHealthDegraded",
    # Beyond the design's ten: the warning before a breach, and an alert left unanswered.
    "ServiceSLAAtRisk",
    "ServiceAlertEscalated",
    # Audit only: an SLA policy edited on the service page.
    "ServiceSLAChanged",
    # A new price per cycle (issue 7): billing follows it, with a prorated adjustment.
    "ServicePriceChanged",
    # Issue 14: cancellations at term end scheduled and undone, imports, account managers.
    "ServiceCancellationScheduled",
    "ServiceCancellationUndone",
    "ServiceImported",
    "ServiceAccountManagerChanged",
    # Issue 14: clients and people, not about one service (service_id None).
    "ClientCreated",
    "ClientUpdated",
    "ClientArchived",
    "ClientRestored",
    "ContactSaved",
    "ContactRemoved",
    "ImportCommitted",
    "UserInvited",
    "UserRoleChanged",
    "UserDeactivated",
    "UserReactivated",
    "PasswordResetRequested",
    "PasswordChanged",
    "SignedOutEverywhere",
    "ServiceQuantityChanged",
    "InvoiceIssued",
    "CreditNoteIssued",
    "InvoicePaid",
    "BillRunCompleted",
    # Issue 17: assets and the services that cover them (audit only).
    "AssetCreated",
    "AssetUpdated",
    "AssetRetired",
    "AssetReactivated",
    "ServiceCoverageChanged",
}


def test_registry_covers_every_event():
    assert set(EVENT_TYPES) == EVENTS


def test_cancellation_and_expiry_stop_billing():
    # The system this replaces had no cancellation listener, so billing never stopped.
    for event in (e.ServiceCancelled, e.ServiceExpired):
        assert "billing.stop" in [x.name for x in REGISTRY[event]]


def test_every_listener_runs_on_a_known_queue():
    assert {x.queue for x in all_listeners()} <= set(QUEUES)


def test_every_registered_listener_has_an_implementation():
    # In a fresh interpreter: resolving listeners imports the app, which this package's other
    # tests must not (they run without one).
    code = (
        "from webapp.lifecycle.registry import all_listeners\n"
        "from webapp.pipeline.delivery import listeners\n"
        "assert all(callable(f) for f in listeners().values())\n"
        "print(len(listeners()), len(all_listeners()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    resolved, named = out.stdout.split()
    assert resolved == named != "0"


@pytest.mark.parametrize(
    "event",
    [
        e.ServiceProvisioned(1, 2, Decimal("10.50"), "EUR", "monthly"),
        e.ServiceActivated(1, dt.date(2026, 1, 31), dt.date(2027, 1, 31)),
        e.ServiceCancelled(1, "moved away", dt.date(2026, 5, 1), True),
        e.ServiceSLABreached(1, 9, "response"),
        e.ServicePriceChanged(
            1,
            Decimal("300.00"),
            Decimal("450.00"),
            "EUR",
            "monthly",
            dt.date(2027, 2, 15),
            "25 -> 30 seats",
            Decimal("123.21"),
            dt.date(2027, 2, 10),
            dt.date(2027, 3, 10),
        ),
        e.ServicePriceChanged(
            1, Decimal(1), Decimal(2), "EUR", "monthly", dt.date(2027, 1, 1), "", None, None, None
        ),
        e.ServiceCancellationScheduled(1, "budget", dt.date(2027, 1, 25), True),
        e.ServiceCancellationUndone(1, dt.date(2027, 1, 25)),
    ],
)
def test_event_survives_the_json_round_trip(event):
    assert type(event).from_payload(event.payload()) == event


def test_a_scheduled_cancellation_recorded_without_auto_renew_reads_as_not_renewing():
    stored = {"service_id": 1, "reason": "budget", "effective_on": "2027-01-25"}
    event = e.ServiceCancellationScheduled.from_payload(stored)
    assert (event.effective_on, event.auto_renew) == (dt.date(2027, 1, 25), False)


def test_events_are_frozen():
    event = e.ServiceSuspended(1, "unpaid")
    with pytest.raises(AttributeError):
        event.reason = "other"


def test_lifecycle_package_imports_no_framework():
    code = (
        "import sys, webapp.lifecycle, webapp.lifecycle.registry, webapp.lifecycle.billing, webapp.lifecycle.revenue;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy')))"
    )
    # webapp/__init__ imports flask; load the subpackage without running it.
    loader = (
        "import importlib.util, sys, types, pathlib;"
        "pkg = types.ModuleType('webapp'); pkg.__path__ = [str(pathlib.Path('webapp').resolve())];"
        "sys.modules['webapp'] = pkg;"
    )
    out = subprocess.run(
        [sys.executable, "-c", loader + code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
