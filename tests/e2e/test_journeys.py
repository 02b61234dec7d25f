"""Issue 18: every journey as its people take it, on a desktop (1366 px) and a phone (390 px).

Staff follow what they filed and hand a customer their private link; a leader who is not the
owner asks the owner and offers to take over, the owner answers, an admin reassigns; a leader
starts from her own queue; merges by words; previews every recipient and publishes from the
preview; writes to one person; an admin invites a new colleague. axe-core runs on every page
the journeys reach and must find nothing at all (no violation of any impact).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app import services
from app.extensions import db
from app.models import Message, MessageKind, Problem, ProblemLink, Report, Role, User, utcnow

from .conftest import axe_script, describe_violations, shot, sign_in

pytestmark = pytest.mark.e2e

DEVICES = {
    "desktop": {"viewport": {"width": 1366, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


@pytest.fixture(params=list(DEVICES))
def screen(request):
    return request.param


@pytest.fixture
def open_page(new_context, live_server, screen):
    """``open_page()``: a new browser window of this screen (each person their own), CSP
    bypassed only so axe-core can be injected."""

    def make(**extra):
        context = new_context(bypass_csp=True, **DEVICES[screen], **extra)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    return make


def axe_clean(page, name: str) -> None:
    """No axe-core violation of any impact (the journeys' pages are held to all of them)."""
    page.add_script_tag(path=str(axe_script()))
    found = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")["violations"]
    assert not found, describe_violations(f"{name} ({page.url})", found)


def fits_the_screen(page, name: str) -> None:
    width = page.viewport_size["width"]
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{name} scrolls sideways: {scroll} > {width}"


def _user(email: str) -> User:
    return db.session.scalar(db.select(User).filter_by(email=email))


def _file(app, text: str, *, name="Maria Lopez", email="maria@example.net", filed_by=None, problem_id=None,
          location=None) -> tuple[int, int]:
    with app.app_context():
        reporter = services.new_reporter(name=name, email=email, contact_ok=bool(email))
        report = services.file_report(
            text=text, reporter=reporter, location=location,
            channel="staff" if filed_by else "web", filed_by=_user(filed_by.email) if filed_by else None,
            problem=db.session.get(Problem, problem_id) if problem_id else None)
        db.session.commit()
        return report.problem_id, report.id


# --- 1. Staff -------------------------------------------------------------------------------


def test_staff_file_for_a_customer_in_their_language_and_hand_over_the_private_link(
    app, open_page, screen, create_user
):
    staff = create_user(Role.STAFF, name="Frankie Hall")
    page = open_page(permissions=["clipboard-read", "clipboard-write"])
    sign_in(page, staff)
    page.goto("/staff/report")
    axe_clean(page, "staff filing form")
    # The words are the customer's own; the lead says so, and the staff member's note is apart.
    expect(page.locator(".lead")).to_contain_text("as they said it, in the first person")
    customer_name = page.get_by_label("Customer's name")
    note = page.get_by_label("Your note (not shown to the customer)")
    page.get_by_label("Me", exact=True).check()
    expect(customer_name).to_be_hidden()
    expect(note).to_be_hidden()
    page.get_by_label("A customer (I am filing on their behalf)").check()
    expect(customer_name).to_be_visible()
    customer_name.fill("Jonas Weber")
    page.get_by_label("Customer's email").fill("jonas@example.de")
    page.get_by_label("The customer agreed that we may email them about what changes").check()
    page.get_by_label("The customer's language").select_option("de")
    page.get_by_label("What isn't working?").fill("Ich habe fünf Wochen auf meine Erstattung gewartet.")
    note.fill("He showed me the bank statement; no refund since March.")
    page.get_by_role("button", name="File report").click()
    expect(page.get_by_text("Report filed.")).to_be_visible()
    fits_the_screen(page, "My reports")
    axe_clean(page, "My reports")
    shot(page, f"journeys-staff-list-{screen}")

    with app.app_context():
        report = db.session.scalar(db.select(Report).filter_by(staff_note="He showed me the bank statement; no refund since March."))
        assert report.text == "Ich habe fünf Wochen auf meine Erstattung gewartet."
        assert report.locale == "de" and report.reporter.locale == "de"
        leader = services.create_user(name="Dana Okafor", email="dana@example.org", role=Role.LEADER, password="x" * 12)
        services.assign_owner(report.problem, leader, leader)
        db.session.commit()
        told = db.session.scalar(db.select(Message).filter_by(to_address="jonas@example.de", kind=MessageKind.OWNED))
        # Messages go out in the language the staff member chose, and never quote the note.
        assert "Erstattung" in told.body_text and "bank statement" not in told.body_text
        assert told.subject.startswith("Dana Okafor") and "now owns" not in told.subject
        token = report.reporter.token

    card = page.locator(".report-cards > li").first
    expect(card).to_contain_text("Jonas Weber")
    card.get_by_role("link", name="Report #").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Report #")
    link = page.get_by_label("Private link")
    expect(link).to_have_value(re.compile(rf"/r/{token}$"))
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()").endswith(f"/r/{token}")
    expect(page.get_by_text("He showed me the bank statement")).to_be_visible()
    axe_clean(page, "staff view of a report")

    page.get_by_role("link", name="Print a status sheet").click()
    # The sheet is in the customer's language, with the link written out to type in.
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator(".sheet-link")).to_contain_text(f"/r/{token}")
    expect(page.get_by_text("Dana Okafor")).to_be_visible()
    assert "bank statement" not in page.content()
    axe_clean(page, "status sheet")


