"""Every form of the app, fuzzed with hypothesis: never a 5xx, a refusal says why and writes
nothing, a success writes only what that form may write, and only once.

The routes are found by walking the URL map (as tests/contracts/test_csrf_everywhere.py does), and a
POST route without an entry in FORMS fails `test_every_post_route_has_a_fuzz_strategy`, so a new
form is fuzzed from the day it is added. Each request is signed in with a role allowed to send
it and carries a valid CSRF token: the fuzz reaches the form's own validation, not the guards.
"""

import csv
import datetime as dt
import io
import re
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result
from sqlalchemy import select

from tests.fuzz import strategies as fz
from tests.support import fault_report
from tests.support.db_snapshot import changed_tables, grown, snapshot
from tests.support.factories import (
    active_service,
    kept_alert,
    make_client,
    make_invoice,
    make_service,
    make_user,
)
from tests.support.sessions import PASSWORD, csrf_from
from webapp import create_app
from webapp.accounts import api_tokens, tokens
from webapp.accounts.models import User
from webapp.assets.actions import AssetFields, create_asset
from webapp.assets.actions import cover as cover_asset
from webapp.clients.models import Client, Contact
from webapp.company.models import Company
from webapp.extensions import db
from webapp.forms import CURRENCIES, CYCLE_LABELS
from webapp.imports import uploads
from webapp.imports.columns import KINDS, template_csv
from webapp.imports.planning import plan_import
from webapp.incidents import recording
from webapp.incidents.forms import SEVERITY_LABELS
from webapp.lifecycle.statuses import DeliveryStatus, ServiceLevel, UserRole
from webapp.lifecycle.transitions import Action
from webapp.notifications.actions import add_webhook
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.queues import redis_connection
from webapp.services import actions as lc
from webapp.services.models import ClientService
from webapp.sla.models import SlaAlert

pytestmark = pytest.mark.fuzz

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# The JSON API is fuzzed by schemathesis (test_api.py).
NOT_FORMS = ("/api/v1/",)
# A refused form is one of these, with its message in the page (never a stack trace).
REFUSALS = {400, 401, 403, 404, 409, 413, 422}
ERROR_SHOWN = re.compile(r'class="field-error"|class="error-box|data-status="\d{3}"')


@dataclass(frozen=True)
class World:
    """Rows of the signed-in company, and of another company the fuzz must not reach."""

    company: int
    other_company: int
    client: int
    other_client: int
    services: dict[str, int]  # by status
    other_service: int
    incident: int
    other_incident: int
    alert: int
    other_alert: int
    delivery: int
    other_delivery: int
    token: int
    other_token: int
    email: dict[UserRole, str]
    other_user: int = 0  # a person of the other company
    webhook: int = 0
    other_webhook: int = 0
    invoices: tuple[int, ...] = ()  # issued invoices of the company's client
    other_invoice: int = 0
    asset: int = 0  # an active asset of the client, covered by the active service
    other_asset: int = 0
    unrouted: int = 0  # an alert kept because its host matched no asset
    other_unrouted: int = 0

    @property
    def own_services(self) -> list[int]:
        return list(self.services.values())


def _incident(company_id, service_id) -> int:
    new = recording.NewIncident(service_id, "Backup failed", "high")
    return recording.record(company_id, new, "test")[0].id


def _alert_and_failed_delivery(company_id, service_id, incident_id) -> tuple[int, int]:
    """An SLA alert and a failed delivery, on the service's first event (as the pipeline
    leaves them after a breach and a listener that kept failing)."""
    event_id = db.session.scalar(
        select(DomainEvent.id).where(DomainEvent.service_id == service_id).order_by(DomainEvent.id)
    )
    alert = SlaAlert(
        company_id=company_id,
        event_id=event_id,
        service_id=service_id,
        incident_id=incident_id,
        kind="response",
        message="Response time breached",
    )
    delivery = db.session.scalars(
        select(ListenerDelivery).where(ListenerDelivery.event_id == event_id)
    ).first()
    if delivery is None:
        delivery = ListenerDelivery(
            company_id=company_id, event_id=event_id, listener="notify", queue="notifications"
        )
    delivery.status, delivery.attempts, delivery.last_error = DeliveryStatus.FAILED, 5, "down"
    db.session.add_all([alert, delivery])
    db.session.commit()
    return alert.id, delivery.id


@pytest.fixture
def world(fuzz_app, company, other_company, as_role) -> World:
    # East of UTC, so that year-1 local times overflow when turned into UTC.
    db.session.get(Company, company).timezone = "Asia/Kolkata"
    db.session.commit()
    client = make_client(company)
    other_client = make_client(other_company, name="Other client")
    services = {
        "pending": make_service(company, client, name="Firewall"),
        "active": active_service(company, client, name="Backup"),
        "suspended": active_service(company, client, name="Monitoring"),
        "cancelled": active_service(company, client, name="M365"),
    }
    lc.suspend(company, services["suspended"], "test", reason="unpaid")
    lc.cancel(company, services["cancelled"], "test", reason="moved away")
    other_service = active_service(other_company, other_client)
    incident = _incident(company, services["active"])
    other_incident = _incident(other_company, other_service)
    alert, delivery = _alert_and_failed_delivery(company, services["active"], incident)
    other_alert, other_delivery = _alert_and_failed_delivery(
        other_company, other_service, other_incident
    )
    email = {}
    for role in UserRole:
        as_role(role)  # creates the user with the tests' password
        email[role] = f"{role.value}@msp.example"
    return World(
        company=company,
        other_company=other_company,
        client=client,
        other_client=other_client,
        services=services,
        other_service=other_service,
        incident=incident,
        other_incident=other_incident,
        alert=alert,
        other_alert=other_alert,
        delivery=delivery,
        other_delivery=other_delivery,
        token=api_tokens.create(company, "monitoring", "test")[0].id,
        other_token=api_tokens.create(other_company, "theirs", "test")[0].id,
        email=email,
        other_user=make_user(other_company, "them@other.example", UserRole.ADMIN),
        # Loopback (allowed by the tests' config) on a port where nothing listens: a test send
        # is refused at once, and no fuzzed URL can reach anything.
        webhook=add_webhook(company, "slack", "http://127.0.0.1:9/fuzz", None, "test").id,
        other_webhook=add_webhook(other_company, "slack", "http://127.0.0.1:9/x", None, "t").id,
        invoices=(
            make_invoice(company, client, ("100.00", "-20.00"), service_id=services["active"]),
            make_invoice(company, client, ("35.50",), currency="EUR"),
        ),
        other_invoice=make_invoice(other_company, other_client, service_id=other_service),
        **_assets(company, other_company, client, other_client, services["active"]),
    )


