from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Email, InputRequired, Optional, ValidationError

from app.forms import ReportFieldsForm


class StaffReportForm(ReportFieldsForm):
    on_behalf = RadioField(
        _l("Who experienced this?"),
        choices=[SelectChoice("customer", _l("A customer (I am filing on their behalf)")), SelectChoice("self", _l("Me"))],
        default="customer",
        validators=[InputRequired()],
    )
    # No Optional(): it would stop the chain before validate_customer_name runs.
    customer_name = StringField(_l("Customer's name"))
    customer_email = EmailField(
        _l("Customer's email"), validators=[Optional(), Email(_l("That does not look like an email address."))]
    )
    customer_contact_ok = BooleanField(_l("The customer agreed that we may email them about what changes"))
    # Their messages are written in it; choices are the site's languages (set by the view).
    language = SelectField(_l("The customer's language"), validators=[Optional()])
    staff_note = TextAreaField(_l("Your note (not shown to the customer)"), validators=[Optional()])

    def validate_customer_name(self, field):
        if self.on_behalf.data == "customer" and not (field.data or "").strip():
            raise ValidationError(_("Give the customer's name, so their report stays theirs."))


class ToldInPersonForm(FlaskForm):
    """A confirm button: only its CSRF token."""
