"""Differential: ``statistics``' transcoders beside rtpengine 10.5, over real sockets.

10.5 keeps a chain (``PCMU/8000 -> PCMA/8000``) once it was used: when its calls have
ended it is still listed, with no transcoders, and its packets, bytes and samples go on
from there (``/metrics`` exports them as counters, which must never go back). We dropped
the chains with their last call. It counts per chain what goes into it: packets and
payload bytes on their way in, samples as decoded and resampled (a G.722 call's
resampler delay shows). We counted a direction's packets for the chain of the payload
type it received last, and estimated samples. Compared as deltas: the daemons are shared
with other modules' calls.
"""

from __future__ import annotations

from differential import default_pair_fixture  # noqa: F401  (registers default_pair)
from test_diff_early_transcoding import EARLY, PCMU, TRANSCODE_G722, _a, early_exchange

G711_CHAINS = ("PCMU/8000 -> PCMA/8000", "PCMA/8000 -> PCMU/8000")
G722_CHAINS = ("PCMU/8000 -> G722/8000", "G722/8000 -> PCMU/8000")


class _KeepCall:
    """A daemon whose call outlives ``early_exchange`` (its ``delete`` is skipped)."""

    def __init__(self, daemon) -> None:
        self.daemon = daemon

    def request(self, message: dict):
        if message["command"] == "delete":
            return {"result": "ok"}
        return self.daemon.request(message)


def _chains(daemon, names: tuple[str, ...] = G711_CHAINS) -> dict[str, tuple]:
    stats = daemon.request({"command": "statistics"})["statistics"]
    return {entry["chain"]: (entry["num"], entry["packets"], entry["bytes"], entry["samples"])
            for entry in stats["transcoders"] if entry["chain"] in names}


def _delta(after: dict, before: dict) -> dict:
    return {chain: (counts[0], *(value - base for value, base in zip(
        counts[1:], before.get(chain, (0, 0, 0, 0))[1:], strict=True)))
        for chain, counts in after.items()}


def _run(daemon, call_id: str) -> list[dict]:
    """A (PCMU, ``transcode: [PCMA]``) and B (PCMA) send 3 and 5 packets; the chains'
    changes while the call lasts, after its delete, and after a second such call."""
    steps = ["answer", *(("B", 8, 100 + i, 1000 + 160 * i, 0x2222, PCMU) for i in range(5)),
             _a(0), _a(1), _a(2)]
    options = {"codec": {"transcode": ["PCMA"]}}
    before = _chains(daemon)
    early_exchange(_KeepCall(daemon), call_id, "0", "8", steps, options)
    seen = [_delta(_chains(daemon), before)]
    daemon.request({"command": "delete", "call-id": call_id, "delete-delay": 0})
    seen.append(_delta(_chains(daemon), before))
    early_exchange(daemon, call_id + "-2", "0", "8", steps, options)
    seen.append(_delta(_chains(daemon), before))
    return seen


def _counts(seen: dict) -> dict:
    return {chain: counts[1:] for chain, counts in seen.items()}


def test_transcoder_chains_outlive_their_calls_as_rtpengine(default_pair):
    want = _run(default_pair.reference, "tc-chains")
    have = _run(default_pair.ours, "tc-chains")
    assert have[0] == want[0]  # (the call's transcoders while it lasts)
    # (the counts: right after a delete 10.5 may still count the call's transcoders)
    assert [_counts(seen) for seen in have] == [_counts(seen) for seen in want]
    assert have[1] == {"PCMU/8000 -> PCMA/8000": (0, 3, 480, 480),
                       "PCMA/8000 -> PCMU/8000": (0, 5, 800, 800)}


def _run_g722(daemon, call_id: str) -> dict:
    """B answers G.722 to A's PCMU (``transcode: [G722]``): 6 G.722 packets and one PCMU
    before the answer, 3 G.722 and one PCMU after it, A's 3 PCMU (``EARLY``)."""
    before = _chains(daemon, G722_CHAINS)
    early_exchange(daemon, call_id, "0", "9", EARLY, TRANSCODE_G722)
    return _delta(_chains(daemon, G722_CHAINS), before)


def test_transcoder_counts_per_chain_as_rtpengine(default_pair):
    """Packets and bytes of the chain each went into (B's PCMU, converted too, counts for
    the PCMU chain of B's direction: none here), samples as decoded and resampled."""
    want = _run_g722(default_pair.reference, "tc-g722-chains")
    have = _run_g722(default_pair.ours, "tc-g722-chains")
    assert _counts(have) == _counts(want)
    assert want["G722/8000 -> PCMU/8000"][1:] == (9, 1440, 1424)
