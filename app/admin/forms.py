from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import Email, InputRequired

from ..models import Role

ROLE_CHOICES = [SelectChoice(Role.STAFF.value, "Staff"), SelectChoice(Role.LEADER.value, "Leader"), SelectChoice(Role.ADMIN.value, "Admin")]


class CreateUserForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired("Give the person's name.")])
    email = EmailField("Email", validators=[InputRequired("Give an email."), Email("That does not look like an email address.")])
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.STAFF.value)
    password = PasswordField("First password (at least 10 characters)", validators=[InputRequired("Set a first password.")])


class UpdateUserForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)
    active = BooleanField("Active")


class RunImportForm(FlaskForm):
    """The "Run now" button: only its CSRF token."""
