"""The compiled ng core that ``pip install .`` builds answers as the pure one, and an install
that cannot compile it is pure Python, never half compiled.

A copy of the tree is built as setup.py builds a wheel (mypyc over the modules
``[tool.mypy]`` lists, no variable needed) and its compiled modules put beside its sources,
as an install has them; then the golden ng calls, the found differential flows, rtpengine's
own signalling cases, the suites that once caught a compiled build answering otherwise
(DTLS roles, SDES query flags, the CLI's terminate), WebRTC with a real browser, Redis, the
attack probes, the relay plane's and the log's own tests run against that copy (~5 minutes):
the compiled modules are what they import, and what they answer is compared with rtpengine
10.5 as the pure tree's is. Random call flows (``fuzz/flow_replies.py``) then get the same
replies, request by request, from the copy's core as from the pure one. mypyc checks
annotations at run time, so this is where one that says less than a caller passes would
show (test_typed_core.py keeps them honest statically). The rest of the suite runs on the
pure tree (an editable install).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# (in groups, each one run of pytest well inside the per-test timeout; the build is once)
CHECKS = {
    "golden-and-upstream": [
        "tests/test_ng_calls_golden.py", "tests/test_diff_found_flows.py",
        "tests/test_upstream_suite.py",  # (rtpengine's own signalling cases)
    ],
    "sdes-dtls-cli": [
        "tests/test_diff_webrtc_flags.py", "tests/test_diff_sdes_query_flags.py",
        "tests/test_diff_webrtc.py", "tests/test_diff_dtls_unconfirmed.py",
        "tests/test_diff_sdes.py", "tests/test_cli_calls.py",
        "tests/test_diff_cdr.py",  # (the call's end as the compiled delete and timers see it)
    ],
    "browser": ["tests/test_diff_browser_webrtc.py"],
    # (the relay plane, compiled too: what it tells the workers, and their media relayed)
    "relay-plane": ["tests/test_relay.py", "tests/test_relay_plane_batches.py"],
    # (the log's lines, compiled: every form 10.5 writes, by the direct route and a record's)
    "log": ["tests/test_log_direct.py", "tests/test_log_lines.py", "tests/test_log_context.py",
            "tests/test_compiled_exceptions.py"],
    "webrtc-redis-attacks": [
        "tests/test_webrtc_relay.py", "tests/test_webrtc_trickle.py",
        "tests/test_ice_alternate_addresses.py",
        "tests/test_redis_daemon.py", "tests/test_redis_sdes_end_to_end.py",
        "tests/test_pubsub_redis.py",
        "tests/test_hardening_crash_probes.py", "tests/test_hardening_security.py",
        "tests/test_hardening_attack27.py",
    ],
}
WARNING = "building without the compiled ng core"


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


def _build(tree: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """setup.py's build of the extensions as for a wheel (not in place), into ``built``."""
    return subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "-b", "built", "-t", "built-tmp"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=1800)


def _built(tree: Path) -> list[str]:
    return sorted(str(path.relative_to(tree / "built")) for path in (tree / "built").rglob("*.so"))


def _environment(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **extra}
    env.pop("PYTHONPATH", None)
    env.pop("RTPENGINED_MYPYC", None)
    return env


