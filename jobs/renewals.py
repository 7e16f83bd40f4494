"""The renewals run's entry point (webapp.renewals.sweep): auto-renewals, then reminders."""

from jobs.context import app_context
from webapp.renewals import sweep


def run_renewals() -> dict[str, int]:
    with app_context():
        return sweep.run_renewals()
