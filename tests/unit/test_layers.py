"""The layers of the package, checked by import-linter against the contracts in
pyproject.toml ([tool.importlinter]): the package keeps them, and the check fails when a
module imports upward or pure logic reaches a database library."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the package and contracts under `root`, as scripts/test.sh runs it."""
    environment = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(root / "pyproject.toml")],
        cwd=root, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )


def test_the_package_keeps_its_layers() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("module", "source", "broken"), [
    ("domain/upward.py", "from triaged.usecases import intake\n",
     ["triaged.domain is not allowed to import triaged.usecases",
      "triaged.domain.upward -> triaged.usecases.intake"]),
    ("core/upward.py", "from triaged import app\n",
     ["triaged.core is not allowed to import triaged.app",
      "triaged.core.upward -> triaged.app"]),
    ("store/upward.py", "from triaged.usecases import intake\n",
     ["triaged.store is not allowed to import triaged.usecases",
      "triaged.store.upward -> triaged.usecases.intake"]),
    ("core/database.py", "import sqlalchemy\n",
     ["triaged.core is not allowed to import sqlalchemy",
      "triaged.core.database -> sqlalchemy"]),
], ids=["domain-imports-a-use-case", "core-imports-the-wiring", "store-imports-a-use-case",
        "core-imports-sqlalchemy"])
def test_the_check_fails_on_an_import_against_the_layers(
    tmp_path: Path, module: str, source: str, broken: list[str]
) -> None:
    shutil.copytree(REPO / "triaged", tmp_path / "triaged",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "triaged" / module).write_text(source)

    result = lint_imports(tmp_path)

    assert result.returncode != 0, result.stdout
    for line in broken:
        assert line in result.stdout, result.stdout
