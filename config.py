"""Careloop's settings: one declarative table, read from the environment, checked at start-up.

Every variable is documented in docs/settings.md (a test fails when one is not). Each
``Config`` attribute is declared with ``setting(name, default, parser)``: importing this module
only *reads* the environment (nothing is written, nothing can fail); ``create_app`` then calls
``check_settings(app.config)``, which parses every declared setting (from the environment, or
an override a test or tool passed to ``create_app``) and stops start-up with one
``SettingError`` line naming the variable, its value and what is allowed.

Adding a setting: one line in ``Config`` (``X = setting("X", default, parser(...))``) and one
row in docs/settings.md. A parser takes the raw value (a string from the environment, or the
typed value of an override) and returns the typed value, or raises ``ValueError`` whose text
says what is allowed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable


class ConfigurationError(Exception):
    """Start-up cannot go on: the one-line message is all an operator needs (no traceback)."""


class SettingError(ConfigurationError):
    """A setting's value is not allowed."""

    def __init__(self, name: str, value: Any, allowed: str, secret: bool = False):
        shown = "(hidden)" if secret else repr(value)
        super().__init__(f"Setting {name}={shown} is not valid: {allowed}")
        self.name, self.value, self.allowed = name, value, allowed


@dataclass(frozen=True)
class Setting:
    name: str  # the environment variable
    key: str  # the app.config key (usually the same)
    default: Any
    parse: Callable[[Any], Any]
    secret: bool = False


SETTINGS: dict[str, Setting] = {}  # app.config key -> Setting, in declaration order
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def setting(name: str, default: Any, parse: Callable[[Any], Any], *, key: str | None = None,
            secret: bool = False) -> Any:
    """Declare a setting; returns its raw value (the environment's string, else the default)."""
    SETTINGS[key or name] = Setting(name, key or name, default, parse, secret)
    return os.environ.get(name, default)


# ---- parsers: each accepts a string (from the environment) or an already-typed value ----------

TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError("expected 1/true/yes/on or 0/false/no/off")


def optional_flag(value: Any) -> bool | None:
    return None if value is None else flag(value)


