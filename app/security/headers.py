"""Security headers on every response: no sniffing, no framing, a strict CSP, HTTPS kept."""

from __future__ import annotations

from flask import Flask, current_app


def init_app(app: Flask) -> None:
    app.after_request(_security_headers)


def _security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    )
    # No page needs the camera, microphone, location, sensors or payments: nothing may ask.
    response.headers.setdefault(
        "Permissions-Policy",
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
        "payment=(), usb=()",
    )
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config["CARELOOP_BASE_URL"].startswith("https://"):
        # Browsers keep to HTTPS for a year (not subdomains: they may be other services).
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response
