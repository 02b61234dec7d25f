"""The W3C Nu HTML checker over the pages the browser tests visit.

``HtmlRecorder`` wraps the live server's WSGI app and saves each distinct HTML page it
serves (by method, path shape and status, a few of each) under ``test-artifacts/html/``;
``test_zz_valid_html.py`` runs vnu.jar (npm ``vnu-jar``, installed by ``make vnu``) over them
at the end of the browser tests and fails on any error.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HTML_DIR = ROOT / "test-artifacts" / "html"
VNU_DEFAULT = ROOT / ".venv" / "vnu" / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
PER_SHAPE = 4  # the same page in a few states (a form with errors, a preview, another language)


def vnu_jar() -> Path:
    return Path(os.environ.get("VNU_JAR") or VNU_DEFAULT)


def _shape(path: str) -> str:
    path = re.sub(r"/\d+", "/N", path)
    return re.sub(r"/[A-Za-z0-9_-]{20,}", "/T", path)


class HtmlRecorder:
    def __init__(self, app, folder: Path = HTML_DIR) -> None:
        self.app = app
        self.folder = folder
        self.lock = threading.Lock()
        self.seen: dict[str, set[str]] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, environ, start_response):
        captured = {}

        def recording_start_response(status, headers, exc_info=None):
            captured["status"] = status
            captured["type"] = next((v for k, v in headers if k.lower() == "content-type"), "")
            return start_response(status, headers, exc_info)

        body = self.app(environ, recording_start_response)
        if not captured.get("type", "").startswith("text/html"):
            return body
        chunks = list(body)
        if hasattr(body, "close"):
            body.close()
        self._save(environ, captured["status"], b"".join(chunks))
        return chunks

    def _save(self, environ, status: str, html: bytes) -> None:
        url = environ.get("PATH_INFO", "/") + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
        key = f"{environ.get('REQUEST_METHOD')} {_shape(environ.get('PATH_INFO', '/'))} {status.split()[0]}"
        digest = hashlib.sha256(html).hexdigest()[:16]
        with self.lock:
            kept = self.seen.setdefault(key, set())
            if len(kept) >= PER_SHAPE or digest in kept:
                return
            kept.add(digest)
            name = f"{digest}.html"
            (self.folder / name).write_bytes(html)
            index = self.folder / "index.jsonl"
            with index.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"file": name, "url": url, "key": key}) + "\n")


def clear() -> None:
    if HTML_DIR.exists():
        shutil.rmtree(HTML_DIR)
    HTML_DIR.mkdir(parents=True, exist_ok=True)


def saved_pages() -> dict[str, str]:
    """file name -> the URL it was served for."""
    index = HTML_DIR / "index.jsonl"
    if not index.exists():
        return {}
    return {row["file"]: row["url"] for row in map(json.loads, index.read_text(encoding="utf-8").splitlines())}


def validate(files: list[Path]) -> list[dict]:
    """vnu's errors (not warnings) for the files, as dicts with url, message, line and extract."""
    jar = vnu_jar()
    result = subprocess.run(
        ["java", "-jar", str(jar), "--errors-only", "--format", "json", *map(str, files)],
        capture_output=True, text=True, timeout=600,
    )
    report = json.loads(result.stderr or result.stdout or '{"messages": []}')
    return [m for m in report.get("messages", []) if m.get("type") == "error"]
