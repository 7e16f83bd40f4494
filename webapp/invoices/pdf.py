"""An invoice or credit note as a PDF (ReportLab's Platypus).

ReportLab, not fpdf2, WeasyPrint or xhtml2pdf: its page layout flows a lines table over as
many pages as it needs, the header row repeated on each, and it installs the smallest
(ReportLab 9 MB and Pillow; fpdf2 needs fontTools, 30 MB more; WeasyPrint needs Pango from
the system; xhtml2pdf is ReportLab plus an HTML stack). Text is set in the vendored DejaVu
Sans (webapp/static/fonts), embedded as subsets: the PDF standard fonts cover Latin-1 only.

A credit note's amounts are stored negative (DESIGN.md, "Money"); it prints them as the
positive amounts credited, as a credit note reads. Period ends are stored exclusive; the PDF
shows the last day billed. Output is invariant (no clock, no random id), so the same document
renders to the same bytes.
"""

import datetime as dt
import io
import re
from decimal import Decimal
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from sqlalchemy import select

from webapp.extensions import db
from webapp.invoices.models import PAID, VOID, Invoice

FONTS = Path(__file__).resolve().parent.parent / "static" / "fonts"
REGULAR, BOLD = "DejaVuSans", "DejaVuSans-Bold"

MARGIN = 18 * mm
INK, MUTED, RULE = (
    colors.HexColor("#1d2330"),
    colors.HexColor("#5d6677"),
    colors.HexColor("#c9ced8"),
)

# Text typed long ago may hold control characters (a PDF string cannot show them) and
# addresses are unbounded: a party block taller than a page could never be laid out.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_NAME, MAX_ADDRESS, MAX_ADDRESS_LINES = 200, 600, 10


@cache
def _fonts() -> None:
    pdfmetrics.registerFont(TTFont(REGULAR, str(FONTS / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(FONTS / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD)


@cache
def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=REGULAR, fontSize=9, leading=12, textColor=INK)
    return {
        "base": base,
        "small": ParagraphStyle("small", base, fontSize=8, leading=10),
        "muted": ParagraphStyle("muted", base, fontSize=8, leading=10, textColor=MUTED),
        "head": ParagraphStyle(
            "head", base, fontName=BOLD, fontSize=8, leading=10, alignment=TA_RIGHT
        ),
        "party": ParagraphStyle("party", base, fontName=BOLD, fontSize=11, leading=14),
        "title": ParagraphStyle(
            "title", base, fontName=BOLD, fontSize=20, leading=24, alignment=TA_RIGHT
        ),
        "number": ParagraphStyle("number", base, fontSize=11, leading=14, alignment=TA_RIGHT),
        "status": ParagraphStyle(
            "status", base, fontName=BOLD, fontSize=10, leading=13, alignment=TA_RIGHT
        ),
    }


def render_pdf(invoice: Invoice) -> bytes:
    """The document as PDF bytes."""
    _fonts()
    title = "Credit note" if invoice.is_credit_note else "Invoice"
    parties = invoice.parties or {}
    company, client = parties.get("company") or {}, parties.get("client") or {}
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 6 * mm,
        title=f"{title} {invoice.number}",
        author=_clean(company.get("name", ""), MAX_NAME),
        subject=f"{title} {invoice.number}",
        creator="MSP operations dashboard",
        invariant=True,
    )
    footer = f"{title} {invoice.number}"
    story = [
        _header(invoice, title, company),
        Spacer(1, 8 * mm),
        _bill_to(invoice, client),
        Spacer(1, 8 * mm),
        _lines_table(invoice, doc.width),
        Spacer(1, 4 * mm),
        _totals(invoice),
    ]
    if invoice.note:
        story += [Spacer(1, 6 * mm), Paragraph(_text(invoice.note, 2000), _styles()["base"])]
    doc.build(story, canvasmaker=_numbered(footer))
    return out.getvalue()


def _header(invoice: Invoice, title: str, company: dict) -> Table:
    s = _styles()
    left = [Paragraph(_text(company.get("name", ""), MAX_NAME), s["party"])]
    left += _address(company.get("address", ""))
    left += _tax_identity(company)
    right = [Paragraph(title, s["title"]), Paragraph(escape(invoice.number), s["number"])]
    status = _status(invoice)
    if status:
        right.append(Paragraph(escape(status), s["status"]))
    return _side_by_side(left, right)


def _side_by_side(left: list, right) -> Table:
    table = Table([[left, right]], colWidths=["55%", "45%"])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return table


def _bill_to(invoice: Invoice, client: dict) -> Table:
    s = _styles()
    to = [Paragraph("Bill to" if not invoice.is_credit_note else "Credit to", s["muted"])]
    to.append(Paragraph(_text(client.get("name", ""), MAX_NAME), s["party"]))
    to += _address(client.get("address", ""))
    to += _tax_identity(client)
    facts = [("Issue date", _day(invoice.issue_date))]
    if invoice.due_date is not None:
        facts.append(("Due date", _day(invoice.due_date)))
    if invoice.credits_invoice_id is not None:
        facts.append(("Credits invoice", _number_of(invoice, invoice.credits_invoice_id)))
    facts.append(("Currency", invoice.currency))
    meta = Table(
        [[Paragraph(k, s["muted"]), Paragraph(escape(v), s["base"])] for k, v in facts],
        colWidths=[28 * mm, None],
    )
    meta.setStyle(
        TableStyle(
            [
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    return _side_by_side(to, meta)


def _lines_table(invoice: Invoice, width: float) -> Table:
    s = _styles()
    sign = -1 if invoice.is_credit_note else 1
    money_header = f"({invoice.currency})"
    rows = [
        [
            "Description",
            "Period",
            "Qty",
            Paragraph(f"Unit price<br/>{money_header}", s["head"]),
            Paragraph(f"Amount<br/>{money_header}", s["head"]),
        ]
    ]
    for line in invoice.lines:
        rows.append(
            [
                Paragraph(_text(line.description, 300), s["small"]),
                _period(line.period_start, line.period_end),
                str(line.quantity),
                _amount(abs(line.unit_price)),
                _amount(sign * line.amount),
            ]
        )
    if len(rows) == 1:
        rows.append([Paragraph("No lines.", s["muted"]), "", "", "", ""])
    widths = [width - 44 * mm - 12 * mm - 2 * 27 * mm, 44 * mm, 12 * mm, 27 * mm, 27 * mm]
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), REGULAR, 8),
                ("FONT", (0, 0), (-1, 0), BOLD, 8),
                ("TEXTCOLOR", (0, 0), (-1, -1), INK),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("VALIGN", (0, 0), (-1, 0), "BOTTOM"),
                ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
                ("RIGHTPADDING", (-1, 0), (-1, -1), 0),
            ]
        )
    )
    return table


