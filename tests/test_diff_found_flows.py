"""Random offer/answer flows that once differed from rtpengine 10.5, replayed as found.

``tests/fuzz/diff_flows.py`` draws random calls (offers with SDES, DTLS, ICE, rtcp-mux,
refused media; re-offers by either party; the options proxies send) and reports the first
reply that differs from 10.5's. Each flow here differed until the fix its ``why`` names;
``tests/fixtures/found-flows.json`` holds its requests exactly as the tool sent them (the
answers built from 10.5's replies), and both daemons get them again: every reply must
match, with each daemon's own keys, fingerprints and ids masked as the tool masks them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from differential import (
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    mask_own_values,
)

FLOWS = json.loads((Path(__file__).parent / "fixtures" / "found-flows.json").read_text())["flows"]


@pytest.mark.parametrize("flow", FLOWS, ids=[f"seed-{flow['seed']}" for flow in FLOWS])
def test_found_flow_matches_rtpengine(default_pair, flow):
    steps = [{**step, "_mask": mask_own_values} for step in flow["steps"]]
    default_pair.compare(steps, f"found-{flow['seed']}")
