"""An invoice's two forms: marking it paid, and voiding it."""

from wtforms import DateField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from webapp.forms import TextForm
from webapp.invoices.actions import REASON_LENGTH, REFERENCE_LENGTH


class PaidForm(TextForm):
    paid_on = DateField(
        "Paid on",
        validators=[InputRequired("Enter the day it was paid, such as 2026-03-01.")],
        invalid_value_message="Enter a date such as 2026-03-01.",
    )
    reference = StringField(
        "Reference",
        validators=[
            Optional(),
            Length(max=REFERENCE_LENGTH, message=f"At most {REFERENCE_LENGTH} characters."),
        ],
        description="The payment's reference on the bank statement, if any.",
    )


class VoidForm(TextForm):
    reason = StringField(
        "Reason",
        validators=[
            DataRequired("Say why: the credit note carries the reason."),
            Length(max=REASON_LENGTH, message=f"At most {REASON_LENGTH} characters."),
        ],
    )
