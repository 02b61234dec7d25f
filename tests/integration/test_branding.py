"""Branding: an admin sets the organisation's name, welcome text, colours and logo; public
pages, the theme stylesheet, the logo address and emails carry them."""

from __future__ import annotations

import hashlib
import io
import os
import re

import pytest
from PIL import Image

from app import services
from app.extensions import db
from app.messaging.mail import deliver_due
from app.models import BRANDING_CHANGED, Branding, Event, Message, MessageKind, Role
from app.services import branding as branding_service


@pytest.fixture(autouse=True)
def _fresh_branding_cache(app):
    """Each process keeps the look a few seconds; tests share one app, so start and end clean."""
    app.extensions.pop("careloop_branding", None)
    yield
    app.extensions.pop("careloop_branding", None)


def image_bytes(fmt: str = "PNG", size=(120, 40), colour=(11, 92, 173), noise: bool = False) -> bytes:
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)) if noise else Image.new("RGB", size, colour)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<script>alert(document.cookie)</script><rect width="10" height="10"/></svg>')
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"


@pytest.fixture
def admin(make_user, auth):
    user = make_user(Role.ADMIN, name="Ada Admin")
    auth.login(user)
    return user


def save(client, **fields):
    data = {"org_name": "", "welcome_text": "", "primary_colour": "", "accent_colour": "", **fields}
    return client.post("/admin/branding", data=data, content_type="multipart/form-data")


def upload(content: bytes, filename: str, mimetype: str = "application/octet-stream"):
    return (io.BytesIO(content), filename, mimetype)


def row() -> Branding | None:
    db.session.expire_all()
    return db.session.get(Branding, 1)


def test_only_admins_may_change_the_look(client, auth, make_user):
    assert "/login" in client.get("/admin/branding").headers["Location"]
    for role in (Role.STAFF, Role.LEADER):
        auth.login(make_user(role))
        assert client.get("/admin/branding").status_code == 403
        assert save(client, org_name="Hijacked Ltd").status_code == 403
        auth.logout()
    assert row() is None
    auth.login(make_user(Role.ADMIN))
    page = client.get("/admin/branding")
    assert page.status_code == 200 and "Branding" in page.get_data(as_text=True)


def test_an_admin_names_the_organisation_and_welcomes_people(client, admin, app):
    home = client.get("/").get_data(as_text=True)
    assert app.config["CARELOOP_ORG_NAME"] in home and "/branding/theme.css" not in home

    response = save(client, org_name="  Acme   Housing  ", welcome_text="Hello from Acme.\r\n\r\nWe read every report.",
                    primary_colour="#1A4D2E", accent_colour="#0b5cad")
    assert response.status_code == 302
    saved = row()
    assert (saved.org_name, saved.primary_colour, saved.accent_colour) == ("Acme Housing", "#1a4d2e", "#0b5cad")

    home = client.get("/").get_data(as_text=True)
    assert '<a class="brand" href="/"><span class="logo" aria-hidden="true">↻</span> Acme Housing</a>' in home
    assert app.config["CARELOOP_ORG_NAME"] not in home
    # The welcome text is above the form, in its own paragraphs, escaped like any text.
    welcome = home.index('<div class="welcome"><p dir="auto">Hello from Acme.</p><p dir="auto">We read every report.</p></div>')
    assert welcome < home.index('name="text"')
    assert f'href="/branding/theme.css?v={saved.version}"' in home
    # Other public pages carry the name too, and the Atom feed.
    assert "Acme Housing" in client.get("/changes").get_data(as_text=True)
    assert "Acme Housing: We changed this" in client.get("/changes.atom").get_data(as_text=True)

    # Emptying the name goes back to CARELOOP_ORG_NAME.
    save(client, org_name="", welcome_text="")
    home = client.get("/").get_data(as_text=True)
    assert app.config["CARELOOP_ORG_NAME"] in home and 'class="welcome"' not in home


def test_every_change_is_an_audit_event_saying_who_and_what(client, admin):
    save(client, org_name="Acme", primary_colour="#1a4d2e")
    save(client, org_name="Acme", primary_colour="#1a4d2e")  # nothing changed: no event
    save(client, org_name="Acme Ltd", primary_colour="#1a4d2e", logo=upload(image_bytes(), "logo.png"))
    events = db.session.scalars(db.select(Event).where(Event.verb == BRANDING_CHANGED).order_by(Event.id)).all()
    assert len(events) == 2
    assert all(e.actor_id == admin.id and e.problem_id is None for e in events)
    assert events[0].details["org_name"] == {"from": None, "to": "Acme"}
    assert events[0].details["primary_colour"] == {"from": None, "to": "#1a4d2e"}
    assert events[1].details["changed"] == ["logo", "org_name"]
    assert events[1].details["logo"] == "added" and events[1].details["logo_type"] == "image/png"
    assert row().version == 2


