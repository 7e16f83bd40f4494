"""The scheduler's sweeps at scale, each beside the bare SQL that selects its rows.

  renewals  jobs.renewals.run_renewals over a company of 1,000,000 services (20,000 small),
            seeded without incidents or past events; baseline: its two SELECTs (reminder
            candidates with the reminders already recorded, auto-renewals due), fetched.
  health    jobs.periodic.recalculate_health over 100,000 services (5,000 small) with their
            incidents; baseline: its SELECTs (the running services' ids, then per chunk their
            scoring columns and the three grouped incident queries), fetched.

Both run on a private copy of a cached seeded SQLite database (bench.harness), with a real
Redis receiving the events' jobs: publishing after commit is part of the sweep's time.
The seed renews every running service whose term had ended, so no auto-renewal would be due:
one running auto-renew service in AUTO_RENEW_DUE_EVERY is given a term that ended 0-89 days
ago first (untimed). Reminders are due for every running service ending within 30 days.
"""

import datetime as dt
import time
from contextlib import contextmanager

import time_machine
from sqlalchemy import func, select, text

from bench import growth
from bench.harness import app_on, redis_server, scale_database, workdir
from webapp.clock import today, utcnow
from webapp.company.models import Company
from webapp.database import chunked
from webapp.extensions import db
from webapp.health import nightly as periodic
from webapp.health.models import HealthSnapshot
from webapp.health.scores import SERVICE_COLUMNS, input_queries
from webapp.lifecycle.statuses import RUNNING
from webapp.pipeline import publishing as outbox
from webapp.pipeline.models import DomainEvent
from webapp.renewals import sweep as renewals
from webapp.renewals.models import RenewalReminder
from webapp.services.models import ClientService

AUTO_RENEW_DUE_EVERY = 100


def measure(
    full: bool,
    renewal_services: int | None = None,
    health_services: int | None = None,
    growth_from: int | None = growth.GROWTH_FROM,
) -> dict:
    """The full run measures both sweeps again at growth_from services (bench.growth)."""
    renewal_services = renewal_services or (1_000_000 if full else 20_000)
    health_services = health_services or (100_000 if full else 5_000)
    result = _measure(renewal_services, health_services)
    if growth.wanted(full, min(renewal_services, health_services), growth_from):
        smaller = _measure(growth_from, growth_from)
        for name, figures in (("renewals", _renewal_figures), ("health", _health_figures)):
            result[name]["smaller"] = smaller[name]
            result[name]["growth"] = growth.figures(
                growth_from,
                result[name]["services"],
                figures(smaller[name]),
                figures(result[name]),
            )
    return result


def _measure(renewal_services: int, health_services: int) -> dict:
    work = workdir("sweeps")
    with redis_server() as redis:
        renewal_db = scale_database(renewal_services, work, incidents=0, events=0)
        renewal = _in_app(renewal_db.url, redis.url, _renewals)
        renewal_db.path.unlink()
        health_db = scale_database(health_services, work)
        health = _in_app(health_db.url, redis.url, _health)
        health_db.path.unlink()
    return {
        "renewals": {"services": renewal_services, **renewal},
        "health": {"services": health_services, **health},
    }


def _in_app(database_url: str, redis_url: str, run) -> dict:
    with app_on(database_url, redis_url):
        return run()


def _timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


@contextmanager
def _enqueue_timer():
    """Seconds spent putting the events' jobs on Redis (RQ's own work) within the sweep, and
    how many jobs it made (one per chunk of events)."""
    spent = {"s": 0.0, "jobs": 0}
    enqueue = outbox.enqueue_events

    def timed(work):
        started = time.perf_counter()
        try:
            chunks = enqueue(work)
            spent["jobs"] += len(chunks)
            return chunks
        finally:
            spent["s"] += time.perf_counter() - started

    outbox.enqueue_events = timed
    try:
        yield spent
    finally:
        outbox.enqueue_events = enqueue