def integer(minimum: int | None = None, maximum: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        allowed = "a whole number" + _range(minimum, maximum)
        if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
            raise ValueError(allowed)
        try:
            number = int(str(value).strip()) if not isinstance(value, (int, float)) else int(value)
        except ValueError:
            raise ValueError(allowed) from None
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise ValueError(allowed)
        return number

    return parse


def number(minimum: float | None = None, maximum: float | None = None) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        allowed = "a number" + _range(minimum, maximum)
        try:
            result = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
        except ValueError:
            raise ValueError(allowed) from None
        if result != result or (minimum is not None and result < minimum) or (maximum is not None and result > maximum):
            raise ValueError(allowed)
        return result

    return parse


def _range(minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" of at least {minimum}"
    return f" of at most {maximum}" if maximum is not None else ""


def text(pattern: str | None = None, allowed: str = "", required: bool = False) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ValueError(allowed or "text")
        if required and not value.strip():
            raise ValueError(allowed or "a non-empty text")
        if pattern and value.strip() and not re.fullmatch(pattern, value.strip()):
            raise ValueError(allowed)
        return value

    return parse


def optional_text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("text")
    return value


def choice(*options: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text_value = str(value).strip().lower()
        if text_value not in options:
            raise ValueError("one of " + ", ".join(options))
        return text_value

    return parse


def comma_list(item: str | None = None, allowed: str = "a comma-separated list",
               non_empty: bool = False) -> Callable[[Any], list[str]]:
    def parse(value: Any) -> list[str]:
        if isinstance(value, str):
            items = [part.strip() for part in value.split(",") if part.strip()]
        elif isinstance(value, (list, tuple)):
            items = [str(part).strip() for part in value if str(part).strip()]
        else:
            raise ValueError(allowed)
        if non_empty and not items:
            raise ValueError(allowed)
        if item and any(not re.fullmatch(item, part) for part in items):
            raise ValueError(allowed)
        return items

    return parse


def plugin_list(value: Any) -> list[str] | None:
    """Unset: every installed plugin; a comma list loads only those (checked against what is installed)."""
    return None if value is None else comma_list(r"[A-Za-z0-9_.\-]+", "a comma-separated list of plugin names")(value)


def rate_limit(value: Any) -> str:
    if not re.fullmatch(r"\s*(\d+)\s*(?:/|per)\s*(\d*)\s*(second|minute|hour|day)s?\s*", str(value), re.IGNORECASE) \
            or int(re.match(r"\s*(\d+)", str(value)).group(1)) < 1:
        raise ValueError("a limit written N/unit or N/<k>unit with unit second, minute, hour or day, "
                         "e.g. 10/hour or 5/15minutes")
    return str(value).strip()


def base_url(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value.strip()):
        raise ValueError("an http:// or https:// address without query, e.g. https://careloop.example.org")
    return value.strip().rstrip("/")


def role_map(value: Any) -> Any:
    if isinstance(value, dict):
        pairs = list(value.items())
    else:
        pairs = [part.split("=", 1) for part in str(value).split(",") if part.strip()]
    if any(len(pair) != 2 or not str(pair[0]).strip()
           or str(pair[1]).strip().lower() not in {"admin", "leader", "staff"} for pair in pairs):
        raise ValueError("claim-value=role pairs separated by commas, roles admin, leader or staff, "
                         "e.g. careloop-admins=admin,careloop-leaders=leader")
    return value


def database_url(value: Any) -> str | None:
    """Hosting providers hand out postgres:// URLs; SQLAlchemy wants a driver name."""
    if value is None or value == "":
        return None  # create_app puts a SQLite file in the instance folder
    allowed = "a database URL such as postgresql+psycopg://user:password@host/db or sqlite:///path/file.sqlite"
    if not isinstance(value, str):
        raise ValueError(allowed)
    for prefix in ("postgres://", "postgresql://"):
        if value.startswith(prefix):
            value = "postgresql+psycopg://" + value[len(prefix):]
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(allowed) from None
    if url.get_backend_name() not in {"postgresql", "sqlite"}:
        raise ValueError(allowed)
    return value


def secret_key(value: Any) -> str | None:
    if value is None or value == "":
        return None  # create_app generates one once into the instance folder
    if not isinstance(value, str):
        raise ValueError("text, e.g. from: python -c 'import secrets; print(secrets.token_hex(32))'")
    return value


def with_connect_timeout(url: str, seconds: int | None = None) -> str:
    """PostgreSQL only: stop trying to connect after CARELOOP_DB_CONNECT_TIMEOUT seconds, so an
    unreachable database gets a quick 503 page instead of hanging every worker.

    It rides in the URL (psycopg reads it from there) rather than in the engine options,
    so an app given a SQLite URL while DATABASE_URL names PostgreSQL still works.
    """
    if not url.startswith("postgresql") or "connect_timeout=" in url:
        return url
    if seconds is None:
        seconds = integer(1)(os.environ.get("CARELOOP_DB_CONNECT_TIMEOUT", "5"))
    return f"{url}{'&' if '?' in url else '?'}connect_timeout={seconds}"


def networks(value: Any) -> list[str]:
    import ipaddress

    items = comma_list()(value)
    try:
        return [str(ipaddress.ip_network(item, strict=False)) for item in items]
    except ValueError:
        raise ValueError("comma-separated addresses or networks, e.g. 127.0.0.1/32,10.0.0.0/8 (empty: none)") from None


LANGUAGE = r"[a-z]{2,3}(_[A-Z]{2})?"
EMAIL_DOMAIN = r"[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"


class Config:
    # Secrets and storage. Unset SECRET_KEY / DATABASE_URL: create_app keeps a generated key and a
    # SQLite file in the instance folder (CARELOOP_INSTANCE_PATH, ./instance by default).
    CARELOOP_INSTANCE_PATH = setting("CARELOOP_INSTANCE_PATH", "instance", text(required=True, allowed="a folder path"))
    SECRET_KEY = setting("SECRET_KEY", None, secret_key, secret=True)
    SQLALCHEMY_DATABASE_URI = setting("DATABASE_URL", None, database_url, key="SQLALCHEMY_DATABASE_URI", secret=True)
    CARELOOP_DB_CONNECT_TIMEOUT = setting("CARELOOP_DB_CONNECT_TIMEOUT", 5, integer(1, 300))
    # A pooled connection is checked before use, so after a database restart the first
    # request reconnects instead of failing (app/errors.py answers 503 while it is down).
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    CARELOOP_BASE_URL = setting("CARELOOP_BASE_URL", "http://127.0.0.1:5000", base_url)
    CARELOOP_ORG_NAME = setting("CARELOOP_ORG_NAME", "Careloop Demo Organisation",
                                text(required=True, allowed="a non-empty name"))
    # Languages offered, the first is the default (comma-separated locale codes).
    CARELOOP_LANGUAGES = setting("CARELOOP_LANGUAGES", "en,de,ar", comma_list(
        LANGUAGE, "comma-separated locale codes such as en,de,ar (at least one)", non_empty=True))
    # Areas offered when filing; people may still type their own.
    CARELOOP_AREAS = setting("CARELOOP_AREAS", "Billing,Website,Phone line,Branch visit,Delivery,Accessibility",
                             comma_list())
    CARELOOP_MAX_REPORT_CHARS = setting("CARELOOP_MAX_REPORT_CHARS", 10000, integer(100, 1_000_000))
    CARELOOP_CHANGES_PER_PAGE = setting("CARELOOP_CHANGES_PER_PAGE", 10, integer(1, 200))
    # Branding (/admin/branding): the largest logo accepted, in bytes and in pixels per side,
    # and how long each app process reuses what it read of the branding row.
    CARELOOP_LOGO_MAX_BYTES = setting("CARELOOP_LOGO_MAX_BYTES", 200 * 1024, integer(1024, 10 * 1024 * 1024))
    CARELOOP_LOGO_MAX_SIDE = setting("CARELOOP_LOGO_MAX_SIDE", 2000, integer(16, 10000))
    CARELOOP_BRANDING_CACHE_SECONDS = setting("CARELOOP_BRANDING_CACHE_SECONDS", 5.0, number(0, 3600))

    # Plugins: unset loads every installed one; a comma list loads only those (unknown names stop start-up).
    CARELOOP_PLUGINS = setting("CARELOOP_PLUGINS", None, plugin_list)
    # Whether people whose tickets are imported may be told what changed (they wrote to support).
    CARELOOP_IMPORT_CONTACT_OK = setting("CARELOOP_IMPORT_CONTACT_OK", True, flag)
    # Pages the Sources page's "Dry run" reads (the command takes --pages).
    CARELOOP_PREVIEW_PAGES = setting("CARELOOP_PREVIEW_PAGES", 2, integer(1, 50))

    # Grouping duplicate reports (app/grouping). Scores are in [0, 1]: the backend's
    # calibrated estimate that a new report describes the same problem as an existing one.
    # The backend's name is checked against the registered backends when plugins load.
    CARELOOP_GROUPING_BACKEND = setting("CARELOOP_GROUPING_BACKEND", "hybrid", text(
        r"[A-Za-z0-9_.\-]+", "a similarity backend's name, e.g. hybrid, minilm, use or lexical"))
    CARELOOP_GROUPING_AUTO = setting("CARELOOP_GROUPING_AUTO", 0.8, number(0, 1))
    CARELOOP_GROUPING_REVIEW = setting("CARELOOP_GROUPING_REVIEW", 0.3, number(0, 1))
    CARELOOP_GROUPING_MARGIN = setting("CARELOOP_GROUPING_MARGIN", 0.1, number(0, 1))
    CARELOOP_GROUPING_THREADS = setting("CARELOOP_GROUPING_THREADS", 1, integer(1, 256))
    # Processes that encode a long import's texts (app/grouping/encoding.py); 0: in the importing
    # process. One per core this process may use, at most 4 (each holds the models, about 400 MB).
    CARELOOP_IMPORT_ENCODE_PROCESSES = setting("CARELOOP_IMPORT_ENCODE_PROCESSES",
                                               min(4, CORES) if CORES > 1 else 0, integer(0, 64))
    # Learning from leaders' decisions (app/grouping/learning.py).
    CARELOOP_GROUPING_LEARN_MIN = setting("CARELOOP_GROUPING_LEARN_MIN", 30, integer(1, 100000))
    CARELOOP_GROUPING_PRIOR = setting("CARELOOP_GROUPING_PRIOR", 20.0, number(0, 100000))
    CARELOOP_GROUPING_PRECISION = setting("CARELOOP_GROUPING_PRECISION", 0.95, number(0.5, 1))
    # Customers' "Is it one of these?" list: its own threshold, lower than the review one.
    CARELOOP_SUGGEST_MIN = setting("CARELOOP_SUGGEST_MIN", 0.2, number(0, 1))

    # Suggestions while filing: requests per minute per person (kept in the database).
    CARELOOP_SUGGEST_PER_MINUTE = setting("CARELOOP_SUGGEST_PER_MINUTE", 60, integer(1))

    # Limits and abuse defences (app/security/ratelimit.py, app/security/spam.py).
    # Limits are "N/unit" or "N/<k>unit" (second, minute, hour, day), e.g. "10/hour", "5/15minutes".
    CARELOOP_RATELIMIT_ENABLED = setting("CARELOOP_RATELIMIT_ENABLED", True, flag)  # 0 disables every limit
    CARELOOP_RATELIMIT_FILING = setting("CARELOOP_RATELIMIT_FILING", "20/hour", rate_limit)  # public filing per IP
    # The JSON API (app/api): requests per token, and per address for callers without a token.
    CARELOOP_API_RATE_LIMIT = setting("CARELOOP_API_RATE_LIMIT", "120/minute", rate_limit)
    CARELOOP_API_ANONYMOUS_RATE_LIMIT = setting("CARELOOP_API_ANONYMOUS_RATE_LIMIT", "30/minute", rate_limit)
    # Hostile input to the API (app/api/hostile.py): the longest request line answered (longer: JSON 414;
    # gunicorn's limit_request_line must be higher to let it through) and the deepest JSON nesting (400).
    CARELOOP_API_MAX_REQUEST_LINE = setting("CARELOOP_API_MAX_REQUEST_LINE", 4094, integer(256, 65536))
    CARELOOP_API_MAX_JSON_DEPTH = setting("CARELOOP_API_MAX_JSON_DEPTH", 32, integer(2, 1000))
    CARELOOP_RATELIMIT_LOGIN_IP = setting("CARELOOP_RATELIMIT_LOGIN_IP", "30/15minutes", rate_limit)
    CARELOOP_RATELIMIT_LOGIN_ACCOUNT = setting("CARELOOP_RATELIMIT_LOGIN_ACCOUNT", "20/hour", rate_limit)
    # Failed sign-ins before an account is locked, and for how long (the failures are counted over the same time).
    CARELOOP_LOGIN_MAX_FAILURES = setting("CARELOOP_LOGIN_MAX_FAILURES", 5, integer(1))
    CARELOOP_LOGIN_LOCK_MINUTES = setting("CARELOOP_LOGIN_LOCK_MINUTES", 15, integer(1))
    # Proxies in front of the app that set X-Forwarded-For/-Proto/-Host (werkzeug's ProxyFix); 0 trusts none.
    CARELOOP_PROXY_COUNT = setting("CARELOOP_PROXY_COUNT", 0, integer(0, 10))
    # Public form: seconds a person must have had the form open before sending it (0 disables).
    CARELOOP_SPAM_MIN_SECONDS = setting("CARELOOP_SPAM_MIN_SECONDS", 3, integer(0, 3600))
    # Hold public web reports until a leader approves them.
    CARELOOP_MODERATE_PUBLIC = setting("CARELOOP_MODERATE_PUBLIC", False, flag)

    # Mail: messages wait in the outbox until `careloop send-mail` delivers them over SMTP.
    MAIL_SERVER = setting("MAIL_SERVER", "", text(r"[A-Za-z0-9.\-:\[\]]+", "a host name or address"))
    MAIL_PORT = setting("MAIL_PORT", 25, integer(1, 65535))
    MAIL_USE_TLS = setting("MAIL_USE_TLS", False, flag)
    MAIL_USERNAME = setting("MAIL_USERNAME", "", text())
    MAIL_PASSWORD = setting("MAIL_PASSWORD", "", text(), secret=True)
    MAIL_FROM = setting("MAIL_FROM", "Careloop <careloop@localhost>",
                        text(r"[^@<>]*<[^@<>\s]+@[^@<>\s]+>|[^@<>\s]+@[^@<>\s]+",
                             "an address, e.g. care@example.org or Care team <care@example.org>", required=True))
    CARELOOP_REPLY_TO = setting("CARELOOP_REPLY_TO", "", text(r"[^@<>]*<[^@<>\s]+@[^@<>\s]+>|[^@<>\s]+@[^@<>\s]+",
                                                           "an email address, or unset"))
    # A message is retried (1, 2, 4 … minutes apart, at most 6 hours) until it is this many days
    # old; then it is marked failed, and an admin can send it again (`send-mail --retry-failed`).
    CARELOOP_MAIL_RETRY_DAYS = setting("CARELOOP_MAIL_RETRY_DAYS", 4.0, number(0.01, 60))
    # An extra cap on tries (0: none, only the days above count).
    CARELOOP_MAIL_MAX_ATTEMPTS = setting("CARELOOP_MAIL_MAX_ATTEMPTS", 0, integer(0, 1000))
    # How long an invitation's one-time link to set a password works (docs/journeys.md).
    CARELOOP_INVITATION_HOURS = setting("CARELOOP_INVITATION_HOURS", 72, integer(1, 24 * 60))
    # Outgoing webhooks: tries before a delivery is marked failed (`careloop send-webhooks`).
    CARELOOP_WEBHOOK_MAX_ATTEMPTS = setting("CARELOOP_WEBHOOK_MAX_ATTEMPTS", 10, integer(1, 100))

    # Cookies: secure whenever the site is served over HTTPS (unset: decided by CARELOOP_BASE_URL).
    CARELOOP_SECURE_COOKIES = setting("CARELOOP_SECURE_COOKIES", None, optional_flag)
    SESSION_COOKIE_SECURE = None  # None: from CARELOOP_SECURE_COOKIES or the base URL (check_settings)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = None
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # "Keep me signed in": how long the remember cookie lasts, in days (docs/security.md).
    CARELOOP_REMEMBER_DAYS = setting("CARELOOP_REMEMBER_DAYS", 30, integer(1, 3650))
    WTF_CSRF_TIME_LIMIT = None  # tie the token to the session, so a long report is not lost

    # Single sign-on for staff with OpenID Connect (app/auth/oidc.py). On when the issuer and
    # client id are set. The client secret comes only from the environment.
    CARELOOP_OIDC_ISSUER = setting("CARELOOP_OIDC_ISSUER", "", text(r"https?://\S+", "an https:// issuer address, or unset"))
    CARELOOP_OIDC_CLIENT_ID = setting("CARELOOP_OIDC_CLIENT_ID", "", text())
    CARELOOP_OIDC_CLIENT_SECRET = setting("CARELOOP_OIDC_CLIENT_SECRET", "", text(), secret=True)
    # Only these email domains may sign in (comma list); nobody when empty.
    CARELOOP_OIDC_ALLOWED_DOMAINS = setting("CARELOOP_OIDC_ALLOWED_DOMAINS", "", text(
        rf"{EMAIL_DOMAIN}(\s*,\s*{EMAIL_DOMAIN})*\s*,?", "comma-separated email domains, e.g. example.org,example.com"))
    # A claim (e.g. roles, groups) whose values map to roles: "careloop-admins=admin,careloop-leaders=leader".
    CARELOOP_OIDC_ROLE_CLAIM = setting("CARELOOP_OIDC_ROLE_CLAIM", "", text())
    CARELOOP_OIDC_ROLE_MAP = setting("CARELOOP_OIDC_ROLE_MAP", "", role_map)
    CARELOOP_OIDC_LABEL = setting("CARELOOP_OIDC_LABEL", "", text())
    CARELOOP_OIDC_SCOPE = setting("CARELOOP_OIDC_SCOPE", "openid email profile",
                                  text(r"(\S+\s+)*openid(\s+\S+)*", "space-separated scopes including openid"))
    CARELOOP_OIDC_TIMEOUT = setting("CARELOOP_OIDC_TIMEOUT", 10.0, number(0.5, 120))
    # Password sign-in; 0 hides the form and refuses its POSTs (single sign-on only).
    CARELOOP_PASSWORD_LOGIN = setting("CARELOOP_PASSWORD_LOGIN", True, flag)

    # Running in production (docs/deploying.md): logs, metrics, the scheduler, the page cache.
    CARELOOP_LOG_FORMAT = setting("CARELOOP_LOG_FORMAT", "text", choice("text", "json"))
    CARELOOP_LOG_LEVEL = setting("CARELOOP_LOG_LEVEL", "info", choice("debug", "info", "warning", "error"))
    # /metrics: open to a bearer token, or to clients in these networks (comma list of addresses/CIDRs).
    CARELOOP_METRICS_TOKEN = setting("CARELOOP_METRICS_TOKEN", "", text(r"\S{16,}", "at least 16 characters, or unset"),
                                     secret=True)
    CARELOOP_METRICS_NETWORKS = setting("CARELOOP_METRICS_NETWORKS", "127.0.0.1/32,::1/128", networks)
    # Scheduler (`careloop scheduler`): weekly digest day and hour (UTC), imports every N minutes (0: never;
    # `careloop import all --watch` then waits 15 minutes between runs).
    CARELOOP_DIGEST_WEEKDAY = setting("CARELOOP_DIGEST_WEEKDAY", "mon", choice("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    CARELOOP_DIGEST_HOUR = setting("CARELOOP_DIGEST_HOUR", 7, integer(0, 23))
    CARELOOP_IMPORT_EVERY_MINUTES = setting("CARELOOP_IMPORT_EVERY_MINUTES", 0, integer(0, 10080))
    # The web process (`app/gunicorn_conf.py`): where it listens, how many workers, when a stuck one is restarted.
    CARELOOP_WEB_BIND = setting("CARELOOP_WEB_BIND", "127.0.0.1:8000", text(
        r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):\d{1,5}|unix:\S+", "host:port (e.g. 127.0.0.1:8000) or unix:/path"))
    CARELOOP_WEB_WORKERS = setting("CARELOOP_WEB_WORKERS", 2, integer(1, 64))
    CARELOOP_WEB_TIMEOUT = setting("CARELOOP_WEB_TIMEOUT", 30, integer(5, 3600))
    # Load the app, the grouping model and the index once before forking workers (shared memory).
    CARELOOP_WEB_PRELOAD = setting("CARELOOP_WEB_PRELOAD", True, flag)
    # Public pages' render cache (app/pagecache.py): pages kept per process; 0 turns it off.
    CARELOOP_PAGE_CACHE_SIZE = setting("CARELOOP_PAGE_CACHE_SIZE", 256, integer(0, 100000))
    # How often each process looks at the version number in the database (0: every request).
    CARELOOP_PAGE_CACHE_RECHECK_SECONDS = setting("CARELOOP_PAGE_CACHE_RECHECK_SECONDS", 1.0, number(0, 60))
    CARELOOP_PAGE_CACHE_MAX_AGE = setting("CARELOOP_PAGE_CACHE_MAX_AGE", 30, integer(0, 86400))


def check_settings(config: dict) -> None:
    """Parse every declared setting in ``config`` (in place); the first bad one raises SettingError.

    Derived values follow: the cookie flags, the PostgreSQL connect timeout, the instance folder.
    """
    for key, spec in SETTINGS.items():
        value = config.get(key, spec.default)
        try:
            config[key] = spec.parse(value)
        except ValueError as error:
            raise SettingError(spec.name, value, str(error), secret=spec.secret) from None
    if config.get("SESSION_COOKIE_SECURE") is None:
        secure = config["CARELOOP_SECURE_COOKIES"]
        config["SESSION_COOKIE_SECURE"] = config["CARELOOP_BASE_URL"].startswith("https://") if secure is None else secure
    if config.get("REMEMBER_COOKIE_SECURE") is None:
        config["REMEMBER_COOKIE_SECURE"] = config["SESSION_COOKIE_SECURE"]
    if config.get("SQLALCHEMY_DATABASE_URI"):
        config["SQLALCHEMY_DATABASE_URI"] = with_connect_timeout(config["SQLALCHEMY_DATABASE_URI"],
                                                                 config["CARELOOP_DB_CONNECT_TIMEOUT"])
