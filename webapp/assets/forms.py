"""An asset's form, and the small forms of coverage and the receiving service."""

from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from webapp.assets.actions import AssetFields, AssetRefused, folded_identifiers
from webapp.assets.models import IDENTIFIER_KINDS
from webapp.assets.queries import KIND_LABELS
from webapp.forms import TextForm, options

IDENTIFIERS_HINT = (
    "One a line, its kind first: hostname: web1, instance: web1:9100, serial: 5CG1234, "
    "rmm_id: 8812. Without a kind, a hostname. Each names one asset of the company."
)


def parse_identifiers(text: str | None) -> list[tuple[str, str]]:
    """(kind, value) pairs from the form's lines ("kind: value", or a bare hostname)."""
    pairs = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        kind, sep, value = line.partition(":")
        if sep and kind.strip().lower() in IDENTIFIER_KINDS:
            pairs.append((kind.strip().lower(), value.strip()))
        else:
            # "web1:9100" is an instance, not a kind named "web1".
            pairs.append(("instance" if sep else "hostname", line))
    return pairs


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


class AssetForm(TextForm):
    client_id = SelectField("Client", coerce=int, validators=[InputRequired("Choose a client.")])
    name = StringField(
        "Name", validators=[DataRequired("Enter the asset's name."), Length(max=200)]
    )
    kind = SelectField("Type", choices=options(KIND_LABELS.items()), default="server")
    identifiers = TextAreaField(
        "Identifiers", validators=[Optional(), Length(max=5000)], description=IDENTIFIERS_HINT
    )
    site = StringField("Site", validators=[Optional(), Length(max=120)])
    operating_system = StringField("Operating system", validators=[Optional(), Length(max=120)])
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=5000)])

    def validate_identifiers(self, field):
        try:
            folded_identifiers(parse_identifiers(field.data))
        except AssetRefused as exc:
            raise ValidationError(str(exc)) from None

    def fields(self) -> AssetFields:
        return AssetFields(
            client_id=self.client_id.data,
            name=self.name.data.strip(),
            kind=self.kind.data,
            site=_text(self.site.data),
            operating_system=_text(self.operating_system.data),
            notes=_text(self.notes.data),
            identifiers=tuple(parse_identifiers(self.identifiers.data)),
        )
