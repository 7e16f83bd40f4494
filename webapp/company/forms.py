"""The company's settings, and the form that makes the first company."""

from wtforms import (
    BooleanField,
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

from webapp.company import setup
from webapp.company.settings import parse_reminder_days, valid_timezone
from webapp.forms import CURRENCIES, EMAIL, TextForm
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