def test_staff_search_and_page_through_their_reports(app, open_page, create_user):
    staff = create_user(Role.STAFF, name="Frankie Hall")
    for n in range(23):
        _file(app, f"Customer {n} says the car park barrier is stuck again.", name=f"Customer {n}", email=None,
              filed_by=staff)
    _file(app, "The hearing loop at the counter is switched off.", name="Ruth Adler", email=None, filed_by=staff)
    page = open_page()
    sign_in(page, staff)
    page.goto("/staff/reports")
    expect(page.locator(".report-cards > li")).to_have_count(20)
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    page.get_by_role("link", name="Older").click()
    expect(page.locator(".report-cards > li")).to_have_count(4)
    axe_clean(page, "My reports, page 2")
    page.get_by_label("Search your reports").fill("hearing loop")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".report-cards > li")).to_have_count(1)
    expect(page.locator(".report-cards")).to_contain_text("Ruth Adler")
    page.get_by_label("Search your reports").fill("Nothing like this")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("0 reports match")).to_be_visible()
    axe_clean(page, "My reports, nothing found")


# --- 2 and 3. Leaders who are not the owner; the owner's queue; an admin reassigns ------------


def test_a_leader_who_is_not_the_owner_asks_and_offers_and_the_owner_answers(app, open_page, screen, create_user):
    dana = create_user(Role.LEADER, name="Dana Okafor")
    sam = create_user(Role.LEADER, name="Sam Reyes")
    admin = create_user(Role.ADMIN, name="Ada Mensah")
    problem_id, _ = _file(app, "The password reset email never arrives, so I cannot see my bills.")
    with app.app_context():
        problem = db.session.get(Problem, problem_id)
        owner = _user(dana.email)
        services.assign_owner(problem, owner, owner)
        problem.due_on = utcnow().date() - timedelta(days=3)
        db.session.add(ProblemLink(problem=problem, source="jira", external_key="OPS-7", status_category="indeterminate"))
        db.session.commit()

    page = open_page()
    sign_in(page, sam)
    page.goto(f"/problems/{problem_id}")
    stuck = page.locator("#stuck")
    expect(stuck).to_contain_text("past its due date")
    expect(stuck).to_contain_text("waiting on linked work: OPS-7")
    if screen == "phone":  # the actions come before the long lists
        assert page.locator("#actions-h").bounding_box()["y"] < page.locator("#reports-h").bounding_box()["y"]
    axe_clean(page, "a problem someone else owns")
    shot(page, f"journeys-non-owner-problem-{screen}")
    page.get_by_label("Your note to the owner").fill("Customers are calling about this daily. Is the fix close?")
    page.get_by_role("button", name="Ask the owner").click()
    expect(page.get_by_text("Sent to Dana Okafor")).to_be_visible()
    expect(page.locator("#requests")).to_contain_text("Dana Okafor has been emailed and has not answered yet.")
    page.get_by_label("Your note to the owner").fill("I know the mail provider well; I can take it over this week.")
    page.get_by_role("button", name="Offer to take it over").click()
    expect(page.get_by_text("Your offer is with Dana Okafor")).to_be_visible()
    with app.app_context():
        to_dana = db.session.scalars(db.select(Message).filter_by(to_address=dana.email, kind=MessageKind.OWNERSHIP)).all()
        assert len(to_dana) == 2 and "Is the fix close?" in to_dana[0].body_text

    # The owner: her first page starts with her own queue.
    owner_page = open_page()
    sign_in(owner_page, dana)
    expect(owner_page).to_have_url(re.compile(r"/dashboard$"))
    queue = owner_page.locator("#queue")
    assert queue.bounding_box()["y"] < owner_page.locator(".tiles").bounding_box()["y"]
    expect(queue).to_contain_text("1 overdue")
    expect(queue).to_contain_text("Sam Reyes asked you")
    expect(queue).to_contain_text("Sam Reyes offers to take it over")
    axe_clean(owner_page, "dashboard with her queue")
    queue.locator("a[href$='#requests']").first.click()
    requests = owner_page.locator("#requests")
    answers = requests.get_by_label("Your answer")
    answers.nth(0).fill("The provider fixes it on Friday; I will record the change then.")
    requests.get_by_role("button", name="Send my answer").click()
    expect(owner_page.get_by_text("Your answer is sent to Sam Reyes")).to_be_visible()
    requests.get_by_role("button", name="Decline the offer").click()
    expect(requests.locator(".error").first).to_contain_text("Your answer is required")
    requests.get_by_label("Your answer").fill("Thank you, Sam: it is yours, you know the provider.")
    requests.get_by_role("button", name="Accept and hand it over").click()
    expect(owner_page.get_by_text("Handed over to Sam Reyes")).to_be_visible()
    history = owner_page.locator(".timeline")
    expect(history).to_contain_text("Sam Reyes asked Dana Okafor: “Customers are calling about this daily. Is the fix close?”")
    expect(history).to_contain_text("Dana Okafor answered Sam Reyes: “The provider fixes it on Friday")
    expect(history).to_contain_text("Dana Okafor accepted the offer from Sam Reyes")
    expect(history).to_contain_text("Dana Okafor handed it over to Sam Reyes")
    axe_clean(owner_page, "problem after the handover")

    # An admin reassigns it.
    admin_page = open_page()
    sign_in(admin_page, admin)
    admin_page.goto(f"/problems/{problem_id}")
    admin_page.get_by_text("Reassign to another leader").click()
    owner_list = admin_page.get_by_label("New owner")
    expect(owner_list).to_have_value("")  # nobody preselected
    owner_list.select_option(label="Dana Okafor (Leader)")
    admin_page.locator("#handover-reason").fill("Sam is on leave from tomorrow.")
    admin_page.get_by_role("button", name="Hand over").click()
    expect(admin_page.get_by_text("Ownership handed over.")).to_be_visible()
    expect(admin_page.locator(".timeline")).to_contain_text("Ada Mensah reassigned it from Sam Reyes to Dana Okafor")


