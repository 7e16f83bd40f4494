"""Forms. ActionForm is empty: it gives a state-changing button its CSRF check."""

import datetime as dt
from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import TextInput

from webapp.company_settings import parse_reminder_days, valid_timezone
from webapp.lifecycle.sla import WEEKDAYS
from webapp.lifecycle.statuses import BillingCycle, ServiceLevel, Severity

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


NUL_MESSAGE = "Remove the NUL character (\\u0000): text cannot hold it."


class TextForm(FlaskForm):
    """The base of every form: a value with a NUL character in it is that field's error.

    PostgreSQL cannot store NUL in text (psycopg refuses the whole statement), so a pasted or
    forged NUL would otherwise be a 500 there, and a silently different value on SQLite."""

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        for field in self:
            if any("\x00" in value for value in _texts(field)):
                field.errors = [*field.errors, NUL_MESSAGE]
                valid = False
        return valid


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


class LoginForm(TextForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)])
    password = PasswordField(
        "Password", validators=[DataRequired("Enter your password."), Length(max=200)]
    )
    remember = BooleanField("Keep me signed in")


class ActionForm(TextForm):
    version = HiddenField()

    def validate_version(self, field):
        if field.data and not (field.data.isascii() and field.data.isdigit()):
            raise ValidationError(
                "This page's copy of the record is not one we sent: reload the page and try again."
            )


class SuspendForm(ActionForm):
    reason = StringField(
        "Reason", validators=[DataRequired("Say why it is suspended."), Length(max=500)]
    )


class CancelForm(ActionForm):
    reason = StringField(
        "Reason", validators=[DataRequired("Say why it is cancelled."), Length(max=500)]
    )
    when = SelectField(
        "When",
        choices=options([("now", "Now"), ("term_end", "At the end of the term")]),
        default="now",
    )


class RenewForm(ActionForm):
    months = IntegerField(
        "Months",
        default=12,
        validators=[InputRequired(), NumberRange(1, 120, "Between 1 and 120 months.")],
    )


