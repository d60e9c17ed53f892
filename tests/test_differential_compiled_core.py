"""The opt-in compiled build (``RTPENGINED_MYPYC=1``, setup.py) builds and answers as the pure one.

A copy of the tree is built the way setup.py builds it when an operator opts in (mypyc over
the modules ``[tool.mypy]`` lists), then the golden ng calls and the found differential
flows run against a daemon of that copy: the compiled modules are what it imports, and what
they answer is compared byte for byte with rtpengine 10.5 as the pure tree's is. mypyc
checks annotations at run time, so this is where one that says less than a caller passes
would show (test_typed_core.py keeps them honest statically).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ["tests/test_ng_calls_golden.py", "tests/test_diff_found_flows.py"]


def _copy_tree(target: Path) -> None:
    """The tracked files (a clean clone's content), else the tree without caches/builds."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode == 0 and listed.stdout:
        for name in listed.stdout.decode().split("\0"):
            if name and (ROOT / name).is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, target / name)
        return
    shutil.copytree(ROOT, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
        ".git", "build", "*.so", "__pycache__", ".*_cache", ".hypothesis", "*.egg-info"))


def test_the_compiled_core_builds_and_answers_as_the_pure_one(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    _copy_tree(tree)
    env = {**os.environ, "RTPENGINED_MYPYC": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    built = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                           cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    # (the daemon started from the copy imports the compiled modules, not this tree's)
    where = subprocess.run(
        [sys.executable, "-c", "import rtpengined.offer_answer.session as s, "
         "rtpengined.codec_negotiation as c; print(s.__file__); print(c.__file__)"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    for path in where.stdout.split():
        assert path.startswith(str(tree)) and path.endswith(".so"), where.stdout
    checked = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CHECKS],
        cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
    assert checked.returncode == 0, checked.stdout[-6000:] + checked.stderr[-2000:]
    assert " passed" in checked.stdout and " failed" not in checked.stdout
