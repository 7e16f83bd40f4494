"""The company's settings, and the form that makes the first company."""

from decimal import Decimal

from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    FieldList,
    FormField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TimeField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from webapp.assets.routing import parse_routing_labels
from webapp.company import setup
from webapp.company.settings import InvoicingSettings, parse_reminder_days, valid_timezone
from webapp.forms import CURRENCIES, EMAIL, CountryField, PercentField, TextForm, VatIdField
from webapp.invoices.documents import number_of_other_kind
from webapp.invoices.models import CREDIT_NOTE, INVOICE
from webapp.lifecycle.sla import WEEKDAYS
from webapp.sla.forms import DayForm


class SettingsForm(TextForm):
    timezone = StringField(
        "Time zone",
        validators=[DataRequired("Enter a time zone such as Europe/London."), Length(max=64)],
    )
    days = FieldList(FormField(DayForm), min_entries=len(WEEKDAYS), max_entries=len(WEEKDAYS))
    escalate_after_minutes = IntegerField(
        "Escalate unacknowledged SLA alerts after (minutes)",
        validators=[
            InputRequired("Enter a number of minutes."),
            NumberRange(1, 10080, "From 1 to 10080 minutes (a week)."),
        ],
    )
    escalation_email = EmailField(
        "Escalate to",
        validators=[
            Optional(),
            Length(max=254),
            Regexp(EMAIL, message="Enter an email address such as oncall@example.com."),
        ],
    )
    reminder_days = StringField(
        "Renewal reminders (days before term end)",
        validators=[DataRequired("Enter days such as 30,14,7.")],
    )
    incident_notices_to_clients = BooleanField(
        "Tell the clients' technical contacts of SLA warnings and breaches on their services"
    )

    def validate_timezone(self, field):
        if not valid_timezone(field.data.strip()):
            raise ValidationError(
                "Not a time zone name we know: use one such as Europe/London or America/New_York."
            )

    def validate_days(self, field):
        if not any(day.form.is_open.data for day in field.entries):
            raise ValidationError("Open at least one day a week, or SLA clocks never run.")

    def validate_reminder_days(self, field):
        try:
            parse_reminder_days(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class RoutingForm(TextForm):
    routing_labels = StringField(
        "Labels that name the asset, in order",
        validators=[DataRequired("Enter label names such as instance,hostname.")],
    )

    def validate_routing_labels(self, field):
        try:
            parse_routing_labels(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


# Prefixes go into file names, CSV cells and UBL ids as they are.
PREFIX = r"^[A-Za-z0-9/_.#-]*$"
PREFIX_MESSAGE = "Letters, digits and - / _ . # only, such as INV-."


def _stripped(value):
    return value.strip() if isinstance(value, str) else value


class InvoicingForm(TextForm):
    invoice_prefix = StringField(
        "Invoice number prefix",
        filters=[_stripped],
        validators=[
            Length(max=20, message="At most 20 characters."),
            Regexp(PREFIX, message=PREFIX_MESSAGE),
        ],
    )
    credit_note_prefix = StringField(
        "Credit note number prefix",
        filters=[_stripped],
        validators=[
            Length(max=20, message="At most 20 characters."),
            Regexp(PREFIX, message=PREFIX_MESSAGE),
        ],
    )
    number_with_year = BooleanField("Put the year in the numbers, such as INV-2026-00042")
    tax_rate = PercentField(
        "Tax rate (%)",
        validators=[
            InputRequired("Enter a rate from 0 to 100, such as 20."),
            NumberRange(Decimal(0), Decimal(100), "Enter a rate from 0 to 100."),
        ],
    )
    payment_terms_days = IntegerField(
        "Payment terms (days)",
        validators=[
            InputRequired("Enter a number of days."),
            NumberRange(0, 365, "From 0 to 365 days."),
        ],
    )
    country = CountryField("Country")
    vat_id = VatIdField("VAT number")
    invoicing_starts_on = DateField(
        "Invoice periods from",
        validators=[Optional()],
        description=(
            "Periods that started before this day were billed by the tool used before: the "
            "bill run leaves them out. Blank: every period from each service's start."
        ),
    )

    def __init__(self, *args, company_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.company_id = company_id

    def _refuse_used_by_other_kind(self, field, kind: str) -> None:
        # A prefix the other kind's numbers were made with would, counting from 1 again,
        # give a new document one of their numbers: UNIQUE(company_id, number) would then
        # fail every later bill run.
        if self.company_id is None or field.errors:
            # Only a well-formed prefix is looked up: one with a NUL in it (refused by its
            # pattern) would fail the query on PostgreSQL, a 500 (found by the form fuzzer).
            return
        taken = number_of_other_kind(self.company_id, kind, field.data or "")
        if taken is not None:
            other = "credit note" if kind == INVOICE else "invoice"
            raise ValidationError(
                f"{other.capitalize()} {taken} was numbered with this prefix: new numbers "
                f"could repeat it. Use a prefix no {other} has used."
            )

    def validate_invoice_prefix(self, field):
        self._refuse_used_by_other_kind(field, INVOICE)

    def validate_credit_note_prefix(self, field):
        # Both kinds count from 1: the same prefix would give two documents one number.
        if (field.data or "").casefold() == (self.invoice_prefix.data or "").casefold():
            raise ValidationError("Use a prefix other than the invoices', such as CN-.")
        self._refuse_used_by_other_kind(field, CREDIT_NOTE)

    def validate_tax_rate(self, field):
        if field.data is not None and field.data.as_tuple().exponent < -2:
            raise ValidationError("Use at most two decimal places.")

    def settings(self) -> InvoicingSettings:
        return InvoicingSettings(
            invoice_prefix=self.invoice_prefix.data or "",
            credit_note_prefix=self.credit_note_prefix.data or "",
            number_with_year=self.number_with_year.data,
            tax_rate=self.tax_rate.data,
            payment_terms_days=self.payment_terms_days.data,
            country=self.country.data,
            vat_id=self.vat_id.data,
            invoicing_starts_on=self.invoicing_starts_on.data,
        )


class SetupForm(TextForm):
    """The installation's first company and its admin. The rules are setup.problems(), shared
    with `flask setup`; this form only reads the fields and puts each problem beside its own."""

    name = StringField("Company name", validators=[DataRequired("Enter the company's name.")])
    timezone = StringField(
        "Time zone", default="UTC", validators=[DataRequired("Enter a time zone such as UTC.")]
    )
    currency = SelectField("Currency", choices=CURRENCIES, default="USD", validate_choice=False)
    opens = TimeField(
        "Opens",
        default=setup.DEFAULT_HOURS[0],
        validators=[InputRequired("Enter a time.")],
        invalid_value_message="Enter a time such as 08:00.",
    )
    closes = TimeField(
        "Closes",
        default=setup.DEFAULT_HOURS[1],
        validators=[InputRequired("Enter a time.")],
        invalid_value_message="Enter a time such as 18:00.",
    )
    admin_name = StringField("Your name", validators=[DataRequired("Enter your name.")])
    admin_email = EmailField("Your email", validators=[DataRequired("Enter your email.")])
    password = PasswordField(
        "Password",
        validators=[DataRequired("Choose a password.")],
    )
    confirm = PasswordField(
        "Password again",
        validators=[
            DataRequired("Type the password again."),
            EqualTo("password", "The two passwords differ."),
        ],
    )

    def new_company(self) -> setup.NewCompany:
        return setup.NewCompany(
            name=self.name.data or "",
            timezone=(self.timezone.data or "").strip(),
            currency=self.currency.data or "",
            admin_name=self.admin_name.data or "",
            admin_email=(self.admin_email.data or "").strip(),
            password=self.password.data or "",
            opens=self.opens.data or setup.DEFAULT_HOURS[0],
            closes=self.closes.data or setup.DEFAULT_HOURS[1],
        )

    def show(self, problems: dict[str, str]) -> None:
        """Each problem beside its field (a field with an error of its own keeps that one)."""
        for name, message in problems.items():
            field = self[name]
            if not field.errors:
                field.errors = [*field.errors, message]

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        found = setup.problems(self.new_company())
        self.show(found)
        return valid and not found
