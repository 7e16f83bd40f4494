"""The webhook form of Settings -> Webhooks; its rules are actions.add_webhook's."""

from wtforms import SelectField, StringField
from wtforms.validators import DataRequired

from webapp.forms import TextForm, options

KIND_LABELS = {"slack": "Slack", "teams": "Microsoft Teams", "generic": "Generic JSON, signed"}


class WebhookForm(TextForm):
    kind = SelectField("Kind", choices=options(KIND_LABELS.items()))
    url = StringField("URL", validators=[DataRequired("Paste the webhook's URL.")])
    secret = StringField("Signing secret")
