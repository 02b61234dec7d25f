"""A real OpenID Connect provider on loopback, for the single sign-on tests.

Built from Authlib's authorization server (the authorization-code grant with its OpenID
Connect extension and PKCE) and signed with an RSA key generated per provider (joserfc,
the JOSE library Authlib itself uses since 1.6; ``authlib.jose`` is deprecated). It serves
discovery, JWKS, an authorization page with a sign-in form, and the token endpoint, through
werkzeug's ``make_server`` in a thread on 127.0.0.1.

It misbehaves on demand (``provider.misbehave = ...``): ``"wrong_audience"``, ``"expired"``,
``"wrong_nonce"``, ``"wrong_issuer"`` or ``"other_key"`` (signed with a key that is not the
published one, under the published key id); ``"userinfo_other_subject"`` (its UserInfo
answer is about someone else). With ``claims_in_userinfo`` it behaves like a standard
provider: the ID token carries only ``sub``, the rest comes from UserInfo. ``rotate_key()``
replaces the signing key (under the same key id, or a new one), as a provider does on rotation.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from html import escape

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, OAuth2Error
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify, request
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

KEY_ID = "test-provider-key"


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: set[str] = field(default_factory=set)

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return next(iter(self.redirect_uris), None)

    def get_allowed_scope(self, scope):
        return scope

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return None


class OidcProvider:
    """``start()``, ``add_user(...)``, then point the app at ``provider.issuer``."""

    def __init__(self, client_id: str = "careloop", client_secret: str | None = None):
        self.key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"})
        self.client = Client(client_id, client_secret or secrets.token_urlsafe(24))
        self.users: dict[str, tuple[str, dict]] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.nonces: set[str] = set()
        self.misbehave: str | None = None
        self.claims_in_userinfo = False
        self.access_tokens: dict[str, dict] = {}
        self.userinfo_requests = 0
        self.token_requests = 0
        self.app = self._build_app()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="oidc-provider", daemon=True)

    # --- running -----------------------------------------------------------------------

    def start(self) -> OidcProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)

    def rotate_key(self, new_kid: str | None = None) -> None:
        """Sign with a new key from now on and publish only it (under ``new_kid``, or the same id)."""
        kid = new_kid or self.key.kid
        self.key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})

    def add_user(self, username: str, password: str, **claims) -> None:
        """A person who can sign in here; ``claims`` go into their ID token (``sub`` defaults
        to a random id, ``email`` to the username, ``email_verified`` to true)."""
        claims.setdefault("sub", secrets.token_hex(8))
        claims.setdefault("email", username)
        claims.setdefault("email_verified", True)
        self.users[username] = (password, claims)

    # --- the provider ---------------------------------------------------------------------

    def _build_app(self) -> Flask:  # noqa: C901 - one small view per endpoint, each misbehaving on demand
        provider = self
        app = Flask("oidc_provider")
        app.config["SECRET_KEY"] = secrets.token_hex(16)

        class CodeGrant(AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")

            def save_authorization_code(self, code, request):
                data = request.payload.data
                nonce = data.get("nonce")
                if nonce:
                    provider.nonces.add(nonce)
                provider.codes[code] = AuthorizationCode(
                    code=code,
                    client_id=request.client.get_client_id(),
                    redirect_uri=request.payload.redirect_uri,
                    scope=request.payload.scope,
                    user=request.user,
                    nonce=nonce,
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code, client):
                found = provider.codes.get(code)
                return found if found and found.client_id == client.get_client_id() else None

            def delete_authorization_code(self, authorization_code):
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code):
                return authorization_code.user

        class OpenIDExtension(OpenIDCode):
            def exists_nonce(self, nonce, request):
                return nonce in provider.nonces

            def resolve_client_private_key(self, client):
                return provider.other_key if provider.misbehave == "other_key" else provider.key

            def get_client_algorithm(self, client):
                return "RS256"

            def get_encode_header(self, client):
                return {"alg": "RS256", "kid": provider.key.kid}

            def get_client_claims(self, client):
                now = int(time.time())
                claims = {"iss": provider.issuer, "aud": [client.get_client_id()], "iat": now, "exp": now + 300}
                if provider.misbehave == "wrong_audience":
                    claims["aud"] = ["some-other-application"]
                elif provider.misbehave == "wrong_issuer":
                    claims["iss"] = "http://127.0.0.1:1/not-the-issuer"
                elif provider.misbehave == "expired":
                    claims.update(iat=now - 7200, exp=now - 3600, auth_time=now - 7200)
                return claims

            def get_authorization_code_claims(self, authorization_code):
                claims = super().get_authorization_code_claims(authorization_code)
                if provider.misbehave == "wrong_nonce":
                    claims["nonce"] = "a-nonce-from-another-sign-in"
                return claims

            def generate_user_info(self, user, scope):
                if provider.claims_in_userinfo:  # a standard provider: the rest is at UserInfo
                    return UserInfo(sub=user["sub"])
                return UserInfo(user)

        server = AuthorizationServer(
            app,
            query_client=lambda client_id: provider.client if client_id == provider.client.client_id else None,
            save_token=lambda token, request: provider.access_tokens.__setitem__(
                token["access_token"], dict(request.user)),
        )
        server.register_grant(CodeGrant, [OpenIDExtension(require_nonce=True), CodeChallenge(required=True)])

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify(
                issuer=provider.issuer,
                authorization_endpoint=f"{provider.issuer}/authorize",
                token_endpoint=f"{provider.issuer}/token",
                jwks_uri=f"{provider.issuer}/jwks",
                userinfo_endpoint=f"{provider.issuer}/userinfo",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                scopes_supported=["openid", "email", "profile"],
                token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
                code_challenge_methods_supported=["S256"],
            )

        @app.get("/jwks")
        def jwks():
            return jsonify(keys=[provider.key.as_dict(private=False)])

        @app.route("/authorize", methods=["GET", "POST"])
        def authorize():
            if request.method == "GET":
                try:
                    server.get_consent_grant(end_user=None)
                except OAuth2Error as error:  # an invalid request: say so, like a real provider
                    return f"<p>Invalid request: {escape(str(error))}</p>", 400
                return _login_page()
            if request.form.get("action") == "cancel":
                return server.create_authorization_response(grant_user=None, grant=server.get_consent_grant())
            username = request.form.get("username", "")
            password, claims = provider.users.get(username, (None, None))
            if password is None or not secrets.compare_digest(password, request.form.get("password", "")):
                return _login_page("Wrong username or password."), 401
            grant = server.get_consent_grant(end_user=dict(claims))
            return server.create_authorization_response(grant_user=dict(claims), grant=grant)

        @app.get("/userinfo")
        def userinfo():
            provider.userinfo_requests += 1
            scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
            claims = provider.access_tokens.get(value) if scheme.lower() == "bearer" else None
            if claims is None:
                return jsonify(error="invalid_token"), 401
            if provider.misbehave == "userinfo_other_subject":
                claims = {**claims, "sub": "somebody-else"}
            return jsonify(claims)

        @app.post("/token")
        def token():
            provider.token_requests += 1
            return server.create_token_response()

        return app


def _login_page(error: str | None = None) -> str:
    message = f'<p role="alert">{escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test provider: sign in</title></head>
<body><main><h1>Test identity provider</h1>{message}
<form method="post" action="{escape(request.full_path)}">
<p><label for="username">Username</label> <input id="username" name="username" autocomplete="username"></p>
<p><label for="password">Password</label> <input id="password" name="password" type="password"></p>
<p><button type="submit" name="action" value="sign-in">Sign in to the provider</button>
<button type="submit" name="action" value="cancel">Cancel</button></p>
</form></main></body></html>"""