def _assets(company, other_company, client, other_client, active) -> dict:
    mine = create_asset(
        company, AssetFields(client, "web1", identifiers=(("hostname", "web1"),)), "t"
    )
    theirs = create_asset(
        other_company, AssetFields(other_client, "theirs", identifiers=(("hostname", "web2"),)), "t"
    )
    create_asset(company, AssetFields(client, "pc1", identifiers=(("hostname", "pc1"),)), "t")
    cover_asset(company, active, mine.id, "test")
    return {
        "asset": mine.id,
        "other_asset": theirs.id,
        "unrouted": kept_alert(company),
        "other_unrouted": kept_alert(other_company),
    }


# --- What each form is sent ----------------------------------------------------------------

Fields = dict[str, tuple[st.SearchStrategy[str], st.SearchStrategy[str]]]  # name: (valid, odd)


@dataclass(frozen=True)
class Form:
    role: UserRole | None  # None: sent signed out (the sign-in form)
    url: Callable[[World], st.SearchStrategy[str]]
    fields: Callable[[World], Fields]
    # The tables a successful submission may change, and how many rows it may add to each
    # (a second row is a double write); tables not named may not grow at all.
    writes: frozenset[str] = frozenset()
    adds: dict[str, int] = field(default_factory=dict)
    examples: int = 10
    # Files sent with the fields (multipart/form-data, as an <input type="file"> sends them):
    # field name -> (filename, content).
    files: Callable[[World], dict[str, st.SearchStrategy[tuple[str, bytes]]]] | None = None


def fixed(url: str):
    return lambda w: st.just(url)


def path_part(value: str) -> str:
    return quote_from_bytes(fz._encode(value), safe="")


