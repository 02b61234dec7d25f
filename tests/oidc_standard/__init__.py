"""A standard OpenID Connect provider nobody on the project wrote, for the single sign-on
tests: npm ``oidc-provider`` 8.8.1 (``make oidc-provider`` installs it under ``.venv/``),
started on loopback by ``StandardProvider``. No network is used at test time."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / ".venv" / "oidc-provider"
SCRIPT = Path(__file__).with_name("provider.mjs")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StandardProvider:
    """``StandardProvider(redirect_uri, post_logout_uri, accounts).start()``; ``.issuer``, ``.stop()``."""

    def __init__(self, redirect_uri: str, post_logout_redirect_uri: str, accounts: dict[str, dict]):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client_id = "careloop"
        self.client_secret = secrets.token_urlsafe(24)
        self.settings = {
            "port": self.port, "clientId": self.client_id, "clientSecret": self.client_secret,
            "redirectUri": redirect_uri, "postLogoutRedirectUri": post_logout_redirect_uri, "accounts": accounts,
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> StandardProvider:
        module = PACKAGE_DIR / "node_modules" / "oidc-provider" / "package.json"
        if not module.exists():
            raise RuntimeError(f"{module} is missing: run `make oidc-provider` (npm install, once).")
        self.log = tempfile.NamedTemporaryFile(prefix="oidc-provider-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), json.dumps(self.settings)], cwd=PACKAGE_DIR,
            stdout=self.log, stderr=subprocess.STDOUT,
            env={"PATH": "/usr/bin:/bin", "NODE_ENV": "development", "OIDC_PROVIDER_DIR": str(PACKAGE_DIR)},
        )
        deadline = time.monotonic() + 30
        while "ready " not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"oidc-provider did not start:\n{self.output()}")
            time.sleep(0.05)
        return self

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if getattr(self, "log", None) is not None:
            self.log.close()
            Path(self.log.name).unlink(missing_ok=True)
            self.log = None
