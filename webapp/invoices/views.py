"""Invoices and credit notes: the list with its totals and downloads, one document with its
PDF and UBL XML, and marking an invoice paid or voiding it.

The routes spell their paths whole (no url_prefix), so the list's CSV is /invoices.csv beside
/invoices, as the other lists' are. The PDF and the accounting formats are made by
webapp.invoices.pdf and webapp.invoices.exports, imported when a download asks for them.
"""

import re

from flask import Blueprint, Response, current_app, flash, redirect, request, url_for
from jinja2_fragments.flask import render_block

from webapp.accounts.access import actor, company_id, requires
from webapp.accounts.permissions import Can
from webapp.exports import csv_response, dated_filename
from webapp.extensions import htmx
from webapp.invoices import actions, queries
from webapp.invoices.actions import InvoiceRefused
from webapp.invoices.forms import PaidForm, VoidForm
from webapp.invoices.models import Invoice
from webapp.rendering import page
from webapp.services import queries as services_queries
from webapp.tenancy import get_or_404

bp = Blueprint("invoices", __name__)


@bp.get("/invoices")
@requires(Can.VIEW)
def index():
    """The documents the filters match, newest first, with their totals per currency."""
    cid = company_id()
    query = queries.InvoiceQuery.from_args(request.args)
    return page(
        "invoices/list.html",
        fragments=("invoices_table",),
        query=query,
        result=queries.invoices_page(
            cid, query, request.args.get("page", 1, type=int), current_app.config["PAGE_SIZE"]
        ),
        clients=services_queries.clients(cid),
        statuses=queries.STATUSES,
        kind_labels=queries.KIND_LABELS,
    )


def _download(text: str | bytes, filename: str, mimetype: str) -> Response:
    response = Response(text, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _stem(kind: str) -> str:
    return dated_filename(kind, queries.company_today(company_id()))


@bp.get("/invoices.csv")
@requires(Can.VIEW)
def export_csv():
    """Every document the list's filters match, as CSV (amounts signed, as stored)."""
    query = queries.InvoiceQuery.from_args(request.args)
    return csv_response(
        _stem("invoices"), queries.CSV_HEADER, queries.csv_rows(company_id(), query)
    )


@bp.get("/invoices/xero.csv")
@requires(Can.VIEW)
def xero_csv():
    """The matching documents in Xero's sales invoice import format, streamed in chunks."""
    from webapp.invoices import exports

    query = queries.InvoiceQuery.from_args(request.args)
    rows = exports.xero_rows(queries.documents_for_export(company_id(), query))
    return csv_response(_stem("invoices-xero"), exports.XERO_COLUMNS, rows)


@bp.get("/invoices/quickbooks.csv")
@requires(Can.VIEW)
def quickbooks_csv():
    """The matching documents in QuickBooks Online's invoice import format, streamed in
    chunks."""
    from webapp.invoices import exports

    query = queries.InvoiceQuery.from_args(request.args)
    rows = exports.quickbooks_rows(queries.documents_for_export(company_id(), query))
    return csv_response(_stem("invoices-quickbooks"), exports.QUICKBOOKS_COLUMNS, rows)


def _file_name(invoice: Invoice, suffix: str) -> str:
    # The number holds the company's prefix, typed by an admin: only safe characters reach
    # the header.
    return (re.sub(r"[^A-Za-z0-9._-]+", "-", invoice.number).strip("-.") or "invoice") + suffix


@bp.get("/invoices/<int:invoice_id>.pdf")
@requires(Can.VIEW)
def pdf(invoice_id):
    """The document as PDF."""
    from webapp.invoices.pdf import render_pdf

    invoice = get_or_404(Invoice, company_id(), invoice_id)
    return _download(render_pdf(invoice), _file_name(invoice, ".pdf"), "application/pdf")


@bp.get("/invoices/<int:invoice_id>.xml")
@requires(Can.VIEW)
def ubl(invoice_id):
    """The document as UBL 2.1 XML (an Invoice, or a CreditNote)."""
    from webapp.invoices.exports import ubl_xml

    invoice = get_or_404(Invoice, company_id(), invoice_id)
    return _download(ubl_xml(invoice), _file_name(invoice, ".xml"), "application/xml")


def _detail_context(invoice_id: int, paid_form=None, void_form=None) -> dict:
    cid = company_id()
    document = queries.document(cid, invoice_id)
    return {
        "doc": document,
        "invoice": document.invoice,
        "open": queries.is_open(document.invoice),
        "kind_labels": queries.KIND_LABELS,
        "paid_form": paid_form
        or PaidForm(formdata=None, paid_on=queries.company_today(cid), reference=""),
        "void_form": void_form or VoidForm(formdata=None),
    }


@bp.get("/invoices/<int:invoice_id>")
@requires(Can.VIEW)
def detail(invoice_id):
    """One document: its parties, lines, totals, downloads, and what can still be done."""
    return page("invoices/detail.html", fragments=("invoice_main",), **_detail_context(invoice_id))


def _changed(invoice_id: int, message: str):
    flash(message)
    if htmx:
        body = render_block("invoices/detail.html", "invoice_main", **_detail_context(invoice_id))
        return body, 200, {"HX-Trigger": "data-changed"}
    return redirect(url_for(".detail", invoice_id=invoice_id), 303)


def _refused(invoice_id: int, **forms):
    context = _detail_context(invoice_id, **forms)
    return page("invoices/detail.html", fragments=("invoice_main",), **context), 422


def _open_invoice(invoice_id: int, doing: str) -> Invoice:
    """The company's invoice, if it can still be `doing`; else the refusal (a 409), before
    its form is read: a form the page no longer shows cannot show its errors."""
    invoice = get_or_404(Invoice, company_id(), invoice_id)
    actions.refuse_unless_open(invoice, doing)
    return invoice


@bp.post("/invoices/<int:invoice_id>/paid")
@requires(Can.SETTLE_INVOICES)
def mark_paid(invoice_id):
    """Mark an issued invoice paid on a day, with the payment's reference."""
    _open_invoice(invoice_id, "marked paid")
    form = PaidForm()
    if form.validate():
        try:
            invoice = actions.mark_paid(
                company_id(), invoice_id, actor(), form.paid_on.data, form.reference.data or ""
            )
        except InvoiceRefused as exc:
            if not exc.field:
                raise
            getattr(form, exc.field).errors.append(str(exc))
        else:
            return _changed(invoice_id, f"{invoice.number} paid on {invoice.paid_on:%Y-%m-%d}.")
    return _refused(invoice_id, paid_form=form)


@bp.post("/invoices/<int:invoice_id>/void")
@requires(Can.SETTLE_INVOICES)
def void(invoice_id):
    """Void an issued, unpaid invoice by a credit note that reverses it."""
    invoice = _open_invoice(invoice_id, "voided")
    form = VoidForm()
    if form.validate():
        try:
            actions.void(company_id(), invoice_id, actor(), form.reason.data)
        except InvoiceRefused as exc:
            if not exc.field:
                raise
            getattr(form, exc.field).errors.append(str(exc))
        else:
            credit_note = queries.document(company_id(), invoice_id).voided_by
            return _changed(
                invoice_id,
                f"{invoice.number} is void: credit note {credit_note.number} reverses it.",
            )
    return _refused(invoice_id, void_form=form)
