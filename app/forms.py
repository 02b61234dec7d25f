"""Forms shared by several areas."""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, HiddenField, StringField, TextAreaField
from wtforms.validators import Email, InputRequired, Optional

from app.services.filing import Person, Submission


class ReportFieldsForm(FlaskForm):
    """What a person tells us. Length limits are checked by the filing service."""

    text = TextAreaField(_l("What isn't working?"),
                         validators=[InputRequired(_l("Tell us what happened, in your own words."))])
    location = StringField(_l("Where did it happen?"), validators=[Optional()])
    occurred_on = DateField(_l("When did it happen?"), validators=[Optional()])
    impact = TextAreaField(_l("How did it affect you?"), validators=[Optional()])
    # "Is it one of these?": a problem id, "new", or empty (not asked yet).
    problem_choice = HiddenField()
    suggestions_seen = HiddenField()

    @property
    def areas(self) -> list[str]:
        return current_app.config["CARELOOP_AREAS"]

    def submission(self, person: Person | None, **extra) -> Submission:
        """What the filing service needs from this form (``extra``: the spam defences' fields)."""
        return Submission(
            text=self.text.data, location=self.location.data, occurred_on=self.occurred_on.data,
            impact=self.impact.data, person=person, problem_choice=self.problem_choice.data,
            suggestions_seen=bool(self.suggestions_seen.data), **extra,
        )


class ContactFieldsMixin:
    name = StringField(_l("Your name"), validators=[Optional()])
    email = EmailField(_l("Your email"), validators=[Optional(), Email(_l("That does not look like an email address."))])
    contact_ok = BooleanField(_l("You may email me about what changes"))
