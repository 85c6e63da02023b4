"""docs/architecture.md names code as `file.py:name`: every such name must still exist.

A file is a path under `triaged/` (or the repository, for `tests/…`); a shortened
path (`intake/threads.py`) must match exactly one file. `name` may be `Class.method`.
Bare paths (`store/claims.py`) must exist too, and so must `Class.method` cited
without its file: some class of that name under `triaged/` defines it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
_CITED = re.compile(r"`((?:[\w]+/)*[\w]+\.py)(?::([\w.]+))?`")
_METHOD = re.compile(r"`([A-Z]\w*)\.(\w+)`")


def _resolve(cited: str) -> Path | None:
    for base in (ROOT / "triaged", ROOT):
        if (base / cited).is_file():
            return base / cited
    found = [p for p in (ROOT / "triaged").rglob("*.py") if p.as_posix().endswith("/" + cited)]
    return found[0] if len(found) == 1 else None


def _defined(tree: ast.AST, dotted: str) -> bool:
    scope: list[ast.stmt] = tree.body if isinstance(tree, ast.Module) else []
    for part in dotted.split("."):
        names: dict[str, ast.stmt] = {}
        for node in scope:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names[node.name] = node
            elif isinstance(node, ast.Assign):
                names.update({t.id: node for t in node.targets if isinstance(t, ast.Name)})
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names[node.target.id] = node
        found = names.get(part)
        if found is None:
            return False
        scope = found.body if isinstance(found, ast.ClassDef) else []
    return True


def stale_citations(text: str) -> list[str]:
    stale = []
    for cited, name in _CITED.findall(text):
        path = _resolve(cited)
        if path is None:
            stale.append(f"{cited}: no such file (or more than one)")
        elif name and not _defined(ast.parse(path.read_text()), name):
            stale.append(f"{cited}:{name}: not defined there")
    modules = [ast.parse(p.read_text()) for p in (ROOT / "triaged").rglob("*.py")]
    for cls, method in _METHOD.findall(text):
        if not any(_defined(tree, f"{cls}.{method}") for tree in modules):
            stale.append(f"{cls}.{method}: no class defines it")
    return stale


def test_every_cited_file_and_name_exists() -> None:
    assert stale_citations(DOC.read_text()) == []


def test_a_stale_citation_is_caught() -> None:
    assert stale_citations("`store/db.py:no_such_function` `nowhere/gone.py` "
                           "`Sender.no_such_method`") == [
        "store/db.py:no_such_function: not defined there",
        "nowhere/gone.py: no such file (or more than one)",
        "Sender.no_such_method: no class defines it",
    ]
