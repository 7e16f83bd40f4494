"""Forms. ActionForm is empty: it gives a state-changing button its CSRF check."""

from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import TextInput

from webapp.lifecycle.statuses import BillingCycle, ServiceLevel

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

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        try:
            value = Decimal(valuelist[0].strip())
        except InvalidOperation:
            self.data = None
            raise ValueError(
                "Enter an amount such as 149.00 (digits and a decimal point)."
            ) from None
        if not value.is_finite():
            self.data = None
            raise ValueError("Enter an amount such as 149.00 (digits and a decimal point).")
        self.data = value


def options(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)])
    password = PasswordField(
        "Password", validators=[DataRequired("Enter your password."), Length(max=200)]
    )
    remember = BooleanField("Keep me signed in")


class ActionForm(FlaskForm):
    version = HiddenField()


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


class ProvisionForm(FlaskForm):
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
            NumberRange(
                min=Decimal("0"), max=Decimal("9999999999"), message="Enter a price of 0 or more."
            ),
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
            NumberRange(min=Decimal("0"), message="A setup fee cannot be negative."),
        ],
    )
    start_date = DateField("Start date", validators=[Optional()])
    auto_renew = BooleanField("Renew automatically at term end")

    def validate_price(self, field):
        if field.data is not None and field.data.as_tuple().exponent < -2:
            raise ValidationError("Use at most two decimal places.")
