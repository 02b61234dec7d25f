"""Demo data that tells the care loop's story: every status, handoffs, published changes,
and on the dashboard: overdue problems, one passed along three times, a long wait for an
owner, and changes that come faster than they used to."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import current_app

from app import services
from app.extensions import db
from app.messaging.compose import still_happening
from app.models import Channel, Message, MessageStatus, Problem, Role, User, clock_at

DEMO_LOGINS = [
    ("admin", "admin@example.org", "demo-admin-pass"),
    ("leader", "dana@example.org", "demo-leader-pass"),
    ("leader", "sam@example.org", "demo-leader-pass"),
    ("staff", "frankie@example.org", "demo-staff-pass"),
]
_NAMES = {
    "admin@example.org": "Ada Mensah",
    "dana@example.org": "Dana Okafor",
    "sam@example.org": "Sam Reyes",
    "frankie@example.org": "Frankie Hall",
}

# (reporter name, email or None, channel, days ago, words, where)
Report = tuple[str | None, str | None, str, int, str, str | None]

STORIES: list[dict] = [
    {
        "title": "Refunds take weeks to reach the customer's card",
        "area": "Billing",
        "reports": [
            ("Maria Lopez", "maria@example.net", "web", 120, "I returned a kettle on 3 March and the refund still isn't on my card five weeks later. Every call I'm told it's 'in the system'.", "Billing"),
            ("Tom Becker", "tom@example.net", "web", 112, "Refund promised 'within 5 days'. It's been 23 days. I've had to borrow money for rent.", "Billing"),
            ("Aisha Khan", None, "staff", 104, "Customer at the counter in tears: her refund for a cancelled order has taken a month. She was told to wait another 10 working days.", "Branch visit"),
            ("Pete Nowak", "pete@example.net", "web", 99, "Why does money leave my account instantly but take a month to come back?", None),
            ("Grace O'Neill", "grace@example.net", "web", 95, "Third time chasing the same refund. Nobody can tell me where it is.", "Phone line"),
            ("Frankie Hall", None, "self", 92, "We handle five refund chases a day at the desk. The refund batch only runs weekly, so we can't give people a date.", "Billing"),
        ],
        "owner": "dana@example.org",
        "owned_days": 90,
        "start_days": 80,
        "change": ("Refunds now go back to the original card within 3 working days. The refund batch runs every working day instead of once a week, and the confirmation email gives the date the money will arrive.", 45, "https://example.org/release-notes/refunds-daily"),
        "publish": ("Refunds reach your card within 3 working days", "You told us refunds took weeks and nobody could say when the money would arrive. Refunds are now processed every working day, and your confirmation email gives the date."),
    },
    {
        "title": "Phone line drops calls after 20 minutes on hold",
        "area": "Phone line",
        "reports": [
            ("Hannah Webb", "hannah@example.net", "web", 80, "Waited 20 minutes on hold and the line just went dead. Twice in one morning.", "Phone line"),
            ("Omar Farouk", "omar@example.net", "staff", 78, "Customer says the call cut off after exactly 20 minutes, three days running.", "Phone line"),
            ("Lucy Chen", None, "web", 74, "I'm deaf and use a relay service; being cut off after 20 minutes means I can never get through.", "Accessibility"),
            ("Raj Patel", "raj@example.net", "web", 70, "Cut off at 20:00 on the hold timer. It's clearly a setting, not bad luck.", None),
            ("Ellen Moss", "ellen@example.net", "web", 66, "Hung up on after a long wait, then told to call back and queue again.", "Phone line"),
        ],
        "owner": "sam@example.org",
        "owned_days": 65,
        "handover": ("dana@example.org", 50, "The telephony contract sits with Customer Operations; Dana owns that relationship."),
        "change": ("Calls on hold are no longer cut off: the 20-minute queue limit in the telephony system was removed, and callers waiting more than 10 minutes are offered a call-back that keeps their place.", 30, "https://example.org/policies/call-backs"),
        "publish": ("No more cut-off calls on hold", "Calls were being ended after 20 minutes on hold by a system setting. The limit is gone, and after 10 minutes you can ask for a call-back that keeps your place."),
    },
    {
        "title": "Password reset email never arrives",
        "area": "Website",
        "reports": [
            ("Ben Carter", "ben@example.net", "web", 30, "Clicked 'forgot password' six times. No email, not even in spam.", "Website"),
            ("Sofia Rossi", "sofia@example.net", "web", 26, "The reset email never comes, so I can't see my bills online.", "Website"),
            ("Dev Sharma", None, "staff", 21, "Customer could not reset their password; we reset it by phone, which takes 15 minutes each time.", "Website"),
            ("Jo Adams", "jo@example.net", "web", 12, "Locked out of my account for a week because the reset link never arrives.", "Website"),
        ],
        "owner": "sam@example.org",
        "owned_days": 20,
        "start_days": 15,
        "due_days_ago": 3,
        # (which report's person, days ago, their words): they say it is still happening.
        "still": (3, 2, "Tried again today: still no reset email, and now I have missed a bill payment."),
    },
    {
        "title": "Ramp at the High Street branch is blocked by deliveries",
        "area": "Accessibility",
        "reports": [
            ("Nina Brooks", "nina@example.net", "web", 18, "I use a wheelchair and the ramp was blocked by cages of stock again. I had to wait outside in the rain.", "Branch visit"),
            ("Colin Ward", None, "staff", 14, "Delivery cages are left on the ramp every Tuesday morning; two customers could not get in.", "Branch visit"),
            ("Priya Das", "priya@example.net", "web", 9, "Pushing my mum's wheelchair, we had to go round to the loading bay to get in.", "Accessibility"),
        ],
        "owner": "dana@example.org",
        "owned_days": 8,
        "due_in_days": 10,
    },
    {
        "title": "Parcels left outside in the rain",
        "area": "Delivery",
        "reports": [
            ("Alan Price", "alan@example.net", "web", 6, "Parcel left on the doorstep in the rain. The box was soaked and the book inside ruined.", "Delivery"),
            ("Zara Ali", "zara@example.net", "web", 5, "The driver marked it 'handed to resident' but it was behind the bins.", "Delivery"),
            ("Mick Doyle", None, "staff", 4, "Customer called: medicine delivery left outside in the rain, no card through the door.", "Delivery"),
            ("Ruth Bell", None, "web", 2, "Wet parcel again. Please just knock.", None),
        ],
    },
    {
        "title": "Letters still sent to an old address",
        "area": "Billing",
        "reports": [
            ("Sean Murphy", "sean@example.net", "web", 38, "I updated my address online in January and my bill still went to my old flat.", "Billing"),
            ("Kate Young", "kate@example.net", "staff", 20, "Customer moved and changed their address at the branch; the next letter went to the old one.", "Branch visit"),
            ("Leo Grant", None, "web", 3, "My statement with my account number went to my ex's house. I changed my address months ago.", None),
        ],
    },
    {
        "title": "Open the branch on Sundays",
        "area": "Branch visit",
        "reports": [
            ("Ivy Turner", "ivy@example.net", "web", 40, "I work six days a week; Sunday is the only day I could come in.", "Branch visit"),
            ("Greg Hill", None, "web", 35, "Please open on Sundays, even for a few hours.", "Branch visit"),
        ],
        "owner": "dana@example.org",
        "owned_days": 33,
        "decline": (28, "We can't open branches on Sundays this year: we looked at it and could not staff it safely. Instead, video appointments are now available until 8pm on weekdays and all day Saturday, and everything a branch does can be done on them."),
    },
    {
        "title": "Staff rota app logs people out every shift",
        "area": "Website",
        "reports": [
            ("Frankie Hall", None, "self", 25, "The rota app logs me out at the start of every shift and the reset takes ten minutes, so I clock in late.", "Website"),
            ("Omar Farouk", None, "staff", 22, "Same for the whole evening team: logged out of the rota app every shift.", "Website"),
            ("Aisha Khan", None, "staff", 20, "Rota app keeps logging me out; I missed a swap request because of it.", None),
        ],
        "owner": "sam@example.org",
        "owned_days": 19,
        "change": ("The rota app now keeps staff signed in for 30 days on their own device; the identity settings that forced a new sign-in every 8 hours were changed.", 5, None),
    },
    # For the dashboard: a problem passed along three times and now overdue, with nobody
    # acting on it for weeks; and an older change that took far longer than they do now.
    {
        "title": "Bills show a charge nobody can explain",
        "area": "Billing",
        "reports": [
            ("Carla Mendes", "carla@example.net", "web", 75, "Every bill has a £12.50 'service adjustment' and nobody on the phone can tell me what it is for.", "Billing"),
            ("Ken Walsh", None, "staff", 71, "Customer at the desk with the same unexplained £12.50 charge; billing told us to ask the website team.", "Branch visit"),
            ("Amira Hassan", "amira@example.net", "web", 64, "Three different people have passed me on about this charge. I just want to know what it is.", "Phone line"),
        ],
        "owner": "dana@example.org",
        "owned_days": 70,
        "handovers": [
            ("sam@example.org", 55, "The charge is set up in the website's billing settings, which Sam's team runs."),
            ("dana@example.org", 40, "It turns out to be a billing rule, not a website setting; back to Dana."),
            ("sam@example.org", 25, "Dana is on leave; Sam covers billing until she is back."),
        ],
        "due_days_ago": 10,
        "no_review": True,
    },
    {
        "title": "Card machines at the branches reject contactless",
        "area": "Branch visit",
        "reports": [
            ("Olu Bakare", "olu@example.net", "web", 300, "The card machine at the branch refused my contactless card and my phone; I had to go and find a cash machine.", "Branch visit"),
        ],
        "owner": "dana@example.org",
        "owned_days": 280,
        "start_days": 250,
        "change": ("Every branch card machine was replaced with one that takes contactless cards and phone payments; the old machines could not be updated.", 190, None),
        "publish": ("Pay by contactless at every branch", "You told us the branch card machines refused contactless cards and phones. Every branch now has new machines that take both."),
    },
]


def _ago(days: float) -> datetime:
    # Real time, not the demo clock, so nested steps do not shift each other.
    return datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=days)


def _users() -> dict[str, User]:
    users = {}
    for role, email, password in DEMO_LOGINS:
        users[email] = services.create_user(
            name=_NAMES[email], email=email, role=Role(role), password=password
        )
    return users


def load_demo_data() -> bool:
    """Create the demo story once; returns False when it is already there."""
    if db.session.scalar(db.select(User.id).filter_by(email=DEMO_LOGINS[0][1])) is not None:
        return False
    users = _users()
    frankie = users["frankie@example.org"]
    staff_self = services.reporter_for_user(frankie)
    # The stories say which problem each report belongs to; the engine still indexes them.
    config = current_app.config
    enabled = config.get("CARELOOP_GROUPING_ENABLED", True)
    config["CARELOOP_GROUPING_ENABLED"] = False
    try:
        for story in STORIES:
            _tell(story, users, frankie, staff_self)
    finally:
        config["CARELOOP_GROUPING_ENABLED"] = enabled
    _deliver_old_messages()
    _approve_public_titles()
    return True


def _approve_public_titles() -> None:
    """Customers are offered only problems whose title a leader approved for the public."""
    titles = {
        "Parcels left outside in the rain": "Parcels left outside in the rain",
        "Password reset email never arrives": "Password reset emails not arriving",
    }
    for problem in db.session.scalars(db.select(Problem).where(Problem.title.in_(titles))):
        problem.public_title = titles[problem.title]


def _deliver_old_messages() -> None:
    """The story's older messages went out long ago; one bounced, so its problem is not
    closed out until a leader marks that person unreachable."""

    db.session.flush()
    queued = db.select(Message).where(Message.status == MessageStatus.PENDING).order_by(Message.id)
    for message in db.session.scalars(queued):
        message.status = MessageStatus.SENT
        message.attempts = 1
        message.sent_at = message.created_at + timedelta(minutes=3)
    bounced = db.session.scalar(
        db.select(Message).where(Message.to_address == "raj@example.net", Message.kind == "changed")
    )
    if bounced is not None:
        bounced.status = MessageStatus.BOUNCED
        bounced.sent_at = None
        bounced.last_error = "550 5.1.1 <raj@example.net>: mailbox unavailable"


def _tell(story: dict, users: dict[str, User], frankie: User, staff_self) -> None:
    problem: Problem | None = None
    filed = []
    for name, email, channel, days, words, where in story["reports"]:
        with clock_at(_ago(days)):
            if channel == "self":
                reporter = staff_self
            else:
                reporter = services.new_reporter(name=name, email=email, contact_ok=bool(email))
            report = services.file_report(
                text=words,
                location=where,
                reporter=reporter,
                channel=Channel.STAFF if channel in ("staff", "self") else Channel.WEB,
                filed_by=frankie if channel in ("staff", "self") else None,
                problem=problem,
            )
            filed.append(report)
            if problem is None:
                problem = report.problem
                problem.title, problem.area = story["title"], story["area"]
    assert problem is not None
    if "owner" not in story:
        return
    owner = users[story["owner"]]
    with clock_at(_ago(story["owned_days"])):
        services.assign_owner(problem, owner, owner)
        if "due_days_ago" in story:
            problem.due_on = _ago(story["due_days_ago"]).date()
        if "due_in_days" in story:
            problem.due_on = _ago(-story["due_in_days"]).date()
    for to_email, days, reason in story.get("handovers", [story["handover"]] if "handover" in story else []):
        with clock_at(_ago(days)):
            services.assign_owner(problem, owner, users[to_email], reason)
            owner = users[to_email]
    if "start_days" in story:
        with clock_at(_ago(story["start_days"])):
            services.start_work(problem, owner)
    if "change" in story:
        what, days, evidence = story["change"]
        with clock_at(_ago(days)):
            services.record_change(problem, owner, what=what, since=_ago(days + 1).date(), evidence_url=evidence)
    if "publish" in story:
        title, summary = story["publish"]
        with clock_at(_ago(story["change"][1] - 1)):
            services.publish(problem, owner, public_title=title, public_summary=summary)
    if "decline" in story:
        days, reason = story["decline"]
        with clock_at(_ago(days)):
            services.decline(problem, owner, reason)
    if "still" in story:

        index, days, words = story["still"]
        with clock_at(_ago(days)):
            still_happening(filed[index].reporter, filed[index], words)
    if not story.get("no_review"):
        with clock_at(_ago(1)):
            services.add_comment(problem, owner, "Checked in on this during the weekly review.")
