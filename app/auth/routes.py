from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import db, login_manager
from ..models import User
from ..web import is_safe_next
from . import bp
from .forms import LoginForm


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


def home_for(user: User) -> str:
    return url_for("dashboard.index") if user.is_leader else url_for("staff.file_report")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        email = User.normalise_email(form.email.data)
        user = db.session.scalar(db.select(User).filter_by(email=email))
        if user is None or not user.check_password(form.password.data) or not user.active:
            # One message for every failure, so the form does not reveal which accounts exist.
            form.form_errors.append("That email and password do not match an active account.")
        else:
            next_url = request.args.get("next")
            session.clear()  # a fresh session on sign-in (no fixation)
            login_user(user, remember=form.remember.data)
            flash(f"Signed in as {user.name}.", "success")
            return redirect(next_url if is_safe_next(next_url) else home_for(user))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("public.index"))
