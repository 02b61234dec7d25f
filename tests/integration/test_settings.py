"""Every setting is parsed and checked at start-up: a bad value stops the app and every command
with one line naming the variable, the value and what is allowed (exit status 2, no traceback),
instead of starting and failing later. Every setting is documented in docs/settings.md."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import config
from app import create_app

ROOT = Path(__file__).resolve().parents[2]
CARELOOP = str(Path(sys.executable).parent / "careloop")

# One bad value per setting, and what the message must say is allowed. None: any text is allowed.
BAD = {
    "CARELOOP_INSTANCE_PATH": ("", "a folder path"),
    "SECRET_KEY": None,
    "DATABASE_URL": ("mysql://db/careloop", "a database URL"),
    "CARELOOP_DB_CONNECT_TIMEOUT": ("soon", "a whole number from 1 to 300"),
    "CARELOOP_BASE_URL": ("careloop.example.org", "an http:// or https:// address"),
    "CARELOOP_ORG_NAME": ("   ", "a non-empty name"),
    "CARELOOP_LANGUAGES": ("English", "locale codes"),
    "CARELOOP_AREAS": None,
    "CARELOOP_MAX_REPORT_CHARS": ("lots", "a whole number from 100"),
    "CARELOOP_CHANGES_PER_PAGE": ("ten", "a whole number from 1 to 200"),
    "CARELOOP_LOGO_MAX_BYTES": ("200KB", "a whole number"),
    "CARELOOP_LOGO_MAX_SIDE": ("-1", "a whole number from 16"),
    "CARELOOP_BRANDING_CACHE_SECONDS": ("five", "a number from 0"),
    "CARELOOP_PLUGINS": ("zendesk;jira", "plugin names"),
    "CARELOOP_IMPORT_CONTACT_OK": ("maybe", "1/true/yes/on or 0/false/no/off"),
    "CARELOOP_GROUPING_BACKEND": ("mini lm", "a similarity backend's name"),
    "CARELOOP_GROUPING_AUTO": ("1.5", "a number from 0 to 1"),
    "CARELOOP_GROUPING_REVIEW": ("high", "a number from 0 to 1"),
    "CARELOOP_GROUPING_MARGIN": ("wide", "a number from 0 to 1"),
    "CARELOOP_GROUPING_LEARN_MIN": ("0", "a whole number from 1 to 100000"),
    "CARELOOP_GROUPING_PRIOR": ("-1", "a number from 0 to 100000"),
    "CARELOOP_GROUPING_PRECISION": ("0.2", "a number from 0.5 to 1"),
    "CARELOOP_SUGGEST_MIN": ("low", "a number from 0 to 1"),
    "CARELOOP_GROUPING_THREADS": ("0", "a whole number from 1"),
    "CARELOOP_IMPORT_ENCODE_PROCESSES": ("all", "a whole number from 0 to 64"),
    "CARELOOP_SUGGEST_PER_MINUTE": ("60/minute", "a whole number"),
    "CARELOOP_RATELIMIT_ENABLED": ("sometimes", "1/true/yes/on"),
    "CARELOOP_RATELIMIT_FILING": ("20 an hour", "N/unit"),
    "CARELOOP_API_RATE_LIMIT": ("fast", "N/unit"),
    "CARELOOP_API_ANONYMOUS_RATE_LIMIT": ("0/minute", "N/unit"),
    "CARELOOP_RATELIMIT_LOGIN_IP": ("banana", "N/unit"),
    "CARELOOP_RATELIMIT_LOGIN_ACCOUNT": ("20/fortnight", "N/unit"),
    "CARELOOP_LOGIN_MAX_FAILURES": ("five", "a whole number"),
    "CARELOOP_LOGIN_LOCK_MINUTES": ("0", "a whole number of at least 1"),
    "CARELOOP_PROXY_COUNT": ("yes", "a whole number from 0 to 10"),
    "CARELOOP_SPAM_MIN_SECONDS": ("3s", "a whole number"),
    "CARELOOP_MODERATE_PUBLIC": ("2", "1/true/yes/on"),
    "MAIL_SERVER": ("smtp://mail.example.org", "a host name"),
    "MAIL_PORT": ("70000", "a whole number from 1 to 65535"),
    "MAIL_USE_TLS": ("starttls", "1/true/yes/on"),
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_FROM": ("careloop", "an address"),
    "CARELOOP_REPLY_TO": ("the care team", "an email address"),
    "CARELOOP_MAIL_MAX_ATTEMPTS": ("always", "a whole number"),
    "CARELOOP_MAIL_RETRY_DAYS": ("forever", "a number from 0.01 to 60"),
    "CARELOOP_PREVIEW_PAGES": ("all", "a whole number from 1 to 50"),
    "CARELOOP_INVITATION_HOURS": ("0", "a whole number from 1 to 1440"),
    "CARELOOP_API_MAX_REQUEST_LINE": ("10", "a whole number from 256 to 65536"),
    "CARELOOP_API_MAX_JSON_DEPTH": ("deep", "a whole number"),
    "CARELOOP_REMEMBER_DAYS": ("0", "a whole number from 1 to 3650"),
    "CARELOOP_WEBHOOK_MAX_ATTEMPTS": ("0", "a whole number from 1"),
    "CARELOOP_SECURE_COOKIES": ("auto", "1/true/yes/on"),
    "CARELOOP_OIDC_ISSUER": ("login.example.org", "an https:// issuer"),
    "CARELOOP_OIDC_CLIENT_ID": None,
    "CARELOOP_OIDC_CLIENT_SECRET": None,
    "CARELOOP_OIDC_ALLOWED_DOMAINS": ("@example.org", "email domains"),
    "CARELOOP_OIDC_ROLE_CLAIM": None,
    "CARELOOP_OIDC_ROLE_MAP": ("careloop-admins=superuser", "roles admin, leader or staff"),
    "CARELOOP_OIDC_LABEL": None,
    "CARELOOP_OIDC_SCOPE": ("email profile", "including openid"),
    "CARELOOP_OIDC_TIMEOUT": ("0", "a number from 0.5 to 120"),
    "CARELOOP_PASSWORD_LOGIN": ("off-ish", "1/true/yes/on"),
    "CARELOOP_LOG_FORMAT": ("xml", "one of text, json"),
    "CARELOOP_LOG_LEVEL": ("loud", "one of debug, info, warning, error"),
    "CARELOOP_METRICS_TOKEN": ("short", "at least 16 characters"),
    "CARELOOP_METRICS_NETWORKS": ("10.0.0.0/33", "addresses or networks"),
    "CARELOOP_DIGEST_WEEKDAY": ("monday", "one of mon, tue"),
    "CARELOOP_DIGEST_HOUR": ("24", "a whole number from 0 to 23"),
    "CARELOOP_IMPORT_EVERY_MINUTES": ("hourly", "a whole number"),
    "CARELOOP_WEB_BIND": ("8000", "host:port"),
    "CARELOOP_WEB_WORKERS": ("0", "a whole number from 1 to 64"),
    "CARELOOP_WEB_TIMEOUT": ("1", "a whole number from 5"),
    "CARELOOP_WEB_PRELOAD": ("sometimes", "1/true/yes/on"),
    "CARELOOP_PAGE_CACHE_SIZE": ("big", "a whole number"),
    "CARELOOP_PAGE_CACHE_MAX_AGE": ("-5", "a whole number from 0"),
    "CARELOOP_PAGE_CACHE_RECHECK_SECONDS": ("soon", "a number from 0 to 60"),
}


def test_the_table_covers_every_setting():
    assert set(BAD) == {spec.name for spec in config.SETTINGS.values()}


@pytest.mark.parametrize("spec", list(config.SETTINGS.values()), ids=lambda spec: spec.name)
def test_a_bad_value_stops_start_up_naming_the_variable_value_and_what_is_allowed(spec):
    case = BAD[spec.name]
    if case is None:  # free text: anything a person may type is accepted
        assert spec.parse("any text, even ünïcode = / ;")
        return
    value, allowed = case
    with pytest.raises(config.SettingError) as raised:
        create_app({spec.key: value})
    message = str(raised.value)
    assert "\n" not in message and spec.name in message and allowed in message
    assert repr(value) in message or (spec.secret and "(hidden)" in message)


def test_the_defaults_and_typical_values_are_accepted():
    typical = {"CARELOOP_LANGUAGES": "de,en", "CARELOOP_RATELIMIT_LOGIN_IP": "5 per 15 minutes",
               "CARELOOP_OIDC_ROLE_MAP": "careloop-admins=admin,careloop-leaders=leader",
               "CARELOOP_OIDC_ALLOWED_DOMAINS": "contoso.com, contoso.co.uk", "MAIL_SERVER": "smtp.example.org",
               "MAIL_FROM": "Care team <care@example.org>", "CARELOOP_METRICS_NETWORKS": "10.0.0.0/8, ::1",
               "DATABASE_URL": "postgres://u:p@db/careloop", "CARELOOP_WEB_BIND": "0.0.0.0:8000"}
    values = {spec.key: typical.get(spec.name, spec.default) for spec in config.SETTINGS.values()}
    values["SQLALCHEMY_DATABASE_URI"] = typical["DATABASE_URL"]
    config.check_settings(values)
    assert values["CARELOOP_LANGUAGES"] == ["de", "en"]
    assert values["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db/careloop?connect_timeout=5"
    assert values["CARELOOP_METRICS_NETWORKS"] == ["10.0.0.0/8", "::1/128"]


def _env(**settings):
    names = {spec.name for spec in config.SETTINGS.values()}
    env = {k: v for k, v in os.environ.items() if k not in names and not k.startswith("CARELOOP_")}
    return {**env, "HF_HUB_OFFLINE": "1", "SECRET_KEY": "settings-test", **settings}


@pytest.mark.parametrize("variable, value, allowed", [
    ("CARELOOP_RATELIMIT_LOGIN_IP", "banana", "N/unit"),
    ("CARELOOP_CHANGES_PER_PAGE", "ten", "a whole number from 1 to 200"),
    ("CARELOOP_PLUGINS", "nosuchplugin", "Installed plugins:"),
])
def test_every_command_stops_in_one_line_from_the_environment(variable, value, allowed, tmp_path):
    result = subprocess.run([CARELOOP, "send-mail"], env=_env(**{variable: value}), cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert variable in result.stderr and value in result.stderr and allowed in result.stderr
    assert not (tmp_path / "instance").exists()  # nothing written before the settings were checked


def test_gunicorn_stops_in_one_line_too(tmp_path):
    result = subprocess.run([str(Path(sys.executable).parent / "gunicorn"), "--config", "python:app.gunicorn_conf",
                             "app.wsgi:app"], env=_env(CARELOOP_RATELIMIT_LOGIN_IP="banana",
                                                        CARELOOP_WEB_BIND="127.0.0.1:0"),
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "careloop:" in line]
    assert lines == ["careloop: Setting CARELOOP_RATELIMIT_LOGIN_IP='banana' is not valid: a limit written N/unit "
                     "or N/<k>unit with unit second, minute, hour or day, e.g. 10/hour or 5/15minutes"]
    assert "Traceback" not in result.stderr


def test_nothing_is_written_at_import_and_the_instance_folder_is_the_working_directory(tmp_path):
    code = ("import config, app, app.models, app.cli; import os; print(sorted(os.listdir('.')))")
    result = subprocess.run([sys.executable, "-c", code], env={**_env(), "PYTHONPATH": str(ROOT)}, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr
    env = _env()
    env.pop("SECRET_KEY")
    subprocess.run([CARELOOP, "db", "upgrade"], env=env, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0
    assert (tmp_path / "instance" / "careloop.sqlite").exists()


def test_every_setting_is_documented():
    text = (ROOT / "docs" / "settings.md").read_text()
    rows = set(re.findall(r"^\| `([A-Z_]+)`", text, re.M))
    missing = sorted({spec.name for spec in config.SETTINGS.values()} - rows)
    assert not missing, f"not in docs/settings.md: {missing}"
