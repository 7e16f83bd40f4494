"""Every page's query string fuzzed with hypothesis: never a 5xx.

The routes are found by walking the URL map, as the form fuzzer (test_forms.py) does: every GET
rule, its path parts filled with ids of seeded rows, another company's, and ids no row has (0,
past 32 and 64 bits), and its text parts with real values and odd text. A GET route without an
entry in PAGES fails `test_every_get_route_has_a_fuzz_strategy`.

A page's parameters are the ones PAGES names for it. Every request records the keys its view
(or its template) read from `request.args`, and the fuzz of a route fails when one was read
that PAGES does not name: a parameter is fuzzed from the day a view starts reading it.

The values are what hand-edited and broken links send: huge, negative and non-ASCII numbers,
dates and months out of range, NUL and other control characters, invalid UTF-8, very long
text, empty values, the same key repeated, and keys no page knows. Requests are an admin's of a
company east of UTC (so year-1 dates overflow when turned into UTC), or signed out for the
pages people use signed out; the API's with a valid bearer token.
"""

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote_from_bytes

import pytest
from flask import Request, request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.utils import cached_property

from tests.fuzz import strategies as fz
from tests.support import fault_report
from tests.support.factories import (
    active_service,
    breach,
    kept_alert,
    make_client,
    make_invoice,
    make_service,
    make_user,
)
from webapp import create_app
from webapp.accounts import api_tokens, tokens
from webapp.accounts.models import User
from webapp.activity.queries import LABELS, WHO_CHOICES
from webapp.assets.actions import AssetFields, cover, create_asset, retire_asset
from webapp.company.models import Company
from webapp.extensions import db
from webapp.imports.columns import KINDS
from webapp.incidents.queries import SEVERITIES, STATES
from webapp.invoices import queries as invoices_queries
from webapp.lifecycle.statuses import ServiceStatus, UserRole
from webapp.reports.tables import TABLES
from webapp.services import actions as lc
from webapp.services.queries import SORTS

pytestmark = pytest.mark.fuzz

# /static/ serves files and reads no parameter.
NOT_PAGES = ("/static/",)


# --- Recording which parameters a view reads -----------------------------------------------

READ: dict[str, set[str]] = defaultdict(set)
EVERY_KEY = "(every key)"  # the view iterated the query string: no list of names can cover it


class RecordingArgs(ImmutableMultiDict):
    """request.args that notes, per endpoint, each key read."""

    def _note(self, key):
        READ[request.endpoint or "(before routing)"].add(key)

    def __getitem__(self, key):
        self._note(key)
        return super().__getitem__(key)

    def get(self, key, default=None, type=None):
        self._note(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):
        self._note(key)
        return super().getlist(key, type)

    def __contains__(self, key):
        self._note(key)
        return super().__contains__(key)

    def _every(self):
        READ[request.endpoint or "(before routing)"].add(EVERY_KEY)

    def keys(self):
        self._every()
        return super().keys()

    def items(self, multi=False):
        self._every()
        return super().items(multi)

    def lists(self):
        self._every()
        return super().lists()

    def values(self):
        self._every()
        return super().values()

    def to_dict(self, flat=True):
        self._every()
        return super().to_dict(flat)

    def __iter__(self):
        self._every()
        return super().__iter__()


class RecordingRequest(Request):
    @cached_property
    def args(self):
        return RecordingArgs(Request.args.fget(self).items(multi=True))


@pytest.fixture
def recording_app(fuzz_app):
    fuzz_app.request_class = RecordingRequest
    # The queues page is the installation operators' (the world has two companies).
    fuzz_app.config["QUEUE_DASHBOARD_OPERATORS"] = frozenset({"admin@msp.example"})
    READ.clear()
    return fuzz_app


# --- The seeded company --------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    company: int
    clients: tuple[int, ...]  # own first, then another company's
    services: tuple[int, ...]
    incidents: tuple[int, ...]
    users: tuple[int, ...]
    api_token: str
    links: dict[str, str]  # a working invitation and reset link's token, by purpose path
    invoices: tuple[int, ...] = ()  # own (an invoice, a credit note), then another company's
    assets: tuple[int, ...] = ()  # own (active, retired), then another company's
    unrouted: tuple[int, ...] = ()  # kept alerts: own, then another company's


