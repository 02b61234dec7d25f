"""The backlog's filters: a GET form, so every view lives in its URL and can be shared."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SearchField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from app.models import OPEN_STATUSES, STATUS_LABELS


def choices(*pairs: tuple[str, str]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


SORT_CHOICES = choices(
    ("people", _l("People affected")),
    ("age", _l("Age since first report")),
    ("idle", _l("Time since last action")),
    ("due", _l("Due date")),
    ("owner", _l("Owner")),
    ("area", _l("Area")),
    ("status", _l("Status")),
    ("channel", _l("Channel of the first report")),
)
SORT_LABELS = {c.value: c.label for c in SORT_CHOICES}
# The order a column sorts in when its heading is first chosen.
NATURAL_ORDER = {"people": "desc", "age": "desc", "idle": "desc", "due": "asc", "owner": "asc",
                 "area": "asc", "status": "asc", "channel": "asc"}


class BacklogForm(FlaskForm):
    """Read from ``request.args``; no CSRF token, because it changes nothing.
    The owner, area and channel choices are set by the view, from the database (and the
    loaded ticket sources)."""

    class Meta:
        csrf = False

    q = SearchField(_l("Search titles and reports"), validators=[Optional(), Length(max=200)])
    owner = SelectField(_l("Owner"), default="")
    area = SelectField(_l("Area"), default="")
    status = SelectField(_l("Status"), default="", choices=choices(
        ("", _l("Any open status")), *((s.value, STATUS_LABELS[s]) for s in OPEN_STATUSES)))
    channel = SelectField(_l("Reported through"), default="")
    due = SelectField(_l("Due date"), default="", choices=choices(
        ("", _l("Any")), ("overdue", _l("Overdue")), ("week", _l("Due in the next 7 days")), ("set", _l("Has a due date")),
        ("none", _l("No due date"))))
    people = IntegerField(_l("At least this many people affected"), validators=[
        Optional(), NumberRange(min=1, max=1_000_000, message=_l("Give a number of people, 1 or more."))])
    age = SelectField(_l("First reported"), default="", choices=choices(
        ("", _l("Any time")), ("7", _l("Over a week ago")), ("30", _l("Over 30 days ago")), ("90", _l("Over 90 days ago"))))
    idle = SelectField(_l("Last action"), default="", choices=choices(
        ("", _l("Any time")), ("7", _l("Over a week ago")), ("14", _l("Over 2 weeks ago")), ("30", _l("Over 30 days ago"))))
    sort = SelectField(_l("Sort by"), choices=SORT_CHOICES, default="people")
    order = SelectField(_l("Order"), default="", choices=choices(
        ("", _l("The usual order for it")), ("desc", _l("Most, oldest or latest first")),
        ("asc", _l("Fewest, newest or soonest first"))))
