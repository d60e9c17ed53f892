"""A real browser (headless Chromium) as the WebRTC party, through rtpengine 10.5 and through
rtpengined, bridged to a plain RTP phone with the flags rtpengine documents for each direction.

Both daemons run the same test: the browser's ICE (controlling as offerer, controlled as
answerer, consent checks), its DTLS 1.2 handshake and SRTP profile choice, and its RTP and
RTCP must work through either. Media is checked at both ends: the phone gets valid RTP of the
negotiated payload type from the browser's microphone (decrypted by the daemon) and RTCP on
its RTCP port; the browser's ``getStats()`` must show every packet of a burst the phone sent
as received and decoded (a packet that fails SRTP authentication never counts) and the
phone's sender report.
"""

from __future__ import annotations

import re

import pytest
from browser_helpers import (
    Chromium,
    PlainPhone,
    loopback_only,
    media_port,
    ng,
    page_fixtures,
    parse_rtp,
    payload_types,
    peak,
    report,
    reports,
    rtcp_port,
    rtcp_types,
    summary,
)
from differential import start_ours, start_reference

BURST = 50  # packets the phone sends once the browser receives: every one must count

DAEMONS = {
    "rtpengine": lambda: start_reference(26400, 26499),
    "rtpengined": lambda: start_ours(26500, 26599),
    # the relay without its C helper (as when it is not built): Python's loop all along
    "rtpengined-pure-python": lambda: start_ours(26500, 26599),
}


network, browser, phone = page_fixtures()


@pytest.fixture(params=list(DAEMONS))
def daemon(request, monkeypatch, network):
    if request.param.endswith("pure-python"):
        monkeypatch.setenv("RTPENGINED_PURE_RELAY", "1")
    else:
        monkeypatch.delenv("RTPENGINED_PURE_RELAY", raising=False)
    process = DAEMONS[request.param]()
    try:
        yield process
    finally:
        process.stop()


def pcmu_or_first(sdp: str) -> tuple[int, str]:
    """PCMU if offered (Chromium offers it), else the first payload type and its rtpmap."""
    offered = payload_types(sdp)
    if 0 in offered:
        return 0, "PCMU/8000"
    rtpmap = re.search(rf"^a=rtpmap:{offered[0]} (\S+)", sdp, re.M).group(1)
    return offered[0], rtpmap


