"""Property tests: no input makes a parser raise; every input gets the protocol's reply.

Short runs for CI; ``python tests/fuzz/campaign.py --inputs 1000000`` is the long campaign
and ``tests/fuzz/atheris_main.py`` the coverage-guided one.
"""

import random

import pytest
from fuzz.campaign import mutate, run
from fuzz.flows import minimise, run_flows
from fuzz.seeds import seeds_for
from fuzz.targets import TARGETS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

fuzz_settings = settings(max_examples=200, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])


def inputs_for(target: str) -> st.SearchStrategy[bytes]:
    """Random bytes, seeds with junk spliced in, and the campaign's own mutations."""
    seeds = seeds_for(target)
    return st.one_of(
        st.binary(max_size=200),
        st.builds(lambda seed, cut, junk: seed[:cut] + junk + seed[cut:],
                  st.sampled_from(seeds), st.integers(0, 400), st.binary(max_size=16)),
        st.builds(lambda seed, rng_seed: mutate(random.Random(rng_seed), seed, seeds),
                  st.sampled_from(seeds), st.integers(0, 2**32)),
    )


@pytest.mark.parametrize("target", list(TARGETS))
def test_property_no_input_escapes(target):
    @fuzz_settings
    @given(inputs_for(target))
    def check(data):
        TARGETS[target](data)

    check()


@pytest.mark.parametrize("target", list(TARGETS))
def test_every_seed_is_accepted(target):
    for seed in seeds_for(target):
        TARGETS[target](seed)


def test_short_flow_campaign_finds_no_internal_error():
    """Random call flows (``fuzz/flows.py``): no command, in any state the earlier ones
    left a call in, makes the core catch an exception. (Seeds 20 and 26 meet the
    subscription with ICE to a party with a refused media that once failed.)"""
    for seed in (20, 26):
        found = run_flows(seed, 4000)
        assert found == [], minimise(found[0])


def test_short_campaign_finds_no_crash():
    rng = random.Random(12)  # (this seed's 6,000 messages found the from-tags error)
    for target in TARGETS:
        _, _, crashes = run(target, 1000, rng)
        assert crashes == [], crashes[0]


# Option keys ng commands read, and values of every shape (bencode gives str, int, list, dict).
_KEYS = ["flags", "from-tag", "to-tag", "from-tags", "via-branch", "label", "set-label",
         "address", "sdp", "codec", "ICE", "DTLS", "SDES", "OSRTP", "rtcp-mux", "replace",
         "direction", "interface", "transport-protocol", "media-address", "address-family",
         "ptime", "ptime-reverse", "T.38", "DTMF-security", "dtmf security", "trigger",
         "trigger-end", "DTMF-security-trigger", "delay-buffer", "DTMF-delay", "blob", "file",
         "db-id", "repeat-times", "start-pos", "code", "digit", "volume", "duration", "pause",
         "supports", "delete-delay", "delete delay", "limit", "record-call", "metadata",
         "media-echo", "frequency", "all", "xmlrpc-callback", "sip-message-type", "received-from"]
_VALUES = ["", "drop", "off", "all", "force", "remove", "x" * 3000, 7, -1, 0, 2**40, ["drop"],
           ["all", 3, ["x"]], {"a": 1, "transcode": ["PCMA", 5]}, {"mask": "x"}, "\xff", "##",
           "a", "b", "s", "IP6", "RTP/SAVPF", "UDP/TLS/RTP/SAVPF", ["egress"],
           ["require", "offer"], {"transcode": ["G722"], "strip": ["all"]}, "1.2.3.4", "::1",
           "/dev/zero", "../../etc/passwd", ["IP4", "1.2.3.4"], ["decode"], ["force", "FEC"],
           ["stop", "no-ECM"]]


def test_odd_option_values_on_live_calls_get_protocol_errors():
    """Every ng command, with odd values of every shape for the keys commands read, on calls
    that exist: each gets an answer and none is an internal error (one was: a number as
    ``from-tags``)."""
    from test_calls_model import make_core, ng, sdp_body

    from rtpengined.commands import NG_COMMANDS

    def offer_sdp(port: int, address: str = "192.0.2.10") -> str:
        return (f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
                f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")

    def image_sdp(port: int) -> str:  # (T.38: the list's decode/force act on it)
        return (f"v=0\r\no=- 1 1 IN IP4 192.0.2.40\r\ns=-\r\nc=IN IP4 192.0.2.40\r\nt=0 0\r\n"
                f"m=image {port} udptl t38\r\na=T38FaxVersion:0\r\na=T38FaxUdpEC:t38UDPFEC\r\n")

    rng = random.Random(12)  # (this seed's 6,000 messages found the from-tags error)
    core, _ = make_core()
    commands = sorted(NG_COMMANDS)
    internal = []
    for n in range(6000):
        call_id = f"c{n % 5}"
        if rng.random() < 0.15:
            ng(core, command="offer", **{"call-id": call_id, "from-tag": "a"},
               sdp=offer_sdp(2000 + n % 50))
            ng(core, command="answer", **{"call-id": call_id, "from-tag": "a", "to-tag": "b"},
               sdp=offer_sdp(3000, "192.0.2.20"))
            continue
        message = {"command": rng.choice(commands), "call-id": rng.choice([call_id, 5, ""])}
        for _ in range(rng.randint(0, 5)):
            message[rng.choice(_KEYS)] = rng.choice(_VALUES)
        if rng.random() < 0.3:
            message["sdp"] = rng.choice([sdp_body(4000, "192.0.2.30") + "a=recvonly\r\n",
                                         "junk", offer_sdp(5000), image_sdp(5002)])
        reply = ng(core, **message)
        assert "result" in reply, (message, reply)
        if "nternal" in str(reply.get("error-reason")):
            internal.append(message)
    core.shutdown()
    assert internal == []
