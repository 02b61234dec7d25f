from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Optional

from ..forms import ContactFieldsMixin, ReportFieldsForm


class PublicReportForm(ReportFieldsForm, ContactFieldsMixin):
    pass


class StillHappeningForm(FlaskForm):
    words = TextAreaField("What is happening now? (optional)", validators=[Optional()])


class UnsubscribeForm(FlaskForm):
    """A confirm button: only its CSRF token."""
