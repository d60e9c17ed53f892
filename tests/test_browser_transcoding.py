"""A real browser (headless Chromium) that speaks Opus only calls a plain SIP phone that
speaks PCMU only, through rtpengined, which terminates ICE and DTLS-SRTP on the browser's
leg and converts Opus <-> PCMU (``codec: {transcode: [PCMU]}``).

``test_webrtc_transcoding`` runs the same gateway call with aiortc; here the WebRTC party is
Chromium itself (``browser_helpers``): its transceiver's codec preferences are Opus alone,
its fake microphone beeps. The offer gets the bridge's flags (``transport-protocol:
RTP/AVP``, ``ICE: remove``, ``DTLS: off``, ``rtcp-mux: [demux]``) plus ``codec: {transcode:
[PCMU]}``, the answer none. The phone takes only the added PCMU, so the browser is answered
its own Opus and the relay converts both ways: the phone must get 20 ms µ-law frames with
the beep in them, and the browser's ``getStats()`` must show the phone's 1 kHz tone received
as Opus and decoded (packets and audio energy).

As in ``test_diff_browser_webrtc``, Chromium, chromedriver, the daemon and the phone share a
network namespace with only a loopback interface.
"""

from __future__ import annotations

import math
import re
import struct
import threading
import time

import pytest
from browser_helpers import (
    DEADLINE,
    PlainPhone,
    loopback_only,
    media_port,
    ng,
    page_fixtures,
    parse_rtp,
    payload_types,
    report,
    reports,
    summary,
)
from differential import start_ours

from rtpengined.media.g711 import linear_to_ulaw, ulaw_to_linear

PORTS = (27300, 27399)  # (used by no other test)
IDS = {"call-id": "browser-transcoding", "from-tag": "browser"}
BRIDGE = {"transport-protocol": "RTP/AVP", "ICE": "remove", "DTLS": "off",
          "rtcp-mux": ["demux"], "codec": {"transcode": ["PCMU"]}}
BROWSER_PACKETS = 100  # 2 s of the browser's audio at the phone (the beep is periodic)
PHONE_PACKETS = 100  # 2 s of the phone's tone
BEEP = 1000  # a µ-law sample above this (of 32767) is the beep, not the silence between
# the browser's totalAudioEnergy of it: the sum of audioLevel (Chromium's: the peak, here
# 8000 of 32767, 0.24) squared times the duration, about 0.11 over the 2 s; 0.05 once
# nearly half of it has played (silence, or a few packets, stays far below)
ENERGY = 0.05
KHZ_TONE = bytes(linear_to_ulaw(round(8000 * math.sin(2 * math.pi * 1000 * n / 8000)))
                 for n in range(160))  # 20 ms of 1 kHz in PCMU (20 whole cycles)

# The offer of a connection ``a[0]`` whose one audio transceiver offers Opus alone (its codec
# preferences), after ICE gathering (the page's ``fresh``, ``gathered``). ``Chromium.run``
# awaits an expression: these are async functions' bodies, called at once.
OPUS_OFFER = """await (async () => {
  const pc = await fresh(a[0]);
  stream.getAudioTracks().forEach(track => pc.addTrack(track, stream));
  const opus = RTCRtpReceiver.getCapabilities('audio').codecs
    .filter(codec => codec.mimeType.toLowerCase() === 'audio/opus');
  pc.getTransceivers()[0].setCodecPreferences(opus);
  await pc.setLocalDescription(await pc.createOffer());
  return await gathered(pc, a[1]);
})()"""
ICE_CONNECTED = """await (async () => {
  const pc = pcs[a[0]];
  await until(() => ['connected', 'completed', 'failed'].includes(pc.iceConnectionState),
              a[1], 'iceConnectionState connected (is ' + pc.iceConnectionState + ')');
  return pc.iceConnectionState;
})()"""


network, browser, phone = page_fixtures()


@pytest.fixture
def daemon(relay_loop, network):
    """rtpengined under each relay loop (``relay_loop`` sets the environment it inherits)."""
    process = start_ours(*PORTS)
    try:
        yield process
    finally:
        process.stop()


def rtpmap(sdp: str, pt: int) -> str | None:
    found = re.search(rf"^a=rtpmap:{pt} (\S+)", sdp, re.M)
    return found.group(1) if found else None


def speak(phone: PlainPhone, port: int, count: int) -> None:
    """``count`` packets of the 1 kHz tone (PCMU, 20 ms each) from the phone's RTP socket to
    ``port``, paced in real time (the phone's own thread keeps receiving meanwhile)."""
    ssrc, started = 0x1CEB00DA, time.monotonic()
    for n in range(count):
        header = struct.pack("!BBHII", 0x80, 0x80 if n == 0 else 0, 7000 + n, 90000 + 160 * n, ssrc)
        phone.rtp.sendto(header + KHZ_TONE, ("127.0.0.1", port))
        time.sleep(max(0.0, started + (n + 1) * 0.02 - time.monotonic()))


