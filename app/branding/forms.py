from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, StringField, TextAreaField


class BrandingForm(FlaskForm):
    """The organisation's look. Every field may be left empty for the default; the checks
    (contrast, logo content and size) are the service's, so the CLI or an API get them too."""

    org_name = StringField(_l("Organisation name"))
    welcome_text = TextAreaField(_l("Welcome text on the home page"))
    primary_colour = StringField(_l("Primary colour"))
    accent_colour = StringField(_l("Link colour"))
    logo = FileField(_l("Logo file"))
    remove_logo = BooleanField(_l("Remove the logo"))
