"""Forms shared by several areas."""

from __future__ import annotations

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, HiddenField, StringField, TextAreaField
from wtforms.validators import Email, InputRequired, Optional


class ReportFieldsForm(FlaskForm):
    """What a person tells us. Length limits are checked by the filing service."""

    text = TextAreaField("What isn't working?", validators=[InputRequired("Tell us what happened, in your own words.")])
    location = StringField("Where did it happen?", validators=[Optional()])
    occurred_on = DateField("When did it happen?", validators=[Optional()])
    impact = TextAreaField("How did it affect you?", validators=[Optional()])
    # "Is it one of these?": a problem id, "new", or empty (not asked yet).
    problem_choice = HiddenField()
    suggestions_seen = HiddenField()

    @property
    def areas(self) -> list[str]:
        return current_app.config["CARELOOP_AREAS"]


class ContactFieldsMixin:
    name = StringField("Your name", validators=[Optional()])
    email = EmailField("Your email", validators=[Optional(), Email("That does not look like an email address.")])
    contact_ok = BooleanField("You may email me about what changes")
