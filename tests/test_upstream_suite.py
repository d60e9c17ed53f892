"""rtpengine's own daemon tests (``t/auto-daemon-tests.pl``), the plain-RTP cases, against both
daemons.

Each in-scope ``new_call`` block of rtpengine 10.5.3.5's suite is replayed in a private
network namespace with the suite's interfaces (203.0.113.1 and 2001:db8:4321::1) and
options; every offer/answer reply must match the SDP the suite expects, and every other
request must answer ``ok``. rtpengine 10.5 runs the same cases, which shows that the data and
the environment are faithful (see ``upstream_suite`` for the data and the scope criteria).
"""

from __future__ import annotations

import pytest
from netns_helpers import NetNamespace, NsDaemonPair, namespaces_available
from upstream_suite import checked_reply, load, out_of_scope

pytestmark = pytest.mark.skipif(namespaces_available() is not None,
                                reason=namespaces_available() or "")

SUITE = load()
INTERFACES = ("203.0.113.1", "2001:db8:4321::1")
CASES = [(index, case) for index, case in enumerate(SUITE["cases"]) if out_of_scope(case) is None]


def _options() -> tuple[str, ...]:
    """The suite's daemon options that are not about where it listens or logs."""
    options = SUITE["daemon-options"]
    return tuple(o for o in options if o.startswith("--silence-detect"))


@pytest.fixture(scope="module")
def daemons():
    namespace = NetNamespace()
    try:
        pair = NsDaemonPair(namespace, _options(), interfaces=INTERFACES)
        try:
            yield {"rtpengine": pair.reference, "rtpengined": pair.ours}
        finally:
            pair.stop()
    finally:
        namespace.delete()


def run_case(daemon, index: int, case: dict) -> None:
    call_id = f"{index}-upstream-{case['line']}"
    returned: tuple[str, ...] = ()  # what the last step called for its values matched
    for step in case["steps"]:
        if "request" not in step:
            continue  # media: not replayed
        message = dict(step["request"])
        message["call-id"] = call_id
        if isinstance(message.get("blob"), str):  # (the file's bytes, kept as code points)
            message["blob"] = message["blob"].encode("latin-1")
        reply = daemon.request(message)
        where = f"line {step['line']} {step['name']!r} ({step['command']})"
        returned = checked_reply(step, reply, where, returned)


@pytest.mark.parametrize("which", ["rtpengine", "rtpengined"])
@pytest.mark.parametrize(("index", "case"), CASES,
                         ids=[f"{case['line']}-{case['steps'][0]['name']}" for _, case in CASES])
def test_upstream_case(daemons, which, index, case):
    run_case(daemons[which], index, case)


def test_scope_counts():
    """The split of the suite's cases; a changed fixture must update the README's figures."""
    counts: dict[str | None, int] = {}
    for case in SUITE["cases"]:
        reason = out_of_scope(case)
        counts[reason] = counts.get(reason, 0) + 1
    assert counts == {None: 208, "transcoding": 1, "DTMF": 6}
