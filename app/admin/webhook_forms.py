"""Forms for outgoing webhooks (``/admin/webhooks``)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired
from wtforms.widgets import CheckboxInput, ListWidget

from app.models.webhooks import WebhookFormat
from app.webhooks.outgoing import EVENTS, FORMATS


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class WebhookForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(_l("Give the endpoint a name, for example “Team channel”."))])
    url = StringField(_l("Address (URL)"), validators=[InputRequired(_l("Give the address that receives the events."))])
    events = CheckboxesField(_l("Events to send"), choices=[SelectChoice(name, label) for name, label in EVENTS.items()])
    format = RadioField(_l("Format"), choices=[SelectChoice(value.value, label) for value, label in FORMATS.items()],
                        default=WebhookFormat.CARELOOP.value)
    allow_private = BooleanField(_l("Allow a private network address (loopback, office or cloud network)"))


class WebhookActionForm(FlaskForm):
    """The action buttons (test, pause, resume, rotate, delete, redeliver): only the CSRF token."""
