"""The API's routes: read the token and the body, call webapp.incidents.recording or
webapp.incidents.actions, answer JSON."""

import json
import logging
from contextlib import contextmanager
from dataclasses import replace

from flask import Blueprint, current_app, g, request, url_for
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.accounts import api_tokens
from webapp.api import alertmanager, rate_limit
from webapp.api.errors import (
    CHALLENGE,
    INVALID_TOKEN,
    PREFIX,
    ApiError,
    json_response,
    register,
)
from webapp.api.openapi import document, operation
from webapp.api.schemas import (
    MAX_ID,
    AlertmanagerNotification,
    AlertmanagerSummary,
    AlertmanagerWebhook,
    AssetIn,
    AssetResult,
    AssetsSync,
    AssetsSyncRequest,
    AssetsSyncSummary,
    ErrorBody,
    FieldProblem,
    IncidentChange,
    IncidentCreate,
    IncidentOut,
    UnroutedOut,
    describe,
    problems,
)
from webapp.assets import syncing, unrouted
from webapp.assets.routing import Router, RouteRefused
from webapp.extensions import csrf
from webapp.incidents import actions as incidents
from webapp.incidents import recording
from webapp.incidents.checks import IncidentRefused
from webapp.incidents.models import Incident
from webapp.tenancy import NotFound, get_or_404

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix=PREFIX)
csrf.exempt(bp)  # no cookies, no session: a bearer token cannot be sent by another site's form
register(bp)
bp.record_once(lambda state: rate_limit.allowance(state.app))

BODY_ERRORS = (400, 401, 413, 415, 422)


@bp.before_request
def authenticate():
    request.max_content_length = current_app.config["API_MAX_CONTENT_LENGTH"]
    spec = getattr(current_app.view_functions.get(request.endpoint), "openapi", None)
    if request.method == "OPTIONS" or (spec and spec.public):
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "Send a company's API token as 'Authorization: Bearer <token>'.",
            {"WWW-Authenticate": CHALLENGE},
        )
    row = api_tokens.authenticate(token)
    if row is None:
        raise ApiError(
            401, "The API token is unknown or revoked.", {"WWW-Authenticate": INVALID_TOKEN}
        )
    rate_limit.spend(row.id)
    g.api_company_id = row.company_id
    g.api_actor = f"api:{row.name}"[:120]


