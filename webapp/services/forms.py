"""Provisioning and the lifecycle actions' forms."""

from decimal import Decimal

from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
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

from webapp.forms import (
    AMOUNTS,
    CURRENCIES,
    CYCLE_LABELS,
    EARLIEST_START,
    LATEST_START,
    MAX_AMOUNT,
    ActionForm,
    MoneyField,
    TextForm,
    _int_or_none,
    options,
)
from webapp.lifecycle.statuses import ServiceLevel
from webapp.services.actions import MAX_QUANTITY
from webapp.services.repricing import AMOUNT, PERCENT, PriceStep, step_problem


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


class QuantityForm(ActionForm):
    """A new number of seats (units) from today, at the same unit price."""

    quantity = IntegerField(
        "Seats",
        validators=[
            InputRequired("Enter the number of seats, such as 30."),
            NumberRange(1, MAX_QUANTITY, f"Enter a number of seats from 1 to {MAX_QUANTITY:,}."),
        ],
    )
    # Its own id: the price change's form beside it has a "note" too.
    note = StringField("Note", id="seats-note", validators=[Optional(), Length(max=200)])

    def __init__(self, *args, current_quantity: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.current_quantity = current_quantity

    def validate_quantity(self, field):
        if self.current_quantity is not None and field.data == self.current_quantity:
            raise ValidationError(f"It has {self.current_quantity} seats already.")


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


class AccountManagerForm(ActionForm):
    """Who manages the service: one of the company's active account managers or admins
    (choices set by the view), or nobody."""

    user_id = SelectField(
        "Account manager",
        coerce=_int_or_none,
        validate_choice=False,  # checked against the choices below, with a message of ours
    )

    def validate_user_id(self, field):
        if field.data not in {_int_or_none(choice.value) for choice in field.choices}:
            raise ValidationError("Choose one of the active account managers or admins.")


class BulkPriceForm(TextForm):
    """A change of unit price for many services: a percentage, or an amount per unit (either
    sign); the services are chosen by the services list's filters, sent beside it."""

    by = SelectField(
        "Change by",
        choices=options([(PERCENT, "Percentage"), (AMOUNT, "Amount per unit")]),
        default=PERCENT,
    )
    change = MoneyField(
        "Change",
        places=2,
        validators=[InputRequired("Enter the change, such as +5 or -10 (a percentage) or +2.50.")],
    )

    def validate_change(self, field):
        if field.data is None or self.by.data not in (PERCENT, AMOUNT):
            return
        if problem := step_problem(PriceStep(self.by.data, field.data)):
            raise ValidationError(problem)
