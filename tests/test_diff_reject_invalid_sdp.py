"""Differential: an SDP body with an empty line, with and without ``--reject-invalid-sdp``.

rtpengine 10.5 ends the body at its first empty line: what follows is neither read nor sent
on (a body whose media come after one has none, and the offer fails to be rewritten). With
``--reject-invalid-sdp`` such a body is refused as one that does not parse.
"""

from __future__ import annotations

import pytest
from differential import DaemonPair, answer, delete, offer, sdp

HEAD = ["v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0"]
OFFER = sdp(*HEAD, "m=audio 2000 RTP/AVP 0 8", "a=sendrecv")
ANSWER = sdp(*HEAD[:3], "c=IN IP4 192.0.2.20", "t=0 0", "m=audio 3000 RTP/AVP 8", "a=sendrecv")
SCENARIOS = {
    "an empty line before attributes": [
        offer(OFFER + "\r\na=ptime:30\r\na=rtcp:2005\r\n"), delete()],
    "an empty line at the end": [offer(OFFER + "\r\n"), delete()],
    "an empty line before the media": [offer(OFFER.replace("t=0 0\r\n", "t=0 0\r\n\r\n")),
                                       delete()],
    "an empty line between two media": [
        offer(OFFER + "\r\nm=video 2002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"), delete()],
    "LF line endings and an empty line": [
        offer(OFFER.replace("\r\n", "\n") + "\na=ptime:30\n"), delete()],
    "an empty line in the answer": [
        offer(OFFER), answer(ANSWER + "\r\na=ptime:40\r\n"), delete()],
    "an empty line in a publish": [
        {"command": "publish", "from-tag": "P", "sdp": OFFER.replace("sendrecv", "sendonly")
         + "\r\na=ptime:30\r\n", "_mask": lambda reply: [
             (k, v if k != "sdp" else "<made>") for k, v in reply] if isinstance(reply, list)
         else reply}, delete()],
}


@pytest.fixture(scope="module", params=[[], ["--reject-invalid-sdp"]],
                ids=["default", "reject-invalid-sdp"])
def pair(request):
    daemons = DaemonPair(request.param)
    yield daemons
    daemons.stop()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_empty_lines(pair, name):
    pair.compare(SCENARIOS[name], name)
