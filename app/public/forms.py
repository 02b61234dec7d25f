from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField, TextAreaField
from wtforms.validators import Email, InputRequired, Optional

from app.forms import ContactFieldsMixin, ReportFieldsForm


class PublicReportForm(ReportFieldsForm, ContactFieldsMixin):
    # Spam defences (app/security/spam.py): a field people never see, and when the form was shown.
    extra_notes = StringField(
        _l("Leave this field empty. It is here to catch automated spam."), validators=[Optional()]
    )
    shown = HiddenField()


class StillHappeningForm(FlaskForm):
    words = TextAreaField(_l("What is happening now? (optional)"), validators=[Optional()])


class AnswerForm(FlaskForm):
    """A confirm button: only its CSRF token."""


class LinkAgainForm(FlaskForm):
    email = EmailField(_l("The email address you gave with your report"),
                       validators=[InputRequired(_l("Give the email address you filed your report with.")),
                                   Email(_l("That does not look like an email address."))])


class UnsubscribeForm(FlaskForm):
    """A confirm button: only its CSRF token."""
