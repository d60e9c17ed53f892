"""The WebRTC-to-SIP gateway with transcoding: an aiortc browser that speaks Opus only calls
a plain RTP phone that speaks PCMU only, through the daemon, which terminates ICE and
DTLS-SRTP on the browser's leg and converts Opus <-> PCMU (``codec: {transcode: [PCMU]}``).

The browser is an aiortc ``RTCPeerConnection`` (one sendrecv audio transceiver, its codec
preferences Opus alone) sending a 440 Hz tone; the phone is a pair of UDP sockets on
127.0.0.1 (RTP, and RTCP on the next port) answering ``RTP/AVP 0`` and sending a 660 Hz
µ-law tone. The flags are the bridge's of ``test_webrtc_relay`` (``transport-protocol:
RTP/AVP``, ``ICE: remove``, ``rtcp-mux: [demux]``, here with ``DTLS: off`` too: no DTLS
offered to the phone) plus ``codec: {transcode: [PCMU]}``; the answer has none. The phone
takes only the added PCMU, so the browser is answered its own Opus and the relay converts
both ways: the phone must get 20 ms µ-law frames of the browser's tone, the browser must
decode the phone's tone from the Opus the relay encodes and SRTP-protects for it.

As in ``test_janus_webrtc``, the daemon is a child process (``--interface=127.0.0.1``, under
both relay loops) and aioice gathers on 127.0.0.1 alone, with no STUN server.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import struct

import pytest
from aiortc import RTCRtpSender, RTCSessionDescription

from rtpengined.media import g711
from tests.conftest import DaemonProcess
from tests.webrtc_helpers import (
    DEADLINE,
    Decoded,
    ToneTrack,
    frequency,
    new_peer,
    ng,
    relay_daemon,
    tone,
    until_connected,
)

PORTS = ("--port-min=27000", "--port-max=27099")  # (used by no other test)
BROWSER_HZ, PHONE_HZ, AMPLITUDE = 440, 660, 8000
IDS = {"call-id": "gateway-transcoding", "from-tag": "browser"}
BRIDGE = {"transport-protocol": "RTP/AVP", "ICE": "remove", "DTLS": "off",
          "rtcp-mux": ["demux"], "codec": {"transcode": ["PCMU"]}}


@pytest.fixture
def gateway(relay_loop):
    """The daemon with one relay worker, under each relay loop (the C helper's, the pure-Python one)."""
    with relay_daemon(*PORTS) as daemon:
        yield daemon


# -- control -------------------------------------------------------------------------------------


def m_line(sdp: str) -> tuple[int, str, list[str]]:
    """The audio section's port, protocol and payload types."""
    port, protocol, formats = re.search(r"^m=audio (\d+) (\S+) ([^\r\n]*)", sdp, re.M).groups()
    return int(port), protocol, formats.split()


def rtpmap(sdp: str, pt: str) -> str | None:
    found = re.search(rf"^a=rtpmap:{pt} (\S+)", sdp, re.M)
    return found.group(1) if found else None


def phone_sdp(port: int) -> str:
    lines = ["v=0", "o=- 2 2 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
             f"m=audio {port} RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


# -- the phone ------------------------------------------------------------------------------------


class Received(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    def datagram_received(self, data, addr) -> None:
        self.queue.put_nowait(data)


class Phone:
    """A plain RTP party on loopback: RTP on a port, RTCP on the next one."""

    async def start(self) -> Phone:
        loop = asyncio.get_running_loop()
        for _ in range(50):
            self.rtp, self.received = await loop.create_datagram_endpoint(
                Received, local_addr=("127.0.0.1", 0))
            self.port = self.rtp.get_extra_info("sockname")[1]
            try:
                self.rtcp, _ = await loop.create_datagram_endpoint(
                    asyncio.DatagramProtocol, local_addr=("127.0.0.1", self.port + 1))
            except OSError:
                self.rtp.close()
                continue
            return self
        raise RuntimeError("no free port pair")

    async def packets(self, count: int) -> list[bytes]:
        got = []
        try:
            async with asyncio.timeout(DEADLINE):
                while len(got) < count:
                    got.append(await self.received.queue.get())
        except TimeoutError:
            raise AssertionError(f"the phone received {len(got)} RTP packets in {DEADLINE} s, "
                                 f"not {count}") from None
        return got

    async def speak(self, to: int, seconds: float) -> None:
        """A µ-law tone in 20 ms packets (payload type 0), paced in real time."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n in range(round(seconds / 0.02)):
            payload = bytes(g711.linear_to_ulaw(s) for s in tone(PHONE_HZ, AMPLITUDE, 8000, n * 160, 160))
            self.rtp.sendto(struct.pack("!BBHII", 0x80, 0, 1000 + n, 50000 + n * 160, 0x0660)
                            + payload, ("127.0.0.1", to))
            await asyncio.sleep(max(0.0, started + (n + 1) * 0.02 - loop.time()))

    def close(self) -> None:
        for transport in (getattr(self, "rtp", None), getattr(self, "rtcp", None)):
            if transport is not None:
                transport.close()


# -- the call -------------------------------------------------------------------------------------


def check_framing(headers: list[tuple], pt: int, step: int) -> None:
    """RTP as the relay sends a converted direction: a plain 12-byte header, one payload
    type, one SSRC (its own), sequence numbers counting on without gaps, and timestamps one
    20 ms frame apart (``step`` clock units)."""
    assert {h[0] for h in headers} == {0x80}, headers[:3]
    assert {h[1] & 0x7F for h in headers} == {pt}, headers[:3]
    assert len({h[4] for h in headers}) == 1, headers[:3]
    assert {(b[2] - a[2]) & 0xFFFF for a, b in itertools.pairwise(headers)} == {1}
    assert {(b[3] - a[3]) & 0xFFFFFFFF for a, b in itertools.pairwise(headers)} == {step}


def check_browser_tone(packets: list[bytes]) -> None:
    """What the phone got: PCMU in 20 ms frames of 160 bytes, and the browser's tone in them
    (the last ones: the first may be the codecs' ramp-up)."""
    check_framing([struct.unpack("!BBHII", p[:12]) for p in packets], 0, 160)
    assert {len(p) - 12 for p in packets} == {160}
    samples = [g711.ulaw_to_linear(code) for p in packets[-30:] for code in p[12:]]
    assert max(abs(s) for s in samples) > AMPLITUDE / 4
    assert abs(frequency(samples, 8000) - BROWSER_HZ) < 30, frequency(samples, 8000)


def record_rtp(transport) -> list[tuple]:
    """The RTP headers ``transport`` (aiortc's DTLS transport) decrypts, as they arrive."""
    headers: list[tuple] = []
    handle = transport._handle_rtp_data

    async def recorded(data: bytes, arrival_time_ms: int) -> None:
        headers.append(struct.unpack("!BBHII", data[:12]))
        await handle(data, arrival_time_ms=arrival_time_ms)

    transport._handle_rtp_data = recorded
    return headers


async def gateway_call(daemon: DaemonProcess, answer_dtls: str | None = None) -> None:
    browser = new_peer()
    heard = Decoded("browser")
    browser.on("track", heard.on_track)
    phone = Phone()
    try:
        await phone.start()
        transceiver = browser.addTransceiver(ToneTrack(BROWSER_HZ, AMPLITUDE), direction="sendrecv")
        transceiver.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs
                                         if c.mimeType.lower() == "audio/opus"])
        await browser.setLocalDescription(await browser.createOffer())
        offer_sdp = browser.localDescription.sdp
        _, protocol, (opus,) = m_line(offer_sdp)
        assert protocol == "UDP/TLS/RTP/SAVPF" and rtpmap(offer_sdp, opus) == "opus/48000/2"

        # the offer the phone gets: plain RTP, the browser's Opus, then the added PCMU
        to_phone = ng(daemon, command="offer", sdp=offer_sdp, **IDS, **BRIDGE)["sdp"]
        to_daemon_from_phone, protocol, formats = m_line(to_phone)
        assert protocol == "RTP/AVP" and formats == [opus, "0"], to_phone
        assert rtpmap(to_phone, "0") == "PCMU/8000", to_phone
        for attribute in ("a=fingerprint", "a=setup", "a=candidate", "a=ice-ufrag", "a=crypto"):
            assert attribute not in to_phone, to_phone

        # the phone takes only PCMU: the browser is answered its own Opus, as WebRTC
        options = {} if answer_dtls is None else {"DTLS": answer_dtls}
        to_browser = ng(daemon, command="answer", sdp=phone_sdp(phone.port), **IDS,
                        **{"to-tag": "phone"}, **options)["sdp"]
        _, protocol, formats = m_line(to_browser)
        assert protocol == "UDP/TLS/RTP/SAVPF" and formats == [opus], to_browser
        assert rtpmap(to_browser, opus) == "opus/48000/2", to_browser
        # (the answer's DTLS: passive makes us wait for the browser's handshake, as 10.5)
        setup = "a=setup:passive" if answer_dtls == "passive" else "a=setup:active"
        for attribute in ("a=fingerprint:sha-256", setup, "a=ice-ufrag",
                          "a=candidate", "a=rtcp-mux"):
            assert attribute in to_browser, to_browser
        await browser.setRemoteDescription(RTCSessionDescription(sdp=to_browser, type="answer"))
        to_browser_rtp = record_rtp(transceiver.receiver.transport)
        await until_connected(browser, "browser")

        # the browser's tone, as µ-law at the phone
        check_browser_tone(await phone.packets(60))

        # the phone's tone, as Opus decoded by the browser
        await phone.speak(to_daemon_from_phone, 1.5)
        await heard.until("audio", 50)
        check_framing(to_browser_rtp, int(opus), 960)  # (Opus: a 48 kHz clock)
        assert len(to_browser_rtp) >= 50
        decoded = [s for frame in heard.audio[-30:] for s in frame]
        assert heard.rate == 48000
        assert max(abs(s) for s in decoded) > AMPLITUDE / 4
        assert abs(frequency(decoded, heard.rate) - PHONE_HZ) < 30, frequency(decoded, heard.rate)

        reply = ng(daemon, command="query", **{"call-id": IDS["call-id"]})
        for tag in ("browser", "phone"):
            flags = reply["tags"][tag]["medias"][0]["flags"]
            assert "transcoding" in flags, (tag, flags)
        assert "DTLS-SRTP" in reply["tags"]["browser"]["medias"][0]["flags"]
    finally:
        await heard.stop()
        try:
            await asyncio.wait_for(browser.close(), 5)
        finally:
            phone.close()


@pytest.mark.parametrize("answer_dtls", [None, "passive"])
def test_opus_browser_calls_pcmu_phone_through_transcoding(gateway, loopback_ice, answer_dtls):
    asyncio.run(gateway_call(gateway, answer_dtls))
