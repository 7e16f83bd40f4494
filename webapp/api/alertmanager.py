"""Prometheus Alertmanager's webhook notifications, turned into incidents.

A firing alert opens an incident (source "alertmanager", keyed by the alert's fingerprint);
the repeats Alertmanager sends while it keeps firing find it open and change nothing. Its
service is found from its labels (webapp.assets.routing: the asset its host names, that
asset's service unless a service_id or service_type label says otherwise), else the
receiver's ?service_id=; an alert whose host matches no asset is kept as unrouted
(webapp.assets.unrouted), never refused. A resolved alert resolves the open incident with its
fingerprint at the alert's end (at its start, with a note, when the end is before it: a
resolved alert is never refused), and marks its unrouted copy resolved (a host that became an
asset's identifier may have both; routing the copy later records no second incident). Each
alert stands on its own: one that cannot be used is reported back, and the others are
recorded all the same.
Every incident is recorded and changed through webapp.incidents.recording and
webapp.incidents.actions, so deduplication and SLA rules live there.
"""

import logging
from collections import Counter, defaultdict

from pydantic import ValidationError
from sqlalchemy import select

from webapp.api.schemas import (
    EARLIEST,
    AlertmanagerAlert,
    AlertmanagerSummary,
    RejectedAlert,
    describe,
    problems,
)
from webapp.assets import unrouted
from webapp.assets.routing import Router, RouteRefused
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.incidents import actions as incidents
from webapp.incidents import recording
from webapp.incidents.checks import CLOCK_SKEW, IncidentRefused
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import Severity
from webapp.tenancy import NotFound
from webapp.text import one_line

log = logging.getLogger(__name__)

SOURCE = "alertmanager"
TITLE_LENGTH = 300  # Incident.title
BATCH = 100  # firing alerts recorded in one transaction

# The `severity` label as Prometheus rules commonly set it; anything else counts as medium.
SEVERITIES = {
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,
    "high": Severity.HIGH,
    "major": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "info": Severity.LOW,
    "low": Severity.LOW,
    "none": Severity.LOW,
}


class AlertRefused(ValueError):
    """This alert cannot become an incident; the message says why."""


def severity_of(labels: dict[str, str]) -> Severity:
    return SEVERITIES.get(labels.get("severity", "").strip().lower(), Severity.MEDIUM)


def receive(
    company_id: int,
    alerts: list,
    fallback_service_id: int | None,
    actor: str,
    max_new: int,
) -> AlertmanagerSummary:
    """Apply each alert of one notification; say what became of each.

    Each alert stands alone: a resolved one is applied in its own transaction, and the firing
    ones are recorded BATCH to a transaction (recording.record_many), each in a savepoint, so
    a storm's notification is one commit and one publish rather than one per alert, and one
    alert that fails to write loses no other. At most `max_new` firing alerts open incidents;
    those past it are refused (repeats of open incidents and resolved alerts never count)."""
    counts: Counter[str] = Counter()
    rejected = []
    firing = []
    held = []
    router = Router(company_id)
    router.prefetch(raw.get("labels") for raw in alerts if isinstance(raw, dict))
    for index, raw in enumerate(alerts):
        try:
            alert = AlertmanagerAlert.model_validate(raw)
            if alert.status == "resolved":
                counts[_resolve(company_id, alert, actor, router)] += 1
                continue
            route = router.route(alert.labels, fallback_service_id)
            if route.service_id is None:
                if route.host is None:
                    raise AlertRefused(_no_service(router.order))
                kept = unrouted.Held(
                    route.host,
                    route.host_label,
                    alert.labels,
                    _new_incident(0, alert),
                    late_copies_ended=True,
                )
                held.append((index, raw, kept))
                continue
            firing.append((index, raw, _new_incident(route.service_id, alert, route.asset_id)))
        except ValidationError as exc:
            rejected.append(_rejected(index, raw, describe(problems(exc))))
        except (AlertRefused, IncidentRefused, RouteRefused) as exc:
            rejected.append(_rejected(index, raw, str(exc)))
    outcomes = unrouted.keep(company_id, [kept for _, _, kept in held])
    for (index, raw, _), outcome in zip(held, outcomes, strict=True):
        if outcome == unrouted.ENDED:
            counts["already_resolved"] += 1
        elif isinstance(outcome, Exception):
            log.exception("Alertmanager alert %s not kept as unrouted", index, exc_info=outcome)
            rejected.append(
                _rejected(index, raw, "Not kept: a fault on our side; sent again, it is.")
            )
        else:
            counts["unrouted"] += 1
    ended = _resolved_already(company_id, [new for _, _, new in firing])
    counts["already_resolved"] += len(ended)
    firing = [item for position, item in enumerate(firing) if position not in ended]
    firing, over = _within(company_id, firing, max_new)
    for start in range(0, len(firing), BATCH):
        batch = firing[start : start + BATCH]
        outcomes = recording.record_many(company_id, [new for _, _, new in batch], actor)
        for (index, raw, new), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, NotFound):
                error = f"There is no service {new.service_id} in this company."
                rejected.append(_rejected(index, raw, error))
            elif isinstance(outcome, IncidentRefused):
                rejected.append(_rejected(index, raw, str(outcome)))
            else:
                counts["opened" if outcome[1] else "already_open"] += 1
    for r in rejected:
        log.warning("Alertmanager alert %s (%s) rejected: %s", r.index, r.fingerprint, r.error)
    if over:
        log.warning(
            "Alertmanager notification: %s firing alerts refused past ALERTMANAGER_MAX_ALERTS=%s",
            len(over),
            max_new,
        )
        rejected += [_rejected(index, raw, _over_the_cap(max_new)) for index, raw, _ in over]
    rejected.sort(key=lambda r: r.index)
    return AlertmanagerSummary(**counts, rejected=rejected)


