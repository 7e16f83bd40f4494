"""Reading an uploaded CSV: its text, its table, and each row's values checked one by one.

Nothing here reads the database: a row's values are checked on their own (an amount, a date,
a known status), and what they refer to (a client, a person) is looked up by the planning.
"""

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from webapp import countries
from webapp.forms import CURRENCIES, EARLIEST_START, EMAIL, LATEST_START, MAX_AMOUNT
from webapp.imports.columns import HeaderMap, Kind, map_header
from webapp.lifecycle.statuses import BillingCycle, ServiceLevel, ServiceStatus
from webapp.text import is_lines, is_one_line

MAX_BYTES = 5 * 1024 * 1024  # about 30,000 services as our template writes them
MAX_ROWS = 50_000

ROLES = ("primary", "billing", "technical")

IMPORTED_STATUSES = (ServiceStatus.PENDING, ServiceStatus.ACTIVE, ServiceStatus.SUSPENDED)

_CYCLES = {
    "weekly": BillingCycle.WEEKLY,
    "week": BillingCycle.WEEKLY,
    "monthly": BillingCycle.MONTHLY,
    "month": BillingCycle.MONTHLY,
    "quarterly": BillingCycle.QUARTERLY,
    "quarter": BillingCycle.QUARTERLY,
    "semiannual": BillingCycle.SEMI_ANNUAL,
    "semiannually": BillingCycle.SEMI_ANNUAL,
    "halfyearly": BillingCycle.SEMI_ANNUAL,
    "sixmonthly": BillingCycle.SEMI_ANNUAL,
    "annual": BillingCycle.ANNUAL,
    "annually": BillingCycle.ANNUAL,
    "yearly": BillingCycle.ANNUAL,
    "year": BillingCycle.ANNUAL,
    "onetime": BillingCycle.ONE_TIME,
    "once": BillingCycle.ONE_TIME,
}

_TRUE = {"yes", "y", "true", "t", "1", "on", "x"}
_FALSE = {"no", "n", "false", "f", "0", "off"}


class FileRefused(ValueError):
    """The file as a whole cannot be read: nothing in it is imported."""


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (row number as a spreadsheet shows it, cells)
    encoding: str


