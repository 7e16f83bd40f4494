"""What every feature's forms build on: TextForm (no NUL in any field, one-line fields on one
line), ActionForm (a button's CSRF check and the record's version), money and percent fields,
a party's country and VAT identifier, currencies, cycle labels and limits."""

import datetime as dt
from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    FieldList,
    FormField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    ValidationError,
)
from wtforms.widgets import TextInput

from webapp import countries
from webapp.lifecycle.statuses import BillingCycle
from webapp.text import LINES_MESSAGE, ONE_LINE_MESSAGE, is_lines, is_one_line

CURRENCIES = ["USD", "EUR", "GBP", "CAD", "AUD", "CHF", "SEK", "NOK", "DKK", "NZD"]


CYCLE_LABELS = {
    BillingCycle.WEEKLY: "Weekly",
    BillingCycle.MONTHLY: "Monthly",
    BillingCycle.QUARTERLY: "Quarterly",
    BillingCycle.SEMI_ANNUAL: "Semi-annual",
    BillingCycle.ANNUAL: "Annual",
    BillingCycle.ONE_TIME: "One-time",
}


class MoneyField(DecimalField):
    """An amount typed as text: digits and a decimal point, at most two decimals."""

    widget = TextInput()  # a number input would refuse or reformat amounts in some locales
    invalid_message = "Enter an amount such as 149.00 (digits and a decimal point)."

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            self.data = None
            # Blanks are no input: InputRequired, which looks at the raw text, would pass "  "
            # and leave the form valid with no amount (a 500 in the bulk price change).
            self.raw_data = []
            return
        try:
            value = Decimal(valuelist[0].strip())
        except InvalidOperation:
            self.data = None
            raise ValueError(self.invalid_message) from None
        if not value.is_finite():
            self.data = None
            raise ValueError(self.invalid_message)
        self.data = value


class PercentField(MoneyField):
    invalid_message = "Enter a percentage such as 99.9 (digits and a decimal point)."

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else f"{self.data.normalize():f}"


class CountryField(SelectField):
    """An ISO 3166-1 alpha-2 code from the list (webapp.countries), or None."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("choices", options(countries.COUNTRY_CHOICES))
        super().__init__(label, validators, validate_choice=False, **kwargs)

    def process_formdata(self, valuelist):
        self.data = None
        if valuelist:
            self.data = countries.country_code(valuelist[0])


class VatIdField(StringField):
    """A VAT identifier (webapp.countries.vat_id): stripped and upper-cased, or None."""

    def process_formdata(self, valuelist):
        self.data = None
        if valuelist:
            self.data = countries.vat_id(valuelist[0])

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return self.data or ""


NUL_MESSAGE = "Remove the NUL character (\\u0000): text cannot hold it."


class TextForm(FlaskForm):
    """The base of every form: a value with a NUL character in it is that field's error, and so
    is a line break or control character in a one-line text field (webapp.text).

    PostgreSQL cannot store NUL in text (psycopg refuses the whole statement), so a pasted or
    forged NUL would otherwise be a 500 there, and a silently different value on SQLite. A
    one-line field's value may reach a mail's subject, which cannot hold a line break."""

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        for field in self:
            if any("\x00" in value for value in _texts(field)):
                field.errors = [*field.errors, NUL_MESSAGE]
                valid = False
            elif problem := _line_problem(field):
                field.errors = [*field.errors, problem]
                valid = False
        return valid


def _line_problem(field) -> str | None:
    """What is wrong with the characters of a text field's value (after its filters), if
    anything. A password is the person's own secret, never shown or sent: it is left as typed.
    (The forms' sub-forms, the SLA days, hold no text.)"""
    if not isinstance(field, StringField) or isinstance(field, PasswordField):
        return None
    if not isinstance(field.data, str):
        return None
    if isinstance(field, TextAreaField):
        return None if is_lines(field.data) else LINES_MESSAGE
    return None if is_one_line(field.data) else ONE_LINE_MESSAGE


def _texts(field) -> list[str]:
    if isinstance(field, BooleanField):  # a checkbox is ticked or not; its text is not kept
        return []
    if isinstance(field, FieldList):
        return [text for entry in field.entries for sub in entry for text in _texts(sub)]
    if isinstance(field, FormField):
        return [text for sub in field for text in _texts(sub)]
    return [value for value in field.raw_data or () if isinstance(value, str)]


# Money columns are NUMERIC(12, 2): ten digits before the point.
MAX_AMOUNT = Decimal("9999999999.99")


AMOUNTS = "from 0 to 9999999999.99"


EARLIEST_START, LATEST_START = dt.date(2000, 1, 1), dt.date(2099, 12, 31)


def options(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


class ActionForm(TextForm):
    version = HiddenField()

    def validate_version(self, field):
        if field.data and not (field.data.isascii() and field.data.isdigit()):
            raise ValidationError(
                "This page's copy of the record is not one we sent: reload the page and try again."
            )


LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # what a datetime-local input sends


def _int_or_none(value):
    return None if value in ("", None) else int(value)


EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
