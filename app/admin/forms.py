from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Email, InputRequired, Optional

from app.models import Role

ROLE_CHOICES = [SelectChoice(Role.STAFF.value, _l("Staff")), SelectChoice(Role.LEADER.value, _l("Leader")), SelectChoice(Role.ADMIN.value, _l("Admin"))]


class CreateUserForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(_l("Give the person's name."))])
    email = EmailField(_l("Email"), validators=[InputRequired(_l("Give an email.")), Email(_l("That does not look like an email address."))])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default=Role.STAFF.value)
    # Empty: the person is emailed an invitation with a one-time link to set their own.
    password = PasswordField(_l("First password (optional)"), validators=[Optional()])


class UpdateUserForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    active = BooleanField(_l("Active"))


class RunImportForm(FlaskForm):
    """The "Run now" button: only its CSRF token."""
