"""A client's and a contact's forms."""

from decimal import Decimal

from wtforms import BooleanField, IntegerField, StringField, TextAreaField
from wtforms.validators import (
    DataRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from webapp.clients.actions import ClientFields, ContactFields
from webapp.forms import EMAIL, CountryField, PercentField, TextForm, VatIdField


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


class ClientForm(TextForm):
    name = StringField(
        "Name", validators=[DataRequired("Enter the client's name."), Length(max=200)]
    )
    external_id = StringField(
        "External id",
        validators=[Optional(), Length(max=100)],
        description="Its id in another tool (a PSA, the accounting system): imports match on it.",
    )
    address = TextAreaField("Address", validators=[Optional(), Length(max=1000)])
    payment_terms_days = IntegerField(
        "Payment terms (days)",
        validators=[Optional(), NumberRange(0, 365, "From 0 to 365 days.")],
        description="Empty: the company's default.",
    )
    tax_rate = PercentField(
        "Tax rate (%)",
        validators=[
            Optional(),
            NumberRange(Decimal(0), Decimal(100), "Enter a rate from 0 to 100."),
        ],
        description="Empty: the company's rate.",
    )
    country = CountryField("Country")
    vat_id = VatIdField(
        "VAT number", description="Optional. With its country prefix, such as DE123456789."
    )
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=5000)])

    def validate_tax_rate(self, field):
        if field.data is not None and field.data.as_tuple().exponent < -2:
            raise ValidationError("Use at most two decimal places.")

    def fields(self) -> ClientFields:
        return ClientFields(
            name=self.name.data.strip(),
            external_id=_text(self.external_id.data),
            address=_text(self.address.data),
            payment_terms_days=self.payment_terms_days.data,
            tax_rate=self.tax_rate.data,
            country=self.country.data,
            vat_id=self.vat_id.data,
            notes=_text(self.notes.data),
        )


class ContactForm(TextForm):
    name = StringField("Name", validators=[DataRequired("Enter a name."), Length(max=200)])
    email = StringField(
        "Email",
        validators=[
            Optional(),
            Length(max=254),
            Regexp(EMAIL, message="Enter an email address such as jane@example.com."),
        ],
    )
    phone = StringField("Phone", validators=[Optional(), Length(max=50)])
    is_primary = BooleanField("Primary", description="Told of activations, suspensions, ends")
    is_billing = BooleanField("Billing", description="Told of invoices and price changes")
    is_technical = BooleanField("Technical", description="Told of incidents, if enabled")

    def fields(self) -> ContactFields:
        return ContactFields(
            name=self.name.data.strip(),
            email=_text(self.email.data),
            phone=_text(self.phone.data),
            is_primary=self.is_primary.data,
            is_billing=self.is_billing.data,
            is_technical=self.is_technical.data,
        )
