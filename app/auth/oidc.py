"""Single sign-on for staff with OpenID Connect, through Authlib's Flask client.

The authorization-code flow with PKCE (S256), ``state`` and ``nonce``. The provider is
found by discovery (``<issuer>/.well-known/openid-configuration``); the ID token's
signature is checked against the provider's JWKS, and its issuer, audience (our client
id), expiry and nonce are checked before the account is looked up. Every HTTP call to the
provider has a timeout (``CARELOOP_OIDC_TIMEOUT``), so an unreachable provider gives a
clear page instead of a hanging request.

Who may sign in, and with which role, is decided by ``sign_in_with_provider`` in
``app/services/users.py``. Settings: ``CARELOOP_OIDC_*`` and ``CARELOOP_PASSWORD_LOGIN``
in ``config.py`` (documented in docs/security.md, "Single sign-on"). Claims the ID token
lacks come from UserInfo; sign-out ends the provider session where it offers that.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
)

from app.auth.blueprint import bp
from app.extensions import db
from app.services.errors import ServiceError
from app.services.users import sign_in_with_provider
from app.urls import external_url
from app.web import is_safe_next

CLIENT_NAME = "careloop_oidc"
NEXT_KEY = "careloop_sso_next"
ID_TOKEN_KEY = "careloop_sso_id_token"  # kept for RP-initiated logout (id_token_hint)
# Claims Careloop reads; a standard provider gives these from UserInfo, not in the ID token.
USERINFO_CLAIMS = ("email", "email_verified", "name")
METADATA_MAX_AGE = 3600  # seconds: read the provider's discovery document (and keys) again after this
LEEWAY = 60  # seconds of clock difference allowed on exp/iat


# --- Settings -----------------------------------------------------------------------


def sso_enabled() -> bool:
    config = current_app.config
    return bool(config.get("CARELOOP_OIDC_ISSUER") and config.get("CARELOOP_OIDC_CLIENT_ID"))


def password_login_enabled() -> bool:
    return bool(current_app.config.get("CARELOOP_PASSWORD_LOGIN", True))


def sso_label() -> str:
    return current_app.config.get("CARELOOP_OIDC_LABEL") or _("Sign in with single sign-on")


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    return [v.strip() for v in value or () if v and v.strip()]


def _as_map(value: Any) -> dict[str, str]:
    """``"careloop-admins=admin,careloop-leaders=leader"`` (or a dict) as a dict."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    pairs = (item.split("=", 1) for item in _as_list(value) if "=" in item)
    return {key.strip(): role.strip().lower() for key, role in pairs}


def _issuer() -> str:
    return current_app.config["CARELOOP_OIDC_ISSUER"].strip().rstrip("/")


def redirect_uri() -> str:
    """The address to register at the provider: ``<CARELOOP_BASE_URL>/login/sso/callback``."""
    return external_url("auth.sso_callback")


def oidc_client() -> FlaskOAuth2App:
    """This app's Authlib client for the configured provider, kept in ``app.extensions``.

    Built again when the settings change or the discovery document is older than
    ``METADATA_MAX_AGE`` (so rotated keys and moved endpoints are picked up).
    """
    config = current_app.config
    key = (
        _issuer(),
        config["CARELOOP_OIDC_CLIENT_ID"],
        config.get("CARELOOP_OIDC_CLIENT_SECRET", ""),
        config.get("CARELOOP_OIDC_SCOPE", "openid email profile"),
        float(config.get("CARELOOP_OIDC_TIMEOUT", 10)),
    )
    cached = current_app.extensions.get(CLIENT_NAME)
    if cached is not None and cached[0] == key:
        loaded_at = cached[1].server_metadata.get("_loaded_at")
        if loaded_at is None or time.time() - loaded_at < METADATA_MAX_AGE:
            return cached[1]
    issuer, client_id, client_secret, scope, timeout = key
    client = CareloopOidcClient(
        FlaskIntegration(CLIENT_NAME),
        CLIENT_NAME,
        client_id=client_id,
        client_secret=client_secret or None,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": scope,
            "code_challenge_method": "S256",
            "default_timeout": timeout,
        },
    )
    current_app.extensions[CLIENT_NAME] = (key, client)
    return client


