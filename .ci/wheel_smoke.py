"""Use a running Careloop as people would: every page reachable by links, for a visitor and each
demo role, plus filing a report through the public form. Fails on any 5xx, a missing template or
static file, or a page that links nowhere. Run with the installed wheel's Python (needs requests).

    python .ci/wheel_smoke.py http://127.0.0.1:8000
"""

from __future__ import annotations

import re
import sys
from html import unescape
from urllib.parse import urljoin, urlsplit

import requests

BASE = sys.argv[1].rstrip("/")
LOGINS = [("admin@example.org", "demo-admin-pass"), ("dana@example.org", "demo-leader-pass"),
          ("frankie@example.org", "demo-staff-pass")]
SKIP = re.compile(r"^/(logout|language|login/sso)|/unsubscribe|\.(csv|json|atom)$|/export")
failures: list[str] = []


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', html)
    return match.group(1) if match else ""


def field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
    return unescape(match.group(1)) if match else ""


def crawl(session: requests.Session, who: str, limit: int = 150) -> int:
    seen: set[str] = set()
    queue = ["/"]
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = session.get(BASE + path, timeout=30, allow_redirects=True)
        if response.status_code >= 500 or "TemplateNotFound" in response.text:
            failures.append(f"{who}: GET {path} -> {response.status_code}")
            continue
        if "text/html" not in response.headers.get("Content-Type", ""):
            continue
        for link in re.findall(r'(?:href|src)="([^"#]+)"', response.text):
            target = urlsplit(urljoin(BASE + path, unescape(link)))
            if target.netloc != urlsplit(BASE).netloc:
                continue
            local = target.path + (f"?{target.query}" if target.query else "")
            if target.path.startswith("/static/"):
                if local not in seen:
                    seen.add(local)
                    if session.get(BASE + local, timeout=30).status_code != 200:
                        failures.append(f"{who}: static {local} missing")
                continue
            if not SKIP.search(target.path) and local not in seen and "page=" not in target.query:
                queue.append(local)
    return len(seen)


def main() -> int:
    anonymous = requests.Session()
    pages = crawl(anonymous, "visitor")
    print(f"visitor: {pages} pages and files fetched")
    form = anonymous.get(BASE + "/", timeout=30).text
    filed = anonymous.post(BASE + "/", data={
        "csrf_token": csrf(form), "shown": field(form, "shown"), "problem_choice": "new",
        "text": "The wheel check: the lift at the east entrance has been out of order for a week.",
        "name": "Wheel Check", "email": "wheel-check@example.net", "contact_ok": "y"}, timeout=60)
    if "/r/" not in filed.url:
        failures.append(f"filing through the public form ended at {filed.url} ({filed.status_code})")
    else:
        print(f"visitor: filed a report, private page {urlsplit(filed.url).path[:6]}… answers {filed.status_code}")
    for email, password in LOGINS:
        session = requests.Session()
        page = session.get(BASE + "/login", timeout=30).text
        signed_in = session.post(BASE + "/login", data={"csrf_token": csrf(page), "email": email,
                                                        "password": password}, timeout=30)
        if signed_in.status_code >= 400 or "/login" in urlsplit(signed_in.url).path:
            failures.append(f"{email}: sign-in failed ({signed_in.status_code} at {signed_in.url})")
            continue
        print(f"{email}: {crawl(session, email)} pages and files fetched")
    for path, expect in (("/healthz", 200), ("/readyz", 200), ("/metrics", 200), ("/changes.atom", 200)):
        status = requests.get(BASE + path, timeout=30).status_code
        if status != expect:
            failures.append(f"GET {path} -> {status}, expected {expect}")
    for failure in failures:
        print("FAILED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
