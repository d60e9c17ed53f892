"""An opportunistic SRTP offerer (RFC 8643: RTP/AVP with a=crypto) sent on as SRTP and
answered by an SRTP party: its answer is in its own protocol, as rtpengine 10.5 gives it.

A proxy that names ``transport-protocol: RTP/SAVP`` (or SAVPF) for an OSRTP phone passes its
keys on; when the answerer takes one of them, or one of the suites we added, 10.5 answers
the phone ``RTP/AVP`` with the line, as RFC 8643 requires of an OSRTP answer. rtpengined
answered in the answerer's protocol, which an OSRTP phone does not expect (found by
differential random flows). An answer's own ``transport-protocol`` still decides.
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    audio_port,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    offer,
    query,
    sdp,
)
from test_diff_sdes import _mask_keys
from test_diff_sdes_to_dtls import exchange, udp_socket

from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext

OFFERER_KEY = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e"
ANSWER_LINES = {
    "the offerer's line": "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                          "inline:AwoRGB8mLTQ7QklQV15lbHN6gYiPlp2kq7K5wMfO",
    "a suite we added": "a=crypto:8 AES_CM_128_HMAC_SHA1_32 "
                        "inline:AwoRGB8mLTQ7QklQV15lbHN6gYiPlp2kq7K5wMfO",
}


def body(host: str, port: int, protocol: str, *lines: str) -> str:
    return sdp("v=0", f"o=- 1 1 IN IP4 {host}", "s=x", f"c=IN IP4 {host}", "t=0 0",
               f"m=audio {port} {protocol} 0 8", *lines)


@pytest.mark.parametrize("answer_options", [{}, {"transport-protocol": "RTP/SAVP"}], ids=str)
@pytest.mark.parametrize("line", list(ANSWER_LINES))
@pytest.mark.parametrize("sent_as", ["RTP/SAVP", "RTP/SAVPF"])
def test_an_osrtp_offerer_answered_by_srtp(default_pair, sent_as, line, answer_options):
    default_pair.compare([
        {**offer(body("198.51.100.1", 2000, "RTP/AVP", OFFERER_KEY)),
         "transport-protocol": sent_as, "_mask": _mask_keys},
        {**answer(body("198.51.100.2", 3000, sent_as, ANSWER_LINES[line])), **answer_options,
         "_mask": _mask_keys},
        query(),
    ], f"osrtp-srtp-answer-{sent_as}-{line}")


def _line(reply: dict, tag: str) -> sdes.Crypto:
    return next(sdes.parse(line[2:]) for line in reply["sdp"].splitlines()
                if line.startswith(f"a=crypto:{tag} "))


@pytest.mark.parametrize("which", ["reference", "ours"])
def test_media_between_an_osrtp_offerer_and_an_srtp_answerer(default_pair, which):
    """Over real sockets, the answer taking a suite we added (each leg its own keys): A's
    SRTP reaches B in our tag-8 key, B's reaches A in the key of our answer to A."""
    daemon = getattr(default_pair, which)
    ids = {"call-id": f"osrtp-srtp-media-{which}"}
    a_sock, b_sock = udp_socket(), udp_socket()
    try:
        a_port, b_port = a_sock.getsockname()[1], b_sock.getsockname()[1]
        offered = daemon.request({**ids, **offer(body("127.0.0.1", a_port, "RTP/AVP",
                                                       OFFERER_KEY)),
                                  "transport-protocol": "RTP/SAVP"})
        b_line = ANSWER_LINES["a suite we added"]
        answered = daemon.request({**ids, **answer(body("127.0.0.1", b_port, "RTP/SAVP",
                                                         b_line))})
        assert "RTP/AVP" in answered["sdp"]
        a_sends = SrtpContext.from_sdes(sdes.parse(OFFERER_KEY[2:]), True)
        a_reads = SrtpContext.from_sdes(_line(answered, "1"), False)
        b_reads = SrtpContext.from_sdes(_line(offered, "8"), False)
        b_sends = SrtpContext.from_sdes(sdes.parse(b_line[2:]), True)
        to_b = exchange(a_sock, a_sends.protect, b_sock, b_reads.unprotect,
                        audio_port(answered), 0x1234)
        to_a = exchange(b_sock, b_sends.protect, a_sock, a_reads.unprotect,
                        audio_port(offered), 0x3456)
        assert len(to_b) >= 20 and to_b[-1][12:] == b"\xd5" * 160, len(to_b)
        assert len(to_a) >= 20 and to_a[-1][12:] == b"\xd5" * 160, len(to_a)
        daemon.request({**ids, **delete()})
    finally:
        a_sock.close()
        b_sock.close()


@pytest.mark.parametrize("line", list(ANSWER_LINES))
def test_an_sdes_reoffer_to_the_osrtp_offerer(default_pair, line):
    """B re-offers SDES: the opportunistic offerer's leg is kept (RTP/AVP, no
    transport-protocol), so it is offered SDES in it, B's lines first, the line it has from
    us next, fresh ones after (10.5); rtpengined sent it plain RTP/AVP without keys."""
    reoffer = body("198.51.100.2", 3000, "RTP/SAVP",
                   "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                   "inline:QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c")
    default_pair.compare([
        {**offer(body("198.51.100.1", 2000, "RTP/AVP", OFFERER_KEY)),
         "transport-protocol": "RTP/SAVP", "_mask": _mask_keys},
        {**answer(body("198.51.100.2", 3000, "RTP/SAVP", ANSWER_LINES[line])),
         "_mask": _mask_keys},
        {**offer(reoffer), "from-tag": "B", "to-tag": "A", "_mask": _mask_keys},
        {**answer(body("198.51.100.1", 2000, "RTP/AVP", OFFERER_KEY)), "from-tag": "B",
         "to-tag": "A", "_mask": _mask_keys},
    ], f"osrtp-sdes-reoffer-{line}")
