"""/branding/theme.css and /branding/logo: public, cacheable, versioned by the query string."""

from __future__ import annotations

import hashlib

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import colour
from app.branding.blueprint import bp
from app.branding.forms import BrandingForm
from app.extensions import db
from app.services.branding import (
    BrandingRefused,
    current_branding,
    forget_cached_branding,
    logo_file,
    theme_css,
    update_branding,
)
from app.services.errors import PermissionDenied
from app.web import admin_required

# A request that names the current version may be kept for a year (a new version is a
# new address); any other gets "check with us first", so a stale page never pins old colours.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, no-cache"


def _cacheable(response: Response, etag: str, current: bool) -> Response:
    response.set_etag(etag)
    response.headers["Cache-Control"] = IMMUTABLE if current else REVALIDATE
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response.make_conditional(request)


@bp.get("/branding/theme.css")
def theme():
    look = current_branding()
    css = theme_css(look)
    response = Response(css, mimetype="text/css")
    etag = hashlib.sha256(css.encode()).hexdigest()[:32]
    return _cacheable(response, etag, request.args.get("v") == str(look.version))


@bp.get("/branding/logo")
def logo():
    found = logo_file()
    if found is None:
        abort(404)
    data, content_type, sha256 = found
    response = Response(data, mimetype=content_type)
    return _cacheable(response, sha256, request.args.get("v") == sha256[:16])


# --- the admin page ------------------------------------------------------------------------

SUGGESTABLE = ("primary_colour", "accent_colour")


def _suggested(form: BrandingForm) -> str | None:
    """"Use the suggested shade": the button carries ``field:#rrggbb``; put it in the field."""
    choice = request.form.get("use_suggestion", "")
    name, _sep, value = choice.partition(":")
    if name in SUGGESTABLE:
        try:
            form[name].data = colour.normalise_hex(value)
            return name
        except ValueError:
            return None
    return None


@bp.route("/admin/branding", methods=["GET", "POST"])
@admin_required
def edit():
    look = current_branding()
    suggestions: dict[str, str] = {}
    logo_chosen = False
    if request.method == "GET":
        form = BrandingForm(data={
            "org_name": look.custom_org_name, "welcome_text": look.welcome_text,
            "primary_colour": look.primary_colour, "accent_colour": look.accent_colour,
        })
    else:
        form = BrandingForm()
        _suggested(form)
        if form.validate_on_submit():
            upload = form.logo.data
            logo_chosen = bool(upload)
            max_bytes = current_app.config["CARELOOP_LOGO_MAX_BYTES"]
            # Read one byte past the limit: enough to refuse a file that is too big.
            logo = upload.stream.read(max_bytes + 1) if upload else None
            try:
                result = update_branding(
                    current_user, org_name=form.org_name.data, welcome_text=form.welcome_text.data,
                    primary_colour=form.primary_colour.data, accent_colour=form.accent_colour.data,
                    logo=logo, remove_logo=form.remove_logo.data,
                )
                db.session.commit()
            except BrandingRefused as refused:
                db.session.rollback()
                for problem in refused.problems:
                    form[problem.field].errors = [*form[problem.field].errors, problem.message]
                    if problem.suggestion:
                        suggestions[problem.field] = problem.suggestion
            except PermissionDenied:
                db.session.rollback()
                abort(403)
            else:
                forget_cached_branding()
                flash(_("Saved the organisation's look.") if result.changed else _("Nothing had changed."), "success")
                return redirect(url_for("branding.edit"))
    status = 422 if form.errors else 200
    return render_template(
        "admin/branding.html", form=form, look=look, suggestions=suggestions,
        logo_not_saved=logo_chosen and not form.logo.errors and bool(form.errors),
        max_kb=current_app.config["CARELOOP_LOGO_MAX_BYTES"] // 1024,
        max_side=current_app.config["CARELOOP_LOGO_MAX_SIDE"],
    ), status