def _setup_module():
    spec = importlib.util.spec_from_file_location("rtpengined_setup", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # (setup() itself runs only as __main__)
    return module


def test_which_builds_compile_the_core():
    wants = _setup_module().wants_compiled_core
    assert wants(["setup.py", "bdist_wheel", "--dist-dir", "x"], {})  # pip install .
    assert not wants(["setup.py", "editable_wheel", "--dist-dir", "x"], {})  # pip install -e .
    assert not wants(["setup.py", "build_ext", "--inplace"], {})
    assert not wants(["setup.py", "egg_info"], {})  # (pip asking for metadata: no build)
    assert wants(["setup.py", "build_ext", "--inplace"], {"RTPENGINED_MYPYC": "1"})
    assert wants(["setup.py", "editable_wheel"], {"RTPENGINED_MYPYC": "1"})
    assert not wants(["setup.py", "bdist_wheel"], {"RTPENGINED_MYPYC": "0"})


@pytest.fixture(scope="module")
def compiled_tree(tmp_path_factory) -> Path:
    """A copy of the tree with the compiled core built as for a wheel, beside its sources."""
    tree = tmp_path_factory.mktemp("compiled") / "tree"
    tree.mkdir()
    _copy_tree(tree)
    env = _environment()
    built = _build(tree, env)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    assert WARNING not in built.stderr, built.stderr[-4000:]
    modules = _built(tree)
    assert "rtpengined/offer_answer/session.cpython" in " ".join(modules), modules
    assert any(name.startswith("rtpengined__mypyc.") for name in modules), modules
    for name in modules:  # (beside the sources, as an install has them)
        shutil.copy2(tree / "built" / name, tree / name)
    return tree


def test_the_compiled_core_is_what_a_daemon_of_the_build_imports(compiled_tree):
    where = subprocess.run(
        [sys.executable, "-c", "import rtpengined.offer_answer.session as s, "
         "rtpengined.codec_negotiation as c, rtpengined.media.plane as p, "
         "rtpengined.log_lines as log; "
         "print(s.__file__); print(c.__file__); print(p.__file__); print(log.__file__)"],
        cwd=compiled_tree, env=_environment(), capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    for path in where.stdout.split():
        assert path.startswith(str(compiled_tree)) and path.endswith(".so"), where.stdout


@pytest.mark.parametrize("group", list(CHECKS))
def test_the_compiled_core_answers_as_the_pure_one(compiled_tree, group):
    checked = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CHECKS[group]],
        cwd=compiled_tree, env=_environment(), capture_output=True, text=True, timeout=1800)
    assert checked.returncode == 0, checked.stdout[-6000:] + checked.stderr[-2000:]
    summary = checked.stdout.strip().splitlines()[-1]
    assert " passed" in summary and " failed" not in summary, checked.stdout[-6000:]
    assert " skipped" not in summary, checked.stdout[-6000:]  # every check ran, none left out


FLOW_SEEDS = (1, 2, 3, 4)
FLOW_STEPS = 3000


def _flow_replies(tree: Path, seed: int) -> list[str]:
    run = subprocess.run(
        [sys.executable, "tests/fuzz/flow_replies.py", str(seed), str(FLOW_STEPS)],
        cwd=tree, env=_environment(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    return run.stdout.splitlines()


@pytest.mark.parametrize("seed", FLOW_SEEDS)
def test_random_call_flows_get_the_pure_cores_answers(compiled_tree, seed):
    """Requests no fixed test thought of (``fuzz/flows.py``'s generator: random commands,
    flags, options and SDP over a few calls, the core's own SDP fed back): every reply of
    the compiled core is the pure one's, once what each build draws at random is masked.
    A value of a type the annotations do not admit would stop a compiled function (mypyc
    checks them at run time) and answer otherwise here."""
    pure = _flow_replies(ROOT, seed)
    compiled = _flow_replies(compiled_tree, seed)
    assert len(pure) == len(compiled) == FLOW_STEPS
    differ = [(ours, theirs) for ours, theirs in zip(pure, compiled, strict=True) if ours != theirs]
    assert not differ, "\n".join(f"pure:     {ours[:1500]}\ncompiled: {theirs[:1500]}"
                                  for ours, theirs in differ[:3])


def test_without_mypyc_the_install_is_pure_python(tmp_path):
    """mypy missing from the build: the two C helpers only, and one line saying why."""
    tree = tmp_path / "tree"
    tree.mkdir()
    _copy_tree(tree)
    stand_in = tmp_path / "stand-in" / "mypyc"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text('raise ImportError("no mypyc in this build")\n')
    env = _environment()
    env["PYTHONPATH"] = str(stand_in.parent)
    built = _build(tree, env)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    assert f"{WARNING} (pure Python, same behaviour): mypyc is not installed" in built.stderr
    assert [name.split(".")[0] for name in _built(tree)] == [
        "rtpengined/media/_relay", "rtpengined/protocol/_bencode"]


def test_a_core_that_does_not_compile_leaves_no_part_of_it(tmp_path):
    """No working C compiler: the install still succeeds, without any of mypyc's modules
    (each imports their shared library: one without it would fail at import)."""
    tree = tmp_path / "tree"
    tree.mkdir()
    _copy_tree(tree)
    built = _build(tree, _environment(CC="false", MYPYC_OPT_LEVEL="0"))
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    assert f"{WARNING} (pure Python, same behaviour): compiling it failed" in built.stderr
    assert _built(tree) == []  # (the two helpers are optional and failed too)
