from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, StringField, SubmitField, TextAreaField, URLField
from wtforms.validators import InputRequired, NumberRange, Optional


class ActionForm(FlaskForm):
    """A button that changes state: carries only the CSRF token."""


class EditProblemForm(FlaskForm):
    title = StringField(_l("Title"), validators=[InputRequired(_l("Give the problem a title."))])
    public_title = StringField(_l("Public title (approved for customers)"), validators=[Optional()])
    area = StringField(_l("Area"), validators=[Optional()])
    due_on = DateField(_l("Due date"), validators=[Optional()])


def _leader_id(value):
    return int(value) if value not in (None, "") else None


class HandOverForm(FlaskForm):
    # The first choice is an empty "Choose a leader" (set by the view), so nobody is preselected.
    owner = SelectField(_l("New owner"), coerce=_leader_id, validate_choice=False,
                        validators=[InputRequired(_l("Choose a leader."))])
    reason = TextAreaField(_l("Why are you handing it over?"), validators=[Optional()])


class ChangeForm(FlaskForm):
    what = TextAreaField(_l("What is different now?"), validators=[Optional()])
    since = DateField(_l("Different since"), validators=[Optional()])
    evidence_url = URLField(_l("Evidence link (release note, policy, ticket)"), validators=[Optional()])


NOTE_LABEL = _l("A personal note for everyone who reported it (optional)")


class DeclineForm(FlaskForm):
    reason = TextAreaField(_l("Why, in words for the people who reported it"), validators=[Optional()])
    note = TextAreaField(NOTE_LABEL, validators=[Optional()])
    preview = SubmitField(_l("Preview the message"))
    confirm = SubmitField(_l("Decline and tell people"))


class ReopenForm(FlaskForm):
    reason = StringField(_l("Why reopen?"), validators=[Optional()])


class PublishForm(FlaskForm):
    public_title = StringField(_l("Public title"), validators=[Optional()])
    public_summary = TextAreaField(_l("Public summary"), validators=[Optional()])
    note = TextAreaField(NOTE_LABEL, validators=[Optional()])
    preview = SubmitField(_l("Preview the message"))
    confirm = SubmitField(_l("Publish and tell people"))


class UnreachableForm(FlaskForm):
    reason = StringField(_l("Why can't they be told?"), validators=[InputRequired(_l("Say why, for the record."))])


class CommentForm(FlaskForm):
    text = TextAreaField(_l("Internal note"), validators=[InputRequired(_l("Write the note first."))])


class MoveReportForm(FlaskForm):
    target = IntegerField(
        _l("Move to problem number"),
        validators=[Optional(), NumberRange(min=1, message=_l("Give a problem number."))],
    )


class LinkWorkForm(FlaskForm):
    source = SelectField(_l("Where the work is tracked"), validators=[InputRequired()])
    key = StringField(_l("Issue key"), validators=[Optional()])
    create = SubmitField(_l("Create a new issue from this problem"))
    link = SubmitField(_l("Link this issue"))


class MergeForm(FlaskForm):
    target = IntegerField(_l("Merge into problem number"),
                          validators=[InputRequired(_l("Give the number of the problem to merge into.")),
                                      NumberRange(min=1, message=_l("Give a problem number."))])


class MergeManyForm(FlaskForm):
    """Several problems (checkboxes named ``problems``) merged into one, in one step."""

    target = IntegerField(_l("Merge the chosen problems into problem number"),
                          validators=[InputRequired(_l("Give the number of the problem to merge into.")),
                                      NumberRange(min=1, message=_l("Give a problem number."))])


class SplitForm(FlaskForm):
    target = IntegerField(_l("Move them to problem number (leave empty for a new problem)"),
                          validators=[Optional(), NumberRange(min=1, message=_l("Give a problem number."))])


class AskOwnerForm(FlaskForm):
    """A leader who is not the owner: ask the owner, or offer to take it over."""

    note = TextAreaField(_l("Your note to the owner"), validators=[Optional()])
    ask = SubmitField(_l("Ask the owner"))
    offer = SubmitField(_l("Offer to take it over"))


class AnswerRequestForm(FlaskForm):
    """The owner answers a question or an offer, with a reason."""

    reason = TextAreaField(_l("Your answer"), validators=[Optional()])
    accept = SubmitField(_l("Accept and hand it over"))
    decline = SubmitField(_l("Decline"))


class AnswerPersonForm(FlaskForm):
    """The owner writes to one person who reported the problem."""

    words = TextAreaField(_l("Your message to them"), validators=[Optional()])


class FindProblemForm(FlaskForm):
    """Find a problem to merge into or move to, by words or number (a GET search)."""

    q = StringField(_l("Find a problem by words or number"), validators=[Optional()])
