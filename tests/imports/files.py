"""CSV files for the import tests, written as a spreadsheet would save them."""

import csv
import io

from webapp.imports.columns import KINDS, template_csv

SERVICE_HEADER = [
    "Client",
    "Name",
    "Type",
    "Status",
    "Start Date",
    "Term (months)",
    "Price",
    "Quantity",
    "Currency",
    "Billing Cycle",
    "Next Bill Date",
    "Service Level",
    "Auto Renew",
    "Account Manager Email",
    "External ID",
]


def csv_bytes(header: list[str], rows: list[list], encoding="utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def service_row(client="Acme Dental", name="Managed Backup", **overrides) -> list:
    values = {
        "Client": client,
        "Name": name,
        "Type": "backup",
        "Status": "active",
        "Start Date": "2026-01-15",
        "Term (months)": "12",
        "Price": "12.50",
        "Quantity": "1",
        "Currency": "USD",
        "Billing Cycle": "monthly",
        "Next Bill Date": "",
        "Service Level": "standard",
        "Auto Renew": "no",
        "Account Manager Email": "",
        "External ID": "",
    } | overrides
    return [values[h] for h in SERVICE_HEADER]


def services_csv(*rows: list) -> bytes:
    return csv_bytes(SERVICE_HEADER, list(rows))


def template(kind: str) -> bytes:
    return template_csv(KINDS[kind]).encode()