def _totals(invoice: Invoice) -> KeepTogether:
    sign = -1 if invoice.is_credit_note else 1
    code = invoice.currency
    rows = [
        ["Net total", _money(sign * invoice.net_total, code)],
        [f"Tax {_rate(invoice.tax_rate)}%", _money(sign * invoice.tax_total, code)],
        [
            "Total credited" if invoice.is_credit_note else "Total due",
            _money(sign * invoice.total, code),
        ],
    ]
    table = Table(rows, colWidths=[40 * mm, 45 * mm], hAlign="RIGHT")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), REGULAR, 9),
                ("FONT", (0, -1), (-1, -1), BOLD, 10),
                ("TEXTCOLOR", (0, 0), (-1, -1), INK),
                ("ALIGN", (0, 0), (-1, -1), "RIGHT"),
                ("LINEABOVE", (1, -1), (1, -1), 0.8, INK),
                ("RIGHTPADDING", (-1, 0), (-1, -1), 0),
            ]
        )
    )
    return KeepTogether([table])  # the three totals on one page, never split


def _status(invoice: Invoice) -> str:
    if invoice.status == PAID:
        reference = f" ({invoice.payment_reference})" if invoice.payment_reference else ""
        return f"Paid on {_day(invoice.paid_on)}{reference}" if invoice.paid_on else "Paid"
    if invoice.status == VOID:
        if invoice.voided_by_id is not None:
            return f"Void (credit note {_number_of(invoice, invoice.voided_by_id)})"
        return "Void"
    return ""


def _number_of(invoice: Invoice, other_id: int) -> str:
    number = db.session.scalar(
        select(Invoice.number).where(
            Invoice.company_id == invoice.company_id, Invoice.id == other_id
        )
    )
    return number or "—"


def _tax_identity(party: dict) -> list[Paragraph]:
    """The party's country code and VAT number as they were at issue, when it had them."""
    parts = [p for p in (party.get("country", ""), party.get("vat_id", "")) if p]
    if party.get("vat_id"):
        parts[-1] = f"VAT {parts[-1]}"
    return [Paragraph(_text(" · ".join(parts), MAX_NAME), _styles()["base"])] if parts else []


def _address(address: str) -> list[Paragraph]:
    text = _CONTROL.sub("", address or "")[:MAX_ADDRESS]
    lines = [" ".join(ln.split()) for ln in text.splitlines() if ln.strip()]
    markup = "<br/>".join(escape(ln) for ln in lines[:MAX_ADDRESS_LINES])
    return [Paragraph(markup, _styles()["base"])] if markup else []


def _text(value: str, limit: int) -> str:
    """Plain text as Paragraph markup: one line, bounded, escaped."""
    return escape(_clean(value, limit))


def _clean(value: str, limit: int) -> str:
    return " ".join(_CONTROL.sub("", value or "").split())[:limit]


def _period(start: dt.date | None, end: dt.date | None) -> str:
    if start is None:
        return ""
    if end is None:
        return f"from {_day(start)}"
    last = end - dt.timedelta(days=1)
    return _day(start) if last <= start else f"{_day(start)} - {_day(last)}"


def _day(day: dt.date) -> str:
    return day.isoformat()


def _amount(value: Decimal) -> str:
    return f"{Decimal(value):,.2f}"


def _money(value: Decimal, code: str) -> str:
    return f"{_amount(value)} {code}"


def _rate(rate: Decimal) -> str:
    """19.00 -> "19", 7.50 -> "7.5"."""
    text = f"{Decimal(rate):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _numbered(footer: str):
    """A canvas that writes "page N of M" once the page count is known."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages = []

        def showPage(self):  # noqa: N802 (ReportLab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            for state in self._pages:
                self.__dict__.update(state)
                self._footer(len(self._pages))
                super().showPage()
            super().save()

        def _footer(self, count: int) -> None:
            self.setFont(REGULAR, 7.5)
            self.setFillColor(MUTED)
            width, _ = self._pagesize
            self.drawString(MARGIN, MARGIN, footer)
            self.drawRightString(width - MARGIN, MARGIN, f"Page {self._pageNumber} of {count}")

    return NumberedCanvas
