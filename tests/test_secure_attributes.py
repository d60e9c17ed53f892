"""The security block of every captured rtpengine 10.5 reply, rebuilt from our pieces."""

import re

import pytest
from secure_helpers import CAPTURES, mask_key

from rtpengined.secure import dtls, sdes
from rtpengined.secure.attributes import security_attributes

CERT = dtls.Certificate()


def block(sdp: str) -> list[str]:
    """The a=crypto/a=setup/a=fingerprint lines, checking they sit together after a=rtcp*."""
    attrs = [ln[2:] for ln in sdp.splitlines() if ln.startswith("a=")]
    idx = [i for i, a in enumerate(attrs) if a.startswith(("crypto:", "setup:", "fingerprint:"))]
    if idx:
        assert idx == list(range(idx[0], idx[-1] + 1))
        assert attrs[idx[0] - 1].startswith("rtcp")
        assert all(not a.startswith(("ice-", "candidate")) for a in attrs[: idx[0]])
    return [attrs[i] for i in idx]


def shape(values):
    return [re.sub("[0-9A-F]{2}(:[0-9A-F]{2})+", "FP", mask_key(v)) for v in values]


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_security_block_matches_rtpengine(name):
    case = CAPTURES[name]
    offer = case["offer"]
    for step in ("offer_reply", "answer_reply"):
        if step not in case:
            continue
        want = block(case[step]["sdp"])
        if step == "offer_reply":
            received = [sdes.parse(ln[2:]) for ln in offer["sdp"].splitlines() if ln.startswith("a=crypto:")]
            to_srtp = "SAVP" in next(ln for ln in case[step]["sdp"].splitlines() if ln.startswith("m="))
            options = offer.get("SDES", [])
            sdes_on = to_srtp and "off" not in options
            crypto = sdes.offer(received, options) if sdes_on else []
            hash_name = offer.get("DTLS-fingerprint", "sha-256")
            got = security_attributes(crypto, dtls.offer_setup() if to_srtp else None,
                                      CERT.fingerprint(hash_name) if to_srtp else None)
        else:
            answer = case["answer"]
            offered_setup = re.search(r"a=setup:(\w+)", offer["sdp"])
            m_line = next(ln for ln in case[step]["sdp"].splitlines() if ln.startswith("m="))
            if "SAVP" not in m_line:
                got = []
            elif offered_setup:  # the offerer did DTLS: answer with our setup and fingerprint
                got = security_attributes([], dtls.answer_setup(offered_setup.group(1), answer.get("DTLS")),
                                          CERT.fingerprint())
            else:  # SDES (passed through SRTP to SRTP it is the answerer's line: same shape)
                offered = [sdes.parse(ln[2:]) for ln in offer["sdp"].splitlines() if ln.startswith("a=crypto:")]
                got = security_attributes([sdes.answer(offered)])
        assert shape(got) == shape(want), step
