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
            url = "postgresql+psycopg://" + url[len(prefix):]
    return with_connect_timeout(url)


def with_connect_timeout(url: str) -> str:
    """PostgreSQL only: stop trying to connect after CARELOOP_DB_CONNECT_TIMEOUT seconds, so an
    unreachable database gets a quick 503 page instead of hanging every worker.

    It rides in the URL (psycopg reads it from there) rather than in the engine options,
    so an app given a SQLite URL while DATABASE_URL names PostgreSQL still works.
    """
    if not url.startswith("postgresql") or "connect_timeout=" in url:
        return url
    seconds = int(os.environ.get("CARELOOP_DB_CONNECT_TIMEOUT", "5"))
    return f"{url}{'&' if '?' in url else '?'}connect_timeout={seconds}"


class Config:
    SECRET_KEY = _secret_key()
    SQLALCHEMY_DATABASE_URI = _database_url()
    # A pooled connection is checked before use, so after a database restart the first
    # request reconnects instead of failing (app/errors.py answers 503 while it is down).
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
    # Branding (/admin/branding): the largest logo accepted, in bytes and in pixels per side,
    # and how long each app process reuses what it read of the branding row.
    CARELOOP_LOGO_MAX_BYTES = int(os.environ.get("CARELOOP_LOGO_MAX_BYTES", str(200 * 1024)))
    CARELOOP_LOGO_MAX_SIDE = int(os.environ.get("CARELOOP_LOGO_MAX_SIDE", "2000"))
    CARELOOP_BRANDING_CACHE_SECONDS = float(os.environ.get("CARELOOP_BRANDING_CACHE_SECONDS", "5"))

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

    # Limits and abuse defences (app/security/ratelimit.py, app/security/spam.py).
    # Limits are "N/unit" or "N/<k>unit" (second, minute, hour, day), e.g. "10/hour", "5/15minutes".
    CARELOOP_RATELIMIT_ENABLED = _flag("CARELOOP_RATELIMIT_ENABLED", True)  # 0 disables every limit
    CARELOOP_RATELIMIT_FILING = os.environ.get("CARELOOP_RATELIMIT_FILING", "20/hour")  # public filing per IP
    # The JSON API (app/api): requests per token, and per address for callers without a token.
    CARELOOP_API_RATE_LIMIT = os.environ.get("CARELOOP_API_RATE_LIMIT", "120/minute")
    CARELOOP_API_ANONYMOUS_RATE_LIMIT = os.environ.get("CARELOOP_API_ANONYMOUS_RATE_LIMIT", "30/minute")
    CARELOOP_RATELIMIT_LOGIN_IP = os.environ.get("CARELOOP_RATELIMIT_LOGIN_IP", "30/15minutes")
    CARELOOP_RATELIMIT_LOGIN_ACCOUNT = os.environ.get("CARELOOP_RATELIMIT_LOGIN_ACCOUNT", "20/hour")
    # Failed sign-ins before an account is locked, and for how long (the failures are counted over the same time).
    CARELOOP_LOGIN_MAX_FAILURES = int(os.environ.get("CARELOOP_LOGIN_MAX_FAILURES", "5"))
    CARELOOP_LOGIN_LOCK_MINUTES = int(os.environ.get("CARELOOP_LOGIN_LOCK_MINUTES", "15"))
    # Proxies in front of the app that set X-Forwarded-For/-Proto/-Host (werkzeug's ProxyFix); 0 trusts none.
    CARELOOP_PROXY_COUNT = int(os.environ.get("CARELOOP_PROXY_COUNT", "0"))
    # Public form: seconds a person must have had the form open before sending it (0 disables).
    CARELOOP_SPAM_MIN_SECONDS = int(os.environ.get("CARELOOP_SPAM_MIN_SECONDS", "3"))
    # Hold public web reports until a leader approves them.
    CARELOOP_MODERATE_PUBLIC = _flag("CARELOOP_MODERATE_PUBLIC", False)

    # Mail: messages wait in the outbox until `careloop send-mail` delivers them over SMTP.
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USE_TLS = _flag("MAIL_USE_TLS", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
    MAIL_FROM = os.environ.get("MAIL_FROM", "Careloop <careloop@localhost>")
    CARELOOP_REPLY_TO = os.environ.get("CARELOOP_REPLY_TO", "")
    CARELOOP_MAIL_MAX_ATTEMPTS = int(os.environ.get("CARELOOP_MAIL_MAX_ATTEMPTS", "8"))
    # How long an invitation's one-time link to set a password works (docs/journeys.md).
    CARELOOP_INVITATION_HOURS = int(os.environ.get("CARELOOP_INVITATION_HOURS", "72"))
    # Outgoing webhooks: tries before a delivery is marked failed (`careloop send-webhooks`).
    CARELOOP_WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("CARELOOP_WEBHOOK_MAX_ATTEMPTS", "10"))

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

    # Single sign-on for staff with OpenID Connect (app/auth/oidc.py). On when the issuer and
    # client id are set. The client secret comes only from the environment.
    CARELOOP_OIDC_ISSUER = os.environ.get("CARELOOP_OIDC_ISSUER", "").strip()
    CARELOOP_OIDC_CLIENT_ID = os.environ.get("CARELOOP_OIDC_CLIENT_ID", "").strip()
    CARELOOP_OIDC_CLIENT_SECRET = os.environ.get("CARELOOP_OIDC_CLIENT_SECRET", "")
    # Only these email domains may sign in (comma list); nobody when empty.
    CARELOOP_OIDC_ALLOWED_DOMAINS = os.environ.get("CARELOOP_OIDC_ALLOWED_DOMAINS", "")
    # A claim (e.g. roles, groups) whose values map to roles: "careloop-admins=admin,careloop-leaders=leader".
    CARELOOP_OIDC_ROLE_CLAIM = os.environ.get("CARELOOP_OIDC_ROLE_CLAIM", "").strip()
    CARELOOP_OIDC_ROLE_MAP = os.environ.get("CARELOOP_OIDC_ROLE_MAP", "")
    CARELOOP_OIDC_LABEL = os.environ.get("CARELOOP_OIDC_LABEL", "")
    CARELOOP_OIDC_SCOPE = os.environ.get("CARELOOP_OIDC_SCOPE", "openid email profile")
    CARELOOP_OIDC_TIMEOUT = float(os.environ.get("CARELOOP_OIDC_TIMEOUT", "10"))
    # Password sign-in; 0 hides the form and refuses its POSTs (single sign-on only).
    CARELOOP_PASSWORD_LOGIN = _flag("CARELOOP_PASSWORD_LOGIN", True)
