"""The dashboard blueprint, apart from its views so they can import it without a cycle."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)
