"""No branding setting can lock the admins out (issue 15): the organisation's name stays out
of CSS, only checked colours reach it, ``careloop branding reset`` restores the defaults from
the command line, and a logo with absurd dimensions is refused for its size."""

from __future__ import annotations

import struct
import zlib

import pytest

from app.extensions import db
from app.models import BRANDING_CHANGED, Branding, Event, Role

from .test_branding import image_bytes, row, save, upload

INJECTION = "Acme */ body{display:none!important} .x{ /*"


@pytest.fixture(autouse=True)
def _fresh_branding_cache(app):
    app.extensions.pop("careloop_branding", None)
    yield
    app.extensions.pop("careloop_branding", None)


@pytest.fixture
def admin(make_user, auth):
    user = make_user(Role.ADMIN, name="Ada Admin")
    auth.login(user)
    return user


def test_the_organisation_name_never_reaches_the_stylesheet(client, admin):
    assert save(client, org_name=INJECTION, primary_colour="#1a4d2e").status_code == 302
    version = row().version
    css = client.get(f"/branding/theme.css?v={version}").get_data(as_text=True)
    assert "display:none" not in css and "Acme" not in css
    assert css.count("/*") == css.count("*/") == 1  # the one fixed comment, closed
    assert "--primary: #1a4d2e;" in css
    # The name is still shown, escaped, where it belongs: in the page.
    page = client.get("/").get_data(as_text=True)
    assert "Acme */ body{display:none!important} .x{ /*" in page


# At most 7 characters: the column's width (PostgreSQL enforces it; SQLite does not).
@pytest.mark.parametrize("stored", ["};*{x:0", "#12345g", "url(x)", "#fff;x"])
def test_a_colour_stored_by_other_means_is_not_put_in_css_or_emails(client, stored):
    """Even a row written past the form (an old version, a database console) cannot inject."""
    db.session.add(Branding(id=1, primary_colour=stored, accent_colour=stored, version=3))
    db.session.commit()
    css = client.get("/branding/theme.css?v=3").get_data(as_text=True)
    assert stored not in css and "--primary:" not in css and "--brand:" not in css
    from app.services.branding import current_branding

    look = current_branding()
    assert look.primary_colour is None and look.accent_colour is None


def test_careloop_branding_reset_restores_the_defaults(app, client, runner, admin):
    save(client, org_name=INJECTION, welcome_text="Hello.", primary_colour="#1a4d2e",
         logo=upload(image_bytes(), "logo.png"))
    assert row().org_name == INJECTION and row().logo_sha256 is not None
    result = runner.invoke(args=["branding", "reset"])
    assert result.exit_code == 0, result.output
    assert "Branding reset to the defaults" in result.output
    saved = row()
    assert (saved.org_name, saved.welcome_text, saved.primary_colour, saved.logo_sha256) == (None, None, None, None)
    event = db.session.scalars(db.select(Event).where(Event.verb == BRANDING_CHANGED).order_by(Event.id.desc())).first()
    assert event.details["reset"] is True and event.actor_id is None
    assert "logo" in event.details["changed"] and "org_name" in event.details["changed"]
    page = client.get("/").get_data(as_text=True)
    assert app.config["CARELOOP_ORG_NAME"] in page and "display:none" not in page
    again = runner.invoke(args=["branding", "reset"])
    assert again.exit_code == 0 and "nothing changed" in again.output


def _png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_a_logo_with_huge_dimensions_is_refused_for_its_size(client, admin):
    huge = _png_header(100_000, 100_000)
    assert len(huge) < 200
    page = save(client, org_name="Acme", logo=upload(huge, "huge.png")).get_data(as_text=True)
    assert "2000 pixels a side" in page
    assert "not a PNG, JPEG or WebP" not in page
    assert row() is None
