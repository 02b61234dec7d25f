"""Outgoing HTTP that cannot be aimed at the inside: the server-side request forgery rule.

Careloop sends webhooks to addresses an admin typed. Without care, such an address could
point at the machine itself (``http://127.0.0.1:5432``), the cloud's metadata service
(``http://169.254.169.254``) or the office network. So:

* only ``http`` and ``https`` URLs, without a user name or password in them;
* the host is resolved, and every address it resolves to must be a public one: not
  loopback, private, link-local, shared (100.64/10), multicast, reserved or unspecified,
  in IPv4 or IPv6, including IPv4 addresses wrapped in IPv6 (``::ffff:127.0.0.1``, 6to4,
  Teredo, NAT64);
* the check runs when an endpoint is saved and again before every delivery, and the
  connection then goes to the address that was checked (DNS cannot change in between),
  with the original host name in ``Host`` and, for HTTPS, in SNI and the certificate check;
* redirects are never followed, and proxies from the environment are ignored.

An endpoint an admin explicitly marked "allow private network address" skips the
address rule (never the scheme rule).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from flask_babel import gettext as _
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
RESPONSE_KEPT = 2048  # bytes of the receiver's answer kept for "last responses"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SHARED_SPACE = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeURL(ValueError):
    """The URL may not be called; the message says why, for a person."""


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo client, NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: str | IPAddress) -> bool:
    """True when ``address`` is an ordinary address on the public internet."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        return False  # fe80::1%eth0 and friends
    inner = embedded_ipv4(ip)
    if inner is not None:
        return is_public_address(inner)  # the connection reaches the IPv4 address inside
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return False
    if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return False
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED_SPACE:
        return False
    return ip.is_global


Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), without duplicates, in order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = str(sockaddr[0])
        if address not in seen:
            seen.append(address)
    return seen


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect, and what the receiver must be told it is."""

    url: str
    scheme: str
    host: str  # as written, without brackets
    port: int
    host_header: str
    addresses: tuple[str, ...]

    def pinned_url(self, address: str) -> str:
        """The URL with its host replaced by ``address`` (bracketed for IPv6)."""
        parts = urlsplit(self.url)
        netloc = f"[{address}]:{self.port}" if ":" in address else f"{address}:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def check_url(url: str, *, allow_private: bool = False, resolver: Resolver | None = None) -> Target:
    """Check ``url`` against the rule above; returns the Target or raises UnsafeURL."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeURL(_("That is not a valid address.")) from error
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURL(_("Only http:// and https:// addresses can receive webhooks."))
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeURL(_("The address has no host name."))
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL(_("Put no user name or password in the address; the signature proves who is calling."))
    port = port or (443 if scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = (resolver or resolve)(host, port)
        except (OSError, UnicodeError) as error:
            raise UnsafeURL(_("The host %(host)s could not be found (%(error)s).", host=host, error=error)) from error
        if not addresses:
            raise UnsafeURL(_("The host %(host)s could not be found.", host=host))
    if not allow_private:
        for address in addresses:
            if not is_public_address(address):
                raise UnsafeURL(_(
                    "%(host)s leads to %(address)s, a loopback, private or otherwise internal address. "
                    "Webhooks go only to public addresses unless an admin ticks “Allow a private network address”.",
                    host=host, address=address,
                ))
    default_port = 443 if scheme == "https" else 80
    shown_host = f"[{host}]" if ":" in host else host
    host_header = shown_host if port == default_port else f"{shown_host}:{port}"
    return Target(url=url, scheme=scheme, host=host, port=port, host_header=host_header,
                  addresses=tuple(addresses))


class PinnedHostAdapter(HTTPAdapter):
    """Connects to the address in the URL, but checks the certificate of (and sends SNI for)
    the original host name."""

    def __init__(self, server_hostname: str, **kwargs):
        self.server_hostname = server_hostname
        super().__init__(**kwargs)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self.server_hostname
            pool_kwargs["assert_hostname"] = self.server_hostname
        return host_params, pool_kwargs


@dataclass
class Outcome:
    status_code: int | None
    body_excerpt: str
    duration_ms: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool = False,
         verify: bool | str = True, resolver: Resolver | None = None) -> Outcome:
    """POST ``body`` to ``url`` under the rule above: checked, pinned, no redirects, no proxies,
    timeouts of 5 s to connect and 10 s per read; at most RESPONSE_KEPT bytes of the answer
    are read. Never raises for network trouble: the outcome carries the error."""
    started = time.monotonic()
    try:
        target = check_url(url, allow_private=allow_private, resolver=resolver)
    except UnsafeURL as error:
        return Outcome(None, "", 0, f"Refused: {error}")
    session = requests.Session()
    session.trust_env = False  # no proxies or .netrc from the environment
    session.mount("https://", PinnedHostAdapter(target.host))
    session.mount("http://", HTTPAdapter())
    try:
        for address in target.addresses:  # each checked address in turn, while none accepts the connection
            try:
                response = session.post(
                    target.pinned_url(address), data=body, headers={**headers, "Host": target.host_header},
                    timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=False, stream=True, verify=verify,
                )
                break
            except requests.ConnectionError as error:
                if not _never_connected(error) or address == target.addresses[-1]:
                    raise
        try:
            raw = response.raw.read(RESPONSE_KEPT, decode_content=True) or b""
        finally:
            response.close()
        excerpt = raw.decode(response.encoding or "utf-8", errors="replace")
        error = None
        if 300 <= response.status_code < 400:
            error = f"Redirect to {response.headers.get('Location', '?')} not followed."
        elif not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}"
        return Outcome(response.status_code, excerpt, _ms(started), error)
    except requests.RequestException as error:
        return Outcome(None, "", _ms(started), f"{type(error).__name__}: {_short(error)}"[:2000])
    finally:
        session.close()


def _short(error: requests.RequestException) -> str:
    """The useful end of requests' long error text, e.g. "[Errno 111] Connection refused"."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return f"no connection within {CONNECT_TIMEOUT:g} s"
    if isinstance(error, requests.exceptions.ReadTimeout):
        return f"no answer within {READ_TIMEOUT:g} s"
    reason = getattr(error.args[0], "reason", None) if error.args else None
    text = str(reason if reason is not None else error)
    for marker in ("Failed to establish a new connection: ", "): "):
        if marker in text:
            text = text.split(marker, 1)[1]
            break
    return text.rstrip(")'\"")


def _never_connected(error: requests.ConnectionError) -> bool:
    """True when no connection was made (so nothing was sent and the next address may be tried)."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(error, requests.exceptions.ConnectTimeout) or isinstance(reason, NewConnectionError)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