def minutes(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(str)


def choice(values) -> st.SearchStrategy[str]:
    return st.sampled_from([str(v) for v in values])


def services_url(suffix: st.SearchStrategy[str]):
    def url(w: World):
        ids = fz.url_ids(*w.own_services, w.other_service)
        return st.builds(lambda i, s: f"/services/{i}/{s}", ids, suffix)

    return url


def item_url(prefix: str, attribute: str, action: str):
    def url(w: World):
        own, other = getattr(w, attribute), getattr(w, f"other_{attribute}")
        return fz.url_ids(own, other).map(lambda i: f"{prefix}/{i}/{action}")

    return url


def recent_local_times() -> st.SearchStrategy[str]:
    now = dt.datetime.now()
    return st.integers(0, 60 * 24 * 30).map(
        lambda m: (now - dt.timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M")
    )


def week_fields() -> Fields:
    result: Fields = {}
    for day in range(7):
        result[f"days-{day}-is_open"] = (st.sampled_from(["y", ""]), fz.odd_text)
        result[f"days-{day}-opens"] = (st.sampled_from(["08:00", "09:30"]), fz.times)
        result[f"days-{day}-closes"] = (st.sampled_from(["17:00", "18:00"]), fz.times)
    return result


# A transition that moves recurring revenue (an active service cancelled, suspended, ...)
# writes its revenue_movements row in the same transaction (webapp.billing.ledger).
LIFECYCLE_WRITES = frozenset(
    {
        "client_services",
        "domain_events",
        "listener_deliveries",
        "incidents",
        "service_pauses",
        "revenue_movements",
    }
)
# An incident's change also moves its service's health and SLA figures, and may record events.
INCIDENT_WRITES = frozenset(
    {"incidents", "client_services", "domain_events", "listener_deliveries"}
)
NAMES = st.text(min_size=1, max_size=60).filter(lambda s: s.strip() and "\x00" not in s)


def previewed(w: World) -> str:
    """The running services and their versions, as the bulk price change's preview sends them."""
    running = [w.services[s] for s in ("pending", "active", "suspended")]
    return " ".join(
        f"{service_id}:{version}"
        for service_id, version in db.session.execute(
            select(ClientService.id, ClientService.version).where(ClientService.id.in_(running))
        )
    )


def invoice_url(action: str):
    def url(w: World):
        return fz.url_ids(*w.invoices, w.other_invoice).map(lambda i: f"/invoices/{i}/{action}")

    return url


def payment_days() -> st.SearchStrategy[str]:
    """From the invoices' day (today in UTC) to a week back, or today in the company's zone."""
    day = dt.datetime.now(dt.UTC).date()
    return st.integers(-7, 1).map(lambda n: (day + dt.timedelta(days=n)).isoformat())


# Voiding issues a credit note: its row, its lines (one per line of the invoice), its number's
# sequence, its month's sums for the reports, its event and the event's deliveries.
VOID_WRITES = frozenset(
    {
        "invoices",
        "invoice_lines",
        "invoiced_kind_months",
        "document_sequences",
        "domain_events",
        "listener_deliveries",
    }
)


def people_url(action: str):
    def url(w: World):
        own = db.session.scalars(select(User.id).where(User.company_id == w.company)).all()
        return fz.url_ids(*own, w.other_user).map(lambda i: f"/settings/people/{i}/{action}")

    return url


def link_url(purpose: tokens.Purpose):
    """A link to choose a password that works (for someone invited, or the viewer), and
    tokens that are none."""

    def url(w: World):
        if purpose is tokens.INVITATION:
            person = make_user(w.company, "invited@msp.example", UserRole.VIEWER)
        else:
            person = db.session.scalar(select(User.id).filter_by(email=w.email[UserRole.VIEWER]))
        valid = tokens.make(purpose, db.session.get(User, person))
        odd = fz.odd_text.map(path_part).filter(bool)
        return st.one_of(st.just(valid), odd).map(lambda t: f"/{purpose.path}/{t}")

    return url


# A party's country and VAT number (the settings' invoicing panel and the client form).
COUNTRY = (st.sampled_from(["", "GB", "ie", "NO"]), fz.text_or_odd(st.sampled_from(["UK", "XX"])))
VAT_ID = (
    st.sampled_from(["", "GB123456789", " ie 6388047v ", "CHE-123.456.789 MWST"]),
    fz.odd_text,
)


def client_fields(w: World) -> Fields:
    return {
        "name": (NAMES, fz.odd_text),
        "external_id": (st.text(max_size=20).filter(lambda s: "\x00" not in s), fz.odd_text),
        "address": (st.text(max_size=100).filter(lambda s: "\x00" not in s), fz.odd_text),
        "payment_terms_days": (minutes(0, 365), fz.numbers),
        "tax_rate": (st.decimals(0, 100, places=2).map(str), fz.money),
        "country": COUNTRY,
        "vat_id": VAT_ID,
        "notes": (st.text(max_size=100).filter(lambda s: "\x00" not in s), fz.odd_text),
    }


def contact_fields(prefix: str) -> Fields:
    return {
        f"{prefix}-name": (NAMES, fz.odd_text),
        f"{prefix}-email": (st.sampled_from(["", "jo@client.example"]), fz.odd_text),
        f"{prefix}-phone": (st.sampled_from(["", "+44 20 7946 0000"]), fz.odd_text),
        f"{prefix}-is_primary": (st.sampled_from(["y", ""]), fz.odd_text),
        f"{prefix}-is_billing": (st.sampled_from(["y", ""]), fz.odd_text),
        f"{prefix}-is_technical": (st.sampled_from(["y", ""]), fz.odd_text),
    }


def contact_of(client_id: int) -> int:
    return db.session.scalar(select(Contact.id).filter_by(client_id=client_id))


def contact_url(suffix: str = ""):
    """A contact of the world's client, through its own client or another company's."""

    def url(w: World):
        own, other = contact_of(w.client), contact_of(w.other_client)
        return st.builds(
            lambda c, i: f"/clients/{c}/contacts/{i}{suffix}",
            st.sampled_from([w.client, w.client, w.other_client]),
            fz.url_ids(own, other),
        )

    return url


def managers(w: World) -> list[str]:
    return [
        str(i)
        for i in db.session.scalars(
            select(User.id).where(
                User.company_id == w.company,
                User.role.in_((UserRole.ACCOUNT_MANAGER, UserRole.ADMIN)),
            )
        )
    ]


IMPORT_KINDS = ("clients", "contacts", "services", "assets")


def csv_files(w: World) -> st.SearchStrategy[tuple[str, bytes]]:
    """What a person uploads to the import's dry run: our templates, a file that changes
    nothing here, spreadsheets of odd cells in the encodings we read and ones we do not, and
    bytes that are no text at all."""
    own = db.session.get(Client, w.client).name
    cells = st.one_of(
        st.text(max_size=30),
        st.lists(st.one_of(fz.odd_characters, st.characters()), max_size=12).map("".join),
        st.sampled_from(ODD_CELLS),
    )
    headers = st.lists(st.one_of(st.sampled_from(IMPORT_HEADERS), st.text(max_size=20)), max_size=8)
    spreadsheet = st.builds(
        lambda header, rows, encoding: _csv(header, rows).encode(encoding, "surrogatepass"),
        headers,
        st.lists(st.lists(cells, max_size=8), max_size=6),
        st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    )
    content = st.one_of(
        st.sampled_from([template_csv(KINDS[k]).encode() for k in IMPORT_KINDS]),
        st.just(_csv(["Name"], [[own]]).encode()),
        spreadsheet,
        st.binary(max_size=600),
    )
    filename = st.one_of(
        st.sampled_from(["clients.csv", "services.CSV", "../../etc/passwd", "a\\b.csv", "é.csv"]),
        fz.odd_text,
    )
    return st.tuples(filename, content)


# Headers the import reads, so that odd spreadsheets reach the row checks, and values on the
# edges of those checks.
IMPORT_HEADERS = sorted({c.header for kind in KINDS.values() for c in kind.columns})
ODD_CELLS = [
    *("Acme Dental", "ACME-001", "active", "cancelled", "annual", "one-time", "yes", "USD"),
    *("2026-02-30", "0001-01-01", "9999-12-31", "2027-01-01", "31/12/2026", "1969-12-31"),
    *("NaN", "1e999999", "-1", "0", "12,50", "99999999999.99", "1_000", "١٢٣", "20%"),
    *("primary;billing", "jo@client.example", "=HYPERLINK(0)", "x" * 5001),
]


def _csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    return out.getvalue()


def kept_uploads(w: World) -> tuple[list[str], str]:
    """Dry runs that may be committed (a new client each) and the digest of their plan."""
    raw = _csv(["Name"], [["Fuzz Imported Client"]]).encode()
    kept = [uploads.keep(w.company, uploads.Upload("clients", "fuzz.csv", raw)) for _ in range(3)]
    return kept, plan_import(w.company, "clients", raw, "fuzz.csv").digest


def commit_fields(w: World) -> Fields:
    kept, digest = kept_uploads(w)
    return {
        "token": (st.sampled_from(kept), fz.odd_text),
        "digest": (st.sampled_from([digest, digest, ""]), fz.odd_text),
    }


def failed_jobs() -> list[str]:
    """Failed RQ jobs for the Queues page's buttons (they change Redis only, no table)."""
    conn = redis_connection()
    ids = []
    for n in range(3):
        job = Job.create("jobs.deliver.deliver_event", args=(0,), id=f"fuzz-{n}", connection=conn)
        job.origin = "default"
        Result.create_failure(job, ttl=600, exc_string="<b>boom</b>")
        FailedJobRegistry("default", connection=conn).add(job, exc_string="<b>boom</b>")
        ids.append(job.id)
    return ids


def webhook_urls() -> st.SearchStrategy[str]:
    """URLs add_webhook takes (a public address, never called by the add) and ones it refuses."""
    public = st.integers(0, 10**6).map(lambda n: f"https://8.8.8.8/hook/{n}")
    refused = st.sampled_from(
        [
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/hook",
            "http://[fd00:ec2::254]/",
            "https://user:pass@8.8.8.8/hook",
            "gopher://8.8.8.8:6379/_INFO",
            "https://8.8.8.8:99999/",
            "http://[::1",
            "https://host.invalid/hook",
        ]
    )
    return public, st.one_of(refused, fz.odd_text, public.map(lambda u: u + " x"))


NEW_PASSWORD = "a brand new passphrase"
# Signing out has nothing to refuse; after the first, the rest are sent signed out.
SIGN_OUTS = ("auth.logout", "auth.sign_out_everywhere")


def asset_fields(w: World) -> Fields:
    kinds = ["hostname", "instance", "serial", "rmm_id", "other"]
    line = st.builds(lambda k, v: f"{k}: {v}", st.sampled_from(kinds), NAMES)
    return {
        "client_id": (st.just(str(w.client)), fz.ids(w.other_client)),
        "name": (NAMES, fz.odd_text),
        "kind": (choice(["server", "workstation", "mailbox", "other"]), fz.odd_text),
        "identifiers": (
            st.lists(st.one_of(line, st.just("web1"), st.just("pc1:9100")), max_size=4).map(
                "\n".join
            ),
            fz.odd_text,
        ),
        "site": (st.text(max_size=20).filter(lambda t: "\x00" not in t), fz.odd_text),
        "operating_system": (st.sampled_from(["", "Debian 12"]), fz.odd_text),
        "notes": (st.text(max_size=50).filter(lambda t: "\x00" not in t), fz.odd_text),
    }


def coverage_url(action: str):
    def url(w: World):
        ids = fz.url_ids(*w.own_services, w.other_service)
        return ids.map(lambda i: f"/assets/services/{i}/{action}")

    return url


# Seats may follow: a coverage change is its event and a quantity change (with its deliveries
# and revenue step), and moves the asset's receiving service.
COVERAGE_WRITES = frozenset(
    {
        "service_coverage",
        "assets",
        "client_services",
        "domain_events",
        "listener_deliveries",
        "revenue_movements",
    }
)
COVERAGE_ADDS = {
    "service_coverage": 1,
    "domain_events": 2,
    "listener_deliveries": 10,
    "revenue_movements": 1,
}


# Routing a kept alert: the host becomes an identifier, the incident is recorded (its SLA
# marks, events and deliveries); to a new asset, the asset and its coverage too.
ROUTING_WRITES = INCIDENT_WRITES | COVERAGE_WRITES | {"unrouted_alerts", "asset_identifiers"}
ROUTING_ADDS = {
    **COVERAGE_ADDS,
    "incidents": 1,
    "assets": 1,
    "asset_identifiers": 1,
    "domain_events": 5,
    "listener_deliveries": 40,
}

FORMS: dict[str, Form] = {
    "unrouted.route": Form(
        role=UserRole.TECHNICIAN,
        url=item_url("/assets/unrouted", "unrouted", "route"),
        fields=lambda w: {"asset_id": (choice([w.asset]), fz.ids(w.other_asset))},
        writes=ROUTING_WRITES,
        adds=ROUTING_ADDS,
    ),
    "unrouted.new_asset": Form(
        role=UserRole.TECHNICIAN,
        url=item_url("/assets/unrouted", "unrouted", "new-asset"),
        fields=lambda w: {
            "client_id": (choice([w.client]), fz.ids(w.other_client)),
            "name": (NAMES, fz.odd_text),
            "kind": (choice(["server", "other"]), fz.odd_text),
            "service_id": (choice(["", *w.own_services]), fz.ids(w.other_service)),
        },
        writes=ROUTING_WRITES,
        adds=ROUTING_ADDS,
        examples=20,
    ),
    "settings.routing": Form(
        role=UserRole.ADMIN,
        url=fixed("/settings/routing"),
        fields=lambda w: {
            "routing_labels": (
                st.sampled_from(["asset_id,instance,hostname,host", "host", "instance, node"]),
                fz.odd_text,
            ),
        },
        writes=frozenset({"companies"}),
    ),
    "assets.new": Form(
        role=UserRole.TECHNICIAN,
        url=fixed("/assets/new"),
        fields=asset_fields,
        writes=frozenset({"assets", "asset_identifiers", "domain_events"}),
        adds={"assets": 1, "asset_identifiers": 4, "domain_events": 1},
        examples=30,
    ),
    "assets.edit": Form(
        role=UserRole.TECHNICIAN,
        url=item_url("/assets", "asset", "edit"),
        fields=asset_fields,
        writes=frozenset({"assets", "asset_identifiers", "domain_events"}),
        adds={"asset_identifiers": 4, "domain_events": 1},
        examples=30,
    ),
    "assets.retire": Form(
        role=UserRole.TECHNICIAN,
        url=item_url("/assets", "asset", "retire"),
        fields=lambda w: {},
        writes=COVERAGE_WRITES,
        adds={**COVERAGE_ADDS, "service_coverage": 0},
    ),
    "assets.reactivate": Form(
        role=UserRole.TECHNICIAN,
        url=item_url("/assets", "asset", "reactivate"),
        fields=lambda w: {},
        writes=COVERAGE_WRITES,
        adds={**COVERAGE_ADDS, "service_coverage": 0},
    ),
    "assets.receiving": Form(
        role=UserRole.TECHNICIAN,
        url=item_url("/assets", "asset", "receiving"),
        fields=lambda w: {
            "service_id": (choice(["", *w.own_services]), fz.ids(w.other_service)),
        },
        writes=frozenset({"assets", "domain_events"}),
        adds={"domain_events": 1},
    ),
    "assets.cover": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=coverage_url("cover"),
        fields=lambda w: {"asset_id": (choice([w.asset]), fz.ids(w.other_asset))},
        writes=COVERAGE_WRITES,
        adds=COVERAGE_ADDS,
        examples=20,
    ),
    "assets.uncover": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=coverage_url("uncover"),
        fields=lambda w: {"asset_id": (choice([w.asset]), fz.ids(w.other_asset))},
        writes=COVERAGE_WRITES,
        adds={**COVERAGE_ADDS, "service_coverage": 0},
        examples=20,
    ),
    "assets.follow": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=coverage_url("follow"),
        fields=lambda w: {"follows": (choice(["", "1"]), fz.odd_text)},
        writes=COVERAGE_WRITES,
        adds={**COVERAGE_ADDS, "service_coverage": 0, "domain_events": 1},
        examples=20,
    ),
    "auth.login": Form(
        role=None,
        url=fixed("/login"),
        fields=lambda w: {
            "email": (st.sampled_from(list(w.email.values())), fz.text_or_odd(st.emails())),
            "password": (st.just(PASSWORD), fz.odd_text),
            "remember": (st.sampled_from(["y", ""]), fz.odd_text),
        },
        writes=frozenset({"users"}),  # the time of the sign-in
        examples=20,
    ),
    # The world has companies, so /setup is gone (a 404) whatever is sent; its own checks are
    # pinned in tests/company/test_setup.py on an empty database.
    "setup.index": Form(
        role=None,
        url=lambda w: st.sampled_from(["/setup", "/setup?token=guess"]),
        fields=lambda w: {
            "name": (st.just("Acme IT"), fz.odd_text),
            "timezone": (st.just("UTC"), fz.odd_text),
            "currency": (st.just("USD"), fz.currencies),
            "admin_email": (st.just("new@msp.example"), fz.text_or_odd(st.emails())),
            "password": (st.just(PASSWORD * 2), fz.odd_text),
        },
        examples=8,
    ),
    "auth.logout": Form(
        role=UserRole.VIEWER,
        url=fixed("/logout"),
        fields=lambda w: {"next": (st.just("/"), fz.odd_text)},
        writes=frozenset({"users"}),  # the session generation moves on
        examples=8,
    ),
    "auth.sign_out_everywhere": Form(
        role=UserRole.VIEWER,
        url=fixed("/account/sign-out-everywhere"),
        fields=lambda w: {},
        writes=frozenset({"users", "domain_events"}),
        adds={"domain_events": 1},
        examples=8,
    ),
    "auth.change_password": Form(
        role=UserRole.VIEWER,
        url=fixed("/account/password"),
        fields=lambda w: {
            "current": (st.just(PASSWORD), fz.odd_text),
            "password": (st.just(NEW_PASSWORD), fz.odd_text),
            "confirm": (st.just(NEW_PASSWORD), fz.odd_text),
        },
        writes=frozenset({"users", "domain_events"}),
        adds={"domain_events": 1},
        examples=20,
    ),
    "auth.forgot": Form(
        role=None,
        url=fixed("/forgot"),
        fields=lambda w: {
            "email": (st.sampled_from(list(w.email.values())), fz.text_or_odd(st.emails())),
        },
        writes=frozenset({"domain_events", "listener_deliveries"}),
        adds={"domain_events": 1, "listener_deliveries": 1},
        examples=15,
    ),
    "auth.invitation": Form(
        role=None,
        url=link_url(tokens.INVITATION),
        fields=lambda w: {
            "password": (st.just(NEW_PASSWORD), fz.odd_text),
            "confirm": (st.just(NEW_PASSWORD), fz.odd_text),
        },
        writes=frozenset({"users", "domain_events"}),
        adds={"domain_events": 1},
        examples=15,
    ),
    "auth.reset": Form(
        role=None,
        url=link_url(tokens.RESET),
        fields=lambda w: {
            "password": (st.just(NEW_PASSWORD), fz.odd_text),
            "confirm": (st.just(NEW_PASSWORD), fz.odd_text),
        },
        writes=frozenset({"users", "domain_events"}),
        adds={"domain_events": 1},
        examples=15,
    ),
    "services.new": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=fixed("/services/new"),
        fields=lambda w: {
            "client_id": (st.just(str(w.client)), fz.ids(w.client, w.other_client)),
            "name": (NAMES, fz.odd_text),
            "service_type": (st.sampled_from(["backup", "m365"]), fz.odd_text),
            "price": (fz.plain_money, fz.money),
            "currency": (st.sampled_from(CURRENCIES), fz.currencies),
            "billing_cycle": (choice(c.value for c in CYCLE_LABELS), fz.odd_text),
            "term_months": (minutes(1, 120), fz.numbers),
            "service_level": (choice(s.value for s in ServiceLevel), fz.odd_text),
            "setup_fee": (fz.plain_money, fz.money),
            "start_date": (
                st.dates(dt.date(2020, 1, 1), dt.date(2035, 12, 31)).map(str),
                fz.dates,
            ),
            "auto_renew": (st.sampled_from(["y", ""]), fz.odd_text),
        },
        writes=frozenset({"client_services", "domain_events", "listener_deliveries"}),
        adds={"client_services": 1, "domain_events": 1, "listener_deliveries": 10},
        examples=40,
    ),
    "services.transition": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=services_url(
            st.one_of(choice(a.value for a in Action), fz.odd_text.map(path_part).filter(bool))
        ),
        fields=lambda w: {
            "version": (choice(["", "1", "2", "3"]), fz.numbers),
            "reason": (NAMES, fz.odd_text),
            "when": (st.sampled_from(["now", "term_end"]), fz.odd_text),
            "months": (minutes(1, 120), fz.numbers),
            "quantity": (minutes(1, 500), fz.numbers),
            "note": (st.text(max_size=30).filter(lambda t: "\x00" not in t), fz.odd_text),
        },
        writes=LIFECYCLE_WRITES,
        # One transition, one event (and its SLA pause or stop, and at most one revenue
        # movement); never a new service.
        adds={
            "domain_events": 2,
            "listener_deliveries": 20,
            "service_pauses": 1,
            "revenue_movements": 1,
        },
        examples=40,
    ),
    # Apply: one price change for each of the three running services at most (each its event,
    # two deliveries, and a revenue step for the active one); the list of services and the
    # versions previewed is sent as the page sends it, or odd.
    "services.bulk_price": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=fixed("/services/price-change"),
        fields=lambda w: {
            "step": (st.sampled_from(["preview", "apply"]), fz.odd_text),
            "by": (st.sampled_from(["percent", "amount"]), fz.odd_text),
            "change": (st.sampled_from(["5", "-10", "+2.50", "-0.01"]), fz.money),
            "services": (st.just(previewed(w)), fz.odd_text),
            "status": (st.sampled_from(["", "active", "suspended"]), fz.odd_text),
            "client": (st.just(str(w.client)), fz.ids(w.client, w.other_client)),
            "q": (st.sampled_from(["", "Backup"]), fz.odd_text),
            "type": (st.sampled_from(["", "backup"]), fz.odd_text),
        },
        writes=frozenset(
            {"client_services", "domain_events", "listener_deliveries", "revenue_movements"}
        ),
        adds={"domain_events": 3, "listener_deliveries": 6, "revenue_movements": 1},
        examples=30,
    ),
    "services.change_account_manager": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=services_url(st.just("account-manager")),
        fields=lambda w: {
            "user_id": (st.sampled_from(["", *managers(w)]), fz.ids(w.other_user)),
            "version": (choice(["", "1", "2"]), fz.numbers),
        },
        writes=frozenset({"client_services", "domain_events"}),
        adds={"domain_events": 1},
        examples=20,
    ),
    "clients.new": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=fixed("/clients/new"),
        fields=client_fields,
        writes=frozenset({"clients", "domain_events"}),
        adds={"clients": 1, "domain_events": 1},
        examples=30,
    ),
    "clients.edit": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=item_url("/clients", "client", "edit"),
        fields=client_fields,
        writes=frozenset({"clients", "domain_events"}),
        adds={"domain_events": 1},
        examples=30,
    ),
    # The world's client has running services: archiving it is refused (a 409).
    "clients.archive": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=item_url("/clients", "client", "archive"),
        fields=lambda w: {},
        writes=frozenset({"clients", "domain_events"}),
        adds={"domain_events": 1},
        examples=10,
    ),
    "clients.restore": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=item_url("/clients", "client", "restore"),
        fields=lambda w: {},
        writes=frozenset({"clients", "domain_events"}),
        adds={"domain_events": 1},
        examples=10,
    ),
    "clients.add_contact": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=item_url("/clients", "client", "contacts"),
        fields=lambda w: contact_fields("contact-new"),
        writes=frozenset({"contacts", "domain_events"}),
        adds={"contacts": 1, "domain_events": 1},
        examples=30,
    ),
    "clients.edit_contact": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=contact_url(),
        fields=lambda w: contact_fields(f"contact-{contact_of(w.client)}"),
        writes=frozenset({"contacts", "domain_events"}),
        adds={"domain_events": 1},
        examples=30,
    ),
    "clients.remove_contact": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=contact_url("/remove"),
        fields=lambda w: {},
        writes=frozenset({"contacts", "domain_events"}),
        adds={"domain_events": 1},
        examples=10,
    ),
    "services.edit_sla": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=services_url(st.just("sla")),
        fields=lambda w: {
            "response_minutes": (minutes(1, 43200), fz.numbers),
            "resolution_minutes": (minutes(1, 129600), fz.numbers),
            "availability_target": (
                st.decimals(50, 100, places=3).map(str),
                fz.money,
            ),
            "warning_percent": (minutes(1, 99), fz.numbers),
            "clock": (st.sampled_from(["", "business", "24x7"]), fz.odd_text),
        },
        writes=frozenset({"client_services", "incidents", "domain_events", "listener_deliveries"}),
        adds={"domain_events": 4, "listener_deliveries": 20},
        examples=30,
    ),
    "incidents.new": Form(
        role=UserRole.TECHNICIAN,
        url=fixed("/incidents/new"),
        fields=lambda w: {
            "service_id": (
                st.sampled_from([str(w.services["active"]), str(w.services["suspended"])]),
                fz.ids(*w.own_services, w.other_service),
            ),
            "title": (NAMES, fz.odd_text),
            "severity": (choice(s.value for s in SEVERITY_LABELS), fz.odd_text),
            "opened_at": (recent_local_times(), fz.local_datetimes),
            "description": (st.text(max_size=200).filter(lambda s: "\x00" not in s), fz.odd_text),
        },
        writes=INCIDENT_WRITES,
        adds={"incidents": 1, "domain_events": 2, "listener_deliveries": 20},
        examples=40,
    ),
    "incidents.acknowledge": Form(
        role=UserRole.TECHNICIAN,
        url=item_url("/incidents", "incident", "acknowledge"),
        fields=lambda w: {"next": (st.just("/incidents"), fz.odd_text)},
        writes=INCIDENT_WRITES,
        adds={"domain_events": 2, "listener_deliveries": 20},
        examples=15,
    ),
    "incidents.resolve": Form(
        role=UserRole.TECHNICIAN,
        url=item_url("/incidents", "incident", "resolve"),
        fields=lambda w: {"next": (st.just("/incidents"), fz.odd_text)},
        writes=INCIDENT_WRITES,
        adds={"domain_events": 2, "listener_deliveries": 20},
        examples=15,
    ),
    "alerts.acknowledge": Form(
        role=UserRole.TECHNICIAN,
        url=item_url("/alerts", "alert", "acknowledge"),
        fields=lambda w: {},
        writes=frozenset({"sla_alerts"}),
        examples=15,
    ),
    # One value of `alert` per submission here; the bulk's own limits are pinned in its tests.
    "alerts.acknowledge_selected": Form(
        role=UserRole.TECHNICIAN,
        url=fixed("/alerts/acknowledge"),
        fields=lambda w: {"alert": (st.just(str(w.alert)), fz.ids(w.alert, w.other_alert))},
        writes=frozenset({"sla_alerts"}),
        examples=15,
    ),
    # The dry run writes nothing to the database (a clean file is kept in Redis).
    "imports.dry_run": Form(
        role=UserRole.ADMIN,
        url=fixed("/settings/import/dry-run"),
        fields=lambda w: {"kind": (st.sampled_from(IMPORT_KINDS), fz.odd_text)},
        files=lambda w: {"file": csv_files(w)},
        examples=40,
    ),
    # Kept dry runs of one new client: the first commit creates it (with its ClientCreated and
    # ImportCommitted events); a later one finds its plan changed (refused) or its token gone.
    "imports.commit": Form(
        role=UserRole.ADMIN,
        url=fixed("/settings/import/commit"),
        fields=commit_fields,
        writes=frozenset({"clients", "domain_events", "listener_deliveries"}),
        adds={"clients": 1, "domain_events": 2, "listener_deliveries": 20},
        examples=20,
    ),
    "operations.retry": Form(
        role=UserRole.ADMIN,
        url=fixed("/operations/retry"),
        fields=lambda w: {
            "delivery": (st.just(str(w.delivery)), fz.ids(w.delivery, w.other_delivery))
        },
        writes=frozenset({"listener_deliveries", "domain_events"}),
        examples=15,
    ),
    "operations.resend": Form(
        role=UserRole.ADMIN,
        url=fixed("/operations/resend"),
        fields=lambda w: {
            "notification": (st.just(str(w.delivery)), fz.ids(w.delivery, w.other_delivery))
        },
        examples=10,
    ),
    "operations.requeue_job": Form(
        role=UserRole.ADMIN,
        url=fixed("/operations/queues/requeue"),
        fields=lambda w: {"job": (st.sampled_from(failed_jobs()), fz.odd_text)},
        examples=15,
    ),
    "operations.delete_job": Form(
        role=UserRole.ADMIN,
        url=fixed("/operations/queues/delete"),
        fields=lambda w: {"job": (st.sampled_from(failed_jobs()), fz.odd_text)},
        examples=15,
    ),
    "webhooks.add": Form(
        role=UserRole.ADMIN,
        url=fixed("/settings/webhooks/add"),
        fields=lambda w: {
            "kind": (st.sampled_from(["slack", "teams", "generic"]), fz.odd_text),
            "url": webhook_urls(),
            "secret": (st.sampled_from(["", "a-secret-of-20-chars"]), fz.odd_text),
        },
        writes=frozenset({"webhooks"}),
        adds={"webhooks": 1},
        examples=30,
    ),
    "webhooks.test": Form(
        role=UserRole.ADMIN,
        url=item_url("/settings/webhooks", "webhook", "test"),
        fields=lambda w: {},
        examples=10,
    ),
    "webhooks.disable": Form(
        role=UserRole.ADMIN,
        url=item_url("/settings/webhooks", "webhook", "disable"),
        fields=lambda w: {},
        writes=frozenset({"webhooks"}),
        examples=10,
    ),
    "webhooks.enable": Form(
        role=UserRole.ADMIN,
        url=item_url("/settings/webhooks", "webhook", "enable"),
        fields=lambda w: {},
        writes=frozenset({"webhooks"}),
        examples=10,
    ),
    "settings.create_api_token": Form(
        role=UserRole.ADMIN,
        url=fixed("/settings/api-tokens"),
        fields=lambda w: {"name": (NAMES, fz.odd_text)},
        writes=frozenset({"api_tokens"}),
        adds={"api_tokens": 1},
        examples=20,
    ),
    "settings.revoke_api_token": Form(
        role=UserRole.ADMIN,
        url=item_url("/settings/api-tokens", "token", "revoke"),
        fields=lambda w: {},
        writes=frozenset({"api_tokens"}),
        examples=10,
    ),
    "invoices.mark_paid": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=invoice_url("paid"),
        fields=lambda w: {
            "paid_on": (payment_days(), fz.dates),
            "reference": (st.text(max_size=30).filter(lambda t: "\x00" not in t), fz.odd_text),
        },
        writes=frozenset({"invoices", "domain_events", "listener_deliveries"}),
        adds={"domain_events": 1, "listener_deliveries": 5},
        examples=30,
    ),
    "invoices.void": Form(
        role=UserRole.ACCOUNT_MANAGER,
        url=invoice_url("void"),
        fields=lambda w: {"reason": (NAMES, fz.odd_text)},
        writes=VOID_WRITES,
        adds={
            "invoices": 1,
            "invoice_lines": 2,
            "invoiced_kind_months": 1,  # its void lines' month, once
            "document_sequences": 1,
            "domain_events": 1,
            "listener_deliveries": 5,
        },
        examples=30,
    ),
    "settings.invoicing": Form(
        role=UserRole.ADMIN,
        url=fixed("/settings/invoicing"),
        fields=lambda w: {
            "invoice_prefix": (st.sampled_from(["INV-", "F/", "", "2026#"]), fz.odd_text),
            "credit_note_prefix": (st.sampled_from(["CN-", "AV_"]), fz.odd_text),
            "number_with_year": (st.sampled_from(["y", ""]), fz.odd_text),
            "tax_rate": (st.decimals(0, 100, places=2).map(str), fz.money),
            "payment_terms_days": (minutes(0, 365), fz.numbers),
            "country": COUNTRY,
            "vat_id": VAT_ID,
            "invoicing_starts_on": (
                st.sampled_from(["", "2026-01-01"]) | st.dates().map(str),
                fz.dates,
            ),
        },
        writes=frozenset({"companies"}),
        examples=30,
    ),
    "settings.index": Form(
        role=UserRole.ADMIN,
        url=fixed("/settings"),
        fields=lambda w: {
            "timezone": (
                st.sampled_from(["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"]),
                fz.text_or_odd(
                    st.sampled_from(["../../etc/passwd", "Europe/Nowhere", "utc", "localtime"])
                ),
            ),
            **week_fields(),
            "escalate_after_minutes": (minutes(1, 10080), fz.numbers),
            "escalation_email": (st.sampled_from(["", "oncall@msp.example"]), fz.odd_text),
            "reminder_days": (st.sampled_from(["30,14,7", "7", "60, 30"]), fz.odd_text),
        },
        writes=frozenset({"companies", "incidents", "domain_events", "listener_deliveries"}),
        adds={"domain_events": 10, "listener_deliveries": 50},
        examples=30,
    ),
    "people.invite": Form(
        role=UserRole.ADMIN,
        url=fixed("/settings/people/invite"),
        fields=lambda w: {
            "name": (NAMES, fz.odd_text),
            "email": (st.emails(), fz.text_or_odd(st.sampled_from(list(w.email.values())))),
            "role": (choice(r.value for r in UserRole), fz.odd_text),
        },
        writes=frozenset({"users", "domain_events", "listener_deliveries"}),
        adds={"users": 1, "domain_events": 1, "listener_deliveries": 1},
        examples=30,
    ),
    "people.set_role": Form(
        role=UserRole.ADMIN,
        url=people_url("role"),
        fields=lambda w: {"role": (choice(r.value for r in UserRole), fz.odd_text)},
        writes=frozenset({"users", "domain_events"}),
        adds={"domain_events": 1},
        examples=20,
    ),
    "people.deactivate": Form(
        role=UserRole.ADMIN,
        url=people_url("deactivate"),
        fields=lambda w: {},
        writes=frozenset({"users", "domain_events"}),
        adds={"domain_events": 1},
        examples=15,
    ),
    "people.reactivate": Form(
        role=UserRole.ADMIN,
        url=people_url("reactivate"),
        fields=lambda w: {},
        writes=frozenset({"users", "domain_events"}),
        adds={"domain_events": 1},
        examples=15,
    ),
    "people.password_link": Form(
        role=UserRole.ADMIN,
        url=people_url("password-link"),
        fields=lambda w: {},
        writes=frozenset({"domain_events", "listener_deliveries"}),
        adds={"domain_events": 1, "listener_deliveries": 1},
        examples=15,
    ),
}