class PriceForm(ActionForm):
    """A new price per cycle from today; a change of seats is a price change with a note."""

    price = MoneyField(
        "New price per cycle",
        places=2,
        validators=[
            InputRequired("Enter the new price, such as 450.00."),
            NumberRange(min=Decimal("0"), max=MAX_AMOUNT, message=f"Enter a price {AMOUNTS}."),
        ],
    )
    note = StringField("Note", validators=[Optional(), Length(max=200)])

    def __init__(self, *args, current_price: Decimal | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.current_price = current_price

    def validate_price(self, field):
        if field.data is None:
            return
        if field.data.as_tuple().exponent < -2:
            raise ValidationError("Use at most two decimal places.")
        if self.current_price is not None and field.data == self.current_price:
            raise ValidationError(f"The price is already {self.current_price:.2f}.")


class ProvisionForm(TextForm):
    client_id = SelectField("Client", coerce=int, validators=[InputRequired("Choose a client.")])
    name = StringField("Service name", validators=[DataRequired(), Length(max=200)])
    service_type = SelectField(
        "Type",
        choices=options(
            [
                ("backup", "Managed backup"),
                ("monitoring", "Monitoring"),
                ("m365", "Microsoft 365"),
                ("firewall", "Firewall management"),
                ("security", "Endpoint security"),
                ("helpdesk", "Helpdesk"),
                ("other", "Other"),
            ]
        ),
    )
    price = MoneyField(
        "Price per cycle",
        places=2,
        validators=[
            InputRequired("Enter a price, such as 149.00."),
            NumberRange(min=Decimal("0"), max=MAX_AMOUNT, message=f"Enter a price {AMOUNTS}."),
        ],
    )
    currency = SelectField("Currency", choices=options((c, c) for c in CURRENCIES), default="USD")
    billing_cycle = SelectField(
        "Billing cycle",
        choices=options((c.value, label) for c, label in CYCLE_LABELS.items()),
        default="monthly",
    )
    term_months = IntegerField(
        "Term (months)",
        default=12,
        validators=[InputRequired(), NumberRange(1, 120, "Between 1 and 120 months.")],
    )
    service_level = SelectField(
        "Service level",
        choices=options((s.value, s.value.title()) for s in ServiceLevel),
        default="standard",
    )
    setup_fee = MoneyField(
        "Setup fee",
        places=2,
        default=Decimal("0"),
        validators=[
            Optional(),
            NumberRange(min=Decimal("0"), max=MAX_AMOUNT, message=f"Enter a setup fee {AMOUNTS}."),
        ],
    )
    start_date = DateField(
        "Start date",
        validators=[Optional()],
        invalid_value_message="Enter a date such as 2026-03-01.",
    )
    auto_renew = BooleanField("Renew automatically at term end")

    def validate_price(self, field):
        if field.data is not None and field.data.as_tuple().exponent < -2:
            raise ValidationError("Use at most two decimal places.")

    validate_setup_fee = validate_price

    def validate_start_date(self, field):
        # The term end is worked out from it; year 9999 plus a term is past any date.
        if field.data is not None and not EARLIEST_START <= field.data <= LATEST_START:
            raise ValidationError(
                f"Enter a start date from {EARLIEST_START:%Y} to {LATEST_START:%Y}."
            )


SEVERITY_LABELS = {
    Severity.CRITICAL: "Critical: the service is down",
    Severity.HIGH: "High: badly degraded",
    Severity.MEDIUM: "Medium",
    Severity.LOW: "Low",
}
LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # what a datetime-local input sends


def _int_or_none(value):
    return None if value in ("", None) else int(value)


class IncidentForm(TextForm):
    service_id = SelectField(
        "Service",
        coerce=_int_or_none,
        validate_choice=False,  # checked against the company's running services below
        validators=[InputRequired("Choose the service that has the problem.")],
    )
    title = StringField(
        "What is wrong",
        validators=[DataRequired("Say in a few words what is wrong."), Length(max=300)],
    )
    severity = SelectField(
        "Severity",
        choices=options((s.value, label) for s, label in SEVERITY_LABELS.items()),
        default=Severity.MEDIUM.value,
    )
    opened_at = DateTimeLocalField(
        "Started at",
        format=[LOCAL_INPUT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[InputRequired("Enter when the problem started.")],
        invalid_value_message="Enter a date and time such as 2026-03-01 14:30.",
    )
    description = TextAreaField("Details", validators=[Optional(), Length(max=5000)])

    def validate_service_id(self, field):
        if field.data not in {choice.value for choice in field.choices if choice.value != ""}:
            raise ValidationError("Choose one of the active or suspended services.")


class SlaForm(TextForm):
    """A service's own SLA policy; an empty field means the service level's default."""

    response_minutes = IntegerField(
        "Response within (minutes)",
        validators=[Optional(), NumberRange(1, 43200, "From 1 to 43200 minutes (30 days).")],
    )
    resolution_minutes = IntegerField(
        "Resolution within (minutes)",
        validators=[Optional(), NumberRange(1, 129600, "From 1 to 129600 minutes (90 days).")],
    )
    availability_target = PercentField(
        "Availability target (%)",
        validators=[
            Optional(),
            NumberRange(Decimal("50"), Decimal("100"), "From 50 to 100 %%."),
        ],
    )
    warning_percent = IntegerField(
        "Warn at (% of each target)",
        validators=[Optional(), NumberRange(1, 99, "From 1 to 99 %%.")],
    )
    clock = SelectField(
        "Clock",
        choices=options(
            [("", "The level's default"), ("business", "Business hours"), ("24x7", "24x7")]
        ),
        default="",
    )

    def validate_availability_target(self, field):
        if field.data is not None and field.data.as_tuple().exponent < -3:
            raise ValidationError("Use at most three decimal places.")


class DayForm(Form):
    """One weekday's business hours (a nested form: the settings form carries the CSRF token)."""

    is_open = BooleanField("Open")
    opens = TimeField("Opens", validators=[Optional()], invalid_value_message="Enter a time.")
    closes = TimeField("Closes", validators=[Optional()], invalid_value_message="Enter a time.")

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        if not self.is_open.data or not valid:
            return valid
        if self.opens.data is None or self.closes.data is None:
            self.closes.errors.append("Enter the opening and closing times, or untick the day.")
        elif self.closes.data <= self.opens.data:
            self.closes.errors.append("Closing time must be after opening time.")
        else:
            return True
        return False


EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


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


class ApiTokenForm(TextForm):
    name = StringField(
        "Name",
        validators=[
            DataRequired("Say who will use it, e.g. prometheus or alertmanager."),
            Length(max=120, message="At most 120 characters."),
        ],
    )