class CareloopOidcClient(FlaskOAuth2App):
    """Authlib's client, plus: a signature that fails against the cached keys is checked
    once more against the provider's current JWKS, so a key replaced under the same key id
    is picked up without a restart (an unknown key id already makes Authlib fetch again)."""

    def parse_id_token(self, token, nonce, *args, **kwargs):
        try:
            return super().parse_id_token(token, nonce, *args, **kwargs)
        except BadSignatureError:
            cached = self.server_metadata.get("jwks")
            if self.fetch_jwk_set(force=True) == cached:
                raise  # the same keys: the token really was not signed by this provider
            return super().parse_id_token(token, nonce, *args, **kwargs)


def fresh_metadata(client: FlaskOAuth2App) -> dict:
    """The provider's discovery document, fetched now (not an hour-old copy), so a provider
    that is down is found out here and people see Careloop's page, not a browser error."""
    client.server_metadata.pop("_loaded_at", None)
    return client.load_server_metadata()


def with_userinfo(client: FlaskOAuth2App, token: dict, claims: dict) -> dict:
    """The ID token's claims, completed from the UserInfo endpoint when Careloop needs a claim
    the ID token lacks (standard providers send email and groups there with the code flow).

    The UserInfo ``sub`` must equal the ID token's (OpenID Connect Core 5.3.2); ID-token
    values win. Raises ``ValueError`` when the subjects differ."""
    wanted = list(USERINFO_CLAIMS)
    role_claim = current_app.config.get("CARELOOP_OIDC_ROLE_CLAIM")
    if role_claim:
        wanted.append(role_claim)
    endpoint = client.server_metadata.get("userinfo_endpoint")
    if not endpoint or all(name in claims for name in wanted):
        return claims
    info = client.userinfo(token=token)
    if str(info.get("sub", "")) != str(claims.get("sub", "")):
        raise ValueError(f"UserInfo is about subject {info.get('sub')!r}, the ID token about {claims.get('sub')!r}")
    return {**dict(info), **claims}


def provider_sign_out() -> tuple[str | None, bool]:
    """On sign-out, before the session is cleared: (the provider's end-session address to send
    the browser to, whether this session came from single sign-on). The address is None when
    the provider offers no RP-initiated logout (or cannot be reached): the page says so."""
    id_token = session.get(ID_TOKEN_KEY)
    if not id_token or not sso_enabled():
        return None, bool(id_token)
    client = oidc_client()
    try:
        metadata = client.load_server_metadata()
    except (requests.RequestException, ValueError) as error:
        current_app.logger.warning("Single sign-on: no end-session address (%r)", error)
        return None, True
    if not metadata.get("end_session_endpoint"):
        return None, True
    after = external_url("public.index")
    return client.create_logout_url(post_logout_redirect_uri=after, id_token_hint=id_token,
                                    client_id=client.client_id)["url"], True


def _origin(url: str) -> str | None:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


@bp.after_app_request
def allow_provider_logout(response):
    """"Sign out" is a form; its answer redirects to the provider's end-session address, and
    browsers apply CSP ``form-action`` to that redirect. So, with single sign-on on, the
    provider's origin (the issuer's, and the end-session address's once known) is allowed
    there too. Runs after ``security_headers`` (app/templating.py) has set the policy."""
    policy = response.headers.get("Content-Security-Policy")
    if not policy or "form-action 'self'" not in policy or not sso_enabled():
        return response
    origins = {_origin(_issuer())}
    cached = current_app.extensions.get(CLIENT_NAME)
    if cached is not None:
        origins.add(_origin(cached[1].server_metadata.get("end_session_endpoint", "")))
    allowed = " ".join(sorted(o for o in origins if o))
    if allowed:
        response.headers["Content-Security-Policy"] = policy.replace(
            "form-action 'self'", f"form-action 'self' {allowed}")
    return response


# --- Pages ----------------------------------------------------------------------------