@st.composite
def submissions(draw, fields: Fields):
    """Mostly-valid forms with one odd value, all-valid ones, and ones odd throughout (with
    fields left out and fields no form has)."""
    mode = draw(st.sampled_from(["valid", "one odd", "one odd", "odd"]))
    names = list(fields)
    bad = draw(st.sampled_from(names)) if names and mode == "one odd" else None
    sent = {}
    for name, (valid, odd) in fields.items():
        if mode == "valid" or (mode == "one odd" and name != bad):
            sent[name] = draw(valid)
        elif mode == "one odd" or draw(st.integers(0, 9)) != 0:  # "odd": a tenth left out
            sent[name] = draw(st.one_of(valid, odd) if mode == "odd" else odd)
    if mode == "odd" and draw(st.booleans()):
        sent[draw(fz.odd_text)] = draw(fz.odd_text)
    return sent


# --- The route walk ------------------------------------------------------------------------


def post_endpoints() -> set[str]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.methods & WRITES and not rule.rule.startswith(NOT_FORMS)
    }


def test_every_post_route_has_a_fuzz_strategy():
    missing = post_endpoints() - set(FORMS)
    assert not missing, f"POST routes no fuzz strategy covers (add them to FORMS): {missing}"
    assert not set(FORMS) - post_endpoints(), "FORMS names a route that no longer exists"