def check_media(browser: Chromium, phone: PlainPhone, payload_type: int, ice_role: str,
                dtls_role: str) -> None:
    """Media both ways once the browser says it is connected (ICE and DTLS done, in the
    roles the SDP gave)."""
    assert browser.connected() == "connected", summary(browser.stats())
    stats = browser.stats()
    transport = report(stats, "transport")
    assert transport.get("dtlsState") == "connected", transport
    assert transport.get("srtpCipher") and transport.get("tlsVersion") == "FEFD", transport
    assert (transport["iceRole"], transport["dtlsRole"]) == (ice_role, dtls_role), transport
    # browser -> phone: steady RTP of the negotiated type, decrypted, from the microphone
    phone.wait(lambda: len(phone.rtp_from_peer()) >= BURST, f"{BURST} RTP packets")
    raw = phone.rtp_from_peer()
    packets = [parse_rtp(p) for p in raw]
    bad = [p.hex() for p, parsed in zip(raw, packets, strict=True) if parsed is None]
    assert not bad, f"{len(bad)} of {len(raw)} packets not RTP: {bad[:3]}"
    assert {p[0] for p in packets} == {payload_type}
    assert len({p[2] for p in packets}) == 1  # one SSRC
    sequences = [p[1] for p in packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(sequences, sequences[1:], strict=False))
    if payload_type == 0:
        assert {len(p[3]) for p in packets} == {160}  # 20 ms of G.711
        phone.wait(lambda: any(peak(parse_rtp(p)[3]) > 1000 for p in phone.rtp_from_peer()),
                   "the fake microphone's beep")
    # phone -> browser: every packet of a burst received and decoded
    first = browser.wait_stats(lambda s: report(s, "inbound-rtp").get("packetsReceived", 0) > 0,
                               "RTP from the phone")
    phone.hold()
    settled = browser.wait_stats(steady(), "the phone's stream stop")
    before = report(settled, "inbound-rtp")["packetsReceived"]
    phone.send_burst(BURST)
    after = browser.wait_stats(
        lambda s: report(s, "inbound-rtp")["packetsReceived"] >= before + BURST,
        f"{BURST} more packets")
    inbound = report(after, "inbound-rtp")
    assert inbound["packetsReceived"] == before + BURST, inbound
    assert inbound["bytesReceived"] > report(first, "inbound-rtp")["bytesReceived"] > 0
    # decoded and played: the tone's energy (silence or garbage would not have it)
    assert inbound["totalSamplesReceived"] > 0 and inbound["totalAudioEnergy"] > 0, inbound
    codec = next(r for r in reports(after, "codec") if r["id"] == inbound["codecId"])
    assert codec["payloadType"] == payload_type, codec
    # RTCP both ways: the browser's reports on the phone's RTCP port, the phone's SR
    phone.wait(lambda: any(rtcp_types(p) for p in phone.rtcp_from_peer()), "RTCP")
    assert all(rtcp_types(p) for p in phone.rtcp_from_peer()), "not RTCP on the RTCP port"
    phone.start(*phone.target, payload_type)
    browser.wait_stats(lambda s: report(s, "remote-outbound-rtp").get("reportsSent", 0) > 0,
                       "the phone's sender report")
    # the pair is nominated (by the daemon where the browser is controlled) and the
    # daemon answers the browser's checks on it (consent freshness, RFC 7675)
    browser.wait_stats(lambda s: selected_pair(s).get("nominated")
                       and selected_pair(s).get("responsesReceived", 0) > 0,
                       "a nominated pair with answered checks")


def selected_pair(stats: dict) -> dict:
    selected = report(stats, "transport").get("selectedCandidatePairId")
    return next((r for r in reports(stats, "candidate-pair") if r["id"] == selected), {})


def steady():
    """A check true once two polls in a row saw the same packet count (the held stream
    drained)."""
    seen: list[int] = []

    def check(stats: dict) -> bool:
        seen.append(report(stats, "inbound-rtp").get("packetsReceived", 0))
        return len(seen) > 1 and seen[-1] == seen[-2]

    return check


def test_browser_offers_plain_answers(daemon, browser, phone):
    """Chromium offers (BUNDLE, mid, extmap, ssrc, trickle, rtcp-mux) to a plain phone:
    ``transport-protocol: RTP/AVP``, ``ICE: remove``, ``rtcp-mux: [demux]``."""
    ids = {"call-id": "browser-offers", "from-tag": "browser"}
    sdp = loopback_only(browser.offer())
    offered = ng(daemon, command="offer", **ids, sdp=sdp, **{
        "transport-protocol": "RTP/AVP", "ICE": "remove", "rtcp-mux": ["demux"]})["sdp"]
    assert " RTP/AVP " in offered and "a=fingerprint" not in offered, offered
    payload_type, rtpmap = pcmu_or_first(offered)
    answered = ng(daemon, command="answer", **ids, **{"to-tag": "phone"},
                  sdp=phone.sdp(payload_type, rtpmap))["sdp"]
    phone.start(media_port(offered), rtcp_port(offered), payload_type)
    try:
        browser.take_answer(answered)
        # the offerer controls ICE; our a=setup:active makes the browser the DTLS server
        assert "a=setup:active" in answered, answered
        check_media(browser, phone, payload_type, "controlling", "server")
    finally:
        ng(daemon, command="delete", **{"call-id": "browser-offers"})