def failure(kind: str, detail: str | None = None):
    """A styled page that says what went wrong and how to try again; logs the detail."""
    pages = {
        "cancelled": (403, _("Sign-in was cancelled"), _(
            "The sign-in service said Careloop may not sign you in: you may have pressed "
            "“Cancel” or refused access there. Nothing has changed. If that was a mistake, try again.")),
        "provider_error": (400, _("The sign-in service reported a problem"), _(
            "The sign-in service did not complete the sign-in. Try again; if it keeps happening, "
            "tell your IT team what the service said.")),
        "state": (400, _("This sign-in could not be matched to your browser"), _(
            "The answer from the sign-in service does not belong to a sign-in started in this browser: "
            "it may have been started in another browser or tab, taken too long, or been used already. "
            "You are not signed in. Start again from the sign-in page.")),
        "unreachable": (502, _("The sign-in service did not answer"), _(
            "Careloop could not reach the sign-in service, or it took too long to answer. "
            "You are not signed in. Wait a minute and try again; if it keeps happening, tell your IT team.")),
        "misconfigured": (502, _("Single sign-on is not set up correctly"), _(
            "The sign-in service's settings do not match Careloop's. You are not signed in. "
            "Tell an admin; they can check the CARELOOP_OIDC_ISSUER setting.")),
        "audience": (400, _("The sign-in answer was meant for another application"), _(
            "The sign-in service issued a token for a different application, so Careloop cannot accept it. "
            "You are not signed in. Try again; if it keeps happening, tell your IT team "
            "(the client id may be wrong).")),
        "issuer": (400, _("The sign-in answer came from an unexpected service"), _(
            "The token was not issued by the sign-in service Careloop is set up to trust. "
            "You are not signed in. Try again; if it keeps happening, tell your IT team.")),
        "expired": (400, _("The sign-in answer had already expired"), _(
            "The token from the sign-in service was out of date when it arrived. You are not signed in. "
            "Try again; if it keeps happening, check that your computer's clock is right.")),
        "signature": (400, _("The sign-in answer could not be verified"), _(
            "The token was not signed with the sign-in service's key, so Careloop cannot trust it. "
            "You are not signed in. Try again; if it keeps happening, tell your IT team.")),
        "nonce": (400, _("The sign-in answer does not match this sign-in"), _(
            "The token from the sign-in service belongs to a different sign-in attempt. "
            "You are not signed in. Start again from the sign-in page.")),
        "userinfo": (400, _("The sign-in service gave details about someone else"), _(
            "The sign-in service's answer about who you are does not match the person it signed in. "
            "You are not signed in. Try again; if it keeps happening, tell your IT team.")),
        "invalid_token": (400, _("The sign-in answer was not valid"), _(
            "The token from the sign-in service was missing information Careloop needs. "
            "You are not signed in. Try again; if it keeps happening, tell your IT team.")),
    }
    code, title, message = pages[kind]
    current_app.logger.warning("Single sign-on refused (%s): %s", kind, detail or "-")
    return _page(code, title, message, provider_said=None)


def _page(code: int, title: str, message: str, provider_said: str | None = None):
    return render_template(
        "auth/sso_error.html", code=code, title=title, message=message, provider_said=provider_said,
        can_retry=sso_enabled(),
    ), code


def password_login_refused():
    """The answer to a password sign-in POST while ``CARELOOP_PASSWORD_LOGIN`` is off."""
    return _page(403, _("Password sign-in is switched off"), _(
        "This organisation signs in to Careloop through its own sign-in service only. "
        "Use the single sign-on button on the sign-in page.") if sso_enabled() else _(
        "Password sign-in is switched off and single sign-on is not set up, so nobody can sign in "
        "here. Ask an admin."))


@bp.context_processor
def _sign_in_options() -> dict[str, Any]:
    """What the sign-in page offers (templates/auth/login.html); only for this blueprint's
    pages, so rendering an email or another page does not run it."""
    return {
        "sso_enabled": sso_enabled,
        "sso_label": sso_label,
        "password_login_enabled": password_login_enabled,
    }


def _home_for(user) -> str:
    return url_for("dashboard.index") if user.is_leader else url_for("staff.file_report")


# --- Routes ---------------------------------------------------------------------------


