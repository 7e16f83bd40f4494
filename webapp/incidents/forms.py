"""Recording an incident."""

from wtforms import (
    DateTimeLocalField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)

from webapp.forms import LOCAL_INPUT, TextForm, _int_or_none, options
from webapp.lifecycle.statuses import Severity

SEVERITY_LABELS = {
    Severity.CRITICAL: "Critical: the service is down",
    Severity.HIGH: "High: badly degraded",
    Severity.MEDIUM: "Medium",
    Severity.LOW: "Low",
}


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