# --- 4. Merge by words -------------------------------------------------------------------


def test_a_leader_finds_the_problem_to_merge_into_by_words(app, open_page, create_user):
    leader = create_user(Role.LEADER, name="Dana Okafor")
    keep, _ = _file(app, "My parcel was left in the rain outside the door.", name="Alan Price")
    other, _ = _file(app, "Courier dumped the box on the doorstep while it poured.", name="Bea Stone",
                     email="bea@example.net")
    with app.app_context():
        db.session.get(Problem, keep).title = "Parcels left outside in the rain"
        db.session.commit()
    page = open_page()
    sign_in(page, leader)
    page.goto(f"/problems/{other}")
    page.get_by_label("Find a problem by words or number").fill("parcel rain")
    page.get_by_role("button", name="Find", exact=True).click()
    expect(page).to_have_url(re.compile(r"#regroup$"))
    found = page.get_by_role("list", name="Problems found")
    expect(found).to_contain_text("Parcels left outside in the rain")
    axe_clean(page, "problem page with problems found")
    found.get_by_role("button", name=f"Merge this problem into #{keep}").click()
    expect(page).to_have_url(re.compile(rf"/problems/{keep}$"))
    expect(page.locator("#report-2").get_by_text("Courier dumped the box")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text(f"Dana Okafor merged problem #{other} into this one")

    # Declining also previews every message where the leader is looking.
    page.get_by_text("Decline this problem").click()
    page.locator("#decline-reason").fill("Couriers are a partner's staff; we cannot change where they leave parcels.")
    page.locator("#decline").get_by_role("button", name="Preview the message").click()
    expect(page).to_have_url(re.compile(r"#preview$"))
    expect(page.locator("#preview")).to_be_in_viewport()
    expect(page.locator("#preview .recipient-status")).to_have_text("Message 1 of 2")
    axe_clean(page, "decline preview")


def test_a_leader_moves_one_report_to_a_problem_found_by_words_or_number(app, open_page, screen, create_user):
    leader = create_user(Role.LEADER, name="Dana Okafor")
    keep, _ = _file(app, "My parcel was left in the rain outside the door.", name="Alan Price")
    mixed, stays = _file(app, "The card machine at the branch rejects contactless.", name="Bea Stone",
                         email="bea@example.net")
    _, strays = _file(app, "Courier dumped the box on the doorstep while it poured.", name="Cal Reyes",
                      email="cal@example.net", problem_id=mixed)
    with app.app_context():
        db.session.get(Problem, keep).title = "Parcels left outside in the rain"
        db.session.get(Problem, mixed).title = "Card machines reject contactless"
        db.session.commit()
    page = open_page()
    sign_in(page, leader)
    page.goto(f"/problems/{mixed}")
    box = page.locator(f"#report-{strays}-move")
    box.get_by_text("Not the same problem? Move this report").click()
    # Words that match nothing say so, in the box, with the words kept.
    box.get_by_label("Find the problem to move it to, by words or number").fill("umbrella")
    box.get_by_role("button", name="Find", exact=True).click()
    box = page.locator(f"#report-{strays}-move")
    expect(box).to_have_attribute("open", "")
    expect(box.get_by_role("status")).to_have_text("No problem matches “umbrella”.")
    expect(box.get_by_label("Find the problem to move it to, by words or number")).to_have_value("umbrella")
    # Words find it in place, in this report's box (the other report's box stays closed).
    box.get_by_label("Find the problem to move it to, by words or number").fill("parcel rain")
    box.get_by_role("button", name="Find", exact=True).click()
    expect(page).to_have_url(re.compile(rf"move-report={strays}.*#report-{strays}-move$"))
    found = page.get_by_role("list", name=f"Problems to move report #{strays} to")
    expect(found).to_contain_text("Parcels left outside in the rain")
    expect(found).not_to_contain_text("Card machines")  # never the problem it is on
    expect(page.locator(f"#report-{stays}-move")).not_to_have_attribute("open", "")
    fits_the_screen(page, "problem page with a report's Move box searched")
    axe_clean(page, "problem page with problems to move a report to")
    shot(page, f"journeys-move-found-{screen}")
    # A number finds it too.
    box = page.locator(f"#report-{strays}-move")
    box.get_by_label("Find the problem to move it to, by words or number").fill(f"#{keep}")
    box.get_by_role("button", name="Find", exact=True).click()
    found = page.get_by_role("list", name=f"Problems to move report #{strays} to")
    expect(found.get_by_role("listitem")).to_have_count(1)
    found.get_by_role("button", name=f"Move this report to #{keep}").click()
    expect(page).to_have_url(re.compile(rf"/problems/{keep}$"))
    expect(page.get_by_text(f"Report moved to problem #{keep}.")).to_be_visible()
    expect(page.locator(f"#report-{strays}").get_by_text("Courier dumped the box")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text(f"Dana Okafor moved report #{strays} from problem #{mixed} to #{keep}")
    axe_clean(page, "problem after moving a report to it")
    with app.app_context():
        assert db.session.get(Report, strays).problem_id == keep
        assert db.session.get(Report, stays).problem_id == mixed


def test_moving_a_report_by_words_works_without_javascript(app, open_page, create_user):
    leader = create_user(Role.LEADER, name="Dana Okafor")
    keep, _ = _file(app, "My parcel was left in the rain outside the door.", name="Alan Price")
    mixed, _ = _file(app, "The card machine at the branch rejects contactless.", name="Bea Stone",
                     email="bea@example.net")
    _, strays = _file(app, "Courier dumped the box on the doorstep while it poured.", name="Cal Reyes",
                      email="cal@example.net", problem_id=mixed)
    page = open_page(java_script_enabled=False)
    sign_in(page, leader)
    page.goto(f"/problems/{mixed}")
    box = page.locator(f"#report-{strays}-move")
    box.get_by_text("Not the same problem? Move this report").click()
    box.get_by_label("Find the problem to move it to, by words or number").fill("rain door")
    box.get_by_role("button", name="Find", exact=True).click()
    page.get_by_role("list", name=f"Problems to move report #{strays} to").get_by_role(
        "button", name=f"Move this report to #{keep}").click()
    expect(page).to_have_url(re.compile(rf"/problems/{keep}$"))
    expect(page.locator(f"#report-{strays}")).to_be_visible()


# --- 5 and 6. Publishing; the owner's note on the private page; writing to one person ----------


def test_the_owner_previews_every_message_publishes_and_answers_a_person(app, open_page, screen, create_user):
    owner = create_user(Role.LEADER, name="Aisha Khan")
    problem_id, first_report = _file(app, "The phone line drops my call after twenty minutes on hold.", name="Hannah Webb",
                                     email="hannah@example.net")
    _file(app, "Cut off at exactly 20:00 on the hold timer, three days running.", name="Raj Patel",
          email="raj@example.net", problem_id=problem_id)
    _, offline_report = _file(app, "I am deaf and the relay service cannot get through before it cuts off.",
                              name="Lucy Chen", email=None, problem_id=problem_id)
    with app.app_context():
        leader = _user(owner.email)
        problem = db.session.get(Problem, problem_id)
        services.assign_owner(problem, leader, leader)
        services.record_change(problem, leader, since=utcnow().date() - timedelta(days=1),
                               what="Calls on hold are no longer cut off: the 20-minute limit is gone and callers are offered a call-back.")
        token = db.session.get(Report, offline_report).reporter.token
        db.session.commit()

    page = open_page()
    sign_in(page, owner)
    page.goto(f"/problems/{problem_id}")
    page.get_by_label("Public title", exact=True).fill("No more cut-off calls on hold")
    page.get_by_label("Public summary").fill("Calls were ended after 20 minutes on hold. The limit is gone.")
    page.get_by_label("A personal note for everyone who reported it (optional)").fill("Thank you: your reports found the setting.")
    page.get_by_role("button", name="Preview the message").click()
    # The preview opens where the leader is looking: the page jumps to it.
    expect(page).to_have_url(re.compile(r"#preview$"))
    preview = page.locator("#preview")
    expect(preview).to_be_in_viewport()
    expect(preview.locator(".recipient-status")).to_have_text("Message 1 of 2")
    expect(preview.locator(".recipient:visible")).to_contain_text("To Hannah Webb")
    expect(preview.locator(".recipient:visible")).to_contain_text("The phone line drops my call")
    preview.get_by_role("button", name="Next person").click()
    expect(preview.locator(".recipient-status")).to_have_text("Message 2 of 2")
    expect(preview.locator(".recipient:visible")).to_contain_text("To Raj Patel")
    expect(preview.locator(".recipient:visible")).to_contain_text("Cut off at exactly 20:00")
    expect(preview).to_contain_text("1 person cannot be emailed")
    axe_clean(page, "publish preview")
    shot(page, f"journeys-publish-preview-{screen}")
    preview.get_by_role("button", name="Publish and tell people").click()
    expect(page.get_by_text("Published on “We changed this”.")).to_be_visible()

    # Lucy has no email: her private page has the owner's note and links to the public change.
    lucy = open_page()
    lucy.goto(f"/r/{token}")
    expect(lucy.get_by_text("Thank you: your reports found the setting.")).to_be_visible()
    axe_clean(lucy, "private page after the change")
    lucy.get_by_role("link", name="Read about this change on “We changed this”").click()
    expect(lucy.get_by_role("heading", level=1)).to_have_text("No more cut-off calls on hold")

    # Hannah says it is still happening; the owner answers her from her report.
    with app.app_context():
        from app.messaging.compose import still_happening

        report = db.session.get(Report, first_report)
        still_happening(report.reporter, report, "It cut me off again this morning.")
        db.session.commit()
    page.goto(f"/problems/{problem_id}")
    page.get_by_role("link", name="answer them").click()
    answer = page.locator("details[open][id$='-answer']")  # her latest report, the "still happening" one
    expect(answer).to_have_count(1)
    expect(answer.get_by_label("Your message to them")).to_be_focused()
    answer.get_by_label("Your message to them").fill("We are checking the second queue too; I will write again on Friday.")
    answer.get_by_role("button", name="Send").click()
    expect(page.get_by_text("Your message to Hannah Webb is in the outbox")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("Aisha Khan wrote to Hannah Webb")
    axe_clean(page, "problem after answering a person")
    with app.app_context():
        sent = db.session.scalar(db.select(Message).filter_by(kind=MessageKind.ANSWER))
        assert sent.to_address == "hannah@example.net"
        assert "I will write again on Friday." in sent.body_text
        assert "It cut me off again this morning." in sent.body_text  # quoting her words


# --- 7. Admins -------------------------------------------------------------------------------


def test_an_admin_invites_a_colleague_who_sets_a_password_once(app, open_page, screen, create_user):
    admin = create_user(Role.ADMIN, name="Ada Mensah")
    page = open_page()
    sign_in(page, admin)
    if screen == "desktop":
        page.set_viewport_size({"width": 1280, "height": 900})
        header = page.locator(".site-header").bounding_box()["height"]
        link = page.get_by_role("link", name="My reports").bounding_box()
        assert header < 100 and link["y"] < 50, f"the admin header is not one row at 1280 px: {header}"
    page.locator(".nav-menu summary").first.click()
    page.get_by_role("link", name="Users").click()
    page.get_by_label("Name", exact=True).fill("Omar Farouk")
    page.get_by_label("Email").fill("omar@example.org")
    page.get_by_label("Role", exact=True).select_option("leader")
    page.get_by_role("button", name="Invite or create account").click()
    expect(page.get_by_text("Invitation sent to omar@example.org")).to_be_visible()
    axe_clean(page, "users page")
    with app.app_context():
        mail = db.session.scalar(db.select(Message).filter_by(kind=MessageKind.INVITATION))
        assert mail.to_address == "omar@example.org"
        link = re.search(r"(/admin/invitations/\S+)", mail.body_text).group(1)

    omar = open_page()
    omar.goto(link)
    axe_clean(omar, "set your password")
    omar.get_by_label("Choose a password (at least 10 characters)").fill("a long new password")
    omar.get_by_label("The same password again").fill("a different one!!")
    omar.get_by_role("button", name="Set my password").click()
    expect(omar.locator("#confirm-error")).to_contain_text("not the same")
    omar.get_by_label("Choose a password (at least 10 characters)").fill("a long new password")
    omar.get_by_label("The same password again").fill("a long new password")
    omar.get_by_role("button", name="Set my password").click()
    expect(omar.get_by_text("Your password is set.")).to_be_visible()
    omar.get_by_label("Email").fill("omar@example.org")
    omar.get_by_label("Password", exact=True).fill("a long new password")
    omar.get_by_role("button", name="Sign in").click()
    expect(omar.get_by_text("Signed in as Omar Farouk.")).to_be_visible()
    response = omar.goto(link)
    assert response.status == 410
    expect(omar.get_by_role("alert")).to_contain_text("already been used")


@pytest.mark.parametrize("language", ["en", "de", "ar"])
def test_the_leader_and_admin_headers_fit_one_row_at_1280_px(app, new_context, live_server_url, create_user, language):
    """Every shipped language (the test checks the list is complete), for a leader and an admin."""
    with app.app_context():
        assert set(app.config["CARELOOP_LANGUAGES"]) == {"en", "de", "ar"}
    for person in (create_user(Role.LEADER, name="Dana Okafor"), create_user(Role.ADMIN, name="Ada Mensah")):
        context = new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        sign_in(page, person)
        context.add_cookies([{"name": "careloop_lang", "value": language, "url": live_server_url}])
        page.goto("/problems")
        expect(page.locator("html")).to_have_attribute("lang", language)
        row = page.evaluate("""() => {
            const items = [...document.querySelectorAll('.site-header nav > .nav > li')].map(li => li.getBoundingClientRect());
            const brand = document.querySelector('.site-header .brand').getBoundingClientRect();
            return {tops: items.map(r => Math.round(r.top)), bottoms: items.map(r => Math.round(r.bottom)),
                    brand: [brand.top, brand.bottom], header: document.querySelector('.site-header').getBoundingClientRect().height};
        }""")
        # Every link on one line, beside the brand (not under it), in a header of one row.
        assert max(row["tops"]) - min(row["tops"]) <= 2, (language, person.name, row)
        assert min(row["tops"]) < row["brand"][1] and max(row["bottoms"]) > row["brand"][0], (language, person.name, row)
        assert row["header"] < 100, (language, person.name, row)
        fits_the_screen(page, f"{language} header at 1280 px")
        if language != "en":
            shot(page, f"journeys-header-1280-{language}-{'admin' if 'Ada' in person.name else 'leader'}")
        # What left the row is still one click away, under the person's name.
        page.locator(".account-menu summary").click()
        expect(page.locator(".account-menu a[href='/changes']")).to_be_visible()
        context.close()


def test_german_pages_fit_a_phone(app, new_context, live_server_url, create_user):
    """Long German words (status names, table headings) wrap or scroll inside their frame; the
    page itself never scrolls sideways, and a problem's actions still come before its reports."""
    staff = create_user(Role.STAFF, name="Frankie Hall")
    leader = create_user(Role.LEADER, name="Dana Okafor")
    _file(app, "The lift is out of order again.", name="Lee Grant", email=None, filed_by=staff)
    problem_id, _ = _file(app, "The rota app logs me out every shift.", name="Hannah Webb", email="hannah@example.net")
    _file(app, "Signed out at every shift start.", name="Omar Farouk", email="omar@example.net", problem_id=problem_id)
    with app.app_context():
        owner = _user(leader.email)
        problem = db.session.get(Problem, problem_id)
        services.assign_owner(problem, owner, owner)
        services.record_change(problem, owner, since=utcnow().date() - timedelta(days=2),
                               what="Staff now stay signed in for 30 days on their own device.")
        services.publish(problem, owner, public_title="Fewer sign-ins", public_summary="Staff stay signed in.")
        db.session.commit()
    for person, path, name in ((staff, "/staff/reports", "German My reports"),
                               (leader, f"/problems/{problem_id}", "German problem page")):
        page = new_context(bypass_csp=True, **DEVICES["phone"]).new_page()
        page.set_default_timeout(10_000)
        sign_in(page, person)
        page.context.add_cookies([{"name": "careloop_lang", "value": "de", "url": live_server_url}])
        page.goto(path)
        expect(page.locator("html")).to_have_attribute("lang", "de")
        fits_the_screen(page, name)
        axe_clean(page, name)
    actions = page.locator(".problem-actions").bounding_box()
    reports = page.locator("#reports-h").bounding_box()
    assert actions["y"] < reports["y"], "on a phone, what happens next comes before the reports"


# --- 8. Everywhere: favicon, description, right to left -----------------------------------------


def test_arabic_private_page_and_charts_read_right_to_left(app, open_page, screen, live_server_url, create_user):
    leader = create_user(Role.LEADER, name="Dana Okafor")
    problem_id, report_id = _file(app, "The ramp is blocked by delivery cages every Tuesday.", name="Nina Brooks",
                                  email=None)
    with app.app_context():
        owner = _user(leader.email)
        problem = db.session.get(Problem, problem_id)
        services.assign_owner(problem, owner, owner)
        services.record_change(problem, owner, since=utcnow().date() - timedelta(days=2),
                               what="Deliveries now use the rear door, and the ramp is checked at opening every day.")
        services.publish(problem, owner, public_title="The ramp stays clear", public_summary="Deliveries use the rear door.",
                         note="Thank you, Nina.")
        token = db.session.get(Report, report_id).reporter.token
        db.session.commit()
    page = open_page()
    page.context.add_cookies([{"name": "careloop_lang", "value": "ar", "url": live_server_url}])
    response = page.goto(f"/r/{token}")
    assert response.status == 200
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    # People's own words set their own direction, so the full stop stays at their end.
    for words in ("Deliveries now use the rear door", "Thank you, Nina."):
        element = page.get_by_text(words).first
        assert element.evaluate("el => el.closest('[dir=auto], bdi') !== null"), words
    description = page.locator("meta[name=description]").get_attribute("content")
    assert description and re.search("[\u0600-\u06FF]", description), description
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(live_server_url + icon).status == 200
    axe_clean(page, "Arabic private page")
    fits_the_screen(page, "Arabic private page")
    shot(page, f"journeys-arabic-private-page-{screen}")

    sign_in_ar = open_page()
    sign_in_ar.context.add_cookies([{"name": "careloop_lang", "value": "ar", "url": live_server_url}])
    sign_in_ar.goto("/login")
    sign_in_ar.locator("#email").fill(leader.email)
    sign_in_ar.locator("#password").fill(leader.password)
    sign_in_ar.locator("form button[type=submit]").last.click()
    sign_in_ar.goto("/dashboard")
    chart = sign_in_ar.locator("svg.chart:visible").first
    box = chart.bounding_box()
    bar = chart.locator("rect.bar, rect[class^=bar]").first.bounding_box()
    # Bars grow from the right in Arabic: the bar's right edge sits in the chart's right half.
    assert bar["x"] + bar["width"] > box["x"] + box["width"] / 2, (bar, box)
    axe_clean(sign_in_ar, "Arabic dashboard")
