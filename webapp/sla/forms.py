"""SLA policy targets and weekly business hours."""

from decimal import Decimal

from wtforms import (
    BooleanField,
    Form,
    IntegerField,
    SelectField,
    TimeField,
)
from wtforms.validators import (
    NumberRange,
    Optional,
    ValidationError,
)

from webapp.forms import PercentField, TextForm, options


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
