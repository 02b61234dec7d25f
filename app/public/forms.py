from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import Optional

from app.forms import ContactFieldsMixin, ReportFieldsForm


class PublicReportForm(ReportFieldsForm, ContactFieldsMixin):
    # Spam defences (app/security/spam.py): a field people never see, and when the form was shown.
    extra_notes = StringField(
        _l("Leave this field empty. It is here to catch automated spam."), validators=[Optional()]
    )
    shown = HiddenField()


class StillHappeningForm(FlaskForm):
    words = TextAreaField(_l("What is happening now? (optional)"), validators=[Optional()])


class UnsubscribeForm(FlaskForm):
    """A confirm button: only its CSRF token."""
