"""rtpengine's other daemon suites (``t/auto-daemon-tests-<name>.pl``), their SDP, against both
daemons.

The suites beside ``auto-daemon-tests.pl`` whose cases are signalling a proxy sends:
publish/subscribe (``subscribe request``, ``subscribe answer``, ``publish``; the SIPREC and
media-label subscriptions, pause/resume, subscriptions with transcoding, SRTP and ICE), the
DTMF delay buffer, DTX with and without comfort noise, and the jitter buffer. Each suite is
recorded as data (``tests/fixtures/upstream/auto-daemon-tests-<name>.json``, see the README
there) and replayed in a private network namespace with its own daemon options: every
offer, answer, publish and subscription reply must hold the SDP the suite expects, every
other request must answer ``ok``. Their media checks (the delay buffer's timing, DTX's
generated packets) are not replayed here; ``test_diff_delay_timing.py``,
``test_diff_dtmf.py`` and the DTX tests compare that media with 10.5's.

A subscription's reply names the tags the suite then answers it with: the recorder stands
``from``/``to`` in for them, and the replay puts the reply's own tags back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from netns_helpers import NetNamespace, NsDaemonPair, namespaces_available
from upstream_suite import checked_reply

pytestmark = pytest.mark.skipif(namespaces_available() is not None,
                                reason=namespaces_available() or "")

FIXTURES = Path(__file__).parent / "fixtures" / "upstream"
SUITES = ("pubsub", "delay-buffer", "dtx", "dtx-cn", "jb")
INTERFACES = ("203.0.113.1", "2001:db8:4321::1")
# The recorder's stand-ins for the tags a ``subscribe request`` reply names.
_TAG_STAND_INS = ("from", "to")
_TAG_KEYS = ("from-tag", "to-tag")


def _load(name: str) -> dict[str, Any]:
    with (FIXTURES / f"auto-daemon-tests-{name}.json").open() as f:
        return json.load(f)


DATA = {name: _load(name) for name in SUITES}
CASES = [(name, index, case) for name in SUITES
         for index, case in enumerate(DATA[name]["cases"])]


def _daemon_options(suite: dict[str, Any]) -> tuple[str, ...]:
    """The suite's options about media (silence, DTX, jitter buffer); where the daemon
    listens, logs and which interfaces it has are the pair's own."""
    return tuple(o for o in suite["daemon-options"]
                 if o.startswith(("--silence-detect", "--dtx-", "--jitter-buffer")))


@pytest.fixture(scope="module")
def pairs():
    """One daemon pair per set of daemon options, started when a case first needs it."""
    namespace = NetNamespace()
    started: dict[tuple[str, ...], NsDaemonPair] = {}

    def pair_for(options: tuple[str, ...]) -> NsDaemonPair:
        if options not in started:
            started[options] = NsDaemonPair(namespace, options, interfaces=INTERFACES)
        return started[options]

    try:
        yield pair_for
    finally:
        try:
            for pair in started.values():
                pair.stop()
        finally:
            namespace.delete()


def _with_tags(request: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    message = dict(request)
    for key in _TAG_KEYS:
        if message.get(key) in tags:
            message[key] = tags[message[key]]
    return message


def run_case(daemon, suite: str, index: int, case: dict[str, Any]) -> None:
    call_id = f"{suite}-{index}-upstream-{case['line']}"
    returned: tuple[str, ...] = ()
    tags: dict[str, str] = {}
    for step in case["steps"]:
        if "request" not in step:
            continue  # media: not replayed
        message = _with_tags(step["request"], tags)
        message["call-id"] = call_id
        reply = daemon.request(message)
        where = f"{suite} line {case['line']} {step['name']!r} ({step['command']})"
        returned = checked_reply(step, reply, where, returned)
        if step["command"] == "subscribe request":
            tags = {stand_in: reply[key]
                    for stand_in, key in zip(_TAG_STAND_INS, _TAG_KEYS, strict=True)
                    if reply.get(key)}


@pytest.mark.parametrize("which", ["rtpengine", "rtpengined"])
@pytest.mark.parametrize(("suite", "index", "case"), CASES,
                         ids=[f"{suite}-{case['line']}-{case['steps'][0]['name']}"
                              for suite, _, case in CASES])
def test_upstream_case(pairs, which, suite, index, case):
    pair = pairs(_daemon_options(DATA[suite]))
    run_case(pair.reference if which == "rtpengine" else pair.ours, suite, index, case)


def test_suites_recorded_whole():
    """Each suite's case count as recorded; a changed fixture must update the README."""
    assert {name: len(DATA[name]["cases"]) for name in SUITES} == {
        "pubsub": 26, "delay-buffer": 12, "dtx": 3, "dtx-cn": 5, "jb": 1}
