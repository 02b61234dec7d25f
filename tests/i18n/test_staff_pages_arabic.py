"""The staff, leaders', dashboard and admin pages in Arabic: every page speaks Arabic, right
to left, with no English sentence from the catalog left in what people read; people's own
words stay as they wrote them; the CSV files stay in English for spreadsheets and scripts."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest

from app import services
from app.extensions import db
from app.models import Channel, Message, ReporterKind, Role, utcnow
from tests.conftest import PASSWORD
from tests.i18n import english_left, visible_text

ARABIC_LETTERS = re.compile(r"[\u0600-\u06FF]")

WORDS = "The card reader at the front desk rejects contactless payments every morning."
CHANGE = "Refunds now go back to the original card within 3 working days, by a new nightly job."


def assert_arabic(page: str, *phrases: str) -> None:
    assert '<html lang="ar" dir="rtl">' in page
    text = visible_text(page)
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} missing"
    leftovers = english_left(text)
    assert not leftovers, f"English left in the Arabic page: {leftovers}"


@pytest.fixture
def world(app_ctx, make_user, make_report):
    """Problems in every state the pages show, with messages in the outbox. The reports are
    filed from an Arabic page, so their people are written to in Arabic."""
    with app_ctx.test_request_context("/", headers={"Accept-Language": "ar"}):
        return _build_world(make_user, make_report)


def _build_world(make_user, make_report):
    admin = make_user(Role.ADMIN, name="Ada Admin", email="ada@example.org")
    dana = make_user(Role.LEADER, name="Dana Okafor", email="dana@example.org")
    sam = make_user(Role.LEADER, name="Sam Reyes", email="sam@example.org")
    frankie = make_user(Role.STAFF, name="Frankie Staff", email="frankie@example.org")

    changed = make_report(text=WORDS, name="Maria Lopez", email="maria@example.net").problem
    make_report(text="Contactless fails at the front desk card reader, again today.", name="ليلى حداد",
                email="layla@example.net", problem=changed)
    services.assign_owner(changed, dana, dana)
    services.assign_owner(changed, dana, sam, "Sam runs the front desk systems now.")
    services.add_comment(changed, sam, "Vendor ticket 4471 is open.")
    services.record_change(changed, sam, what=CHANGE, since=utcnow().date() - timedelta(days=2),
                           evidence_url="https://example.org/notes/refunds")
    services.publish(changed, sam, public_title="Faster refunds", public_summary="Refunds run every night now.")

    waiting = make_report(text="The phone line drops my call after ten minutes on hold.", name="Omar Haddad",
                          email=None, contact_ok=False).problem
    services.edit_problem(waiting, admin, title=waiting.title, area="Phone line",
                          due_on=utcnow().date() - timedelta(days=3), public_title=None)

    declined = make_report(text="Please open the branch on Sundays as well.", name="Ivy Chen",
                           email="ivy@example.net").problem
    services.decline(declined, dana, "We cannot staff the branch on Sundays; the phone line is open then.")

    customer = services.new_reporter(name="Jonas Weber", email="jonas@example.net", contact_ok=True,
                                     kind=ReporterKind.CUSTOMER)
    services.file_report(text="The website logs me out while I fill in the form.", reporter=customer,
                         channel=Channel.STAFF, filed_by=frankie)
    db.session.commit()
    return {"admin": admin, "dana": dana, "sam": sam, "frankie": frankie,
            "changed": changed, "waiting": waiting, "declined": declined}


def _signed_in(client, user):
    client.set_cookie("careloop_lang", "ar")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def test_leaders_and_admins_pages_speak_arabic(client, world):
    admin_client = _signed_in(client, world["admin"])
    changed, waiting, declined = world["changed"], world["waiting"], world["declined"]
    message = db.session.scalars(db.select(Message).order_by(Message.id)).first()
    pages = {
        "/triage": ("الفرز", "مشكلات لا مسؤول عنها بعد", "المتأثرون", "أول بلاغ", "متأخرة"),
        "/problems": ("كل المشكلات", "الكل", "جديدة، تنتظر مسؤولًا", "مرفوضة"),
        "/problems?status=changed": ("غُيّرت", "نُقلت 1×"),
        "/problems/mine": ("مشكلاتي", "لا توجد في عهدتك مشكلات مفتوحة."),
        f"/problems/{changed.id}": (
            f"المشكلة رقم {changed.id}", "بلاغان", "من شخصين", "نُقلت المسؤولية مرة واحدة:",
            "Sam runs the front desk systems now.", WORDS, "ليلى حداد", "عبر صفحة الويب", "من أبلغناهم",
            "ملاحظات داخلية", "Vendor ticket 4471 is open.", "السجل", "تولّى Dana Okafor المسؤولية",
            "سجّل Sam Reyes التغيير", CHANGE, "نُشرت في", "تحديث الصفحة العامة"),
        f"/problems/{waiting.id}": ("لا أحد مسؤول عن هذه بعد.", "تولّي المسؤولية", "Phone line", "متأخرة",
                                   "رفض هذه المشكلة", "لم يترك وسيلة تواصل"),
        f"/problems/{declined.id}": ("مرفوضة", "We cannot staff the branch on Sundays", "إعادة الفتح"),
        "/dashboard": ("لوحة المتابعة", "المشكلات المفتوحة لكل مسؤول", "الأرقام",
                       "تنزيل هذه الأرقام (CSV)", "البلاغات حسب القناة", "صفحة الويب"),
        "/backlog": ("المشكلات المتراكمة", "عرض المشكلات", "البحث في العناوين والبلاغات", "تنزيل الكل بصيغة CSV"),
        "/backlog?q=nothing-matches-this": ("لا مشكلات مفتوحة تطابق عوامل التصفية هذه.", "مسح عوامل التصفية"),
        f"/dashboard/leaders/{world['sam'].id}": ("Sam Reyes", "أحد القادة", "لا شيء متأخر.",
                                                   "تغيير منجز", "الوسيط من أول بلاغ حتى التغيير"),
        "/admin/users": ("المستخدمون", "إضافة شخص", "كلمة المرور الأولى (اختيارية)", "قائد", "دعوة أو إنشاء حساب"),
        "/admin/sources": ("المصادر",),
        "/admin/outbox": ("صندوق الصادر", "كل رسالة يكتبها Careloop", "الموضوع", "في الانتظار"),
        f"/admin/outbox/{message.id}": (f"الرسالة رقم {message.id}", "نص عادي", "إلى"),
        "/admin/api-tokens": ("رموز واجهة البرمجة",),
        "/admin/webhooks": ("خطافات الويب",),
        "/admin/branding": ("الهوية البصرية",),
        "/held": ("بلاغات تنتظر المراجعة",),
    }
    for url, phrases in pages.items():
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert_arabic(response.get_data(as_text=True), *phrases)


def test_staff_pages_speak_arabic(client, world):
    staff = _signed_in(client, world["frankie"])
    form = staff.get("/staff/report")
    assert form.status_code == 200
    assert_arabic(form.get_data(as_text=True), "تقديم بلاغ", "من الذي واجه هذا؟", "أحد العملاء (أقدّم البلاغ نيابةً عنه)",
                  "اسم العميل", "تقديم البلاغ")
    mine = staff.get("/staff/reports")
    assert_arabic(mine.get_data(as_text=True), "بلاغاتي", "Jonas Weber", "بلا مسؤول بعد", "ابحث في بلاغاتك")

    refused = staff.post("/staff/report", data={"on_behalf": "customer", "customer_name": "", "text": "Still broken."})
    assert refused.status_code == 422
    assert_arabic(refused.get_data(as_text=True), "اكتب اسم العميل، ليبقى بلاغه منسوبًا إليه.", "Still broken.")


def test_actions_answer_in_arabic_and_keep_the_persons_words(client, world):
    leader = _signed_in(client, world["dana"])
    waiting = world["waiting"]
    empty = leader.post(f"/problems/{waiting.id}/comment", data={"text": ""})
    assert empty.status_code == 422
    assert_arabic(empty.get_data(as_text=True), "اكتب الملاحظة أولًا.")

    taken = leader.post(f"/problems/{waiting.id}/own", follow_redirects=True)
    assert_arabic(taken.get_data(as_text=True), "أنت المسؤول عن هذه المشكلة الآن.", "تولّى Dana Okafor المسؤولية")

    bad_change = leader.post(f"/problems/{waiting.id}/change", data={"what": "Sorry.", "since": ""})
    assert bad_change.status_code == 422
    assert_arabic(bad_change.get_data(as_text=True), "Sorry.")


def test_the_csv_files_stay_in_english_for_spreadsheets(client, world):
    leader = _signed_in(client, world["dana"])
    owners = leader.get("/dashboard/owners.csv")
    rows = list(csv.reader(io.StringIO(owners.get_data(as_text=True))))
    assert rows[0] == ["Owner", "Open problems", "Overdue", "Not overdue"]
    channels = list(csv.reader(io.StringIO(leader.get("/dashboard/channels.csv").get_data(as_text=True))))
    assert channels[0] == ["Channel", "Reports"] and ["Web page", "4"] in channels
    backlog = list(csv.reader(io.StringIO(leader.get("/backlog.csv").get_data(as_text=True))))
    assert backlog[0][:3] == ["Problem", "Title", "Area"]
    assert not any(ARABIC_LETTERS.search(cell) for row in rows + channels + backlog for cell in row)


def test_charts_are_drawn_with_arabic_words_and_months(client, world):
    leader = _signed_in(client, world["dana"])
    page = leader.get("/dashboard").get_data(as_text=True)
    svg_text = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", page))
    assert "متأخرة" in svg_text and "غير متأخرة" in svg_text  # the owners chart's legend
    assert "الوسيط" in svg_text and "المئين التسعون" in svg_text
    this_month = {1: "يناير", 2: "فبراير", 3: "مارس", 4: "أبريل", 5: "مايو", 6: "يونيو", 7: "يوليو",
                  8: "أغسطس", 9: "سبتمبر", 10: "أكتوبر", 11: "نوفمبر", 12: "ديسمبر"}[date.today().month]
    assert this_month in svg_text
    assert not re.search(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b", svg_text)
