"""A client file's Country Code and VAT Number columns (the buyer's BT-55 and BT-48 on invoices):
read into the client, an update shown under the file's own column names, a bad cell an error
naming its column; a Country column of names stays part of the address."""

import pytest
from sqlalchemy import select

from tests.imports.files import csv_bytes
from webapp.clients.models import Client
from webapp.extensions import db
from webapp.imports.columns import CLIENTS, template_csv
from webapp.imports.committing import commit_import
from webapp.imports.planning import Outcome, plan_import

HEADER = ["Name", "City", "Country", "Country Code", "VAT Number"]


def test_country_code_and_vat_number_are_imported_beside_a_country_of_the_address(company, clock):
    raw = csv_bytes(HEADER, [["Fjord Shipping", "Bergen", "Norway", "no", " no923609016mva "]])
    commit_import(company, "clients", raw, "clients.csv", "test")
    client = db.session.scalars(select(Client)).one()
    assert (client.address, client.country, client.vat_id) == (
        "Bergen, Norway",
        "NO",
        "NO923609016MVA",
    )

    moved = csv_bytes(HEADER, [["Fjord Shipping", "Bergen", "Norway", "SE", ""]])
    (row,) = plan_import(company, "clients", moved, "clients.csv").rows
    assert row.outcome == Outcome.UPDATE
    assert row.changes == {"Country Code": ["NO", "SE"], "VAT Number": ["NO923609016MVA", None]}
    commit_import(company, "clients", moved, "clients.csv", "test")
    db.session.rollback()
    assert (db.session.get(Client, client.id).country, client.vat_id) == ("SE", None)
    again = plan_import(company, "clients", moved, "clients.csv").rows[0]
    assert again.outcome == Outcome.UNCHANGED


@pytest.mark.parametrize(
    ("cells", "column", "words"),
    [
        (["UK", "GB123"], "Country Code", "'UK' is not an ISO 3166-1 country code"),
        (["GB", "GB#123"], "VAT Number", "'GB#123' is not a VAT number"),
    ],
)
def test_a_bad_country_code_or_vat_number_is_an_error_naming_its_column(
    company, clock, cells, column, words
):
    raw = csv_bytes(["Name", "Country Code", "VAT Number"], [["Bravo", *cells]])
    (row,) = plan_import(company, "clients", raw, "clients.csv").rows
    assert row.outcome == Outcome.ERROR
    assert [e.column for e in row.errors] == [column]
    assert words in row.errors[0].message


def test_the_template_offers_both_columns():
    header = template_csv(CLIENTS).splitlines()[0].split(",")
    assert "Country Code" in header and "VAT Number" in header
