"""Job functions only the benchmarks enqueue."""

from jobs.context import app_context
from jobs.deliver import run_delivery


def noop() -> None:
    """The baseline: what RQ itself costs per job on this Redis and worker."""


def deliver_one(event_id: int, listener: str) -> str:
    """The alternative design: one job per (event, listener)."""
    with app_context():
        return run_delivery(event_id, listener)
