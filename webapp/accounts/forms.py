"""Sign-in and API token forms."""

from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    StringField,
)
from wtforms.validators import (
    DataRequired,
    Length,
)

from webapp.forms import TextForm


class LoginForm(TextForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)])
    password = PasswordField(
        "Password", validators=[DataRequired("Enter your password."), Length(max=200)]
    )
    remember = BooleanField("Keep me signed in")


class ApiTokenForm(TextForm):
    name = StringField(
        "Name",
        validators=[
            DataRequired("Say who will use it, e.g. prometheus or alertmanager."),
            Length(max=120, message="At most 120 characters."),
        ],
    )