def test_a_colour_too_light_for_white_text_is_refused_with_the_ratio_and_a_shade_that_passes(client, admin):
    response = save(client, org_name="Acme Housing", welcome_text="Kept words.", primary_colour="#777")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = re.search(r'<p class="error" id="primary_colour-error">(.*?)</p>', page, re.S).group(1)
    assert "4.47:1" in error and "4.5:1" in error and "#767676" in error
    assert 'aria-invalid="true"' in page
    # The rest of the form is kept, and nothing was saved.
    assert 'value="Acme Housing"' in page and "Kept words." in page
    assert row() is None
    # One click uses the suggested shade, with everything else as typed.
    assert 'name="use_suggestion" value="primary_colour:#767676"' in page
    response = save(client, org_name="Acme Housing", welcome_text="Kept words.", primary_colour="#777",
                    use_suggestion="primary_colour:#767676")
    assert response.status_code == 302
    assert (row().primary_colour, row().org_name) == ("#767676", "Acme Housing")


def test_a_link_colour_is_checked_against_the_page_backgrounds(client, admin):
    response = save(client, accent_colour="#3399ff", primary_colour="not a colour")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    accent_error = re.search(r'id="accent_colour-error">(.*?)</p>', page, re.S).group(1)
    assert re.search(r"\d\.\d\d:1", accent_error) and "#eaf2fb" in accent_error
    suggestion = re.search(r'value="accent_colour:(#[0-9a-f]{6})"', page).group(1)
    from app.colour import worst_contrast

    assert worst_contrast(suggestion, branding_service.ACCENT_BACKGROUNDS)[0] >= 4.5
    assert "six hex digits" in re.search(r'id="primary_colour-error">(.*?)</p>', page, re.S).group(1)
    assert row() is None


def test_a_png_logo_is_accepted_and_served_with_its_type_and_caching_headers(client, admin):
    png = image_bytes("PNG", size=(240, 80))
    assert save(client, org_name="Acme", logo=upload(png, "acme.png", "image/png")).status_code == 302
    saved = row()
    assert (saved.logo_type, saved.logo_width, saved.logo_height) == ("image/png", 240, 80)
    version = saved.logo_sha256[:16]

    home = client.get("/").get_data(as_text=True)
    assert f'<img class="brand-logo" src="/branding/logo?v={version}" alt="" width="240" height="80"> Acme</a>' in home

    response = client.get(f"/branding/logo?v={version}")
    assert response.status_code == 200 and response.data == png
    assert response.mimetype == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    etag = response.headers["ETag"]
    assert etag == f'"{hashlib.sha256(png).hexdigest()}"'
    assert client.get(f"/branding/logo?v={version}", headers={"If-None-Match": etag}).status_code == 304
    # Without the current version it must be checked again each time.
    assert client.get("/branding/logo").headers["Cache-Control"] == "public, no-cache"


def test_the_logo_is_judged_by_its_content_not_its_name(client, admin):
    png = image_bytes("PNG")
    assert save(client, logo=upload(png, "photo.jpg", "image/jpeg")).status_code == 302
    assert row().logo_type == "image/png"
    assert client.get("/branding/logo").mimetype == "image/png"
    jpeg = image_bytes("JPEG")
    assert save(client, logo=upload(jpeg, "logo.png", "image/png")).status_code == 302
    assert row().logo_type == "image/jpeg"
    webp = image_bytes("WEBP")
    assert save(client, logo=upload(webp, "logo.webp")).status_code == 302
    assert row().logo_type == "image/webp"


