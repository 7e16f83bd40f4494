"""The API's bodies as pydantic models: what requests are validated against is what the
OpenAPI document publishes (openapi.py puts these models' JSON Schemas into it).

Times: the API takes ISO-8601 with a time zone offset and answers in UTC ("...Z"); the database
keeps naive UTC, so validated times come out of these models as naive UTC already.
"""

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from webapp.assets.models import ACTIVE, KINDS, RETIRED
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import Severity
from webapp.tenancy import MAX_ID
from webapp.text import is_lines, is_one_line

EARLIEST = dt.datetime(2000, 1, 1)


def _naive_utc(value: dt.datetime) -> dt.datetime:
    try:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:
        raise ValueError("is outside the range of dates this API accepts") from None


def _not_before_2000(value: dt.datetime) -> dt.datetime:
    if value < EARLIEST:
        raise ValueError("is before the year 2000; give the real time")
    return value


# Any aware time, as naive UTC (Alertmanager sends Go's zero time, year 1, as a firing alert's end).
Timestamp = Annotated[AwareDatetime, AfterValidator(_naive_utc)]
# A time an incident happened at: opened, answered, resolved.
EventTime = Annotated[Timestamp, AfterValidator(_not_before_2000)]
Id = Annotated[int, Field(gt=0, le=MAX_ID, strict=True)]


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text; say so instead of failing on the insert.
    if "\x00" in value:
        raise ValueError("contains a NUL character (\\u0000), which text cannot hold")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


def _one_line(value: str) -> str:
    # It may reach a mail's subject (webapp.text): a line break there would stop that mail.
    if not is_one_line(value):
        raise ValueError("cannot contain line breaks or control characters: keep it on one line")
    return value


def _lines(value: str) -> str:
    if not is_lines(value):
        raise ValueError("cannot contain control characters (line breaks and tabs are fine)")
    return value


