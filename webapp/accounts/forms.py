"""Sign-in, password, people and API token forms.

The password rules themselves (length, common passwords) are checked where the password is set,
webapp.accounts.people, so the command line keeps them too; forms check what was typed."""

from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    Length,
    Regexp,
)

from webapp.accounts.passwords import MAX_LENGTH
from webapp.accounts.permissions import ROLE_LABELS
from webapp.forms import EMAIL, TextForm, options


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


def _new_password(label="New password"):
    return PasswordField(
        label,
        validators=[
            DataRequired("Choose a password."),
            Length(max=MAX_LENGTH, message=f"Use at most {MAX_LENGTH} characters."),
        ],
    )


def _again():
    return PasswordField(
        "New password again",
        validators=[
            DataRequired("Type the new password again."),
            EqualTo("password", "The two passwords differ: type them again."),
        ],
    )


class ChoosePasswordForm(TextForm):
    """Choosing a password through an invitation or reset link."""

    password = _new_password("Password")
    confirm = _again()


class ChangePasswordForm(TextForm):
    current = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password."), Length(max=MAX_LENGTH)],
    )
    password = _new_password()
    confirm = _again()


class ForgotForm(TextForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)])


ROLE_CHOICES = [(role.value, label) for role, label in ROLE_LABELS.items()]


def _stripped(value):
    return value.strip() if isinstance(value, str) else value


class InviteForm(TextForm):
    name = StringField(
        "Name",
        filters=[_stripped],
        validators=[DataRequired("Give the person's name."), Length(max=200)],
    )
    email = EmailField(
        "Email",
        filters=[_stripped],
        validators=[
            DataRequired("Give the address the invitation goes to."),
            Length(max=254),
            Regexp(EMAIL, message="Enter an email address such as tess@example.com."),
        ],
    )
    role = SelectField(
        "Role", choices=options(ROLE_CHOICES), validate_choice=True, default="technician"
    )


class RoleForm(TextForm):
    role = SelectField(
        "Role",
        choices=options(ROLE_CHOICES),
        validators=[DataRequired("Choose a role.")],
    )
