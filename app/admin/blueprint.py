"""The admin blueprint, apart from its views so they can import it without a cycle."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
