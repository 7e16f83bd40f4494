"""The daily bill run (webapp.invoices): safe to run twice, and a missed day is caught up."""

from jobs.context import app_context
from webapp.invoices.commands import run_for_every_company


def run_bill_runs() -> int:
    with app_context():
        return run_for_every_company()
