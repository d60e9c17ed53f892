"""``--version`` and ``--codecs``: print and exit, beside rtpengine 10.5.

Both are answered before anything else (no listener bound, no warning about other options);
``--version`` on stderr as ``Version: X``, ``--codecs`` as 10.5 lays its list out (the name
right-aligned in 20 columns, then what can be done with it here).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

REFERENCE = "/usr/bin/rtpengine"
OURS = [sys.executable, "-m", "rtpengined", "run"]
STATUS = ("fully supported", "supported for decoding only", "supported for encoding only",
          "codec supported but lacks RTP definition", "not supported")
LINE = re.compile(r"^( {0,19}\S+): (.+)$")


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=20)


def _daemons():
    yield OURS
    if os.path.exists(REFERENCE):
        yield [REFERENCE]


@pytest.mark.parametrize("argv", list(_daemons()), ids=lambda a: os.path.basename(a[0]))
@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_version_is_printed_and_nothing_started(argv, flag):
    # (an option this daemon only warns about, and one that would start a listener, beside)
    done = _run([*argv, flag, "--media-num-threads=4", "--listen-ng=127.0.0.1:1"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert re.fullmatch(r"Version: \S+\n", done.stderr), done.stderr


def _listing(argv: list[str]) -> dict[str, str]:
    done = _run([*argv, "--codecs"])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines and all(LINE.match(line) and len(LINE.match(line).group(1)) == 20
                         for line in lines), done.stdout
    return {m.group(1).strip(): m.group(2) for m in map(LINE.match, lines)}


def test_codecs_are_listed_as_rtpengine_lists_them():
    ours = _listing(OURS)
    assert set(ours.values()) <= set(STATUS)
    for name in ("PCMA", "PCMU", "telephone-event", "CN"):
        assert ours[name] == "fully supported"
    if not os.path.exists(REFERENCE):
        return
    theirs = _listing([REFERENCE])
    assert set(ours) <= set(theirs)
    for name, status in ours.items():  # (one without its library here: not supported)
        assert status in (theirs[name], "not supported"), name
    # in 10.5's order
    assert sorted(ours, key=list(theirs).index) == list(ours)
