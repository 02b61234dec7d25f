"""The client's address, scheme and host behind proxies (werkzeug's ProxyFix).

Every rate limit counts ``request.remote_addr``; behind a proxy that would be the proxy's
address, shared by everyone, unless the proxy's forwarded headers are trusted.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app: Flask) -> None:
    proxies = int(app.config.get("CARELOOP_PROXY_COUNT") or 0)
    if proxies > 0:
        # Trust exactly this many proxies' X-Forwarded-For/-Proto/-Host/-Port/-Prefix headers.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies,
                                x_port=proxies, x_prefix=proxies)
