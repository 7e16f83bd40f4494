"""`flask clients list` and `flask clients create`."""

from sqlalchemy import select

from tests.support.factories import active_service, make_client
from webapp.clients.models import Client
from webapp.extensions import db
from webapp.pipeline.models import DomainEvent


def test_create_then_list(runner, company, work):
    out = runner.invoke(args=["clients", "create", "--name", "Acme Dental", "--external-id", "X1"])
    assert out.exit_code == 0, out.output
    client = db.session.scalars(select(Client)).one()
    assert out.output == f"Created client {client.id}: Acme Dental.\n"
    assert (client.company_id, client.external_id) == (company, "X1")
    event = db.session.scalars(select(DomainEvent)).one()
    assert (event.type, event.actor, event.service_id) == ("ClientCreated", "cli", None)

    client_id = client.id
    active_service(company, client_id, price="100.00")
    work()
    listed = runner.invoke(args=["clients", "list"])
    assert listed.exit_code == 0
    assert listed.output == f"{client_id}\tAcme Dental\t[X1]\tservices: 1 active\tMRR: 100.00 USD\n"


def test_create_refuses_a_duplicate_or_an_empty_name_and_writes_nothing(runner, company):
    make_client(company, name="Acme Dental")
    duplicate = runner.invoke(args=["clients", "create", "--name", "acme dental"])
    assert duplicate.exit_code == 1
    assert "There is a client named Acme Dental already." in duplicate.output
    empty = runner.invoke(args=["clients", "create", "--name", "  "])
    assert empty.exit_code == 2 and "give a name of 1 to 200 characters" in empty.output
    assert db.session.scalar(select(DomainEvent.id)) is None
    assert len(db.session.scalars(select(Client)).all()) == 1


def test_list_leaves_archived_clients_out_unless_asked(runner, company):
    from webapp.clock import utcnow

    make_client(company, name="Current", email=None)
    gone = make_client(company, name="Former", email=None)
    db.session.get(Client, gone).archived_at = utcnow()
    db.session.commit()
    assert "Former" not in runner.invoke(args=["clients", "list"]).output
    everything = runner.invoke(args=["clients", "list", "--archived"]).output
    assert "Former (archived)\tservices: none" in everything