def decode(raw: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read in: UTF-8 (with or without the BOM Excel
    writes), else Windows-1252, which older Excel versions save "CSV" in."""
    if len(raw) > MAX_BYTES:
        raise FileRefused(
            f"The file is larger than {_size(MAX_BYTES)}: import at most that at once (split it "
            "in several files)."
        )
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRefused(
            'The file is UTF-16 text ("Unicode text"): save it as "CSV UTF-8" and upload that.'
        )
    if raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise FileRefused('This is a workbook (.xlsx or .xls), not CSV: save it as "CSV UTF-8".')
    try:
        return raw.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError as not_utf8:
        try:
            return raw.decode("cp1252"), "Windows-1252"
        except UnicodeDecodeError:
            raise FileRefused(
                f"The file is not UTF-8 text (byte {not_utf8.start + 1} is not), nor "
                'Windows-1252: save it as "CSV UTF-8".'
            ) from None


def _size(n: int) -> str:
    return f"{n / 2**20:g} MB" if n >= 2**20 else f"{n / 2**10:g} kB"


def _delimiter(text: str) -> str:
    """Comma, or the semicolon or tab a spreadsheet in some locales writes instead, read from
    the header line."""
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def read_table(raw: bytes) -> Table:
    text, encoding = decode(raw)
    if not text.strip():
        raise FileRefused("The file is empty: it needs a header row and a row per record.")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        records = list(reader)
    except csv.Error as exc:
        raise FileRefused(f"Line {reader.line_num} cannot be read as CSV: {exc}.") from None
    header, *body = records
    if not any(cell.strip() for cell in header):
        raise FileRefused("The first row is empty: it must name the columns.")
    rows = [
        (number, cells) for number, cells in enumerate(body, 2) if any(c.strip() for c in cells)
    ]
    if not rows:
        raise FileRefused("The file has a header but no rows to import.")
    if len(rows) > MAX_ROWS:
        raise FileRefused(f"The file has {len(rows):,} rows; import at most {MAX_ROWS:,} at once.")
    return Table([cell.strip() for cell in header], rows, encoding)


@dataclass(frozen=True)
class CellError:
    column: str  # as the file names it (our template's name when the file has no such column)
    message: str

    def __str__(self) -> str:
        return f"{self.column}: {self.message}"


INVALID = object()  # a value that was there but could not be read (its error is recorded)


@dataclass
class Row:
    """One row's raw cells, read column by column; each value that cannot be read adds its
    error, naming the column."""

    kind: Kind
    columns: HeaderMap
    number: int
    cells: list[str]
    errors: list[CellError] = field(default_factory=list)
    # Cells refused for their characters, read as empty: that is their one error.
    refused: set[str] = field(default_factory=set)

    def __post_init__(self):
        # PostgreSQL cannot store NUL in text, and a name with a line break could never be in a
        # mail's subject (webapp.text): such a cell is its column's error, read as empty.
        for name, position in self.columns.index.items():
            if position >= len(self.cells):
                continue
            value = self.cells[position].strip()
            if "\x00" in value:
                self.error(name, "holds a NUL character, which text cannot hold.")
            elif self.kind.column(name).lines and not is_lines(value):
                self.error(name, "holds a control character (line breaks and tabs are fine).")
            elif not self.kind.column(name).lines and not is_one_line(value):
                self.error(name, "holds a line break or control character: keep it on one line.")
            else:
                continue
            self.cells[position] = ""
            self.refused.add(name)

    def has(self, name: str) -> bool:
        return self.columns.has(name)

    def text(self, name: str) -> str:
        """The cell stripped; "" when empty or when the file has no such column."""
        position = self.columns.index.get(name)
        if position is None or position >= len(self.cells):
            return ""
        return self.cells[position].strip()

    def column_name(self, name: str) -> str:
        return self.columns.names.get(name) or self.kind.column(name).header

    def error(self, name: str, message: str) -> None:
        if name in self.refused:  # said already; not also "is required"
            return
        self.errors.append(CellError(self.column_name(name), message))

    def read(self, name: str, parse, default=None):
        """parse(cell) for a cell with something in it; `default` for an empty one; INVALID
        (and an error) for one parse refuses."""
        value = self.text(name)
        if not value:
            return default
        try:
            return parse(value)
        except ValueError as exc:
            self.error(name, str(exc))
            return INVALID


def quoted(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


def text_of(limit: int):
    def parse(value: str) -> str:
        if len(value) > limit:
            raise ValueError(f"is {len(value)} characters long; at most {limit}.")
        return value

    return parse


def money(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise ValueError(f"{quoted(value)} is not an amount (write it as 149.00).")
    if amount.as_tuple().exponent < -2:
        raise ValueError(f"{quoted(value)} has more than two decimals.")
    if not 0 <= amount <= MAX_AMOUNT:
        raise ValueError(f"{quoted(value)} is not an amount from 0 to {MAX_AMOUNT}.")
    return amount


def whole_number(low: int, high: int):
    def parse(value: str) -> int:
        if not re.fullmatch(r"[+]?\d{1,9}", value):
            raise ValueError(f"{quoted(value)} is not a whole number.")
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"{number} is not from {low} to {high}.")
        return number

    return parse


def country(value: str) -> str:
    try:
        return countries.country_code(value)
    except ValueError:
        raise ValueError(
            f"{quoted(value)} is not an ISO 3166-1 country code (such as GB, DE or US)."
        ) from None


def vat_id(value: str) -> str:
    try:
        return countries.vat_id(value)
    except ValueError:
        raise ValueError(
            f"{quoted(value)} is not a VAT number: letters, digits, spaces and . - / only, "
            "at most 40 of them."
        ) from None


def percent(value: str) -> Decimal:
    rate = value.removesuffix("%").strip()
    try:
        number = Decimal(rate)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or not 0 <= number <= 100:
        raise ValueError(f"{quoted(value)} is not a percentage from 0 to 100.")
    if number.as_tuple().exponent < -2:
        raise ValueError(f"{quoted(value)} has more than two decimals.")
    return number


_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\S*)?")


def iso_date(value: str) -> dt.date:
    """YYYY-MM-DD, the one format no reader can take for another (is 03/04 March or April?).
    An ISO date and time (as some tools export "created" columns) counts by its date."""
    match = _ISO_DATE.fullmatch(value)
    try:
        day = dt.date(*(int(g) for g in match.groups())) if match else None
    except ValueError:
        day = None
    if day is None:
        raise ValueError(f"{quoted(value)} is not a date: write it as YYYY-MM-DD (2026-03-01).")
    if not EARLIEST_START <= day <= LATEST_START:
        raise ValueError(f"{day} is not from {EARLIEST_START:%Y} to {LATEST_START:%Y}.")
    return day


def yes_no(value: str) -> bool:
    word = value.casefold()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{quoted(value)} is not yes or no.")


def email(value: str) -> str:
    if len(value) > 254 or not re.match(EMAIL, value):
        raise ValueError(f"{quoted(value)} is not an email address.")
    return value


def roles(value: str) -> frozenset[str]:
    found = set()
    for word in (w.strip().casefold() for w in re.split(r"[;,|/]", value)):
        if not word:
            continue
        role = "technical" if word in ("tech", "technician") else word
        if role not in ROLES:
            raise ValueError(f"{quoted(word)} is not a role: use primary, billing or technical.")
        found.add(role)
    return frozenset(found)


def status(value: str) -> ServiceStatus:
    word = value.casefold()
    if word in {s.value for s in IMPORTED_STATUSES}:
        return ServiceStatus(word)
    if word in (ServiceStatus.CANCELLED, ServiceStatus.EXPIRED, "canceled", "ended"):
        raise ValueError(
            f"{quoted(value)}: only running services are imported (pending, active or "
            "suspended); leave ended ones out."
        )
    raise ValueError(f"{quoted(value)} is not a status: use pending, active or suspended.")


def cycle(value: str) -> BillingCycle:
    found = _CYCLES.get(re.sub(r"[\W_]+", "", value.casefold()))
    if found is None:
        raise ValueError(
            f"{quoted(value)} is not a billing cycle: use weekly, monthly, quarterly, "
            "semi-annual, annual or one-time."
        )
    return found


def level(value: str) -> ServiceLevel:
    word = value.casefold()
    if word not in {v.value for v in ServiceLevel}:
        raise ValueError(
            f"{quoted(value)} is not a service level: use basic, standard, premium or enterprise."
        )
    return ServiceLevel(word)


def currency(value: str) -> str:
    code = value.upper()
    if code not in CURRENCIES:
        raise ValueError(
            f"{quoted(value)} is not a currency here: use one of {', '.join(CURRENCIES)}."
        )
    return code


def person_name(row: Row, limit: int = 200):
    """Name, else First Name and Last Name together; an error when there is neither."""
    name = row.read("name", text_of(limit))
    if name is None:
        joined = " ".join(p for p in (row.text("first_name"), row.text("last_name")) if p)
        if len(joined) > limit:
            row.error("name", f"is {len(joined)} characters long; at most {limit}.")
            return INVALID
        name = joined or None
    if name is None:
        row.error("name", "is required.")
        return INVALID
    return name


def address(row: Row) -> str | None:
    parts = [row.text(p) for p in ("address", "address_2", "city", "state", "postal_code")]
    parts.append(row.text("country"))
    joined = ", ".join(p for p in parts if p)
    return joined or None


def read_rows(kind: Kind, raw: bytes) -> tuple[Table, HeaderMap, list[Row]]:
    """The file's table, its header matched to the kind's columns, and a Row per record."""
    table = read_table(raw)
    columns = map_header(kind, table.header)
    return table, columns, [Row(kind, columns, n, cells) for n, cells in table.rows]