def inbound(stats: dict) -> dict:
    return report(stats, "inbound-rtp")


def test_opus_browser_calls_pcmu_phone(daemon, browser, phone):
    sdp = loopback_only(browser.run(OPUS_OFFER, "a", int(DEADLINE * 1000)))
    (opus,) = payload_types(sdp)
    assert rtpmap(sdp, opus) == "opus/48000/2" and " UDP/TLS/RTP/SAVPF " in sdp, sdp
    assert "a=candidate" in sdp, sdp

    # the offer the phone gets: plain RTP, the browser's Opus, then the added PCMU
    offered = ng(daemon, command="offer", sdp=sdp, **IDS, **BRIDGE)["sdp"]
    assert " RTP/AVP " in offered and payload_types(offered) == [opus, 0], offered
    assert rtpmap(offered, 0) == "PCMU/8000", offered
    for attribute in ("a=fingerprint", "a=setup", "a=candidate", "a=ice-ufrag", "a=crypto"):
        assert attribute not in offered, offered
    try:
        # the phone takes only PCMU: the browser is answered its own Opus, as WebRTC
        answered = ng(daemon, command="answer", sdp=phone.sdp(0, "PCMU/8000"), **IDS,
                      **{"to-tag": "phone"})["sdp"]
        assert " UDP/TLS/RTP/SAVPF " in answered and payload_types(answered) == [opus], answered
        assert rtpmap(answered, opus) == "opus/48000/2", answered
        for attribute in ("a=fingerprint:", "a=setup:active", "a=ice-ufrag", "a=candidate",
                          "a=rtcp-mux"):
            assert attribute in answered, answered
        browser.take_answer(answered)
        state = browser.run(ICE_CONNECTED, "a", int(DEADLINE * 1000))
        assert state in ("connected", "completed"), summary(browser.stats())
        assert browser.connected() == "connected", summary(browser.stats())  # DTLS too

        # the phone's tone towards the browser, while the browser's beep comes to the phone
        speaker = threading.Thread(target=speak, name="phone-speaks", daemon=True,
                                   args=(phone, media_port(offered), PHONE_PACKETS))
        speaker.start()
        try:
            phone.wait(lambda: len(phone.rtp_from_peer()) >= BROWSER_PACKETS,
                       f"{BROWSER_PACKETS} RTP packets")
        finally:
            speaker.join(PHONE_PACKETS * 0.02 + DEADLINE)

        # browser -> phone: PCMU in 20 ms frames, one SSRC, on the encoder's clock
        raw = phone.rtp_from_peer()
        packets = [parse_rtp(p) for p in raw]
        bad = [p.hex() for p, parsed in zip(raw, packets, strict=True) if parsed is None]
        assert not bad, f"{len(bad)} of {len(raw)} packets not RTP: {bad[:3]}"
        assert {p[0] for p in packets} == {0}, {p[0] for p in packets}
        assert {len(p[3]) for p in packets} == {160}, {len(p[3]) for p in packets}
        assert len({p[2] for p in packets}) == 1, {p[2] for p in packets}
        headers = [struct.unpack_from("!BBHII", p) for p in raw]
        assert {(b[2] - a[2]) & 0xFFFF for a, b in zip(headers, headers[1:], strict=False)} == {1}
        assert {(b[3] - a[3]) & 0xFFFFFFFF for a, b in zip(headers, headers[1:], strict=False)} \
            == {160}
        # the fake microphone's beep decoded from the browser's Opus, µ-law at the phone
        peaks = [max(abs(ulaw_to_linear(code)) for code in p[3]) for p in packets[-BROWSER_PACKETS:]]
        assert max(peaks) > BEEP, peaks  # (the silence between beeps is not all there is)

        # phone -> browser: the tone received as Opus and decoded
        stats = browser.wait_stats(
            lambda s: inbound(s).get("packetsReceived", 0) >= PHONE_PACKETS // 2
            and inbound(s).get("totalAudioEnergy", 0) > ENERGY,
            f"{PHONE_PACKETS // 2} packets of the phone's tone, decoded")
        received = inbound(stats)
        codec = next(r for r in reports(stats, "codec") if r["id"] == received["codecId"])
        assert codec["mimeType"].lower() == "audio/opus" and codec["payloadType"] == opus, codec
        assert received["packetsLost"] == 0, received
        assert received["totalSamplesReceived"] > 0, received

        reply = daemon.request({"command": "query", "call-id": IDS["call-id"]})
        for tag in ("browser", "phone"):
            flags = reply["tags"][tag]["medias"][0]["flags"]
            assert "transcoding" in flags, (tag, flags)
        assert "DTLS-SRTP" in reply["tags"]["browser"]["medias"][0]["flags"]
    finally:
        ng(daemon, command="delete", **{"call-id": IDS["call-id"]})
