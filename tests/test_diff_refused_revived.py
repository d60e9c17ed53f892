"""A media refused from its first offer and offered later, and ICE roles on a refusal,
as rtpengine 10.5 handles them.

Found by a differential run of random offer/answer flows (real options, seeds 552, 736):

- A media refused from its first offer (port 0, answered 0) has streams but never had
  ports. When a re-offer, by either party, accepts it, 10.5 makes ports at an offer only
  for the streams it creates, so the re-offerer's side gets its ports with the answer:
  one port if the answer leaves it on rtcp-mux, its RTCP stream then without a socket
  (query: local port 0, its endpoint where it was filled). rtpengined bound a pair for
  the re-offerer at the offer.
- A re-offer (or answer) refusing a media with new ICE credentials: 10.5 settles the ICE
  roles anew, as for an ICE restart (it does so before it looks at the port), though no
  ICE is spoken on the refused media. rtpengined left the roles as they were.
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    offer,
    query,
    sdp,
)

CALLER, CALLEE = "198.51.100.1", "198.51.100.2"


def body(host: str, audio: int, video: int, *video_attributes: str, version: int = 1) -> str:
    return sdp("v=0", f"o=- 1 {version} IN IP4 {host}", "s=x", f"c=IN IP4 {host}", "t=0 0",
               f"m=audio {audio} RTP/AVP 0", f"m=video {video} RTP/AVP 97",
               "a=rtpmap:97 H264/90000", *video_attributes)


MUX = ("a=rtcp-mux",)
ICE_B = ("a=ice-ufrag:efgh", "a=ice-pwd:zyxwvutsrqponmlkjihgfedc",
         f"a=candidate:1 1 UDP 2130706431 {CALLEE} 3002 typ host")

# (re-offering tag, its video attributes, the answer's video attributes, offer options)
REVIVED = {
    "callee re-offers": ("B", (), (), {}),
    "caller re-offers": ("A", (), (), {}),
    "callee re-offers rtcp-mux, answered": ("B", MUX, MUX, {}),
    "callee re-offers rtcp-mux, not answered": ("B", MUX, (), {}),
    "caller re-offers rtcp-mux, answered": ("A", MUX, MUX, {}),
    "callee re-offers rtcp-mux with ICE, answered": ("B", (*MUX, *ICE_B), MUX, {}),
    "callee re-offers rtcp-mux, ICE force": ("B", MUX, MUX, {"ICE": "force"}),
    "callee re-offers rtcp-mux, rtcp-mux demux": ("B", MUX, (), {"rtcp-mux": ["demux"]}),
    "callee re-offers rtcp-mux, rtcp-mux accept": ("B", MUX, MUX, {"rtcp-mux": ["accept"]}),
}


@pytest.mark.parametrize("name", list(REVIVED))
def test_a_media_refused_from_the_start_gets_ports_with_the_answer(default_pair, name):
    tag, offered, answered, options = REVIVED[name]
    other = "A" if tag == "B" else "B"
    offerer, answerer = (CALLEE, CALLER) if tag == "B" else (CALLER, CALLEE)
    default_pair.compare([
        offer(body(CALLER, 2000, 0)), answer(body(CALLEE, 3000, 0)), query(),
        {**offer(body(offerer, 5000, 5002, *offered, version=2), tag, **{"to-tag": other}),
         **options},
        query(),
        answer(body(answerer, 6000, 6002, *answered, version=2), tag, other),
        query(),
    ], name)


ICE_A = ("a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx")


def ice_body(host: str, port: int, ufrag: str | None, *extra: str) -> str:
    lines = ["v=0", f"o=- 1 1 IN IP4 {host}", "s=x", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {port} RTP/AVP 0 8"]
    if ufrag is not None:
        lines += [f"a=ice-ufrag:{ufrag}", "a=ice-pwd:zyxwvutsrqponmlkjihgfedc",
                  f"a=candidate:1 1 UDP 2130706431 {host} {port} typ host"]
    return sdp(*lines, *extra)


# (the refusing re-offer's ufrag, its options, the answer's ufrag)
REFUSALS = {
    "new credentials": ("wxyz", {}, None),
    "same credentials": ("efgh", {}, None),
    "no ICE": (None, {}, None),
    "new credentials, ICE force": ("wxyz", {"ICE": "force"}, None),
    "new credentials, ICE remove": ("wxyz", {"ICE": "remove"}, None),
    "new credentials, answered with ICE": ("wxyz", {}, "ijkl"),
}


@pytest.mark.parametrize("name", list(REFUSALS))
def test_a_refusal_with_new_ice_credentials_settles_the_roles_anew(default_pair, name):
    ufrag, options, answer_ufrag = REFUSALS[name]
    default_pair.compare([
        {**offer(ice_body(CALLER, 2000, None)), "ICE": "force"},
        {**answer(ice_body(CALLEE, 3000, "efgh")), "ICE": "force"},
        query(),
        {**offer(ice_body(CALLEE, 0, ufrag), "B", **{"to-tag": "A"}), **options},
        answer(ice_body(CALLER, 0, answer_ufrag), "B", "A"),
        query(),
    ], name)