@pytest.mark.parametrize("daemon", [d for d in DAEMONS if d != "rtpengine"], indirect=True)
def test_browser_offers_with_trickle_ice(daemon, browser, phone):
    """Chromium's offer sent before it gathered anything (c=0.0.0.0, port 9, no candidate),
    its candidates afterwards as an ng ``offer`` with the ``fragment`` flag (trickle ICE,
    as a WebRTC gateway signals them), then the same media as without trickle.

    Not run against rtpengine 10.5: it does ICE and DTLS with the browser, relays the
    first packet, and then reads neither of the call's two ports any more (its log, at
    level 7: nothing for them until shutdown, which finds "Too many packets in UDP receive
    queue" on both), whether the fragment comes before or after the answer and whether
    the phone sends before or after the browser connected."""
    ids = {"call-id": "browser-trickles", "from-tag": "browser"}
    sdp = browser.offer(trickle=True)
    assert "a=candidate" not in sdp and "a=ice-options:trickle" in sdp, sdp
    offered = ng(daemon, command="offer", **ids, sdp=sdp, **{
        "transport-protocol": "RTP/AVP", "ICE": "remove", "rtcp-mux": ["demux"]})["sdp"]
    payload_type, rtpmap = pcmu_or_first(offered)
    try:
        lines = [f"a={c}" for c in browser.candidates()]
        fragment = loopback_only("\r\n".join([
            *re.findall(r"^a=ice-(?:ufrag|pwd):\S+", sdp, re.M),
            re.search(r"^m=audio .*$", sdp, re.M).group(0).strip(), "a=mid:0", *lines,
            "a=end-of-candidates", ""]))
        assert "127.0.0.1" in fragment, fragment
        ng(daemon, command="offer", **ids, sdp=fragment, flags=["fragment"])
        answered = ng(daemon, command="answer", **ids, **{"to-tag": "phone"},
                      sdp=phone.sdp(payload_type, rtpmap))["sdp"]
        assert "a=ice-options:trickle" in answered, answered  # (10.5 too)
        phone.start(media_port(offered), rtcp_port(offered), payload_type)
        browser.take_answer(answered)
        check_media(browser, phone, payload_type, "controlling", "server")
    finally:
        ng(daemon, command="delete", **{"call-id": "browser-trickles"})


@pytest.mark.parametrize("lite", [False, True], ids=["full ICE", "ICE-lite"])
def test_plain_offers_browser_answers(daemon, browser, phone, lite):
    """A plain phone offers to Chromium: ``transport-protocol: UDP/TLS/RTP/SAVPF``,
    ``ICE: force``, ``rtcp-mux: [offer]``; the daemon is the controlling ICE agent, or
    with ``ICE-lite: forward`` declares a=ice-lite and the browser controls."""
    ids = {"call-id": "plain-offers", "from-tag": "phone"}
    offered = ng(daemon, command="offer", **ids, sdp=phone.sdp(0, "PCMU/8000"), **{
        "transport-protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force", "rtcp-mux": ["offer"],
        **({"ICE-lite": "forward"} if lite else {})})["sdp"]
    assert ("a=ice-lite" in offered) == lite, offered
    try:
        sdp = loopback_only(browser.answer(offered))
        answered = ng(daemon, command="answer", **ids, **{"to-tag": "browser"}, sdp=sdp)["sdp"]
        assert " RTP/AVP " in answered and "a=fingerprint" not in answered, answered
        phone.start(media_port(answered), rtcp_port(answered), 0)
        setup = re.search(r"^a=setup:(\w+)", sdp, re.M).group(1)
        check_media(browser, phone, 0, "controlling" if lite else "controlled",
                    "client" if setup == "active" else "server")
    finally:
        ng(daemon, command="delete", **{"call-id": "plain-offers"})


def test_page_helpers_reject_bad_sdp(browser):
    """The glue reports the browser's own error instead of hanging."""
    with pytest.raises(AssertionError, match="SessionDescription|SDP"):
        browser.answer("v=0\r\nbogus\r\n")