@pytest.fixture
def world(recording_app, company, other_company, as_role) -> World:
    # East of UTC, so that year-1 local dates overflow when turned into UTC.
    db.session.get(Company, company).timezone = "Asia/Kolkata"
    db.session.commit()
    client = make_client(company)
    other_client = make_client(other_company, name="Other client")
    pending = make_service(company, client, name="Firewall")
    active = active_service(company, client, name="Backup")
    suspended = active_service(company, client, name="Monitoring")
    lc.suspend(company, suspended, "test", reason="unpaid")
    other_service = active_service(other_company, other_client)
    incident = breach(company, active)
    other_incident = breach(other_company, other_service)
    as_role(UserRole.ADMIN)
    invited = db.session.get(User, make_user(company, "invited@msp.example", UserRole.VIEWER))
    admin = db.session.scalars(select(User).filter_by(email="admin@msp.example")).one()
    invoices = (
        make_invoice(company, client, ("100.00", "-20.00"), service_id=active),
        make_invoice(company, client, ("-30.00",), currency="EUR"),
        make_invoice(other_company, other_client, service_id=other_service),
    )
    assets = tuple(
        create_asset(owner, AssetFields(of, name, identifiers=(("hostname", name),)), "t").id
        for owner, of, name in (
            (company, client, "web1"),
            (company, client, "old-pc"),
            (other_company, other_client, "theirs"),
        )
    )
    cover(company, active, assets[0], "test")
    retire_asset(company, assets[1], "test")
    return World(
        company=company,
        clients=(client, other_client),
        services=(pending, active, suspended, other_service),
        incidents=(incident, other_incident),
        users=(admin.id, invited.id),
        api_token=api_tokens.create(company, "fuzz", "test")[1],
        links={
            tokens.INVITATION.path: tokens.make(tokens.INVITATION, invited),
            tokens.RESET.path: tokens.make(tokens.RESET, admin),
        },
        invoices=invoices,
        assets=assets,
        unrouted=(kept_alert(company), kept_alert(other_company)),
    )


# --- What each page is sent ----------------------------------------------------------------

Values = Callable[[World], st.SearchStrategy[str]]


def choice(values) -> Values:
    """A page's own values, or anything else."""
    own = st.sampled_from([str(v) for v in values])
    return lambda w: st.one_of(own, fz.odd_text, fz.numbers)


def any_text(w: World) -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=20), fz.odd_text)


def client_ids(w: World) -> st.SearchStrategy[str]:
    return fz.ids(*w.clients)


def service_ids(w: World) -> st.SearchStrategy[str]:
    return fz.ids(*w.services)


def event_ids(w: World) -> st.SearchStrategy[str]:
    return st.one_of(fz.ids(1, 2, 5, 10**6), fz.numbers)


def numbers(w: World) -> st.SearchStrategy[str]:
    return fz.numbers


def dates(w: World) -> st.SearchStrategy[str]:
    return fz.dates


MONTHS = st.one_of(
    st.sampled_from(
        [
            "9999-12",
            "0001-01",
            "0000-00",
            "2026-13",
            "2026-00",
            "2026-1",
            "10000-01",
            "-001-01",
            " 2026-02 ",
            "2026-02-01",
            "١٢٣٤-٠١",  # Arabic-Indic digits: strptime takes them
        ]
    ),
    st.dates().map(lambda d: f"{d:%Y-%m}"),
    fz.odd_text,
)


def months(w: World) -> st.SearchStrategy[str]:
    return MONTHS


DATE_RANGE = {"from": dates, "to": dates}


@dataclass(frozen=True)
class Page:
    params: dict[str, Values] = field(default_factory=dict)
    signed_out: bool = False  # sent without signing in: the pages people use signed out
    api: bool = False  # sent with the API token
    examples: int = 10
    # A status the page answers on purpose whatever it is sent (the health check's 503 while
    # no worker runs here), which no parameter may turn into another 5xx.
    designed: frozenset[int] = frozenset()


SERVICE_FILTERS = {
    "q": any_text,
    "status": choice(s.value for s in ServiceStatus),
    "client": client_ids,
    "health": choice(["healthy", "fair", "poor", "critical"]),
    "sort": choice(SORTS),
    "desc": choice(["0", "1"]),
    "page": numbers,
    "manager": choice(["me"]),
    "type": choice(["backup", "m365"]),
    **DATE_RANGE,
}

