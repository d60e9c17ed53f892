"""rtpengine's own daemon test cases (``t/auto-daemon-tests.pl``), as data, and their checks.

``tests/fixtures/upstream/auto-daemon-tests.json`` holds every ``new_call`` block of
rtpengine 10.5.3.5's suite: each step's ng request (flags as the test sends them, tags
already filled in) and, for offers and answers, the SDP the test expects back, exactly as the
test states it. ``PORT`` and the other upper-case tokens are wildcards, ``?`` matches one
character, and a reply's CRLFs are compared as LFs, which is how the suite's own matcher
reads them. Media steps (RTP sent and received) are only counted: the suite's SDP checks
are what this runner repeats.

A case is out of scope when any of its steps needs SRTP/DTLS/ICE media, transcoding
(repacketizing and T.38 included) or DTMF, and is not listed as passing below.
``out_of_scope`` names the first criterion a case meets.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "fixtures" / "upstream" / "auto-daemon-tests.json"

# Wildcards of the suite's SDP matcher, longest first where one is a prefix of another.
_TOKENS = [
    ("PORT", r"(\d{1,5})"),
    ("ICEBASE", r"([0-9a-zA-Z]{16})"),
    ("ICEUFRAG", r"([0-9a-zA-Z]{8})"),
    ("ICEPWD", r"([0-9a-zA-Z]{26})"),
    ("CRYPTO128S", r"([0-9a-zA-Z/+]{38})"),
    ("CRYPTO128", r"([0-9a-zA-Z/+]{40})"),
    ("CRYPTO192", r"([0-9a-zA-Z/+]{51})"),
    ("CRYPTO256S", r"([0-9a-zA-Z/+]{59})"),
    ("CRYPTO256", r"([0-9a-zA-Z/+]{62})"),
    ("LOOPER", r"([0-9a-f]{12})"),
    ("FINGERPRINT256", r"([0-9a-fA-F:]{95})"),
    ("FINGERPRINT", r"([0-9a-fA-F:]{59})"),
    ("SDP_VERSION", r"\d+ \d+"),
    ("RTPE_VERSION", r"rtpengine-\S+"),
]

_SECURE_SDP = re.compile(r"SAVP|^a=(crypto|fingerprint|setup|ice-|candidate|tls-id)", re.M)
_RTPMAP = re.compile(r"^a=rtpmap:\d+ ([^/\s]+)", re.M)


def load() -> dict[str, Any]:
    with DATA.open() as f:
        return json.load(f)


# A value an earlier step returned, put by the script into a later expected SDP: the
# recorder returns 5000, 5001, ... for a step's matched wildcards (steps called for their
# values have ``returns``), and the suite puts only SDES keys back this way.
_RETURNED = re.compile(r"inline:500(\d)\b")


def expected_pattern(expected: str, returned: tuple[str, ...] = ()) -> re.Pattern[str]:
    """The suite's matcher; ``returned``: what the wildcards of the last step called for its
    values matched, standing in for the recorder's placeholders."""
    text = re.escape(expected).replace(r"\?", ".")
    if returned:
        text = _RETURNED.sub(lambda m: "inline:" + re.escape(returned[int(m.group(1))]), text)
    for token, pattern in _TOKENS:
        text = text.replace(token, pattern)
    return re.compile(text, re.S)


def sdp_match(expected: str, got: str, returned: tuple[str, ...] = ()) -> re.Match | None:
    """As the suite matches: whole text, a final newline of the reply optional, CRLF as LF.
    The match's groups are what the wildcards matched (the values such a step returns)."""
    got = got.replace("\r\n", "\n")
    pattern = expected_pattern(expected, returned)
    return pattern.fullmatch(got) or (pattern.fullmatch(got[:-1]) if got.endswith("\n")
                                      else None)