def _count(query) -> int:
    found = db.session.scalar(select(func.count()).select_from(query.subquery()))
    db.session.rollback()
    return found


def _renewals() -> dict:
    made_due = _make_auto_renewals_due()
    company = db.session.scalars(select(Company)).one()
    thresholds, on = company.reminder_days, today()
    due = select(ClientService.id).where(
        ClientService.status.in_(RUNNING),
        ClientService.auto_renew.is_(True),
        ClientService.term_end <= on,
    )
    candidates = renewals.reminder_candidates(company.id, thresholds, on)

    def bare_sql() -> int:
        rows = len(db.session.execute(candidates).all()) + len(db.session.execute(due).all())
        db.session.rollback()
        return rows

    baseline_s, selected = _timed(bare_sql)
    with _enqueue_timer() as enqueue:
        sweep_s, done = _timed(renewals.run_renewals)
    again_s, again = _timed(renewals.run_renewals)
    reminder_rows = _count(select(RenewalReminder.id))
    published = _published()
    # The next day's run: what a daily sweep meets once the backlog above is through.
    with time_machine.travel(utcnow() + dt.timedelta(days=1)), _enqueue_timer() as next_enqueue:
        next_s, next_done = _timed(renewals.run_renewals)
    return {
        "auto_renewals_made_due": made_due,
        "baseline_s": baseline_s,
        "rows_selected": selected,
        "sweep_s": sweep_s,
        "enqueue_s": enqueue["s"],
        "jobs": enqueue["jobs"],
        "reminders_sent": done["reminders"],
        "reminder_rows_written": reminder_rows,
        "terms_renewed": done["renewed"],
        "services_acted_on": done["reminders"] + made_due,
        "events_published": published,
        "second_run_s": again_s,
        "second_run": again,
        "next_day_s": next_s,
        "next_day_enqueue_s": next_enqueue["s"],
        "next_day_reminders": next_done["reminders"],
        "next_day_renewed": next_done["renewed"],
    }


def _make_auto_renewals_due() -> int:
    changed = db.session.execute(
        text(
            "UPDATE client_services SET term_end = date(:on, '-' || (id % 90) || ' days') "
            "WHERE auto_renew AND status IN ('active', 'suspended') AND id % :every = 0"
        ),
        {"on": today().isoformat(), "every": AUTO_RENEW_DUE_EVERY},
    ).rowcount
    db.session.commit()
    return changed


def _published() -> int:
    published = db.session.scalar(
        select(func.count()).where(
            DomainEvent.actor == "scheduler", DomainEvent.enqueued_at.is_not(None)
        )
    )
    db.session.rollback()
    return published


def _health() -> dict:
    running = select(ClientService.id).where(ClientService.status.in_(RUNNING))
    before = dict(db.session.execute(select(ClientService.id, ClientService.health_score)).all())
    db.session.rollback()

    def bare_sql() -> int:
        # The sweep's own SELECTs, chunk by chunk as it runs them (over all running services
        # at once SQLite seeks every service's incidents for the breaches: 8 s instead of 3).
        ids = db.session.scalars(running.order_by(ClientService.id)).all()
        rows = len(ids)
        for chunk in chunked(ids):
            services = select(*SERVICE_COLUMNS).where(ClientService.id.in_(chunk))
            rows += len(db.session.execute(services).all())
            for query in input_queries(chunk, utcnow()):
                rows += len(db.session.execute(query).all())
        db.session.rollback()
        return rows

    baseline_s, selected = _timed(bare_sql)
    with _enqueue_timer() as enqueue:
        sweep_s, recalculated = _timed(periodic.recalculate_health)
    after = dict(db.session.execute(select(ClientService.id, ClientService.health_score)).all())
    db.session.rollback()
    result = {
        "baseline_s": baseline_s,
        "rows_selected": selected,
        "sweep_s": sweep_s,
        "enqueue_s": enqueue["s"],
        "recalculated": recalculated,
        "scores_changed": sum(1 for k, v in after.items() if before.get(k) != v),
        "snapshots_written": _count(select(HealthSnapshot.id)),
        "degraded_events": _published(),
    }
    # The next night's run: the same scores, so no events to publish.
    result["second_run_s"], _ = _timed(periodic.recalculate_health)
    return result