INCIDENT_FILTERS = {
    "state": choice(STATES),
    "severity": choice(SEVERITIES),
    "q": any_text,
    "service": service_ids,
    "client": client_ids,
    **DATE_RANGE,
}

INVOICE_FILTERS = {
    "client": client_ids,
    "status": choice(invoices_queries.STATUSES),
    "kind": choice(invoices_queries.KINDS),
    **DATE_RANGE,
}

ACTIVITY_FILTERS = {
    "who": lambda w: st.one_of(choice(v for v, _ in WHO_CHOICES)(w), fz.ids(*w.users)),
    "what": choice(LABELS),
    "client": client_ids,
    **DATE_RANGE,
}

PAGES: dict[str, Page] = {
    "dashboard.overview": Page(),
    "auth.account": Page(),
    "auth.login": Page({"next": any_text}, signed_out=True),
    "auth.forgot": Page(signed_out=True),
    "auth.invitation": Page(signed_out=True),
    "auth.reset": Page(signed_out=True),
    "setup.index": Page({"token": any_text}, signed_out=True),
    "activity.index": Page({**ACTIVITY_FILTERS, "older_than": event_ids}, examples=40),
    "exports.activity_csv": Page(ACTIVITY_FILTERS, examples=30),
    "services.index": Page(SERVICE_FILTERS, examples=40),
    "exports.services_csv": Page(SERVICE_FILTERS, examples=30),
    "services.detail": Page(),
    "services.new": Page(),
    # The bulk price change opens with the list's filters (sort and page read, not used).
    "services.bulk_price": Page(SERVICE_FILTERS, examples=20),
    "incidents.index": Page(INCIDENT_FILTERS, examples=40),
    "exports.incidents_csv": Page(INCIDENT_FILTERS, examples=30),
    "incidents.detail": Page(),
    "incidents.new": Page({"service_id": service_ids}, examples=20),
    "alerts.index": Page(
        {"state": choice(["open", "acknowledged", "all"]), "kind": any_text, "page": numbers},
        examples=20,
    ),
    "clients.index": Page(
        {
            "q": any_text,
            "sort": choice(["name", "mrr", "health", "incidents", "term_end"]),
            "desc": choice(["0", "1"]),
            "page": numbers,
            "archived": choice(["0", "1"]),
        },
        examples=20,
    ),
    "clients.detail": Page(),
    "clients.edit": Page(),
    "clients.new": Page(),
    "invoices.index": Page({**INVOICE_FILTERS, "page": numbers}, examples=40),
    "invoices.export_csv": Page(INVOICE_FILTERS, examples=20),
    "invoices.xero_csv": Page(INVOICE_FILTERS, examples=20),
    "invoices.quickbooks_csv": Page(INVOICE_FILTERS, examples=20),
    "invoices.detail": Page(),
    "invoices.pdf": Page(),
    "invoices.ubl": Page(),
    "renewals.index": Page({"days": choice([30, 60, 90, 180]), "page": numbers}, examples=20),
    "reports.index": Page({"from": months, "to": months, "client": client_ids}, examples=60),
    "reports.export": Page({"from": months, "to": months, "client": client_ids}, examples=40),
    "live.poll": Page({"stamp": any_text}),
    "mailbox.index": Page({"page": numbers}),
    "operations.index": Page(),
    "operations.queues": Page({"page": numbers}),
    "settings.index": Page(),
    "people.index": Page(),
    "webhooks.index": Page(),
    "imports.index": Page({"kind": choice(KINDS)}),
    "imports.template": Page(),
    "health.healthz": Page(designed=frozenset({503})),
    "metrics.metrics": Page(),
    "unrouted.index": Page(),
    "unrouted.detail": Page(),
    "api.get_incident": Page(api=True),
    "api.openapi_document": Page(api=True),
    "assets.index": Page(
        {
            "q": any_text,
            "client": client_ids,
            "kind": choice(["server", "workstation", "mailbox", "router"]),
            "status": choice(["active", "retired", "gone"]),
            "unrouted": choice(["0", "1"]),
            "page": numbers,
        },
        examples=40,
    ),
    "assets.detail": Page(),
    "assets.new": Page({"client": client_ids}),
    "assets.edit": Page(),
}


