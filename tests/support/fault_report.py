"""The counts the fault tests and fuzzers report, printed as one table at the end of the run.

A fault test calls `record(...)` once with what it injected and what it checked; the table
(faults injected, inputs tried, lost, doubled, held) is the evidence the closing note quotes. The
test itself still asserts lost == doubled == 0: the table reports, it does not decide.

"Held" counts notifications a kill left mid-hand-over, which Operations lists under "Delivery
uncertain" for a person to send again (at most once, by design; see notifications.sending).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    scenario: str
    faults: int  # faults injected (kills, outages, refusals)
    inputs: int  # transitions, deliveries or generated inputs tried
    lost: int
    doubled: int
    backend: str = ""
    held: int = 0


ROWS: list[Row] = []


def record(
    scenario: str, *, faults: int, inputs: int, lost: int, doubled: int, held: int = 0
) -> Row:
    from tests.support.app import BACKEND

    row = Row(scenario, faults, inputs, lost, doubled, BACKEND, held)
    ROWS.append(row)
    return row


def table() -> list[str]:
    width = max(len(r.scenario) for r in ROWS)
    lines = [f"{'scenario':<{width}}  backend     faults  inputs  lost  doubled  held"]
    for r in ROWS:
        lines.append(
            f"{r.scenario:<{width}}  {r.backend:<10}  {r.faults:>6}  {r.inputs:>6}  {r.lost:>4}"
            f"  {r.doubled:>7}  {r.held:>4}"
        )
    total_lost = sum(r.lost for r in ROWS)
    total_doubled = sum(r.doubled for r in ROWS)
    lines.append(
        f"{'total':<{width}}  {'':<10}  {sum(r.faults for r in ROWS):>6}  "
        f"{sum(r.inputs for r in ROWS):>6}  {total_lost:>4}  {total_doubled:>7}"
        f"  {sum(r.held for r in ROWS):>4}"
    )
    return lines
