"""Routing a kept alert: to an asset the company has, or to a new one made for it."""

from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from webapp.assets.actions import AssetFields
from webapp.assets.models import KINDS
from webapp.forms import TextForm, options

KIND_LABELS = {kind: kind.replace("_", " ").capitalize() for kind in KINDS}


def _int_or_none(value):
    return None if value in ("", None) else int(value)


class RouteForm(TextForm):
    asset_id = SelectField("Asset", coerce=int, validators=[InputRequired("Choose an asset.")])


class NewAssetForm(TextForm):
    client_id = SelectField("Client", coerce=int, validators=[InputRequired("Choose a client.")])
    name = StringField(
        "Name", validators=[DataRequired("Enter the asset's name."), Length(max=200)]
    )
    kind = SelectField("Type", choices=options(KIND_LABELS.items()), default="server")
    service_id = SelectField(
        "Service that receives its incidents",
        coerce=_int_or_none,
        validators=[Optional()],
        description="One of the client's services; it then covers the asset.",
    )

    def fields(self) -> AssetFields:
        return AssetFields(
            client_id=self.client_id.data, name=self.name.data.strip(), kind=self.kind.data
        )