@bp.route("/login/sso")
def sso_login():
    """Send the browser to the provider, with PKCE, state and nonce kept in the session."""
    if not sso_enabled():
        abort(404)
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    next_url = request.args.get("next")
    session.pop(NEXT_KEY, None)
    if is_safe_next(next_url):
        session[NEXT_KEY] = next_url
    client = oidc_client()
    try:
        metadata = fresh_metadata(client)
    except (requests.RequestException, ValueError) as error:
        current_app.extensions.pop(CLIENT_NAME, None)
        return failure("unreachable", repr(error))
    if str(metadata.get("issuer", "")).rstrip("/") != _issuer() or not metadata.get("authorization_endpoint"):
        current_app.extensions.pop(CLIENT_NAME, None)
        return failure("misconfigured", f"discovery says issuer {metadata.get('issuer')!r}")
    return client.authorize_redirect(redirect_uri())


@bp.route("/login/sso/callback")
def sso_callback():
    """The provider's answer: check it all, then sign the person in (or say why not)."""
    if not sso_enabled():
        abort(404)
    error = request.args.get("error")
    if error:
        if error == "access_denied":
            return failure("cancelled", request.args.get("error_description"))
        current_app.logger.warning("Single sign-on: the provider answered error=%r (%r)",
                                   error, request.args.get("error_description"))
        # Only the error code is shown (never the free text, which anyone can put in a link).
        code = error if re.fullmatch(r"[a-z_]{1,64}", error) else None
        return _page(400, _("The sign-in service reported a problem"), _(
            "The sign-in service did not complete the sign-in. Try again; if it keeps happening, "
            "tell your IT team what the service said."), provider_said=code)
    client = oidc_client()
    metadata_issuer = None
    try:
        metadata_issuer = str(client.load_server_metadata().get("issuer", ""))
        token = client.authorize_access_token(
            leeway=LEEWAY,
            claims_options={
                "iss": {"essential": True, "value": metadata_issuer},
                "aud": {"essential": True, "value": client.client_id},
                "exp": {"essential": True},
                "sub": {"essential": True},
            },
        )
    except MismatchingStateError as error:
        return failure("state", repr(error))
    except OAuthError as error:  # the token endpoint refused (e.g. invalid_grant)
        return failure("provider_error", f"{error.error}: {error.description}")
    except requests.RequestException as error:
        current_app.extensions.pop(CLIENT_NAME, None)
        return failure("unreachable", repr(error))
    except ExpiredTokenError as error:
        return failure("expired", repr(error))
    except (BadSignatureError, InvalidKeyIdError) as error:
        return failure("signature", repr(error))
    except ClaimError as error:
        kind = {"aud": "audience", "azp": "audience", "iss": "issuer", "nonce": "nonce"}.get(
            error.claim, "invalid_token")
        return failure(kind, repr(error))
    except (JoseError, ValueError) as error:
        return failure("signature", repr(error))
    claims = token.get("userinfo")
    if not claims:
        return failure("invalid_token", "no id_token in the token response")
    try:
        claims = with_userinfo(client, token, dict(claims))
    except requests.HTTPError as error:
        return failure("provider_error", f"UserInfo: {error!r}")
    except requests.RequestException as error:
        return failure("unreachable", f"UserInfo: {error!r}")
    except ValueError as error:
        return failure("userinfo", repr(error))
    config = current_app.config
    try:
        user = sign_in_with_provider(
            issuer=metadata_issuer,
            claims=dict(claims),
            allowed_domains=_as_list(config.get("CARELOOP_OIDC_ALLOWED_DOMAINS")),
            role_claim=config.get("CARELOOP_OIDC_ROLE_CLAIM") or None,
            role_map=_as_map(config.get("CARELOOP_OIDC_ROLE_MAP")),
        )
        db.session.commit()
    except ServiceError as refusal:
        db.session.rollback()
        current_app.logger.warning("Single sign-on refused for %r: %s", claims.get("email"), refusal.message)
        return _page(403, _("Careloop cannot sign you in"), refusal.message)
    next_url = session.get(NEXT_KEY)
    session.clear()  # a fresh session on sign-in (no fixation)
    login_user(user)
    if token.get("id_token"):
        session[ID_TOKEN_KEY] = token["id_token"]
    flash(_("Signed in as %(name)s.", name=user.name), "success")
    return redirect(next_url if is_safe_next(next_url) else _home_for(user))