@pytest.mark.parametrize("content, filename", [
    (SVG, "logo.svg"), (SVG, "logo.png"), (HTML, "logo.png"), (b"GIF89a" + b"\0" * 40, "logo.gif"),
    (image_bytes("GIF"), "logo.png"),  # a real image, but not one of the three types
    (image_bytes("PNG")[:60], "truncated.png"),  # starts like a PNG, but does not decode
])
def test_anything_but_a_png_jpeg_or_webp_is_refused_and_the_form_kept(client, admin, content, filename):
    save(client, org_name="Acme", logo=upload(image_bytes("PNG"), "old.png"))
    before = row().logo_sha256
    response = save(client, org_name="Acme Renamed", welcome_text="Kept words.", logo=upload(content, filename, "image/png"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = re.search(r'<p class="error" id="logo-error">(.*?)</p>', page, re.S).group(1)
    assert "not a PNG, JPEG or WebP image" in error
    assert 'value="Acme Renamed"' in page and "Kept words." in page
    assert (row().org_name, row().logo_sha256) == ("Acme", before)


def test_a_logo_too_big_in_bytes_or_pixels_is_refused(client, admin, app):
    big = image_bytes("PNG", size=(300, 300), noise=True)
    assert len(big) > app.config["CARELOOP_LOGO_MAX_BYTES"]
    response = save(client, org_name="Acme", logo=upload(big, "big.png"))
    assert response.status_code == 422
    assert "larger than 200 KB" in response.get_data(as_text=True)
    wide = image_bytes("PNG", size=(app.config["CARELOOP_LOGO_MAX_SIDE"] + 1, 10))
    assert len(wide) < app.config["CARELOOP_LOGO_MAX_BYTES"]
    page = save(client, org_name="Acme", logo=upload(wide, "wide.png")).get_data(as_text=True)
    assert "2001 × 10 pixels" in page and "2000 pixels a side" in page
    assert row() is None


def test_a_logo_chosen_with_a_refused_colour_must_be_chosen_again(client, admin):
    page = save(client, primary_colour="#ffff00", logo=upload(image_bytes(), "logo.png")).get_data(as_text=True)
    assert "The logo you chose was not saved" in page
    assert row() is None


def test_the_logo_can_be_removed(client, admin):
    save(client, org_name="Acme", logo=upload(image_bytes(), "logo.png"))
    assert client.get("/branding/logo").status_code == 200
    assert 'name="remove_logo"' in client.get("/admin/branding").get_data(as_text=True)
    assert save(client, org_name="Acme", remove_logo="y").status_code == 302
    assert row().logo is None and row().logo_sha256 is None
    assert client.get("/branding/logo").status_code == 404
    assert 'class="brand-logo"' not in client.get("/").get_data(as_text=True)
    last = db.session.scalars(db.select(Event).where(Event.verb == BRANDING_CHANGED).order_by(Event.id.desc())).first()
    assert last.details["logo"] == "removed"


def test_the_theme_stylesheet_overrides_the_colours_and_caches_by_version(client, admin):
    save(client, primary_colour="#1a4d2e", accent_colour="#8a2be2")
    version = row().version
    response = client.get(f"/branding/theme.css?v={version}")
    assert response.status_code == 200 and response.mimetype == "text/css"
    css = response.get_data(as_text=True)
    assert "--header-bg: #1a4d2e;" in css and "--primary: #1a4d2e;" in css and "--brand: #8a2be2;" in css
    dark = re.search(r"--primary-dark: (#[0-9a-f]{6});", css).group(1)
    from app.colour import contrast_ratio

    assert contrast_ratio(dark, "#ffffff") > contrast_ratio("#1a4d2e", "#ffffff")  # hover stays readable
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    etag = response.headers["ETag"]
    assert client.get(f"/branding/theme.css?v={version}", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/branding/theme.css?v=0").headers["Cache-Control"] == "public, no-cache"
    # The main stylesheet uses the variables the theme sets.
    main = client.get("/static/careloop.css").get_data(as_text=True)
    assert ".site-header { background: var(--header-bg);" in main and "background: var(--primary);" in main


def test_other_processes_see_a_change_within_the_cache_time(client, admin, app, monkeypatch):
    """Another worker saved: this process shows it once its few seconds of cache run out."""
    clock = [1000.0]
    monkeypatch.setattr(branding_service.time, "monotonic", lambda: clock[0])
    assert app.config["CARELOOP_ORG_NAME"] in client.get("/").get_data(as_text=True)
    db.session.add(Branding(id=1, org_name="Saved By Another Worker", version=1))
    db.session.commit()
    clock[0] += app.config["CARELOOP_BRANDING_CACHE_SECONDS"] / 2
    assert "Saved By Another Worker" not in client.get("/").get_data(as_text=True)
    clock[0] += app.config["CARELOOP_BRANDING_CACHE_SECONDS"]
    assert "Saved By Another Worker" in client.get("/").get_data(as_text=True)


def test_emails_carry_the_name_logo_and_colour(client, admin, make_user, make_report, smtp):
    save(client, org_name="Acme Housing", primary_colour="#1a4d2e", accent_colour="#8a2be2",
         logo=upload(image_bytes(), "logo.png"))
    version = row().logo_sha256[:16]
    leader = make_user(Role.LEADER, name="Dana Okafor")
    report = make_report(text="The lift has been broken for a month.", email="maria@example.net")
    services.assign_owner(report.problem, leader, leader)
    db.session.commit()
    assert db.session.scalar(db.select(Message).where(Message.kind == MessageKind.OWNED)) is not None
    assert deliver_due().sent == 2  # the receipt and "now owns"
    mail = smtp.inbox.to("maria@example.net")[0]
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()
    assert f'<img src="http://careloop.test/branding/logo?v={version}" alt="Acme Housing logo"' in html
    assert "background:#1a4d2e;color:#ffffff" in html
    assert "Acme Housing" in html and "color:#8a2be2" in html
    assert "Acme Housing, through Careloop" in text
    # The address in the email really serves the logo.
    assert client.get(f"/branding/logo?v={version}").mimetype == "image/png"
