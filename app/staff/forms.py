from wtforms.fields.choices import SelectChoice
from wtforms import BooleanField, EmailField, RadioField, StringField
from wtforms.validators import Email, InputRequired, Optional, ValidationError

from ..forms import ReportFieldsForm


class StaffReportForm(ReportFieldsForm):
    on_behalf = RadioField(
        "Who experienced this?",
        choices=[SelectChoice("customer", "A customer (I am filing on their behalf)"), SelectChoice("self", "Me")],
        default="customer",
        validators=[InputRequired()],
    )
    # No Optional(): it would stop the chain before validate_customer_name runs.
    customer_name = StringField("Customer's name")
    customer_email = EmailField(
        "Customer's email", validators=[Optional(), Email("That does not look like an email address.")]
    )
    customer_contact_ok = BooleanField("The customer agreed that we may email them about what changes")

    def validate_customer_name(self, field):
        if self.on_behalf.data == "customer" and not (field.data or "").strip():
            raise ValidationError("Give the customer's name, so their report stays theirs.")
