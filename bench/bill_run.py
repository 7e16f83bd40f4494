"""The bill run at scale: 100,000 services (5,000 small) invoiced on one day, beside the bare
INSERT of what it writes.

The scale company (bench.harness; on PostgreSQL seeded afresh, without incidents) is made due
on today by webapp.demo.scale_billing, untimed: every service has a period starting today, as
if daily runs had billed it so far, and the mix that makes the rules' other paths run (new
services and their setup fees, missed runs caught up, price and seat changes settled by
adjustments, a suspension that moved the periods, cancellations and expiries credited, a
credit note for the clients whose every service stopped).

  bill run   webapp.invoices.bill_run.run_bill_run(company, today): one transaction, real Redis
             receiving the documents' events after commit; its parts timed on the way (reading
             and the rules, grouping into documents, writing documents and lines, moving the
             cursors, enqueueing) and the process's peak RSS during it (VmHWM, reset before).
  baseline   the run's own documents and lines INSERTed again as plain rows, executemany, the
             documents with RETURNING as the run does, committed: what writing them costs
             without reading, rules, numbering, events or cursors. Deleted again, untimed.
  next day   the run for tomorrow: only what is due then (nothing, here: every service's next
             period starts a cycle later), what a daily run costs once the day's work is done.
"""

import datetime as dt
import time
from contextlib import contextmanager
from pathlib import Path

import flask_migrate
from sqlalchemy import delete, func, insert, select

from bench import growth
from bench.harness import app_on, redis_server, scale_database, workdir
from tools import postgres_cluster
from webapp.clock import frozen, today, utcnow
from webapp.demo.scale import seed_scale
from webapp.demo.scale_billing import make_billing_due
from webapp.extensions import db
from webapp.invoices import bill_run
from webapp.invoices.models import Invoice, InvoiceLine
from webapp.pipeline import publishing
from webapp.pipeline.outbox import unit_of_work

TARGET_SECONDS = 60
# The run's parts, timed where the run calls them (bill_run's own module names).
PARTS = {
    "_due": "read and rules",
    "_documents": "group into documents",
    "issue_documents": "write documents and lines",
    "_move_cursors": "move cursors",
}


def measure(
    full: bool = False, services: int | None = None, growth_from: int | None = growth.GROWTH_FROM
) -> dict:
    """The full run measures the bill run again at growth_from services (bench.growth), in a
    process of its own: its peak RSS must not start from the full run's heap."""
    services = services or (100_000 if full else 5_000)
    result = _measure_at(services)
    if growth.wanted(full, services, growth_from):
        smaller = growth.in_fresh_process(_measure_at, growth_from)
        for database, r in result["databases"].items():
            if database in smaller["databases"]:
                r["smaller"] = smaller["databases"][database]
                r["growth"] = growth.figures(
                    growth_from, services, _figures(r["smaller"]), _figures(r)
                )
    return result


def _measure_at(services: int) -> dict:
    results = {}
    with redis_server() as redis:
        # The sweeps' health database: the same cached seed, with its million events.
        database = scale_database(services, workdir("bill-run"))
        with app_on(database.url, redis.url):
            results["sqlite"] = _measure(database.summary.company_id)
        database.path.unlink()
        if postgres_cluster.bindir() is not None:
            cluster = postgres_cluster.PostgresCluster().start()
            try:
                with app_on(cluster.url, redis.url):
                    flask_migrate.upgrade()
                    seeded = seed_scale(services=services, incidents=0)
                    results["postgresql"] = _measure(seeded.company_id)
            finally:
                cluster.stop()
    return {"services": services, "databases": results}


def _measure(company_id: int) -> dict:
    day = today()
    started = time.perf_counter()
    due = make_billing_due(company_id, day)
    prepared_s = time.perf_counter() - started
    with _parts() as parts, _peak_rss() as memory:
        started = time.perf_counter()
        result = bill_run.run_bill_run(company_id, day, "bench")
        run_s = time.perf_counter() - started
    billed = db.session.scalar(
        select(func.count(func.distinct(InvoiceLine.service_id))).where(
            InvoiceLine.company_id == company_id
        )
    )
    db.session.rollback()
    baseline_s, rows = _baseline(company_id, result.run_id)
    with frozen(utcnow() + dt.timedelta(days=1)):
        started = time.perf_counter()
        tomorrow = bill_run.run_bill_run(company_id, today(), "bench")
        next_day_s = time.perf_counter() - started
    return {
        "prepared_s": prepared_s,
        "kinds": dict(due.kinds),
        "services": due.services,
        "services_billed": billed,
        "run_s": run_s,
        "invoices": result.invoices,
        "credit_notes": result.credit_notes,
        "lines": result.lines,
        "parts_s": parts,
        "rss_before_mb": memory["before"],
        "rss_peak_mb": memory["peak"],
        "baseline_s": baseline_s,
        "baseline_rows": rows,
        "next_day_s": next_day_s,
        "next_day_lines": tomorrow.lines,
        "next_day_documents": tomorrow.invoices + tomorrow.credit_notes,
    }


