"""The company's settings."""

from wtforms import (
    EmailField,
    FieldList,
    FormField,
    IntegerField,
    StringField,
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

from webapp.company.settings import parse_reminder_days, valid_timezone
from webapp.forms import EMAIL, TextForm
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