def _text(max_length: int, min_length: int = 0, lines: bool = False):
    """A string field, stripped; on one line unless `lines`."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        AfterValidator(_no_nul),
        AfterValidator(_lines if lines else _one_line),
    ]


class Request(BaseModel):
    # Strict: "5" is not a service id and 1.0 not an integer; an unknown field is a mistake
    # (a misspelt "opend_at" would otherwise be ignored and the incident opened now).
    model_config = ConfigDict(strict=True, extra="forbid")


MAX_LABELS = 64


class IncidentCreate(Request):
    """A new incident, on a service given by its id or found from `labels`. With an
    `external_id` that an open incident recorded through the API already has, that incident is
    returned instead (a monitoring tool's retry)."""

    # Left out, not null: a null is still a mistake worth naming (hence no default in the
    # document, which would have to be an integer).
    service_id: Id = Field(
        default_factory=lambda: None,
        description="The service the incident is about; leave it out to find it from `labels`.",
    )
    labels: dict[_text(100, 1), _text(1000)] | None = Field(
        None,
        max_length=MAX_LABELS,
        description="The monitoring tool's labels. The company's routing labels (Settings; by "
        "default `asset_id`, `instance` without its port, `hostname`, `host`, tried in order) "
        "name the asset, which goes on the incident; without `service_id`, the incident goes "
        "to the asset's receiving service, or the one a `service_id` label names, or the "
        "asset's covering service of a `service_type` label's type. A host that matches no "
        "asset is kept as an unrouted alert (answered 202) until someone routes it.",
    )
    title: _text(300, 1) = Field(description="What is wrong, in a line.")
    severity: Severity
    opened_at: EventTime | None = Field(
        None,
        description="When it started (ISO-8601 with a time zone offset); now if left out. "
        "The SLA clock runs from here.",
    )
    description: _text(20_000, lines=True) | None = None
    external_id: _text(200, 1) | None = Field(
        None, description="The monitoring tool's own id for it, to make retries idempotent."
    )


class IncidentChange(Request):
    """Acknowledge or resolve, optionally at a given time (now if left out)."""

    at: EventTime | None = Field(
        None, description="When it happened (ISO-8601 with a time zone offset); now if left out."
    )


class SlaMarks(BaseModel):
    """When the incident passed each SLA warning or breach (null: not passed)."""

    response_warned_at: AwareDatetime | None
    response_breached_at: AwareDatetime | None
    resolution_warned_at: AwareDatetime | None
    resolution_breached_at: AwareDatetime | None


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.replace(tzinfo=dt.UTC)


class IncidentOut(BaseModel):
    id: int
    service_id: int
    asset_id: int | None = Field(description="The asset its labels named, if any.")
    title: str
    description: str | None
    severity: Severity
    status: Literal["open", "acknowledged", "resolved"]
    source: str = Field(description='"ui", "api" or "alertmanager".')
    external_id: str | None = Field(
        description="The monitoring tool's id (for Alertmanager, the alert's fingerprint)."
    )
    opened_at: AwareDatetime
    acknowledged_at: AwareDatetime | None = Field(description="The first response.")
    acknowledged_by: str | None
    resolved_at: AwareDatetime | None
    resolved_by: str | None
    recorded_by: str
    sla: SlaMarks

    @classmethod
    def of(cls, incident: Incident) -> "IncidentOut":
        status = (
            "resolved"
            if incident.resolved_at
            else "acknowledged"
            if incident.acknowledged_at
            else "open"
        )
        return cls(
            id=incident.id,
            service_id=incident.service_id,
            asset_id=incident.asset_id,
            title=incident.title,
            description=incident.description,
            severity=incident.severity,
            status=status,
            source=incident.source,
            external_id=incident.external_key,
            opened_at=_utc(incident.opened_at),
            acknowledged_at=_utc(incident.acknowledged_at),
            acknowledged_by=incident.acknowledged_by,
            resolved_at=_utc(incident.resolved_at),
            resolved_by=incident.resolved_by,
            recorded_by=incident.recorded_by,
            sla=SlaMarks(
                **{
                    name: _utc(getattr(incident, name))
                    for name in SlaMarks.model_fields  # the same names as the columns
                }
            ),
        )


class UnroutedOut(BaseModel):
    """An alert kept because its host matches no asset: a technician routes it to one (Assets,
    Unrouted alerts), which records the incident and remembers the host for the next alert."""

    status: Literal["unrouted"] = "unrouted"
    unrouted_id: int
    host: str = Field(description="The folded value of the first routing label given.")
    count: int = Field(description="How many alerts about this host were kept so far.")
    first_seen_at: AwareDatetime
    last_seen_at: AwareDatetime

    @classmethod
    def of(cls, row) -> "UnroutedOut":
        return cls(
            unrouted_id=row.id,
            host=row.host,
            count=row.count,
            first_seen_at=_utc(row.first_seen_at),
            last_seen_at=_utc(row.last_seen_at),
        )


# --- Alertmanager's webhook payload (version 4), as Alertmanager sends it -------------------


class AlertmanagerAlert(BaseModel):
    """One alert of a notification. Fields this API does not use are accepted and ignored."""

    status: Literal["firing", "resolved"]
    labels: dict[Text, Text] = Field(
        default_factory=dict,
        description="The company's routing labels (Settings; by default `asset_id`, "
        "`instance` without its port, `hostname`, `host`, tried in order) name the asset, whose "
        "receiving service gets the incident; a `service_id` label names the service instead, "
        "a `service_type` label the asset's covering service of that type. With neither an "
        "asset nor a service, the `service_id` query parameter's service. `severity` maps to "
        "the incident's severity; `alertname` is the fallback title.",
    )
    annotations: dict[Text, Text] = Field(
        default_factory=dict,
        description="`summary` is the incident's title, `description` its description.",
    )
    startsAt: EventTime = Field(description="When the alert started: the incident's opened time.")
    endsAt: Timestamp | None = Field(
        None, description="For a resolved alert, when it ended: the incident's resolved time."
    )
    generatorURL: str = ""
    fingerprint: _text(200, 1) = Field(
        description="Alertmanager's id of the alert: the key incidents are deduplicated by."
    )


class _AlertmanagerEnvelope(BaseModel):
    version: str = Field("4", description='Always "4" so far.')
    groupKey: str = ""
    truncatedAlerts: int = Field(0, description="Alerts left out by the receiver's max_alerts.")
    status: str = Field("", description='"firing" or "resolved": the group\'s status.')
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""


class AlertmanagerNotification(_AlertmanagerEnvelope):
    """What the endpoint reads first: the envelope, with each alert still unread, so that one
    unusable alert is reported on its own instead of refusing the others."""

    alerts: list[Any]


class AlertmanagerWebhook(_AlertmanagerEnvelope):
    """Alertmanager's webhook notification (the published shape of the request body)."""

    alerts: list[AlertmanagerAlert]


class RejectedAlert(BaseModel):
    index: int = Field(description="The alert's position in `alerts`, from 0.")
    fingerprint: str | None
    error: str


class AlertmanagerSummary(BaseModel):
    """What became of each alert of the notification."""

    # Every count is always in the answer: the document marks them required.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    opened: int = Field(0, description="Firing alerts that opened an incident.")
    already_open: int = Field(0, description="Firing alerts whose incident was open already.")
    already_resolved: int = Field(
        0,
        description="Firing alerts whose incident (same fingerprint, opened at the alert's "
        "start or later) was resolved already: a late or repeated notification, not reopened.",
    )
    resolved: int = Field(
        0,
        description="Resolved alerts that resolved their open incident (at its start when "
        "`endsAt` is before it; a note on the incident says so), or their unrouted alert.",
    )
    not_open: int = Field(0, description="Resolved alerts with no open incident: nothing to do.")
    unrouted: int = Field(
        0,
        description="Firing alerts whose host matches no asset and that name no service: kept "
        "as unrouted alerts (one per host, counted), listed for a technician to route to an "
        "asset, which records the incident then. Not refused: Alertmanager would not send "
        "them again.",
    )
    rejected: list[RejectedAlert] = Field(
        default_factory=list,
        description="Each alert that could not be used, and why; the others were applied.",
    )


# --- Assets: an RMM's sync ------------------------------------------------------------------

MAX_ASSETS = 1000  # webapp.assets.syncing.MAX_ITEMS
MAX_ITEM_IDENTIFIERS = 20
SENT_IDENTIFIER_KINDS = ("hostname", "instance", "serial", "other")  # rmm_id is its own field


class AssetIdentifierIn(Request):
    kind: Literal[SENT_IDENTIFIER_KINDS] = Field(
        description="`hostname`, `instance` (its port is dropped), `serial` or `other`."
    )
    value: _text(255, 1) = Field(description="Stored folded: trimmed, lower case.")


class AssetIn(Request):
    """One device as the RMM knows it. Matched by `rmm_id`: created when no asset of the
    company has it, else brought up to date (each field below is set as sent; left out means
    empty, except `status`)."""

    rmm_id: _text(255, 1) = Field(
        description="The RMM's id of the device, unique within the company: the sync's key "
        "(kept as an identifier, folded: trimmed, lower case)."
    )
    client_id: Id = Field(description="The client it belongs to, one of this company's.")
    name: _text(200, 1)
    type: Literal[KINDS] = Field(description="What it is.")
    site: _text(120) | None = None
    operating_system: _text(120) | None = None
    status: Literal[ACTIVE, RETIRED] | None = Field(
        None,
        description="Left out: as it is (a new asset is active). Retiring or reactivating "
        "changes the seats of services whose quantity follows their devices.",
    )
    last_seen_at: Timestamp | None = Field(
        None, description="When the RMM last heard from it; never moves back."
    )
    identifiers: list[AssetIdentifierIn] = Field(
        default_factory=list,
        max_length=MAX_ITEM_IDENTIFIERS,
        description="Names monitoring knows it by; each unique within the company. Added to "
        "the asset's own, never removed (hosts a technician routed stay).",
    )
    service_ids: list[Id] = Field(
        default_factory=list,
        max_length=50,
        description="Services of its client that cover it from now on (never uncovered here); "
        "the first to cover it receives its incidents.",
    )


class AssetsSyncRequest(Request):
    """What the endpoint reads first: each item still unread, so that one unusable item is
    refused on its own instead of refusing the others."""

    assets: list[Any] = Field(max_length=MAX_ASSETS)


class AssetsSync(Request):
    """Up to 1000 devices at once (send more in several calls)."""

    assets: list[AssetIn] = Field(max_length=MAX_ASSETS)


class AssetResult(BaseModel):
    index: int = Field(description="The item's position in `assets`, from 0.")
    rmm_id: str | None
    result: Literal["created", "updated", "unchanged", "refused"]
    asset_id: int | None
    errors: list["FieldProblem"] = Field(
        default_factory=list, description="Why a refused item was refused, per field."
    )


class AssetsSyncSummary(BaseModel):
    """What became of each item. Refused items changed nothing; the others were applied."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0
    items: list[AssetResult] = Field(default_factory=list)


# --- Errors ---------------------------------------------------------------------------------


class FieldProblem(BaseModel):
    field: str = Field(description='Where: a field, a dotted path ("alerts.0.labels") or "body".')
    message: str


class ErrorBody(BaseModel):
    """Every error the API answers with. Some carry more details beside `error`."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="What went wrong, for a person to read.")
    fields: list[FieldProblem] | None = Field(None, description="With 422: each field's problem.")


# Pydantic's wording, made plainer where it talks about Python rather than the request.
_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this request",
    "timezone_aware": "needs a time zone offset, e.g. 2026-05-01T09:30:00Z",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
}


def problems(exc: ValidationError) -> list[FieldProblem]:
    result = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "body"
        message = _MESSAGES.get(error["type"]) or error["msg"].removeprefix("Value error, ")
        result.append(FieldProblem(field=field, message=message))
    return result


def describe(found: list[FieldProblem]) -> str:
    return "; ".join(f"{p.field}: {p.message}" for p in found)