def path_values(w: World) -> dict[str, st.SearchStrategy[str]]:
    """What each named part of a path is sent: the seeded rows' ids (own and another
    company's) and ids no row has; real names and odd text."""

    def ids(*known):
        return fz.url_ids(*known).map(str)

    def text(*known):
        odd = fz.odd_text.map(lambda v: quote_from_bytes(fz._encode(v), safe="")).filter(bool)
        return st.one_of(st.sampled_from(known), odd) if known else odd

    return {
        "service_id": ids(*w.services),
        "incident_id": ids(*w.incidents),
        "client_id": ids(*w.clients),
        "invoice_id": ids(*w.invoices),
        "unrouted_id": ids(*w.unrouted),
        "asset_id": ids(*w.assets),
        "table": text(*TABLES),
        "kind": text(*KINDS),
        "token": text(*w.links.values()),
    }


# --- The route walk ------------------------------------------------------------------------


def get_rules():
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    return [
        rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.rule.startswith(NOT_PAGES)
    ]


def test_every_get_route_has_a_fuzz_strategy():
    endpoints = {rule.endpoint for rule in get_rules()}
    missing = endpoints - set(PAGES)
    assert not missing, f"GET routes no fuzz strategy covers (add them to PAGES): {missing}"
    assert not set(PAGES) - endpoints, "PAGES names a route that no longer exists"


PART = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@st.composite
def urls(draw, rule, page: Page, w: World, parts: dict[str, st.SearchStrategy[str]]):
    """The rule's path with its parts drawn, and a query string: the page's parameters, each
    left out, sent once or repeated, with now and then a key no page knows."""
    path = PART.sub(lambda m: draw(parts[m.group(1)]), rule.rule)
    pairs = []
    for name, values in page.params.items():
        for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3]))):
            pairs.append((name, draw(values(w))))
    if draw(st.integers(0, 4)) == 0:
        pairs.append((draw(fz.odd_text), draw(fz.odd_text)))
    query = "&".join(
        quote_from_bytes(fz._encode(k), safe="") + "=" + quote_from_bytes(fz._encode(v), safe="")
        for k, v in draw(st.permutations(pairs))
    )
    return f"{path}?{query}" if query else path


# --- The fuzz ------------------------------------------------------------------------------


def _client(app, as_role, page: Page):
    if page.signed_out or page.api:
        return app.test_client()
    return as_role(UserRole.ADMIN).client


@pytest.mark.parametrize("endpoint", sorted(PAGES))
def test_a_page_never_fails_on_its_query_string(recording_app, as_role, world, endpoint):
    (rule,) = recording_app.url_map.iter_rules(endpoint)
    page = PAGES[endpoint]
    client = _client(recording_app, as_role, page)
    headers = {"Authorization": f"Bearer {world.api_token}"} if page.api else {}
    parts = path_values(world)
    unknown = set(PART.findall(rule.rule)) - set(parts)
    assert not unknown, f"path parts with no strategy (add them to path_values): {unknown}"
    tally = Counter()

    # The fixtures (app, database, signed-in client) are built once per route: the pages
    # only read, so examples cannot disturb each other.
    @settings(
        max_examples=page.examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(url=urls(rule, page, world, parts), htmx=st.booleans())
    def visit(url, htmx):
        tally["inputs"] += 1
        sent = headers | ({"HX-Request": "true"} if htmx else {})
        response = client.get(url, headers=sent)
        db.session.rollback()
        status = response.status_code
        assert status < 500 or status in page.designed, (status, url)
        assert b"Traceback" not in response.get_data()  # bytes: a page may be a PDF

    try:
        visit()
    finally:
        fault_report.record(
            f"page {endpoint} query fuzzed (hypothesis)",
            faults=0,
            inputs=tally["inputs"],
            lost=0,  # the pages only read: a 5xx is their fault, and fails the test
            doubled=0,
        )
    unnamed = READ.get(endpoint, set()) - set(page.params)
    assert not unnamed, (
        f"{endpoint} reads query parameters PAGES does not name (add them): {unnamed}"
    )
    assert tally["inputs"] >= page.examples
