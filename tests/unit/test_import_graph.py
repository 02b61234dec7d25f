"""The shape of the code: no import cycles inside app/, a light plugin API, nothing done at import."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in APP.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """Module -> the app modules its import runs: what it imports at module level, and the
    packages above those (imports inside functions, and under ``if TYPE_CHECKING:``, run later
    or never, so they cannot make a cycle at import)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                for alias in node.names:
                    edges.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        # Importing app.a.b.c first runs app/a/__init__.py and app/a/b/__init__.py, unless they
        # are this module's own packages (already being imported when it runs).
        own = {".".join(name.split(".")[:i]) for i in range(1, len(name.split(".")) + 1)}
        implied = {".".join(e.split(".")[:i]) for e in edges for i in range(2, len(e.split(".")))}
        graph[name] = {e for e in edges | implied if e in modules and e not in own}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_inside_app():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _fresh_python(code: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_plugin_api_is_light():
    """A plugin imports ``app.plugin_api``; that must not load NumPy, the models or the database."""
    loaded = _fresh_python(
        "import sys, app.plugin_api; print(' '.join(m for m in ('numpy', 'sqlalchemy', 'app.models', "
        "'app.extensions', 'onnxruntime') if m in sys.modules))", ROOT)
    assert loaded == ""


# Modules that exist to build the app when a server loads them (gunicorn's config and WSGI entry).
ENTRY_POINTS = {"app.wsgi", "app.gunicorn_conf"}


def test_importing_the_app_writes_no_file_and_registers_no_listener(tmp_path):
    """Nothing happens at import (the Flask tutorial's rule): files and listeners wait for create_app."""
    before = set(tmp_path.iterdir())
    out = _fresh_python(
        "import os; os.environ['CARELOOP_INSTANCE_PATH'] = os.getcwd() + '/instance'\n"
        "from sqlalchemy import event, Engine\nfrom sqlalchemy.orm import Session\n"
        "import config, app, app.models, app.services, app.cli\n"
        f"import pkgutil, importlib\nENTRY_POINTS = {ENTRY_POINTS!r}\n"
        "for m in pkgutil.walk_packages(app.__path__, 'app.'):\n"
        "    if m.name not in ENTRY_POINTS: importlib.import_module(m.name)\n"
        "hooks = [(cls.__name__, name) for cls in (Engine, Session) for name in dir(cls.dispatch)\n"
        "         if not name.startswith('_') and any(getattr(getattr(cls.dispatch, name), '_clslevel', {}).values())]\n"
        "print(hooks)", tmp_path)
    assert out == "[]", f"listeners registered at import: {out}"
    assert set(tmp_path.iterdir()) == before, "importing wrote files"
