"""The staff blueprint, apart from its views so they can import it without a cycle."""

from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/staff")
