"""The ng core's hot modules type-check clean (issue 18).

Every offer, answer and delete runs through the modules ``[tool.mypy]`` in pyproject.toml
lists. Their annotations are what a compiled build (mypyc) would check at run time, where
one that says less than callers pass is a TypeError in the middle of a call; mypy finds
those first. A new error here is an annotation to fix (or a real bug), not one to ignore.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_hot_modules_type_check_clean(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    assert len(listed) >= 24  # (the model, the offer/answer core, the log's per-call helpers)
    assert f"Success: no issues found in {len(listed)} source files" in result.stdout
