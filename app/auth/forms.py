from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import InputRequired


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[InputRequired(_l("Enter your email."))])
    password = PasswordField(_l("Password"), validators=[InputRequired(_l("Enter your password."))])
    remember = BooleanField(_l("Keep me signed in on this device"))
