"""Issue 4's journey: a leader previews and publishes with a note; the reporter follows the
link in the email they received and says it is still happening; the owner sees it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app import services
from app.extensions import db
from app.messaging.mail import deliver_due
from app.models import Role, User, utcnow

from .conftest import shot, sign_in

pytestmark = pytest.mark.e2e

WHAT = ("Parcels are now left only in a safe place you choose, or taken back to the depot; "
        "drivers can no longer mark a parcel delivered without a photo of where it is.")


def test_reporter_follows_the_email_link_and_says_it_is_still_happening(
    page, app, live_server, smtp, create_user, file_report_directly
):
    leader = create_user(Role.LEADER, name="Sam Reyes")
    problem_id = file_report_directly("My parcel was left outside in the rain and the book was ruined.",
                                      name="Alan Price", email="alan@example.net")
    with app.app_context():
        owner = db.session.scalar(db.select(User).filter_by(email=leader.email))
        problem = db.session.get(services.reports.Problem, problem_id)
        services.assign_owner(problem, owner, owner)
        services.record_change(problem, owner, what=WHAT, since=utcnow().date() - timedelta(days=1))
        db.session.commit()

    sign_in(page, leader)
    page.goto(f"/problems/{problem_id}")
    page.get_by_label("Public title", exact=True).fill("Parcels no longer left out in the rain")
    page.get_by_label("Public summary").fill("People told us parcels were left outside. Now they are not.")
    page.get_by_label("A personal note for everyone who reported it (optional)").fill("Thank you, Alan's photo helped.")
    page.get_by_role("button", name="Preview the message").click()
    preview = page.locator(".preview")
    expect(preview).to_contain_text("To Alan Price")
    expect(preview).to_contain_text("My parcel was left outside in the rain")
    expect(preview).to_contain_text("Thank you, Alan's photo helped.")
    shot(page, "desktop-leader-message-preview")
    preview.get_by_role("button", name="Publish and tell people").click()  # right under the preview
    expect(page.get_by_text("Everyone who can be emailed will be told.")).to_be_visible()
    expect(page.locator("#told")).to_contain_text("Waiting")

    with app.app_context():
        assert deliver_due().sent == 3  # the receipt and "now owns" earlier, and the change
    mail = next(m for m in smtp.inbox.to("alan@example.net") if m["Subject"].startswith("We changed this"))
    text = mail.get_body(("plain",)).get_content()
    assert "Thank you, Alan's photo helped." in text and WHAT in text
    link = re.search(r"Your private page about this: (\S+)", text).group(1)

    # The reporter, in a browser of their own, follows the link from the email.
    reporter = page.context.browser.new_page()
    reporter.goto(link.replace(app.config["CARELOOP_BASE_URL"], live_server))
    expect(reporter.locator("blockquote.their-words")).to_contain_text("left outside in the rain")
    expect(reporter.get_by_text(WHAT)).to_be_visible()
    reporter.get_by_text("Is this still happening to you?").click()
    reporter.get_by_label("What is happening now? (optional)").fill("It happened again yesterday.")
    reporter.get_by_role("button", name="It is still happening").click()
    expect(reporter.get_by_text("told the owner it is still happening")).to_be_visible()
    expect(reporter.locator("blockquote.their-words").last).to_have_text("It happened again yesterday.")
    shot(reporter, "desktop-reporter-still-happening")
    reporter.close()

    page.reload()
    expect(page.locator(".flag-banner")).to_contain_text("It happened again yesterday.")
    expect(page.locator("#told")).to_contain_text("Told")
    shot(page, "desktop-leader-sees-flag")
