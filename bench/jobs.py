"""Job functions only the benchmarks enqueue."""


def noop() -> None:
    """The baseline: what RQ itself costs per job on this Redis and worker."""
