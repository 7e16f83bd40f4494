"""The `flask` commands an operator uses."""

import pytest
from sqlalchemy import select

from tests.lifecycle.test_events_and_registry import EVENTS
from tests.support.factories import fail_listener, make_client, make_service
from webapp import clock
from webapp.company.models import Company
from webapp.extensions import db
from webapp.lifecycle.registry import REGISTRY, all_listeners
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.services import actions as lc
from webapp.services.models import ClientService


def test_events_list_shows_every_event_and_its_listeners(runner):
    result = runner.invoke(args=["events", "list"])
    assert result.exit_code == 0
    for event_type in REGISTRY:
        assert f"{event_type.__name__}\n" in result.output
    for listener in all_listeners():
        assert listener.name in result.output
    assert {e.__name__ for e in REGISTRY} == EVENTS  # the registry test's list of them


def test_service_commands_walk_a_service_through_its_life(runner, company, work):
    client_id = make_client(company)
    out = runner.invoke(
        args=[
            "service",
            "provision",
            "--client",
            str(client_id),
            "--name",
            "Firewall Management",
            "--price",
            "390.00",
            "--cycle",
            "quarterly",
        ]
    )
    assert out.exit_code == 0, out.output
    service_id = db.session.scalar(select(ClientService.id))
    for args in (
        ["activate"],
        ["suspend", "--reason", "unpaid"],
        ["resume"],
        ["renew", "--months", "6"],
        ["price", "--price", "420.00", "--note", "two more sites"],
        ["cancel", "--reason", "moving", "--at-term-end"],
    ):
        out = runner.invoke(args=["service", args[0], str(service_id), *args[1:]])
        assert out.exit_code == 0, out.output
    work()
    shown = runner.invoke(args=["service", "show", str(service_id)])
    # Cancelled at term end: it runs, and bills, until then.
    term_end = db.session.get(ClientService, service_id).term_end
    assert "[active]" in shown.output and f"ends on {term_end}" in shown.output
    assert "billing active: 420.00 USD" in shown.output
    # No bill run yet: the first period, from activation today, is the next bill.
    assert f"paid through -  next bill {clock.today()}" in shown.output
    for args in (["undo-cancellation"], ["cancel", "--reason", "moving"]):
        out = runner.invoke(args=["service", args[0], str(service_id), *args[1:]])
        assert out.exit_code == 0, out.output
    work()
    shown = runner.invoke(args=["service", "show", str(service_id)])
    assert "[cancelled]" in shown.output
    assert "ServiceCancellationUndone" in shown.output
    assert "billing.stop: done" in shown.output
    assert "billing.reprice: done" in shown.output
    actors = set(db.session.scalars(select(DomainEvent.actor)))
    assert actors == {"cli"}


def test_illegal_transition_from_the_cli_is_a_clear_error(runner, company):
    service_id = make_service(company)
    out = runner.invoke(args=["service", "resume", str(service_id)])
    assert out.exit_code == 1
    assert f"Cannot resume service {service_id}: it is pending" in out.output
    assert "Traceback" not in out.output


def test_a_price_change_to_the_same_price_is_a_clear_error(runner, company):
    service_id = make_service(company, price="100.00")
    out = runner.invoke(args=["service", "price", str(service_id), "--price", "100"])
    assert out.exit_code == 1
    assert "The price is already 100.00." in out.output


def test_unknown_service_is_a_clear_error(runner, company):
    out = runner.invoke(args=["service", "activate", "999"])
    assert out.exit_code == 1
    assert "No ClientService 999" in out.output


def test_failed_deliveries_are_listed_and_retried(runner, company, work, monkeypatch):
    fail_listener(monkeypatch, "notify.activated", ConnectionError("smtp down"))
    lc.activate(company, make_service(company), "test")
    work()
    listed = runner.invoke(args=["deliveries", "failed"])
    assert "notify.activated" in listed.output and "smtp down" in listed.output
    monkeypatch.undo()
    retried = runner.invoke(args=["deliveries", "retry", "--all"])
    assert "1 deliveries sent again." in retried.output
    work()
    assert runner.invoke(args=["deliveries", "failed"]).output == "No failed deliveries.\n"
    statuses = set(db.session.scalars(select(ListenerDelivery.status)))
    assert {s.value for s in statuses} == {"done"}


def test_retry_needs_an_id_or_all(runner, app):
    out = runner.invoke(args=["deliveries", "retry"])
    assert out.exit_code == 2 and "Give a delivery id or --all" in out.output


def test_seed_demo_creates_every_status_and_runs_once_with_if_empty(runner, app, work):
    out = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "Seeded" in out.output
    statuses = {s.value for s in db.session.scalars(select(ClientService.status))}
    assert {"pending", "active", "suspended", "cancelled"} <= statuses
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "exists already" in again.output
    assert db.session.scalar(select(db.func.count()).select_from(Company)) == 1
    work()
    assert runner.invoke(args=["deliveries", "failed"]).output == "No failed deliveries.\n"


@pytest.mark.parametrize("bad", ["12,50", "abc", ""])
def test_provision_refuses_a_malformed_price(runner, company, bad):
    client_id = make_client(company)
    out = runner.invoke(
        args=["service", "provision", "--client", str(client_id), "--name", "X", "--price", bad]
    )
    assert out.exit_code == 2
    assert "is not an amount" in out.output
