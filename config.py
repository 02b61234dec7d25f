"""Careloop's settings, read once from the environment.

Every variable is documented in README.md. Tests and tools pass overrides to
``create_app(config)`` instead of touching the environment.
"""

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("CARELOOP_INSTANCE_PATH", BASE_DIR / "instance"))


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in instance/.

    A fixed string in the code would let anyone forge sessions; a key generated
    per process would log everyone out on restart and break several workers.
    """
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{INSTANCE_DIR / 'careloop.sqlite'}"
    # Hosting providers hand out postgres:// URLs; SQLAlchemy wants a driver name.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Config:
    SECRET_KEY = _secret_key()
    SQLALCHEMY_DATABASE_URI = _database_url()
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    CARELOOP_BASE_URL = os.environ.get("CARELOOP_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    CARELOOP_ORG_NAME = os.environ.get("CARELOOP_ORG_NAME", "Careloop Demo Organisation")
    # Languages offered, the first is the default (comma-separated locale codes).
    CARELOOP_LANGUAGES = [
        code.strip() for code in os.environ.get("CARELOOP_LANGUAGES", "en,de,ar").split(",") if code.strip()
    ]
    # Areas offered when filing; people may still type their own.
    CARELOOP_AREAS = [
        a.strip()
        for a in os.environ.get(
            "CARELOOP_AREAS", "Billing,Website,Phone line,Branch visit,Delivery,Accessibility"
        ).split(",")
        if a.strip()
    ]
    CARELOOP_MAX_REPORT_CHARS = int(os.environ.get("CARELOOP_MAX_REPORT_CHARS", "10000"))
    CARELOOP_CHANGES_PER_PAGE = int(os.environ.get("CARELOOP_CHANGES_PER_PAGE", "10"))

    # Plugins: None loads every installed one; a comma list loads only those (unknown names stop start-up).
    CARELOOP_PLUGINS = (
        [p.strip() for p in os.environ["CARELOOP_PLUGINS"].split(",") if p.strip()]
        if os.environ.get("CARELOOP_PLUGINS") is not None
        else None
    )
    # Whether people whose tickets are imported may be told what changed (they wrote to support).
    CARELOOP_IMPORT_CONTACT_OK = _flag("CARELOOP_IMPORT_CONTACT_OK", True)

    # Grouping duplicate reports (app/grouping). Scores are in [0, 1]: the backend's
    # calibrated estimate that a new report describes the same problem as an existing one.
    CARELOOP_GROUPING_BACKEND = os.environ.get("CARELOOP_GROUPING_BACKEND", "minilm")
    CARELOOP_GROUPING_AUTO = float(os.environ.get("CARELOOP_GROUPING_AUTO", "0.95"))
    CARELOOP_GROUPING_REVIEW = float(os.environ.get("CARELOOP_GROUPING_REVIEW", "0.75"))
    CARELOOP_GROUPING_THREADS = int(os.environ.get("CARELOOP_GROUPING_THREADS", "1"))

    # Suggestions while filing: requests per minute per person (kept in the database).
    CARELOOP_SUGGEST_PER_MINUTE = int(os.environ.get("CARELOOP_SUGGEST_PER_MINUTE", "60"))

    # Mail: messages wait in the outbox until `careloop send-mail` delivers them over SMTP.
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USE_TLS = _flag("MAIL_USE_TLS", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
    MAIL_FROM = os.environ.get("MAIL_FROM", "Careloop <careloop@localhost>")
    CARELOOP_REPLY_TO = os.environ.get("CARELOOP_REPLY_TO", "")
    CARELOOP_MAIL_MAX_ATTEMPTS = int(os.environ.get("CARELOOP_MAIL_MAX_ATTEMPTS", "8"))

    # Cookies: secure whenever the site is served over HTTPS.
    SESSION_COOKIE_SECURE = _flag(
        "CARELOOP_SECURE_COOKIES", CARELOOP_BASE_URL.startswith("https://")
    )
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # tie the token to the session, so a long report is not lost