# --- The fuzz ------------------------------------------------------------------------------


class Signed:
    """A client (signed in, or not for the sign-in form) with the page's CSRF token."""

    def __init__(self, app, as_role, world: World, role: UserRole | None):
        if role is None:
            self.client = app.test_client()
            self.token = csrf_from(self.client.get("/login").get_data(as_text=True))
        else:
            session = as_role(role, world.email[role])
            self.client, self.token = session.client, session.token

    def post(self, url: str, sent: dict[str, str], htmx: bool, files=None):
        headers = {"X-CSRFToken": self.token}
        if htmx:
            headers |= {"HX-Request": "true", "HX-Target": ""}
        if files:
            body, content_type = multipart_body(sent, files)
        else:
            body, content_type = fz.form_body(sent), "application/x-www-form-urlencoded"
        return self.client.post(url, data=body, headers=headers, content_type=content_type)


def multipart_body(fields: dict[str, str], files: dict[str, tuple[str, bytes]]):
    """A multipart/form-data body, byte for byte, as a browser builds it (it writes a quote
    and a line break in a name as %22, %0D and %0A)."""
    boundary = f"fuzz{secrets.token_hex(16)}"

    def quoted(text: str) -> bytes:
        raw = fz._encode(text)
        return raw.replace(b'"', b"%22").replace(b"\r", b"%0D").replace(b"\n", b"%0A")

    parts = [
        b'Content-Disposition: form-data; name="' + quoted(name) + b'"\r\n\r\n' + fz._encode(value)
        for name, value in fields.items()
    ] + [
        b'Content-Disposition: form-data; name="'
        + quoted(name)
        + b'"; filename="'
        + quoted(filename)
        + b'"\r\nContent-Type: text/csv\r\n\r\n'
        + content
        for name, (filename, content) in files.items()
    ]
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + boundary.encode() + b"--\r\n", f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("endpoint", sorted(FORMS))
def test_a_form_never_fails_and_a_refusal_writes_nothing(fuzz_app, as_role, world, endpoint):
    form = FORMS[endpoint]
    tally = Counter()

    # The fixtures (app, database, signed-in client) are built once per route, not per example:
    # each example compares the database before and after itself, so examples stay independent
    # of what earlier ones wrote, and the function-scoped fixtures are shared on purpose.
    @settings(
        max_examples=form.examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        url=form.url(world),
        sent=submissions(form.fields(world)),
        htmx=st.booleans(),
        files=st.fixed_dictionaries(form.files(world)) if form.files else st.just({}),
    )
    def submit(url, sent, htmx, files):
        tally["inputs"] += 1
        signed = Signed(fuzz_app, as_role, world, form.role) if form.role is None else session
        before = snapshot()
        response = signed.post(url, sent, htmx, files)
        after = snapshot()
        db.session.rollback()
        status, text = response.status_code, response.get_data(as_text=True)
        changed = changed_tables(before, after)
        assert status < 500, (status, url, sent)
        assert "Traceback" not in text
        if status >= 400:
            tally["refused"] += 1
            assert status in REFUSALS, (status, url, sent)
            # htmx from a signed-out page: an empty 401 that sends the browser to sign in.
            to_sign_in = status == 401 and response.headers.get("HX-Redirect") == "/login"
            assert to_sign_in or ERROR_SHOWN.search(text), (
                "refused, not saying why",
                status,
                url,
                sent,
            )
            tally["lost"] += bool(changed)  # half-written: a refusal that changed something
            assert not changed, ("a refused submission wrote", changed, url, sent)
            return
        tally["accepted"] += 1
        assert changed <= form.writes, ("wrote where it may not", changed, url, sent)
        too_many = {
            t: grown(before, after, t)
            for t in before
            if grown(before, after, t) > form.adds.get(t, 0)
        }
        tally["doubled"] += bool(too_many)
        assert not too_many, ("more rows than one submission makes", too_many, url, sent)

    session = Signed(fuzz_app, as_role, world, form.role) if form.role else None
    try:
        submit()
    finally:
        fault_report.record(
            f"form {endpoint} fuzzed (hypothesis)",
            faults=0,
            inputs=tally["inputs"],
            lost=tally["lost"],
            doubled=tally["doubled"],
        )
    assert tally["lost"] == 0 and tally["doubled"] == 0
    assert tally["inputs"] >= form.examples
    # The odd inputs reached the form's checks (signing out has nothing to refuse).
    assert tally["refused"] or endpoint in SIGN_OUTS, tally
