from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, StringField, SubmitField, TextAreaField, URLField
from wtforms.validators import InputRequired, NumberRange, Optional


class ActionForm(FlaskForm):
    """A button that changes state: carries only the CSRF token."""


class EditProblemForm(FlaskForm):
    title = StringField("Title", validators=[InputRequired("Give the problem a title.")])
    public_title = StringField("Public title (approved for customers)", validators=[Optional()])
    area = StringField("Area", validators=[Optional()])
    due_on = DateField("Due date", validators=[Optional()])


class HandOverForm(FlaskForm):
    owner = SelectField("New owner", coerce=int, validators=[InputRequired()])
    reason = TextAreaField("Why are you handing it over?", validators=[Optional()])


class ChangeForm(FlaskForm):
    what = TextAreaField("What is different now?", validators=[Optional()])
    since = DateField("Different since", validators=[Optional()])
    evidence_url = URLField("Evidence link (release note, policy, ticket)", validators=[Optional()])


NOTE_LABEL = "A personal note for everyone who reported it (optional)"


class DeclineForm(FlaskForm):
    reason = TextAreaField("Why, in words for the people who reported it", validators=[Optional()])
    note = TextAreaField(NOTE_LABEL, validators=[Optional()])
    preview = SubmitField("Preview the message")
    confirm = SubmitField("Decline and tell people")


class ReopenForm(FlaskForm):
    reason = StringField("Why reopen?", validators=[Optional()])


class PublishForm(FlaskForm):
    public_title = StringField("Public title", validators=[Optional()])
    public_summary = TextAreaField("Public summary", validators=[Optional()])
    note = TextAreaField(NOTE_LABEL, validators=[Optional()])
    preview = SubmitField("Preview the message")
    confirm = SubmitField("Publish and tell people")


class UnreachableForm(FlaskForm):
    reason = StringField("Why can't they be told?", validators=[InputRequired("Say why, for the record.")])


class CommentForm(FlaskForm):
    text = TextAreaField("Internal note", validators=[InputRequired("Write the note first.")])


class MoveReportForm(FlaskForm):
    target = IntegerField(
        "Move to problem number",
        validators=[Optional(), NumberRange(min=1, message="Give a problem number.")],
    )


class LinkWorkForm(FlaskForm):
    source = SelectField("Where the work is tracked", validators=[InputRequired()])
    key = StringField("Issue key", validators=[Optional()])
    create = SubmitField("Create a new issue from this problem")
    link = SubmitField("Link this issue")


class MergeForm(FlaskForm):
    target = IntegerField("Merge into problem number",
                          validators=[InputRequired("Give the number of the problem to merge into."),
                                      NumberRange(min=1, message="Give a problem number.")])


class SplitForm(FlaskForm):
    target = IntegerField("Move them to problem number (leave empty for a new problem)",
                          validators=[Optional(), NumberRange(min=1, message="Give a problem number.")])