def checked_reply(step: dict[str, Any], reply: dict[str, Any], where: str,
                  returned: tuple[str, ...]) -> tuple[str, ...]:
    """Assert a replayed step's reply as the suite checks it: ``ok``, and the SDP it
    expects where it states one. Returns what the step's wildcards matched when the script
    called it for its values (a later step's ``returned``), else ``returned`` as it was."""
    assert reply.get("result") == "ok", f"{where}: {reply}"
    if step.get("expected") is None:
        return returned
    got = reply.get("sdp", "")
    match = sdp_match(step["expected"], got, returned)
    assert match is not None, (
        f"{where}: SDP differs\n--- expected\n{step['expected']}--- got\n"
        + got.replace("\r\n", "\n"))
    return match.groups() if step.get("returns") else returned


def sdp_matches(expected: str, got: str) -> bool:
    return sdp_match(expected, got) is not None


def _requests(case: dict[str, Any]):
    for step in case["steps"]:
        if "request" in step:
            yield step


def _flags(request: dict[str, Any]) -> list[str]:
    flags = request.get("flags", [])
    return [f.replace(" ", "-").lower() for f in flags if isinstance(f, str)]


# Cases that touch security (ICE SDP, SDES, DTLS flags) whose SDP checks rtpengined passes:
# ICE candidates and credentials in SDP, SDES offers/answers bridged to plain RTP, DTLS
# answered by us (DTLS-reverse, DTLS off), the DTLS-fingerprint and SDES option rules. By the
# case's line in the suite; the rest of "security" needs what is not done yet (branched
# deletes with rtcp-mux, DTMF injection, media playback; an SRTP re-invite shape 10.5 itself
# no longer matches).
SECURITY_PASSING = frozenset({
    510, 615, 724, 1872, 1958, 2016, 2529, 2586, 2644, 2675, 2707, 2802, 2833, 6724, 6766,
    6861, 7204, 7256, 8745, 8773, 8801, 11274, 11491, 11621, 11687, 11897, 12281, 12377, 12432,
    12486,
    # DTLS-fingerprint and sticky re-offers, SDES no-/pad/lifetime/session flags on the
    # offerer's lines, DTLS off with SDES on both legs:
    6550, 6637, 8861, 10310, 10385, 11997, 12057, 12116, 12175, 12328, 15930,
    # trickle ICE offers (a zero c= with ICE is no hold; the trickle ICE flag), SDES on
    # both legs re-keyed when the answer picks a suite we added:
    2498, 2561, 2612, 2739, 2770, 11461, 8135,
    # OSRTP (RFC 8643): RTP/AVP offers with a=crypto, the OSRTP offer/accept options:
    8222, 8297, 8381, 8445, 8521, 8595, 8672,
    # ICE on re-offers (as the answerer's last SDP had it) and ICE=optional in answers:
    843, 11322, 11817,
    # transport-protocol in the answer to a plain offerer whose answerer speaks SDES
    # (override, accept); SDES: static keeping the line answered before:
    6938, 7016, 1604,
    # ICE-lite kept from the offer's option (an answer, a hold, a reset):
    82,
    # ICE passthrough (ICE optional or force-relay towards a party whose SDP has ICE): its
    # ICE attributes kept beside our candidates at 10.5's lower priorities (media-address
    # too), an answer's own ICE passed back that way, force-relay's relay candidates with
    # m=/c=/a=rtcp untouched (a WebRTC offer with BUNDLE and DTLS passed through):
    11364, 11403, 11551, 9942,
    # SIP forking: deleting one branch by its via-branch (now or after the delete delay)
    # leaves the call to the other branch, which answers after it:
    7376, 7494,
    # a re-offer to a party whose SDES answer chose one of our lines offers that line first
    # (same tag and key), the other suites after it; an a=rtcp naming the RTP port offers
    # rtcp-mux, which the answer then keeps:
    7618, 7875,
    # media playback to a party whose SDES keys pass end to end:
    13232})


