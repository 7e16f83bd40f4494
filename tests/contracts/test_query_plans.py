"""The plans of the queries behind every page, at 1,000 rows of each kind (SQLite only).

Each statement a page issues (collected as in test_query_counts) is run again under
EXPLAIN QUERY PLAN with its own parameters. A `SCAN <table>` with no index, of a table that
grows with the company's data, fails the page: an index should serve that query. SQLite
has no statistics here (no ANALYZE), so this checks that a usable index exists, not that the
planner would prefer it on any data.
"""

import re

import pytest

from tests.support import dataset
from tests.support.app import BACKEND
from webapp.extensions import db

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="EXPLAIN QUERY PLAN is SQLite's")

# Tables that grow with a company's data; companies (one row per tenant) may be scanned.
LARGE_TABLES = {t.name for t in db.metadata.sorted_tables} - {"companies"}

# "SCAN client_services" or "SCAN users AS users_1", without "USING ... INDEX".
FULL_SCAN = re.compile(r"^SCAN (\w+)(?: AS \w+)?$")


@pytest.fixture(scope="module")
def plans(_schema, database_url, redis_server, tmp_path_factory):
    """{page: [(statement, [plan lines])]} at the large size."""
    with dataset.pages_app(database_url, redis_server.url, tmp_path_factory) as app:
        seen = dataset.visit(app, dataset.build(1000))
        with db.engine.connect() as conn:
            return {
                name: [
                    (
                        sql,
                        [
                            row[-1]
                            for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
                        ],
                    )
                    for sql, params in statements
                    if sql.lstrip().upper().startswith("SELECT")
                ]
                for name, statements in seen.items()
            }


def full_scans(plan: list[str]) -> list[str]:
    return [
        line for line in plan if (m := FULL_SCAN.match(line.strip())) and m.group(1) in LARGE_TABLES
    ]


@pytest.mark.parametrize("name", [name for name, _, _ in dataset.PAGES])
def test_no_full_scan_of_a_large_table(plans, name):
    bad = [
        f"{sql}\n  -> {', '.join(scans)}"
        for sql, plan in plans[name]
        if (scans := full_scans(plan))
    ]
    assert not bad, f"{name} scans whole tables:\n\n" + "\n\n".join(bad)


# Queries that read only part of a company's rows and the index that must serve them: a
# seek on company_id alone would read the whole company (in a one-MSP install, the table).
# (page, table, a fragment of the statement's WHERE, the index's name as a regular expression)
SERVED_BY = [
    (
        "overview",
        "sla_alerts",
        "sla_alerts.acknowledged_at IS NULL",
        "ix_sla_alerts_company_acknowledged",
    ),
    (
        "overview",
        "listener_deliveries",
        "listener_deliveries.company_id = ? AND listener_deliveries.status = ?",
        "ix_listener_deliveries_company_status",
    ),
    (
        "overview",
        "recurring_billings",
        "recurring_billings.status = ?",
        "ix_recurring_billings_company_status_amount",
    ),
    (
        "overview",
        "client_services",
        "client_services.health_score IS NOT NULL",
        "ix_client_services_company_status_health",
    ),
    (
        "renewals",
        "client_services",
        "client_services.term_end <=",
        "ix_client_services_company_status_term",
    ),
    (
        "services",
        "client_services",
        "ORDER BY client_services.name",
        "ix_client_services_company_name",
    ),
    (
        "alerts",
        "sla_alerts",
        "sla_alerts.acknowledged_at IS NULL",
        "ix_sla_alerts_company_acknowledged",
    ),
    (
        "alerts acknowledged",
        "sla_alerts",
        "sla_alerts.acknowledged_at IS NOT NULL",
        "ix_sla_alerts_company_acknowledged",
    ),
    # The count (company, resolved_at); the list per severity, in opened_at order.
    (
        "incidents",
        "incidents",
        "incidents.resolved_at IS NULL",
        "ix_incidents_company_(severity_)?resolved",
    ),
    (
        "incidents",
        "incidents",
        "incidents.severity = ?",
        "ix_incidents_company_severity_resolved",
    ),
    (
        "incidents resolved",
        "incidents",
        "incidents.resolved_at IS NOT NULL",
        "ix_incidents_company_resolved",
    ),
    ("incident", "sla_alerts", "sla_alerts.incident_id = ?", "ix_sla_alerts_incident"),
    (
        "operations",
        "listener_deliveries",
        "listener_deliveries.company_id = ? AND listener_deliveries.status = ?",
        # Failed deliveries are few: the status index alone serves as well.
        "ix_listener_deliveries_(company_)?status",
    ),
    (
        "live",
        "listener_deliveries",
        "listener_deliveries.status IN",
        "ix_listener_deliveries_company_status",
    ),
    ("live", "sla_alerts", "FROM sla_alerts", "ix_sla_alerts_company_acknowledged"),
    ("service", "domain_events", "domain_events.service_id = ?", "ix_domain_events_service_id"),
    (
        "service",
        "health_snapshots",
        "health_snapshots.service_id = ?",
        "ix_health_snapshots_service_time",
    ),
    (
        "service",
        "incidents",
        "incidents.service_id = ?",
        "ix_incidents_company_service_resolved",
    ),
    # Its assets with most incidents: each asset's, not the company's (1,000,000 at scale).
    (
        "client",
        "incidents",
        "incidents.asset_id = assets.id",
        "ix_incidents_company_asset_opened",
    ),
    # Its own events by type, not the company's newest first until ten of its are found.
    ("client", "domain_events", "domain_events.type IN", "ix_domain_events_company_type"),
    # The clients list's figures: its page of clients' services, then their own billing and
    # incidents; not every running billing or open incident of the company.
    (
        "clients",
        "client_services",
        "client_services.client_id IN",
        "ix_client_services_company_client",
    ),
    (
        "clients",
        "recurring_billings",
        "recurring_billings.status = ?",
        r"sqlite_autoindex_recurring_billings_\d+",  # UNIQUE(service_id)
    ),
    (
        "clients",
        "incidents",
        "incidents.resolved_at IS NULL AND client_services.company_id",
        "ix_incidents_company_service_resolved",
    ),
]


@pytest.mark.parametrize(
    ("name", "table", "where", "index"), SERVED_BY, ids=[f"{p}: {i}" for p, _, _, i in SERVED_BY]
)
def test_query_uses_its_index(plans, name, table, where, index):
    found = [(sql, plan) for sql, plan in plans[name] if where in sql]
    assert found, f"{name} issues no statement with {where!r}"
    for sql, plan in found:
        used = [line for line in plan if re.match(rf"SEARCH {table}\b.* INDEX (?:{index}) ", line)]
        assert used, f"{name}: {table} not searched by {index}:\n{sql}\n" + "\n".join(plan)
