"""The Janus videoroom with real WebRTC peers: an aiortc publisher sends a tone (Opus) and a
small VP8 picture through a room, an aiortc subscriber of its feed must decode them.

Both peers are aiortc ``RTCPeerConnection``s driven as janus.js drives a browser's: the
publisher joins, ``configure``s with its offer and applies the answer; the subscriber joins
the feed, answers the daemon's offer and sends ``start``. ICE and DTLS-SRTP run between each
peer and the daemon (its relay worker): the publisher's SRTP is decrypted and encrypted again
for the subscriber. aiortc gathers before it hands out a description, so every candidate is
in the SDP (no trickle), and the daemon's offer carries its own with ``end-of-candidates``.

As in ``test_webrtc_relay``, the daemon is a child process (``--interface=127.0.0.1``, under
both relay loops) and the peers, the Janus client and the assertions run in one asyncio
loop. aioice gathers on every interface except loopback: here it gathers on 127.0.0.1 alone
(the daemon's only address), with no STUN server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from array import array

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack
from av import VideoFrame
from webrtc_helpers import (
    DEADLINE,
    Decoded,
    ToneTrack,
    frequency,
    new_peer,
    relay_daemon,
    until_connected,
)
from websockets import connect

from conftest import DaemonProcess

PORTS = ("--port-min=24950", "--port-max=24999")  # (used by no other test)
PLUGIN = "janus.plugin.videoroom"
SUBPROTOCOL = "janus-protocol"
TONE_HZ, TONE_AMPLITUDE = 440, 8000
WIDTH, HEIGHT = 160, 120  # the publisher's picture: small, quick to encode, recognisable
_transactions = itertools.count(1)


@pytest.fixture
def janus_daemon(relay_loop):
    """The daemon with one relay worker, under each relay loop (the C helper's, the pure-Python one)."""
    with relay_daemon(*PORTS) as daemon:
        yield daemon


# -- the media ---------------------------------------------------------------------------------


class Picture(VideoStreamTrack):
    """aiortc's paced 30 fps source, at WIDTH x HEIGHT."""

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=WIDTH, height=HEIGHT)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts, frame.time_base = pts, time_base
        return frame


def dominant_frequency(frames: list[array], rate: int = 48000) -> float:
    """The frequency of a tone (aiortc decodes Opus at 48 kHz)."""
    return frequency([s for frame in frames for s in frame], rate)


# -- the Janus client ---------------------------------------------------------------------------


