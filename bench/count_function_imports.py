"""Count import statements that sit inside a function (not at module level): .venv/bin/python bench/count_function_imports.py app"""
import ast
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "app")
n = 0; files = 0
class V(ast.NodeVisitor):
    def __init__(s): s.depth = 0; s.count = 0
    def visit_FunctionDef(s, node): s.depth += 1; s.generic_visit(node); s.depth -= 1
    visit_AsyncFunctionDef = visit_FunctionDef
    def visit_Import(s, node):
        if s.depth: s.count += 1
    visit_ImportFrom = visit_Import
for p in sorted(root.rglob("*.py")):
    v = V(); v.visit(ast.parse(p.read_text())); n += v.count; files += bool(v.count)
print(f"{root}: {n} function-level imports in {files} files")
