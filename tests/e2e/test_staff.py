"""Journey (b): a staff member files a report on behalf of a customer."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.models import Role

from .conftest import shot, sign_in

pytestmark = pytest.mark.e2e

CUSTOMER_WORDS = "Mr Patel could not book a delivery slot on the website: every slot showed as full."


def test_staff_files_for_a_customer_and_sees_it_in_my_reports(page, create_user):
    staff = create_user(Role.STAFF, name="Sam Carter")
    sign_in(page, staff)
    expect(page).to_have_url(re.compile(r"/report$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("File a report")
    shot(page, "desktop-staff-file-report")

    expect(page.get_by_label("A customer (I am filing on their behalf)")).to_be_checked()
    shot(page, "desktop-staff-file-report-errors")
    page.get_by_label("Customer's name").fill("Dev Patel")
    page.get_by_label("Customer's email").fill("dev.patel@example.net")
    page.get_by_label("The customer agreed that we may email them about what changes").check()
    page.get_by_label("What isn't working?").fill(CUSTOMER_WORDS)
    page.get_by_label("Where did it happen?").fill("Website")
    page.get_by_role("button", name="File report").click()

    expect(page).to_have_url(re.compile(r"/reports$"))
    expect(page.get_by_text("Report filed. You can follow it under “My reports”.")).to_be_visible()
    expect(page.get_by_role("link", name="My reports")).to_have_attribute("aria-current", "page")
    rows = page.locator(".report-cards > li")
    expect(rows).to_have_count(1)
    row = rows.nth(0)
    expect(row).to_contain_text("Dev Patel")
    expect(row).to_contain_text(CUSTOMER_WORDS)
    expect(row).to_contain_text("New, waiting for an owner")
    expect(row).to_contain_text("Not owned yet")
    shot(page, "desktop-staff-my-reports")


def test_filing_for_a_customer_without_their_name_is_refused_and_the_words_kept(page, create_user):
    sign_in(page, create_user(Role.STAFF))
    page.get_by_label("What isn't working?").fill(CUSTOMER_WORDS)
    page.get_by_role("button", name="File report").click()

    expect(page.locator("#customer_name-error")).to_contain_text("Give the customer's name")
    expect(page).to_have_url(re.compile(r"/report$"))
    expect(page.get_by_label("Customer's name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("What isn't working?")).to_have_value(CUSTOMER_WORDS)
    expect(page.get_by_label("A customer (I am filing on their behalf)")).to_be_checked()
    shot(page, "desktop-staff-file-report-errors")
