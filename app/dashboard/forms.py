"""The backlog's filters: a GET form, so every view lives in its URL and can be shared."""

from flask_wtf import FlaskForm
from wtforms import IntegerField, SearchField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from ..models import OPEN_STATUSES, STATUS_LABELS, Channel
from .queries import CHANNEL_LABELS


def choices(*pairs: tuple[str, str]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


SORT_CHOICES = choices(
    ("people", "People affected"),
    ("age", "Age since first report"),
    ("idle", "Time since last action"),
    ("due", "Due date"),
    ("owner", "Owner"),
    ("area", "Area"),
    ("status", "Status"),
    ("channel", "Channel of the first report"),
)
SORT_LABELS = {c.value: c.label for c in SORT_CHOICES}
# The order a column sorts in when its heading is first chosen.
NATURAL_ORDER = {"people": "desc", "age": "desc", "idle": "desc", "due": "asc", "owner": "asc",
                 "area": "asc", "status": "asc", "channel": "asc"}


class BacklogForm(FlaskForm):
    """Read from ``request.args``; no CSRF token, because it changes nothing.
    The owner and area choices are set by the view, from the database."""

    class Meta:
        csrf = False

    q = SearchField("Search titles and reports", validators=[Optional(), Length(max=200)])
    owner = SelectField("Owner", default="")
    area = SelectField("Area", default="")
    status = SelectField("Status", default="", choices=choices(
        ("", "Any open status"), *((s.value, STATUS_LABELS[s]) for s in OPEN_STATUSES)))
    channel = SelectField("Reported through", default="", choices=choices(
        ("", "Any channel"), *((c.value, CHANNEL_LABELS[c]) for c in Channel)))
    due = SelectField("Due date", default="", choices=choices(
        ("", "Any"), ("overdue", "Overdue"), ("week", "Due in the next 7 days"), ("set", "Has a due date"),
        ("none", "No due date")))
    people = IntegerField("At least this many people affected", validators=[
        Optional(), NumberRange(min=1, max=1_000_000, message="Give a number of people, 1 or more.")])
    age = SelectField("First reported", default="", choices=choices(
        ("", "Any time"), ("7", "Over a week ago"), ("30", "Over 30 days ago"), ("90", "Over 90 days ago")))
    idle = SelectField("Last action", default="", choices=choices(
        ("", "Any time"), ("7", "Over a week ago"), ("14", "Over 2 weeks ago"), ("30", "Over 30 days ago")))
    sort = SelectField("Sort by", choices=SORT_CHOICES, default="people")
    order = SelectField("Order", default="", choices=choices(
        ("", "The usual order for it"), ("desc", "Most, oldest or latest first"),
        ("asc", "Fewest, newest or soonest first")))