class Videoroom:
    """One Janus session on a ``janus-protocol`` WebSocket. A request's replies are the
    messages with its transaction (an ack, then its event); anything else that arrives
    meanwhile was pushed (``webrtcup``) and is kept in ``pushed``."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.pushed: list[dict] = []
        self.session = 0

    async def _receive(self) -> dict:
        text = await self.ws.recv()
        assert isinstance(text, str), "Janus messages go out as text frames"
        return json.loads(text)

    async def request(self, janus: str, count: int = 1, **fields) -> list[dict]:
        transaction = f"w{next(_transactions)}"
        message = {"janus": janus, "transaction": transaction, **fields}
        if self.session:
            message["session_id"] = self.session
        await self.ws.send(json.dumps(message))
        replies = []
        async with asyncio.timeout(DEADLINE):
            while len(replies) < count:
                reply = await self._receive()
                (replies if reply.get("transaction") == transaction else self.pushed).append(reply)
        assert all("error" not in reply for reply in replies), (message, replies)
        return replies

    async def create_session_and_room(self) -> int:
        (created,) = await self.request("create")
        self.session = created["data"]["id"]
        controller = await self.attach()
        (reply,) = await self.request("message", handle_id=controller, body={"request": "create"})
        return reply["plugindata"]["data"]["room"]

    async def attach(self) -> int:
        (reply,) = await self.request("attach", plugin=PLUGIN)
        return reply["data"]["id"]

    async def message(self, handle: int, body: dict, jsep: dict | None = None) -> dict:
        """A join, configure or start: the ack, then the event (returned)."""
        fields = {"handle_id": handle, "body": body, **({"jsep": jsep} if jsep else {})}
        ack, event = await self.request("message", count=2, **fields)
        assert ack["janus"] == "ack" and event["janus"] == "event", (ack, event)
        return event

    async def pushed_event(self, janus: str, sender: int) -> dict:
        """A message the daemon pushes by itself: already received, or the next to come."""
        def found() -> dict | None:
            return next((m for m in self.pushed if m.get("janus") == janus
                         and m.get("sender") == sender), None)
        try:
            async with asyncio.timeout(DEADLINE):
                while (event := found()) is None:
                    self.pushed.append(await self._receive())
        except TimeoutError:
            raise AssertionError(f"no {janus!r} for handle {sender} within {DEADLINE} s; "
                                 f"pushed: {self.pushed}") from None
        return event


@contextlib.asynccontextmanager
async def videoroom(daemon: DaemonProcess):
    async with connect(f"ws://127.0.0.1:{daemon.http_port}/", subprotocols=[SUBPROTOCOL],
                       open_timeout=DEADLINE, close_timeout=2) as ws:
        assert ws.subprotocol == SUBPROTOCOL
        yield Videoroom(ws)


async def publish(janus: Videoroom, room: int, pc: RTCPeerConnection, tracks: list) -> tuple[int, int]:
    """Join ``room`` as a publisher, configure with ``pc``'s offer of ``tracks`` (send-only),
    apply the answer and wait for ICE and DTLS. (handle, feed)."""
    handle = await janus.attach()
    joined = await janus.message(handle, {"request": "join", "ptype": "publisher", "room": room})
    feed = joined["plugindata"]["data"]["id"]
    for track in tracks:
        pc.addTransceiver(track, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    kinds = {track.kind for track in tracks}
    configured = await janus.message(
        handle, {"request": "configure", "room": room, "feed": feed,
                 "audio": "audio" in kinds, "video": "video" in kinds},
        {"type": "offer", "sdp": pc.localDescription.sdp})
    data = configured["plugindata"]["data"]
    assert data["configured"] == "ok", configured
    assert data.get("audio_codec") == ("opus" if "audio" in kinds else None), data
    assert data.get("video_codec") == ("VP8" if "video" in kinds else None), data
    answer = configured["jsep"]
    assert answer["type"] == "answer"
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    await until_connected(pc, "publisher")
    return handle, feed


async def subscribe(janus: Videoroom, room: int, feed: int, pc: RTCPeerConnection) -> int:
    """Join ``room`` as a subscriber of ``feed``, answer the daemon's offer with ``pc``,
    ``start``, and wait for ICE and DTLS. The handle."""
    handle = await janus.attach()
    attached = await janus.message(handle, {"request": "join", "ptype": "subscriber",
                                            "room": room, "feed": feed})
    assert attached["plugindata"]["data"] == {"videoroom": "attached", "room": room, "id": feed}
    offer = attached["jsep"]
    assert offer["type"] == "offer"
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    started = await janus.message(handle, {"request": "start", "room": room, "feed": feed},
                                  {"type": "answer", "sdp": pc.localDescription.sdp})
    assert started["plugindata"]["data"] == {"videoroom": "event", "room": room, "started": "ok"}
    await until_connected(pc, "subscriber")
    return handle


# -- the tests ------------------------------------------------------------------------------------


async def publisher_hears_webrtcup(daemon: DaemonProcess) -> None:
    publisher = new_peer()
    try:
        async with videoroom(daemon) as janus:
            room = await janus.create_session_and_room()
            handle, _ = await publish(janus, room, publisher, [ToneTrack(TONE_HZ, TONE_AMPLITUDE)])
            # once its first packet arrived, without any further request of the client's
            event = await janus.pushed_event("webrtcup", handle)
            assert event == {"janus": "webrtcup", "session_id": janus.session, "sender": handle}
    finally:
        await publisher.close()


def test_publisher_session_hears_webrtcup_when_its_media_arrives(janus_daemon, loopback_ice):
    asyncio.run(publisher_hears_webrtcup(janus_daemon))


async def subscriber_decodes_the_publishers_media(daemon: DaemonProcess, video: bool) -> None:
    publisher, subscriber = new_peer(), new_peer()
    received = Decoded("subscriber")
    subscriber.on("track", received.on_track)
    try:
        async with videoroom(daemon) as janus:
            room = await janus.create_session_and_room()
            _, feed = await publish(janus, room, publisher, [ToneTrack(TONE_HZ, TONE_AMPLITUDE), *([Picture()] if video else [])])
            await subscribe(janus, room, feed, subscriber)
            # the tone, decoded: 40 frames of 20 ms (the first ones may be the decoder's ramp)
            await received.until("audio", 40)
            tone = received.audio[-25:]
            assert max(abs(s) for frame in tone for s in frame) > TONE_AMPLITUDE / 4
            assert abs(dominant_frequency(tone) - TONE_HZ) < 40
            if video:
                # The subscriber came in mid-stream: its decoder needs a keyframe. aiortc asks
                # with a PLI on each picture it cannot decode (as a browser does); the daemon
                # passes the subscriber's RTCP on to the publisher (mirror-RTCP; here muxed on
                # the RTP port), whose encoder then sends one.
                await received.until("video", 10)
                assert set(received.video) == {(WIDTH, HEIGHT)}
    finally:
        await received.stop()
        await subscriber.close()
        await publisher.close()


def test_subscriber_decodes_the_publishers_audio(janus_daemon, loopback_ice):
    asyncio.run(subscriber_decodes_the_publishers_media(janus_daemon, video=False))


def test_subscriber_decodes_the_publishers_audio_and_video(janus_daemon, loopback_ice):
    asyncio.run(subscriber_decodes_the_publishers_media(janus_daemon, video=True))