def _media_flows(browser: Chromium, phone: PlainPhone, what: str) -> None:
    """BURST more packets each way from now on: the browser's at the phone, the phone's
    counted by the browser."""
    got = len(phone.rtp_from_peer())
    phone.wait(lambda: len(phone.rtp_from_peer()) >= got + BURST, f"{BURST} RTP packets {what}")
    received = report(browser.stats(), "inbound-rtp").get("packetsReceived", 0)
    browser.wait_stats(
        lambda s: report(s, "inbound-rtp").get("packetsReceived", 0) >= received + BURST,
        f"{BURST} packets from the phone {what}")
    assert browser.stats()["connectionState"] == "connected"


SIP_TO_WEBRTC = {"transport-protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force",
                 "rtcp-mux": ["offer"]}
WEBRTC_TO_SIP = {"transport-protocol": "RTP/AVP", "ICE": "remove", "rtcp-mux": ["demux"]}


def _phone_answers(daemon, browser: Chromium, phone: PlainPhone, ids: dict,
                   offered: str) -> str:
    """The phone answers the browser's call (the daemon's ``offered``): the answer the
    browser took, once its connection is up and media flows both ways."""
    answered = ng(daemon, command="answer", **ids, **{"to-tag": "phone"},
                  sdp=phone.sdp(0, "PCMU/8000"))["sdp"]
    phone.start(media_port(offered), rtcp_port(offered), 0)
    browser.take_answer(answered)
    assert browser.connected() == "connected", summary(browser.stats())
    _media_flows(browser, phone, "before the re-offer")
    return answered


@pytest.mark.parametrize("restart_ice", [False, True], ids=["same ICE", "ICE restart"])
def test_browser_reoffers(daemon, browser, phone, restart_ice):
    """A re-INVITE from the browser once media flows (its own renegotiation, or
    ``restartIce()``: new ICE credentials, the same certificate and DTLS association):
    media goes on both ways."""
    ids = {"call-id": "browser-reoffers", "from-tag": "browser"}
    offered = ng(daemon, command="offer", **ids, sdp=loopback_only(browser.offer()),
                 **WEBRTC_TO_SIP)["sdp"]
    try:
        answered = _phone_answers(daemon, browser, phone, ids, offered)
        ufrag = re.search(r"^a=ice-ufrag:(\S+)", answered, re.M).group(1)
        reoffer = loopback_only(browser.reoffer(restart_ice=restart_ice))
        offered = ng(daemon, command="offer", **ids, sdp=reoffer, **WEBRTC_TO_SIP)["sdp"]
        answered = ng(daemon, command="answer", **ids, **{"to-tag": "phone"},
                      sdp=phone.sdp(0, "PCMU/8000", session=3))["sdp"]
        # our ICE restarts with the browser's (new credentials), else it stays
        assert (re.search(r"^a=ice-ufrag:(\S+)", answered, re.M).group(1) != ufrag) \
            == restart_ice, answered
        phone.start(media_port(offered), rtcp_port(offered), 0)
        browser.take_answer(answered)
        _media_flows(browser, phone, "after the re-offer")
    finally:
        ng(daemon, command="delete", **{"call-id": "browser-reoffers"})


def test_browser_to_browser(daemon, browser):
    """Two Chromium connections through the daemon with no options: each leg has its own
    ICE and DTLS-SRTP with the daemon (our keys and fingerprint towards the answerer), and
    the audio (opus, as the browsers negotiate it) is decrypted and encrypted again."""
    ids = {"call-id": "browser-to-browser", "from-tag": "caller"}
    offered = ng(daemon, command="offer", **ids, sdp=loopback_only(browser.offer("caller")))["sdp"]
    assert "a=setup:actpass" in offered and "a=fingerprint:" in offered, offered
    try:
        answer = loopback_only(browser.answer(offered, "callee"))
        answered = ng(daemon, command="answer", **ids, **{"to-tag": "callee"}, sdp=answer)["sdp"]
        browser.take_answer(answered, "caller")
        for name, role in (("caller", "controlling"), ("callee", "controlled")):
            assert browser.connected(name) == "connected", summary(browser.stats(name))
            assert report(browser.stats(name), "transport")["iceRole"] == role
        for name in ("caller", "callee"):
            stats = browser.wait_stats(
                lambda s: report(s, "inbound-rtp").get("packetsReceived", 0) >= BURST
                and report(s, "inbound-rtp").get("totalAudioEnergy", 0) > 0,
                f"{BURST} packets of the other browser's beep", name)
            inbound = report(stats, "inbound-rtp")
            codec = next(r for r in reports(stats, "codec") if r["id"] == inbound["codecId"])
            assert codec["mimeType"].lower() == "audio/opus", codec
        reply = daemon.request({"command": "query", "call-id": "browser-to-browser"})
        for tag in ("caller", "callee"):
            media = reply["tags"][tag]["medias"][0]
            assert "DTLS-SRTP" in media["flags"], media
            assert "DTLS fingerprint verified" in media["streams"][0]["flags"], media
    finally:
        ng(daemon, command="delete", **{"call-id": "browser-to-browser"})


