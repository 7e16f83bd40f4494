"""The SLA sweep's entry point (webapp.sla.sweep)."""

import datetime as dt

from jobs.context import app_context
from webapp.sla import sweep as sla_sweep


def sweep(now: dt.datetime | None = None) -> sla_sweep.SweepResult:
    with app_context():
        return sla_sweep.sweep(now)