def _renewal_figures(r: dict) -> list[tuple]:
    return [
        ("baseline_s", "renewal rows SELECT", "s", r["baseline_s"]),
        ("sweep_s", "renewal sweep", "s", r["sweep_s"]),
        ("services_acted_on", "  services acted on", "", r["services_acted_on"]),
        ("enqueue_s", "  RQ enqueueing within it", "s", r["enqueue_s"]),
        ("jobs", "  jobs enqueued", "", r["jobs"]),
        ("second_run_s", "a second run, nothing due", "s", r["second_run_s"]),
        ("next_day_s", "the next day's sweep", "s", r["next_day_s"]),
    ]


def _health_figures(h: dict) -> list[tuple]:
    return [
        ("baseline_s", "health inputs SELECT", "s", h["baseline_s"]),
        ("sweep_s", "health recalculation", "s", h["sweep_s"]),
        ("recalculated", "  services scored", "", h["recalculated"]),
        ("enqueue_s", "  RQ enqueueing within it", "s", h["enqueue_s"]),
        ("second_run_s", "the next night's run, same scores", "s", h["second_run_s"]),
    ]


def report(result: dict) -> str:
    r, h = result["renewals"], result["health"]
    lines = [
        "sweeps (SQLite copy of a seeded company, real Redis; baseline: the bare SQL that "
        "selects the sweep's rows, fetched, in the same run)",
        f"  {'':<46}{'seconds':>9}{'rows':>10}{'rows/s':>10}{'ratio':>8}",
        _line(
            f"renewal rows SELECT ({r['services']:,} services)",
            r["baseline_s"],
            r["rows_selected"],
        ),
        _line("renewal sweep: services acted on", r["sweep_s"], r["services_acted_on"], r),
        f"    {r['reminders_sent']:,} reminders sent ({r['reminder_rows_written']:,} reminder rows "
        f"with the thresholds skipped), {r['terms_renewed']:,} terms renewed on "
        f"{r['auto_renewals_made_due']:,} services made due; {r['events_published']:,} events "
        f"published as {r['jobs']:,} jobs, RQ enqueueing {r['enqueue_s']:.2f} s of it",
        f"    a second run, nothing due: {r['second_run_s']:.2f} s",
        _line(
            "renewal sweep the next day: services acted on",
            r["next_day_s"],
            r["next_day_reminders"] + r["next_day_renewed"],
            r,
        ),
        f"    {r['next_day_reminders']:,} reminders, {r['next_day_renewed']:,} terms renewed; RQ "
        f"enqueueing {r['next_day_enqueue_s']:.2f} s of it",
        _line(
            f"health inputs SELECT ({h['services']:,} services)",
            h["baseline_s"],
            h["rows_selected"],
        ),
        _line("health recalculation: services scored", h["sweep_s"], h["recalculated"], h),
        f"    {h['scores_changed']:,} scores changed, {h['snapshots_written']:,} snapshots, "
        f"{h['degraded_events']:,} ServiceHealthDegraded events published, RQ enqueueing "
        f"{h['enqueue_s']:.2f} s of it",
        f"    the next night's run, same scores, no events: {h['second_run_s']:.2f} s",
    ]
    for title, sweep in (("renewal sweep", r), ("health recalculation", h)):
        if "growth" in sweep:
            lines.append(growth.table(title, sweep["growth"]))
    return "\n".join(lines)


def _line(label: str, seconds: float, rows: int, sweep: dict | None = None) -> str:
    ratio = seconds / sweep["baseline_s"] if sweep else 1.0
    return f"  {label:<46}{seconds:>9.2f}{rows:>10,}{rows / seconds:>10,.0f}{ratio:>8.1f}"