def _body(model: type[BaseModel], *, required: bool = True):
    raw = request.get_data(cache=False)  # 413 when Content-Length is past the limit
    if request.content_length is None and len(raw) >= request.max_content_length:
        # A chunked body is cut at the limit rather than refused: refuse it here.
        raise RequestEntityTooLarge()
    if not required and not raw.strip():
        return model()
    if not request.is_json:
        raise ApiError(
            415,
            "Send the body as JSON with 'Content-Type: application/json' "
            f"(this request's was {request.mimetype or 'missing'}).",
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        broken = [e for e in exc.errors(include_url=False) if e["type"] == "json_invalid"]
        if broken:
            reason = broken[0]["msg"].removeprefix("Invalid JSON: ")
            raise ApiError(400, f"The body is not valid JSON: {reason}.") from None
        raise _invalid(problems(exc)) from None


def _invalid(found: list[FieldProblem]) -> ApiError:
    return ApiError(
        422,
        f"The request is not valid: {describe(found)}.",
        fields=[p.model_dump() for p in found],
    )


# The domain's names for inputs the API names otherwise.
API_FIELDS = {"external_key": "external_id"}


@contextmanager
def _refused_as(field: str):
    """The domain refusing a time (in the future, before the opening) is that field's problem,
    unless the domain names another input."""
    try:
        yield
    except IncidentRefused as exc:
        at_fault = API_FIELDS.get(exc.field, exc.field) if exc.field else field
        raise _invalid([FieldProblem(field=at_fault, message=str(exc))]) from None


@contextmanager
def _missing(message: str):
    try:
        yield
    except NotFound:
        raise ApiError(404, message) from None


def _incident_id(incident_id: int) -> int:
    if incident_id > MAX_ID:  # not an id any database holds (and too big for SQLite's integer)
        raise ApiError(404, f"There is no incident {incident_id} in this company.")
    return incident_id


@bp.post("/incidents")
@operation(
    summary="Record an incident",
    description="Opens an incident on one of the company's services, given by `service_id` or "
    "found from `labels` (the asset they name); its SLA clocks run from `opened_at`. With an "
    "`external_id` that an open API incident has already, answers 200 with that incident and "
    "changes nothing, so a monitoring tool may retry safely. Labels naming a host that matches "
    "no asset are kept as an unrouted alert (202), never refused.",
    body=IncidentCreate,
    responses={
        201: ("Recorded.", IncidentOut),
        200: ("An open incident with this external_id exists; here it is.", IncidentOut),
        202: ("Kept as unrouted: no asset has this host yet.", UnroutedOut),
    },
    errors=(*BODY_ERRORS, 404),
)
def create_incident():
    data = _body(IncidentCreate)
    if data.service_id is None and not data.labels:
        message = "is required, unless labels name the asset"
        raise _invalid([FieldProblem(field="service_id", message=message)])
    new = recording.NewIncident(
        service_id=data.service_id or 0,
        title=data.title,
        severity=data.severity,
        opened_at=data.opened_at,
        description=data.description,
        source="api",
        external_key=data.external_id,
    )
    if data.labels:
        new = _routed(new, data.labels, data.service_id)
        if isinstance(new, unrouted.Held):
            outcome = unrouted.keep(g.api_company_id, [new])[0]
            if isinstance(outcome, Exception):
                raise outcome
            return json_response(202, UnroutedOut.of(outcome))
    with (
        _refused_as("opened_at"),
        _missing(f"There is no service {new.service_id} in this company."),
    ):
        incident, is_new = recording.record(g.api_company_id, new, g.api_actor)
    return json_response(
        201 if is_new else 200,
        IncidentOut.of(incident),
        {"Location": url_for(".get_incident", incident_id=incident.id)},
    )


def _routed(new: recording.NewIncident, labels: dict, service_id: int | None):
    """The incident on the service its labels route to (service_id, if given, says which), or
    the alert to keep unrouted."""
    router = Router(g.api_company_id)
    try:
        if service_id is not None:
            found = router.asset(labels)
            same = found is not None and router.same_client(service_id, found)
            return replace(new, asset_id=found.id if same else None)
        route = router.route(labels)
    except RouteRefused as exc:
        raise _invalid([FieldProblem(field="labels", message=str(exc))]) from None
    if route.service_id is not None:
        return replace(new, service_id=route.service_id, asset_id=route.asset_id)
    if route.host is None:
        order = ", ".join(router.order)
        message = f"name the asset by one of the routing labels ({order}), or give service_id"
        raise _invalid([FieldProblem(field="labels", message=message)])
    return unrouted.Held(route.host, route.host_label, labels, new)


@bp.get("/incidents/<int:incident_id>")
@operation(
    summary="Read an incident",
    responses={200: ("The incident.", IncidentOut)},
    errors=(401, 404),
)
def get_incident(incident_id):
    with _missing(f"There is no incident {incident_id} in this company."):
        incident = get_or_404(Incident, g.api_company_id, _incident_id(incident_id))
    return json_response(200, IncidentOut.of(incident))


def _change(action, incident_id):
    data = _body(IncidentChange, required=False)
    with _refused_as("at"), _missing(f"There is no incident {incident_id} in this company."):
        incident = action(g.api_company_id, _incident_id(incident_id), g.api_actor, at=data.at)
    return json_response(200, IncidentOut.of(incident))


@bp.post("/incidents/<int:incident_id>/acknowledge")
@operation(
    summary="Acknowledge an incident (its first response)",
    description="Stops the response clock. Acknowledging again, or a resolved incident, "
    "changes nothing and answers the incident as it is.",
    body=IncidentChange,
    body_required=False,
    responses={200: ("The incident.", IncidentOut)},
    errors=(*BODY_ERRORS, 404),
)
def acknowledge_incident(incident_id):
    return _change(incidents.acknowledge, incident_id)


@bp.post("/incidents/<int:incident_id>/resolve")
@operation(
    summary="Resolve an incident",
    description="Stops both clocks (resolving is also the first response, if there was none). "
    "Resolving again changes nothing.",
    body=IncidentChange,
    body_required=False,
    responses={200: ("The incident.", IncidentOut)},
    errors=(*BODY_ERRORS, 404),
)
def resolve_incident(incident_id):
    return _change(incidents.resolve, incident_id)


@bp.post("/alertmanager")
@operation(
    summary="Receive a Prometheus Alertmanager webhook notification",
    description=(
        "Takes Alertmanager's webhook payload (version 4) as it is. A firing alert opens an "
        "incident keyed by its fingerprint (a repeat changes nothing); a resolved one resolves "
        "that incident at `endsAt`, or at the incident's start when `endsAt` is before it (a "
        "note on the incident says so). The service is found from the alert's labels (see "
        "`labels`), else this URL's `service_id` parameter; an alert whose host matches no "
        "asset is kept as unrouted (`unrouted`) for a technician to route. Each alert stands alone: the answer is 200 with "
        "`rejected` listing, per alert, any that could not be used, including firing alerts "
        "past the most incidents one notification may open (ALERTMANAGER_MAX_ALERTS). "
        "Alertmanager gives up on a 4xx for the whole notification, so a 4xx means only that "
        "the payload is not a notification at all. A 5xx, which Alertmanager retries, means "
        "a fault on our side; retrying is safe."
    ),
    body=AlertmanagerWebhook,
    query=(
        {
            "name": "service_id",
            "in": "query",
            "required": False,
            "description": "The service for alerts that name neither an asset nor a service.",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        },
    ),
    responses={
        200: ("What became of each alert.", AlertmanagerSummary),
        422: (
            "The payload is not an Alertmanager notification (`fields` says what is wrong).",
            ErrorBody,
        ),
    },
    errors=BODY_ERRORS,
)
def alertmanager_webhook():
    fallback = _query_service_id()
    notification = _body(AlertmanagerNotification)
    if notification.truncatedAlerts:
        log.warning(
            "Alertmanager left %s alerts out of a notification (max_alerts on the receiver)",
            notification.truncatedAlerts,
        )
    summary = alertmanager.receive(
        g.api_company_id,
        notification.alerts,
        fallback,
        g.api_actor,
        max_new=current_app.config["ALERTMANAGER_MAX_ALERTS"],
    )
    return json_response(200, summary)


def _query_service_id() -> int | None:
    value = request.args.get("service_id")
    if value is None:
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_ID:
        raise _invalid([FieldProblem(field="service_id", message=f"{value!r} is not a service id")])
    return int(value)


@bp.put("/assets")
@operation(
    summary="Create or update assets by their RMM id (an RMM's nightly sync)",
    description="Up to 1000 devices per call, each matched by `rmm_id`: created when the company "
    "has no asset with it, else brought up to date. Idempotent: sending the same list again "
    "changes nothing and records nothing. Each item stands alone: one that cannot be applied "
    "(an unknown client, an identifier of another asset, a malformed field) is refused with its "
    "errors in `items`, and the others are applied. Services whose seats follow their devices "
    "change quantity once per call.",
    body=AssetsSync,
    responses={200: ("What became of each item.", AssetsSyncSummary)},
    errors=BODY_ERRORS,
)
def sync_assets():
    data = _body(AssetsSyncRequest)
    items, refused = [], []
    for index, raw in enumerate(data.assets):
        try:
            item = AssetIn.model_validate_json(json.dumps(raw))
        except ValidationError as exc:
            rmm_id = raw.get("rmm_id") if isinstance(raw, dict) else None
            refused.append(
                AssetResult(
                    index=index,
                    rmm_id=rmm_id if isinstance(rmm_id, str) else None,
                    result="refused",
                    asset_id=None,
                    errors=problems(exc),
                )
            )
            continue
        items.append((index, _synced(item)))
    done = syncing.upsert_assets(g.api_company_id, [i for _, i in items], g.api_actor)
    results = refused + [
        AssetResult(
            index=index,  # its place in the request, not in the valid items
            rmm_id=result.rmm_id,
            result=result.result,
            asset_id=result.asset_id,
            errors=[FieldProblem(field=SYNC_FIELDS.get(f, f), message=m) for f, m in result.errors],
        )
        for (index, _), result in zip(items, done, strict=True)
    ]
    results.sort(key=lambda r: r.index)
    summary = AssetsSyncSummary(items=results)
    for result in results:
        setattr(summary, result.result, getattr(summary, result.result) + 1)
    return json_response(200, summary)


# The sync's names for the fields the API names otherwise.
SYNC_FIELDS = {"kind": "type"}


def _synced(item: AssetIn) -> syncing.SyncedAsset:
    return syncing.SyncedAsset(
        rmm_id=item.rmm_id,
        client_id=item.client_id,
        name=item.name,
        kind=item.type,
        site=item.site or None,
        operating_system=item.operating_system or None,
        status=item.status,
        last_seen_at=item.last_seen_at,
        identifiers=tuple((i.kind, i.value) for i in item.identifiers),
        service_ids=tuple(item.service_ids),
    )


@bp.get("/openapi.json")
@operation(
    summary="This API's OpenAPI 3.1 document",
    responses={200: ("The document.", {"type": "object"})},
    public=True,
)
def openapi_document():
    return json_response(200, document(current_app))
