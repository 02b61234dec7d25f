from flask import flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app.auth.blueprint import bp
from app.auth.forms import LoginForm
from app.auth.oidc import password_login_enabled, password_login_refused
from app.extensions import db, login_manager
from app.models import User
from app.security import logins
from app.security.limits import rate_limited, too_many_message, wait_phrase
from app.security.ratelimit import RateLimited, client_ip, hit
from app.web import is_safe_next


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


def home_for(user: User) -> str:
    return url_for("dashboard.index") if user.is_leader else url_for("staff.file_report")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    if request.method == "POST" and not password_login_enabled():
        return password_login_refused()
    form = LoginForm()
    if form.validate_on_submit():
        email = User.normalise_email(form.email.data)
        try:  # per address and per account, counted in the database (app/security/ratelimit.py)
            hit("login_ip", client_ip())
            hit("login_account", email)
        except RateLimited as error:
            form.form_errors.append(too_many_message(error.retry_after))
            return rate_limited(make_response(render_template("auth/login.html", form=form)), error.retry_after)
        user = db.session.scalar(db.select(User).filter_by(email=email))
        wait = logins.locked_for(email)
        if wait is None and user is None:
            logins.spend_hash_time(form.password.data)  # as slow as a wrong password
        if wait is None and (user is None or not user.check_password(form.password.data) or not user.active):
            wait = logins.record_failure(email)  # addresses without an account lock too: nothing is revealed
            db.session.commit()
            if wait is None:
                # One message for every failure, so the form does not reveal which accounts exist.
                form.form_errors.append(_("That email and password do not match an active account."))
        if wait is not None:
            form.form_errors.append(_(
                "Too many failed sign-ins for this email address. Try again in %(wait)s, "
                "or ask an admin to unlock the account.", wait=wait_phrase(wait)))
            return rate_limited(make_response(render_template("auth/login.html", form=form)), wait)
        if not form.form_errors:
            logins.clear_failures(email)
            db.session.commit()
            next_url = request.args.get("next")
            session.clear()  # a fresh session on sign-in (no fixation)
            login_user(user, remember=form.remember.data)
            flash(_("Signed in as %(name)s.", name=user.name), "success")
            return redirect(next_url if is_safe_next(next_url) else home_for(user))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("public.index"))