# Cases of the "transcoding" kind whose SDP rtpengined produces as 10.5 does: G.711
# conversions offered and answered (codec transcode/accept/consume), codecs listed twice,
# the ptime options (repacketized), G.722 and Opus added and answered, and telephone-event
# following the clock rates codecs were added or masked at.
TRANSCODING_PASSING = frozenset({
    1390, 2975, 3018, 3734, 3762, 3790, 6515, 12724, 12798, 12876, 13418, 13571, 13644,
    13718, 13792, 13865, 13937, 14010, 14646, 14919,
    954, 5950, 6071, 6124, 6176, 9016, 9090, 9315, 9382,
    277, 6392, 8902, 8957, 14550, 14615, 14834, 4060, 9164, 9239,
    3825, 3888, 3950, 4112, 4174, 4229, 3599, 12602, 6002, 6453, 7099,
    # telephone-event made at every clock rate by transcode; an answer from a new to-tag
    # after a delete answers with the offerer's ptime; the transport-protocol transparent
    # and G.722 cases beside them:
    14320, 14419, 14510, 14736, 15095,
    # the T.38 gateway: decode and force offers, re-INVITEs into fax both ways, an
    # unsupported codec left out, FEC (offer_answer.t38)
    9451, 9487, 9590, 9695, 9801, 9907})


# Cases of the "DTMF" kind whose SDP matches 10.5's (inject DTMF offers and answers). The
# others play DTMF, which needs media the replay does not send: their media side is
# compared with 10.5 in test_diff_dtmf.py instead.
DTMF_PASSING = frozenset({4812, 5884})


def out_of_scope(case: dict[str, Any]) -> str | None:
    """Why a case is not run: ``security``, ``transcoding``, ``DTMF``."""
    reason = _out_of_scope(case)
    if reason == "security" and case["line"] in SECURITY_PASSING:
        return None
    if reason == "transcoding" and case["line"] in TRANSCODING_PASSING:
        return None
    if reason == "DTMF" and case["line"] in DTMF_PASSING:
        return None
    return reason


def _out_of_scope(case: dict[str, Any]) -> str | None:
    for step in _requests(case):
        request = step["request"]
        if _SECURE_SDP.search(request.get("sdp", "")) or _SECURE_SDP.search(
                step.get("expected", "")):
            return "security"
        if any(k in request for k in ("OSRTP", "DTLS-fingerprint", "DTLS-reverse")):
            return "security"
        for key in ("SDES", "DTLS"):
            value = request.get(key)
            values = value if isinstance(value, list) else [value]
            if value is not None and any(v != "off" for v in values):
                return "security"
        if request.get("ICE") in ("force", "force-relay", "optional"):
            return "security"
        protocol = request.get("transport-protocol", request.get("transport protocol", ""))
        if "SAVP" in protocol:
            return "security"
    for step in _requests(case):
        request = step["request"]
        flags = _flags(request)
        if step["command"] in ("play DTMF",) or any("dtmf" in f for f in flags):
            return "DTMF"
    for step in _requests(case):
        request = step["request"]
        flags = _flags(request)
        codec = request.get("codec", {})
        if set(codec) - {"strip", "mask", "except"} or any(
                f.startswith(("codec-transcode", "codec-offer", "codec-set", "codec-accept"))
                or f == "always-transcode" for f in flags):
            return "transcoding"
        if any(k in request for k in ("ptime", "ptime-reverse", "T.38")):
            return "transcoding"
        protocol = request.get("transport-protocol", request.get("transport protocol", ""))
        if protocol in ("accept", "transparent"):
            return "transcoding"
    # A codec in an expected SDP that no input SDP of the case carries: made by transcoding.
    given = {name.lower() for step in _requests(case)
             for name in _RTPMAP.findall(step["request"].get("sdp", ""))}
    static = {"pcmu", "pcma", "g722", "g723", "g728", "g729", "gsm", "cn", "dvi4", "lpc", "l16",
              "qcelp", "mpa", "celb", "jpeg", "nv", "h261", "mpv", "mp2t", "h263"}
    for step in _requests(case):
        made = {name.lower() for name in _RTPMAP.findall(step.get("expected", ""))}
        if made - given - static:
            return "transcoding"
        if made & static - given and _made_static(step, case):
            return "transcoding"
    return None


def _made_static(step: dict[str, Any], case: dict[str, Any]) -> bool:
    """An expected static-payload codec whose payload type no input m= line lists."""
    inputs = set()
    for other in _requests(case):
        for line in other["request"].get("sdp", "").splitlines():
            if line.startswith("m="):
                inputs.update(line.split()[3:])
    for line in step.get("expected", "").splitlines():
        if line.startswith("m="):
            if set(line.split()[3:]) - inputs:
                return True
    return False