@contextmanager
def _parts():
    """Seconds spent in each part of the run (PARTS, and "enqueue": RQ's, after commit)."""
    spent = {name: 0.0 for name in (*PARTS, "enqueue")}
    originals = {name: getattr(bill_run, name) for name in PARTS}
    originals_enqueue = publishing.enqueue_events

    def timed(name, work):
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return work(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return call

    for name, work in originals.items():
        setattr(bill_run, name, timed(name, work))
    publishing.enqueue_events = timed("enqueue", originals_enqueue)
    try:
        yield spent
    finally:
        for name, work in originals.items():
            setattr(bill_run, name, work)
        publishing.enqueue_events = originals_enqueue


@contextmanager
def _peak_rss():
    """This process's resident memory before, and its high-water mark during the block (the
    kernel's VmHWM, reset first through /proc/self/clear_refs)."""
    found = {"before": _status_mb("VmRSS"), "peak": None}
    Path("/proc/self/clear_refs").write_text("5")
    try:
        yield found
    finally:
        found["peak"] = _status_mb("VmHWM")


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _baseline(company_id: int, run_id: int) -> tuple[float, int]:
    """The run's documents and lines written again as plain rows (their unique numbers and
    billing keys marked as copies), committed; timed, then deleted."""
    documents = Invoice.__table__
    lines = InvoiceLine.__table__
    copies = [
        {**row._asdict(), "number": f"B{row.number}", "sequence": row.sequence + 10**7}
        for row in db.session.execute(
            select(*(c for c in documents.c if c.name != "id"), documents.c.id.label("was"))
            .where(documents.c.company_id == company_id, documents.c.bill_run_id == run_id)
            .order_by(documents.c.id)
        )
    ]
    line_rows = [
        {**row._asdict(), "billing_key": f"copy:{row.billing_key}"[:40]}
        for row in db.session.execute(
            select(*(c for c in lines.c if c.name != "id"))
            .join(documents, documents.c.id == lines.c.invoice_id)
            .where(documents.c.bill_run_id == run_id)
            .order_by(lines.c.id)
        )
    ]
    db.session.rollback()
    was = [row.pop("was") for row in copies]
    started = time.perf_counter()
    with unit_of_work():
        ids = db.session.scalars(
            insert(documents).returning(documents.c.id, sort_by_parameter_order=True), copies
        ).all()
        new_id = dict(zip(was, ids, strict=True))
        for row in line_rows:
            row["invoice_id"] = new_id[row["invoice_id"]]
        db.session.execute(insert(lines), line_rows)
    seconds = time.perf_counter() - started
    with unit_of_work():
        db.session.execute(delete(lines).where(lines.c.invoice_id.in_(ids)))
        db.session.execute(delete(documents).where(documents.c.id.in_(ids)))
    return seconds, len(copies) + len(line_rows)


def _figures(r: dict) -> list[tuple]:
    return [
        ("services_billed", "services billed", "", r["services_billed"]),
        (
            "rows",
            "documents and lines",
            "",
            r["invoices"] + r["credit_notes"] + r["lines"],
        ),
        ("baseline_s", "baseline: INSERT documents and lines", "s", r["baseline_s"]),
        ("run_s", "bill run", "s", r["run_s"]),
        *(
            (f"parts_s.{name}", f"  {PARTS.get(name, name)}", "s", seconds)
            for name, seconds in r["parts_s"].items()
        ),
        ("rss_peak_mb", "peak RSS during the run", "MB", r["rss_peak_mb"]),
        ("next_day_s", "the next day's run", "s", r["next_day_s"]),
    ]


def report(result: dict) -> str:
    n = result["services"]
    lines = [
        f"bill run ({n:,} services due today in one company, SQLite copy of a seeded company "
        "and a fresh PostgreSQL when installed, real Redis; baseline: INSERT of the run's "
        "documents and lines as plain rows, executemany, in the same run)",
        f"  {'':<42}{'seconds':>9}{'rows':>10}{'rows/s':>10}{'ratio':>8}",
    ]
    for database, r in result["databases"].items():
        rows = r["invoices"] + r["credit_notes"] + r["lines"]
        lines += [
            f"  {database}: {r['services_billed']:,} of {r['services']:,} services billed "
            f"({_kinds(r['kinds'])}); made due in {r['prepared_s']:.0f} s, untimed",
            _line("baseline: INSERT documents and lines", r["baseline_s"], r["baseline_rows"]),
            _line("bill run: documents and lines", r["run_s"], rows, r["baseline_s"]),
            f"    {r['invoices']:,} invoices, {r['credit_notes']:,} credit notes, "
            f"{r['lines']:,} lines; "
            + ", ".join(f"{PARTS.get(k, k)} {v:.1f} s" for k, v in r["parts_s"].items()),
            f"    peak RSS {r['rss_peak_mb']:.0f} MB during the run ({r['rss_before_mb']:.0f} MB "
            "before it)",
            f"    the next day's run: {r['next_day_s']:.2f} s, {r['next_day_documents']:,} "
            f"documents, {r['next_day_lines']:,} lines",
        ]
        if n >= 100_000:
            met = r["run_s"] < TARGET_SECONDS
            lines.append(
                f"    target: {n:,} services in under {TARGET_SECONDS} s: "
                f"{'met' if met else 'missed'}"
            )
        if "growth" in r:
            lines.append(growth.table(f"bill run on {database}", r["growth"]))
    return "\n".join(lines)


def _kinds(kinds: dict) -> str:
    return ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in kinds.items())


def _line(label: str, seconds: float, rows: int, baseline_s: float | None = None) -> str:
    ratio = seconds / baseline_s if baseline_s else 1.0
    return f"  {label:<42}{seconds:>9.2f}{rows:>10,}{rows / seconds:>10,.0f}{ratio:>8.1f}"
