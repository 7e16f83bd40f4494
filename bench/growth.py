"""How the full run's figures grow with the number of services (issue 18: the cost's growth,
not just its size).

Every full-size benchmark whose figures depend on the number of services measures again at
GROWTH_FROM services in the same run and prints each figure at both sizes with the factor:
a cost that grows with the data shows a factor near the services' own (10 from 10,000 to
100,000), a fixed one near 1. The figures are kept in the result as `growth` (a table, see
figures()) beside the smaller run's own result as `smaller`; bench.pages, with one figure a
page, prints two columns in its own table instead (columns(), cells(), legend()).
"""

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

GROWTH_FROM = 10_000


def wanted(full: bool, services: int, growth_from: int | None) -> bool:
    """Only the full run measures twice: the default run stays as fast as CI needs."""
    return bool(full and growth_from and growth_from < services)


def factor(before: float, after: float) -> float:
    return after / before if before else math.nan


def at(services: int) -> str:
    return f"@{services // 1000}k"


# Two columns appended to a benchmark's own table, as bench.pages prints them.
def columns(smaller: int) -> str:
    return f"{at(smaller):>8}{'x':>6}"


def cells(before: float, after: float) -> str:
    return f"{before:>8.1f}{factor(before, after):>6.1f}"


def legend(what: str, smaller: int, full: int) -> str:
    return (
        f"  {at(smaller)}: {what} at {smaller:,} services in the same run, "
        f"and x how many times it grew to {full:,}"
    )


def figures(smaller: int, full: int, before: list[tuple], after: list[tuple]) -> dict:
    """A growth table from one benchmark's figures at each size: `before` and `after` are what
    the same function listed for either run, rows of (key, label, unit, value)."""
    at_full = {key: value for key, _, _, value in after}
    return {
        "services": {"smaller": smaller, "full": full},
        "figures": {
            key: {
                "label": label,
                "unit": unit,
                "smaller": value,
                "full": at_full[key],
                # None where there is none (from 0): NaN is not JSON.
                "factor": at_full[key] / value if value else None,
            }
            for key, label, unit, value in before
        },
    }


def table(title: str, growth: dict) -> str:
    """The growth table under its own heading, for the end of a benchmark's report."""
    smaller, full = growth["services"]["smaller"], growth["services"]["full"]
    lines = [
        f"  growth, {title}: each figure at {smaller:,} and {full:,} services in the same run "
        f"(services x{full / smaller:g}; x near that, a cost growing with them; near 1, fixed)",
        f"    {'figure':<52}{f'@{smaller:,}':>12}{f'@{full:,}':>12}{'x':>8}",
    ]
    for f in growth["figures"].values():
        label = f"{f['label']} ({f['unit']})" if f["unit"] else f["label"]
        x = "-" if f["factor"] is None else f"{f['factor']:.1f}"
        lines.append(f"    {label:<52}{_number(f['smaller']):>12}{_number(f['full']):>12}{x:>8}")
    return "\n".join(lines)


def _number(value: float) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    # Three significant figures or so: a second run's 0.004 s is not 0.00.
    for least, style in ((100, ",.0f"), (10, ".1f"), (1, ".2f")):
        if abs(value) >= least:
            return format(value, style)
    return f"{value:.3f}"


def in_fresh_process(work, *args, **kwargs):
    """work(*args, **kwargs) in a new interpreter: a figure of this process's own memory
    (its VmHWM) would otherwise start from what the full-size run left in the heap."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(work, *args, **kwargs).result()