def _within(company_id: int, firing: list, max_new: int) -> tuple[list, list]:
    """The firing alerts to record, and those past the cap: the first `max_new` that would open
    an incident, and every repeat of one open already or earlier in this notification."""
    if len(firing) <= max_new:
        return firing, []
    open_now = recording.open_keys(company_id, SOURCE, [new.external_key for _, _, new in firing])
    opening: set[str] = set()
    kept, over = [], []
    for item in firing:
        key = item[2].external_key
        if key in open_now or key in opening:
            kept.append(item)
        elif len(opening) < max_new:
            opening.add(key)
            kept.append(item)
        else:
            over.append(item)
    return kept, over


def _over_the_cap(max_new: int) -> str:
    return (
        f"Not recorded: this notification opens {max_new} incidents already, the most one may "
        "(ALERTMANAGER_MAX_ALERTS). Sent again (repeat_interval), it is recorded once those "
        "before it are open; group alerts more finely or set the receiver's max_alerts."
    )


def _rejected(index: int, raw, error: str) -> RejectedAlert:
    # Unvalidated when the alert was refused for it, and it goes into a log line.
    fingerprint = raw.get("fingerprint") if isinstance(raw, dict) else None
    return RejectedAlert(
        index=index,
        fingerprint=one_line(fingerprint)[:200] if isinstance(fingerprint, str) else None,
        error=error,
    )


def _resolve(company_id: int, alert: AlertmanagerAlert, actor: str, router: Router) -> str:
    # Prometheus's clock may run ahead of ours: an end "in the future" ended now. No end (Go's
    # zero time, year 1): it ended by now. An end before the incident's start resolves it at
    # its start (resolve_by_key), never refused: Alertmanager would not send it again.
    given = alert.endsAt if alert.endsAt and alert.endsAt >= EARLIEST else None
    ended = min(given, utcnow()) if given else None
    resolved = incidents.resolve_by_key(company_id, SOURCE, alert.fingerprint, actor, at=ended)
    host = router.host(alert.labels)
    # Its kept copy ends too, even when its incident was open: the host became an asset's
    # identifier after the copy was kept, and routing the copy must not open it again.
    kept = bool(host) and unrouted.resolve(company_id, host, SOURCE, alert.fingerprint, ended)
    if not (resolved or kept) and host:
        # A routing of its copy may have recorded its incident meanwhile: unrouted.resolve
        # waited for the routing's lock, or found the row routed, so the incident is seen now.
        resolved = incidents.resolve_by_key(company_id, SOURCE, alert.fingerprint, actor, at=ended)
    return "resolved" if resolved or kept else "not_open"


def _no_service(order) -> str:
    return (
        "No service: give the alert a label naming a known asset (this company routes by "
        f"{', '.join(order)}), a service_id label, or the receiver's URL a ?service_id= parameter."
    )


def _new_incident(
    service_id: int, alert: AlertmanagerAlert, asset_id: int | None = None
) -> recording.NewIncident:
    return recording.NewIncident(
        service_id=service_id,
        title=_title(alert),
        severity=severity_of(alert.labels),
        opened_at=alert.startsAt,
        description=_description(alert),
        source=SOURCE,
        external_key=alert.fingerprint,
        asset_id=asset_id,
    )


def _resolved_already(company_id: int, news: list[recording.NewIncident]) -> set[int]:
    """The positions of the alerts resolved already: a notification that arrives late, after
    the resolved one (an Alertmanager cluster peer, a retry), must not open an incident that
    Alertmanager will never resolve. Its incident opened at the alert's start, or later:
    Alertmanager moves a start earlier when an alert is sent again with an earlier one, and the
    incident keeps the first. One statement for the notification, by the services' (service,
    opened_at) index; matched to each alert here."""
    if not news:
        return set()
    # A start a little ahead of our clock was stored as our "now" (CLOCK_SKEW).
    earliest = min(new.opened_at for new in news) - CLOCK_SKEW
    resolved = defaultdict(list)
    for service_id, key, opened_at in db.session.execute(
        select(Incident.service_id, Incident.external_key, Incident.opened_at).where(
            Incident.company_id == company_id,
            Incident.service_id.in_(sorted({new.service_id for new in news})),
            Incident.opened_at >= earliest,
            Incident.source == SOURCE,
            Incident.external_key.in_(sorted({new.external_key for new in news})),
            Incident.resolved_at.is_not(None),
        )
    ):
        resolved[(service_id, key)].append(opened_at)
    return {
        position
        for position, new in enumerate(news)
        if any(
            opened_at >= new.opened_at - CLOCK_SKEW
            for opened_at in resolved.get((new.service_id, new.external_key), ())
        )
    }


def _title(alert: AlertmanagerAlert) -> str:
    # The title is one line (it reaches mail subjects). A summary written over several lines is
    # folded rather than refused: Alertmanager does not send a refused alert again.
    title = (
        one_line(alert.annotations.get("summary", "")).strip()
        or one_line(alert.labels.get("alertname", "")).strip()
        or f"Alert {alert.fingerprint}"
    )
    if len(title) > TITLE_LENGTH:
        title = title[: TITLE_LENGTH - 1] + "…"
    return title


def _description(alert: AlertmanagerAlert) -> str | None:
    parts = [alert.annotations.get("description", "").strip()]
    if alert.generatorURL:
        parts.append(f"Source: {alert.generatorURL}")
    return "\n\n".join(p for p in parts if p) or None