@pytest.mark.parametrize("flags", [{}, SIP_TO_WEBRTC], ids=["no options", "WebRTC options"])
def test_phone_reoffers_to_browser(daemon, browser, phone, flags):
    """The phone re-INVITEs the browser that called it (a hold, a session refresh): the
    re-offer keeps the browser's ``a=mid`` and offers DTLS alone, as 10.5 does; the browser
    answers it on its running connection and media goes on both ways."""
    ids = {"call-id": "phone-reoffers", "from-tag": "browser"}
    offered = ng(daemon, command="offer", **ids, sdp=loopback_only(browser.offer()),
                 **WEBRTC_TO_SIP)["sdp"]
    try:
        _phone_answers(daemon, browser, phone, ids, offered)
        back = {"call-id": "phone-reoffers", "from-tag": "phone", "to-tag": "browser"}
        reoffered = ng(daemon, command="offer", **back, sdp=phone.sdp(0, "PCMU/8000", session=3),
                       **flags)["sdp"]
        assert "a=mid:0" in reoffered and "a=crypto" not in reoffered, reoffered
        reanswer = loopback_only(browser.answer_again(reoffered))
        answered = ng(daemon, command="answer", **back, sdp=reanswer)["sdp"]
        phone.start(media_port(answered), rtcp_port(answered), 0)
        _media_flows(browser, phone, "after the re-offer")
    finally:
        ng(daemon, command="delete", **{"call-id": "phone-reoffers"})


def test_browser_reoffers_after_answering(daemon, browser, phone):
    """The browser answered the phone's call (``a=setup:active``: the daemon is the DTLS
    server) and then re-INVITEs: the answer to its re-offer keeps ``a=setup:passive``, as
    10.5 does (the browser refuses an answer that swaps its running association's roles),
    and media goes on both ways."""
    ids = {"call-id": "browser-answered", "from-tag": "phone"}
    offered = ng(daemon, command="offer", **ids, sdp=phone.sdp(0, "PCMU/8000"),
                 **SIP_TO_WEBRTC)["sdp"]
    try:
        sdp = loopback_only(browser.answer(offered))
        assert "a=setup:active" in sdp, sdp
        answered = ng(daemon, command="answer", **ids, **{"to-tag": "browser"}, sdp=sdp)["sdp"]
        phone.start(media_port(answered), rtcp_port(answered), 0)
        assert browser.connected() == "connected", summary(browser.stats())
        _media_flows(browser, phone, "before the re-offer")
        back = {"call-id": "browser-answered", "from-tag": "browser", "to-tag": "phone"}
        reoffered = ng(daemon, command="offer", **back, sdp=loopback_only(browser.reoffer()),
                       **WEBRTC_TO_SIP)["sdp"]
        reanswered = ng(daemon, command="answer", **back,
                        sdp=phone.sdp(0, "PCMU/8000", session=3))["sdp"]
        assert "a=setup:passive" in reanswered, reanswered
        browser.take_answer(reanswered)
        phone.start(media_port(reoffered), rtcp_port(reoffered), 0)
        _media_flows(browser, phone, "after the re-offer")
    finally:
        ng(daemon, command="delete", **{"call-id": "browser-answered"})
