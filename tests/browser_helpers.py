"""A real browser (headless Chromium driven by selenium) and a plain RTP phone, for WebRTC
tests through a daemon.

aiortc (``test_webrtc_relay``) is a WebRTC stack, not a browser: Chromium negotiates DTLS 1.2
with an ECDSA certificate, prefers the AEAD-GCM SRTP profiles, offers BUNDLE, extmap, ssrc
and msid, requires rtcp-mux, trickles candidates and keeps checking consent on its own
schedule. The page's script holds one RTCPeerConnection with one audio track from Chromium's
fake microphone (a beep); the test drives it through ``execute_async_script`` and reads
``getStats()`` to see what arrived.

Chromium gathers a candidate on every interface address it finds (and checks from each of
them): the tests run it, chromedriver, both daemons and the phone inside a network namespace
of their own with only a loopback interface (``LoopbackNamespace``), so that every check and
packet stays on 127.0.0.1 there.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import select
import shutil
import socket
import struct
import tempfile
import threading
import time

import pytest
from netns_helpers import NetNamespace, _ip
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from rtpengined.media.g711 import linear_to_ulaw, ulaw_to_linear

DEADLINE = 25.0  # seconds for any one wait: generous, the machine may be loaded

CHROMIUM_ARGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    # host candidates with IP addresses, not mDNS names (the daemons cannot resolve .local)
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    # without it Chromium gathers no candidate on 127.0.0.1
    "--allow-loopback-in-peer-connection",
    "--force-webrtc-ip-handling-policy=default",
    "--autoplay-policy=no-user-gesture-required",
)

# The page: one RTCPeerConnection, no ICE servers, the fake microphone's audio track.
# Every function resolves (never hangs): each wait has its own deadline.
PAGE = """<!doctype html><meta charset="utf-8"><title>rtpengined browser test</title>
<script>
const pcs = {};  // RTCPeerConnections by name (two make a browser-to-browser call)
let stream = null;
function until(check, ms, what) {
  return new Promise((resolve, reject) => {
    const end = Date.now() + ms;
    const tick = () => {
      const value = check();
      if (value) return resolve(value);
      if (Date.now() > end) return reject(new Error('timed out waiting for ' + what));
      setTimeout(tick, 50);
    };
    tick();
  });
}
async function fresh(name) {
  if (pcs[name]) pcs[name].close();
  const pc = new RTCPeerConnection({iceServers: []});
  pcs[name] = pc;
  pc.gathered = [];  // candidates as they come (for trickle ICE)
  pc.onicecandidate = event => {
    if (event.candidate && event.candidate.candidate) pc.gathered.push(event.candidate.candidate);
  };
  // play what arrives: Chromium decodes (and counts samples) only for a playing track
  pc.ontrack = event => {
    const audio = document.createElement('audio');
    audio.autoplay = true;
    audio.srcObject = new MediaStream([event.track]);
    document.body.appendChild(audio);
    audio.play().catch(() => {});
  };
  stream = stream || await navigator.mediaDevices.getUserMedia({audio: true, video: false});
  return pc;
}
async function gathered(pc, ms) {
  await until(() => pc.iceGatheringState === 'complete', ms, 'ICE gathering');
  return pc.localDescription.sdp;
}
async function makeOffer(name, ms, trickle) {
  const pc = await fresh(name);
  stream.getAudioTracks().forEach(track => pc.addTrack(track, stream));
  await pc.setLocalDescription(await pc.createOffer());
  return trickle ? pc.localDescription.sdp : await gathered(pc, ms);
}
async function renegotiate(name, restart, ms) {
  const pc = pcs[name];
  if (restart) pc.restartIce();
  await pc.setLocalDescription(await pc.createOffer());
  await until(() => pc.iceGatheringState === 'complete'
              && pc.localDescription.sdp.includes('a=candidate'), ms, 'ICE gathering');
  return pc.localDescription.sdp;
}
async function takeAnswer(name, sdp) {
  await pcs[name].setRemoteDescription({type: 'answer', sdp: sdp});
  return 'ok';
}
async function makeAnswer(name, sdp, ms) {
  const pc = await fresh(name);
  await pc.setRemoteDescription({type: 'offer', sdp: sdp});
  stream.getAudioTracks().forEach(track => pc.addTrack(track, stream));
  await pc.setLocalDescription(await pc.createAnswer());
  return await gathered(pc, ms);
}
async function answerAgain(name, sdp, ms) {
  const pc = pcs[name];
  await pc.setRemoteDescription({type: 'offer', sdp: sdp});
  await pc.setLocalDescription(await pc.createAnswer());
  return await gathered(pc, ms);
}
async function gatheredCandidates(name, ms) {
  const pc = pcs[name];
  await gathered(pc, ms);
  return pc.gathered;
}
async function connected(name, ms) {
  const pc = pcs[name];
  await until(() => pc.connectionState === 'connected' || pc.connectionState === 'failed',
              ms, 'connectionState connected (is ' + pc.connectionState + ')');
  return pc.connectionState;
}
async function stats(name) {
  const pc = pcs[name];
  const out = {connectionState: pc.connectionState, iceConnectionState: pc.iceConnectionState,
               reports: []};
  (await pc.getStats()).forEach(report => out.reports.push(report));
  return out;
}
function call(promise, done) {
  promise.then(value => done({ok: value}), error => done({error: String(error)}));
}
</script>"""


class LoopbackNamespace(NetNamespace):
    """``rtpe-browser-<random>``: a network namespace with nothing but ``lo`` (127.0.0.1,
    ::1). The test's thread enters it (``entered()``) before it starts anything: processes
    it spawns and sockets it creates belong to it."""

    def __init__(self) -> None:
        self.name = f"rtpe-browser-{secrets.token_hex(4)}"
        _ip("netns", "add", self.name)
        try:
            self._ip("link", "set", "lo", "up")
        except BaseException:
            self.delete()
            raise


class BrowserError(AssertionError):
    """The page's script rejected (its message says what it waited for)."""


class Chromium:
    """One headless Chromium with the test page loaded; ``quit()`` ends it and chromedriver."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="rtpengined-browser-")
        page = os.path.join(self.directory, "page.html")
        with open(page, "w") as handle:
            handle.write(PAGE)
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for argument in CHROMIUM_ARGS:
            options.add_argument(argument)
        options.add_argument(f"--user-data-dir={os.path.join(self.directory, 'profile')}")
        service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
        self.driver = None
        try:
            self.driver = webdriver.Chrome(options=options, service=service)
            self.driver.set_script_timeout(DEADLINE + 5)
            self.driver.set_page_load_timeout(DEADLINE)
            # a file: page is a secure context (getUserMedia), a data: URL is not
            self.driver.get("file://" + page)
        except BaseException:
            self.quit()
            raise

    def run(self, expression: str, *args):
        """Await ``expression`` (a promise over ``args[i]`` as ``a[i]``) in the page."""
        script = ("const a = arguments; const done = a[a.length - 1]; "
                  f"call((async () => {expression})(), done);")
        result = self.driver.execute_async_script(script, *args)
        if "error" in result:
            raise BrowserError(result["error"])
        return result["ok"]

    def offer(self, name: str = "a", trickle: bool = False) -> str:
        """The offer of a new connection ``name``: after gathering, or at once (its
        candidates then come from ``candidates``)."""
        return self.run("await makeOffer(a[0], a[1], a[2])", name, int(DEADLINE * 1000), trickle)

    def reoffer(self, name: str = "a", restart_ice: bool = False) -> str:
        """A new offer of the same connection (a re-INVITE), with new ICE credentials
        (``restartIce()``) if asked; after gathering."""
        return self.run("await renegotiate(a[0], a[1], a[2])", name, restart_ice,
                        int(DEADLINE * 1000))

    def take_answer(self, sdp: str, name: str = "a") -> None:
        self.run("await takeAnswer(a[0], a[1])", name, sdp)

    def answer(self, sdp: str, name: str = "a") -> str:
        return self.run("await makeAnswer(a[0], a[1], a[2])", name, sdp, int(DEADLINE * 1000))

    def answer_again(self, sdp: str, name: str = "a") -> str:
        """The answer of connection ``name`` to a new offer (a re-INVITE towards it)."""
        return self.run("await answerAgain(a[0], a[1], a[2])", name, sdp, int(DEADLINE * 1000))

    def candidates(self, name: str = "a") -> list[str]:
        """Every candidate line ``name`` gathered (``candidate:...``), once gathering is done."""
        return self.run("await gatheredCandidates(a[0], a[1])", name, int(DEADLINE * 1000))

    def connected(self, name: str = "a") -> str:
        return self.run("await connected(a[0], a[1])", name, int(DEADLINE * 1000))

    def stats(self, name: str = "a") -> dict:
        return self.run("await stats(a[0])", name)

    def wait_stats(self, check, what: str, name: str = "a") -> dict:
        """Poll ``getStats()`` until ``check(stats)`` holds; fail after ``DEADLINE``."""
        deadline = time.monotonic() + DEADLINE
        while True:
            current = self.stats(name)
            if check(current):
                return current
            if time.monotonic() > deadline:
                raise AssertionError(f"browser never saw {what}: {summary(current)}")
            time.sleep(0.2)

    def quit(self) -> None:
        try:
            if self.driver is not None:
                self.driver.quit()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def reports(stats: dict, kind: str) -> list[dict]:
    return [r for r in stats["reports"] if r["type"] == kind]


def report(stats: dict, kind: str) -> dict:
    found = reports(stats, kind)
    return found[0] if found else {}


def summary(stats: dict) -> dict:
    """The parts of a stats snapshot a failure message needs."""
    keep = ("transport", "inbound-rtp", "outbound-rtp", "candidate-pair", "remote-outbound-rtp",
            "remote-inbound-rtp")
    return {"connectionState": stats["connectionState"],
            **{kind: reports(stats, kind) for kind in keep}}


def loopback_only(sdp: str) -> str:
    """Drop the candidates not on a loopback address (Chromium gathers every interface's)."""
    def keep(line: str) -> bool:
        if not line.startswith("a=candidate:"):
            return True
        address = line.split()[4]
        return address.startswith("127.") or address == "::1"
    return "\r\n".join(line for line in sdp.split("\r\n") if keep(line))


def media_port(sdp: str) -> int:
    return int(re.search(r"^m=audio (\d+) ", sdp, re.M).group(1))


def rtcp_port(sdp: str) -> int:
    found = re.search(r"^a=rtcp:(\d+)", sdp, re.M)
    return int(found.group(1)) if found else media_port(sdp) + 1


def payload_types(sdp: str) -> list[int]:
    return [int(pt) for pt in re.search(r"^m=audio \d+ \S+ ([\d ]+)", sdp, re.M).group(1).split()]


# -- the plain phone ---------------------------------------------------------------------

TONE = bytes(linear_to_ulaw(int(8000 * math.sin(2 * math.pi * 440 * n / 8000)))
             for n in range(160))  # 20 ms of a 440 Hz tone in PCMU (a whole number of cycles)


def parse_rtp(packet: bytes) -> tuple[int, int, int, bytes] | None:
    """(payload type, sequence, SSRC, payload) of a valid RTP packet, else None."""
    if len(packet) < 12 or packet[0] >> 6 != 2 or 72 <= packet[1] & 0x7F <= 79:
        return None
    csrcs = packet[0] & 0x0F
    offset = 12 + 4 * csrcs
    if packet[0] & 0x10:  # header extension
        if len(packet) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", packet, offset + 2)[0]
    end = len(packet)
    if packet[0] & 0x20:
        end -= packet[-1]
    if end < offset:
        return None
    _, marker_pt, seq, _, ssrc = struct.unpack_from("!BBHII", packet)
    return marker_pt & 0x7F, seq, ssrc, packet[offset:end]


def rtcp_types(packet: bytes) -> list[int] | None:
    """The packet types of a valid (compound) RTCP packet, else None."""
    types, offset = [], 0
    while offset < len(packet):
        if len(packet) < offset + 4 or packet[offset] >> 6 != 2:
            return None
        types.append(packet[offset + 1])
        offset += 4 * (struct.unpack_from("!H", packet, offset + 2)[0] + 1)
    return types if offset == len(packet) and 192 <= types[0] <= 223 else None


def peak(payload: bytes) -> int:
    return max(abs(ulaw_to_linear(code)) for code in payload)


class PlainPhone:
    """A plain RTP/AVP party on two loopback UDP sockets (RTP, RTCP on the next port).

    A thread receives on both and, once ``target`` is set, sends PCMU packets of a tone
    every 20 ms (and a sender report with a report block every second) until ``hold()`` or
    ``close()``. ``send_burst(n)`` sends exactly n more packets and returns when done.
    """

    SSRC = 0x5EED5EED

    def __init__(self) -> None:
        for _ in range(50):
            rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            rtp.bind(("127.0.0.1", 0))
            self.port = rtp.getsockname()[1]
            if self.port % 2:
                rtp.close()
                continue
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rtcp.bind(("127.0.0.1", self.port + 1))
            except OSError:
                rtp.close()
                rtcp.close()
                continue
            break
        else:
            raise RuntimeError("no free even/odd port pair")
        self.rtp, self.rtcp = rtp, rtcp
        self.lock = threading.Lock()
        self.received_rtp: list[bytes] = []
        self.received_rtcp: list[bytes] = []
        self.target: tuple[int, int] | None = None  # (rtp port, rtcp port) on 127.0.0.1
        self.payload_type = 0
        self.streaming = threading.Event()
        self.stopping = threading.Event()
        self.sent = 0
        self.peer_ssrc = 0
        self.thread = threading.Thread(target=self._run, name="plain-phone", daemon=True)
        self.thread.start()

    def sdp(self, payload_type: int, rtpmap: str, session: int = 2) -> str:
        lines = ["v=0", f"o=- {session} {session} IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1",
                 "t=0 0", f"m=audio {self.port} RTP/AVP {payload_type}",
                 f"a=rtpmap:{payload_type} {rtpmap}", "a=ptime:20", "a=sendrecv"]
        return "\r\n".join(lines) + "\r\n"

    def start(self, rtp_port: int, rtcp_port: int, payload_type: int = 0) -> None:
        self.payload_type = payload_type
        self.target = (rtp_port, rtcp_port)
        self.streaming.set()

    def hold(self) -> None:
        self.streaming.clear()

    def send_burst(self, count: int) -> None:
        """``count`` packets at 20 ms intervals (the stream is held meanwhile)."""
        self.hold()
        for _ in range(count):
            self._send_rtp()
            time.sleep(0.02)

    def rtp_from_peer(self) -> list[bytes]:
        with self.lock:
            return list(self.received_rtp)

    def rtcp_from_peer(self) -> list[bytes]:
        with self.lock:
            return list(self.received_rtcp)

    def wait(self, check, what: str):
        deadline = time.monotonic() + DEADLINE
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"plain phone never got {what}: {len(self.received_rtp)} "
                                     f"RTP, {len(self.received_rtcp)} RTCP packets")
            time.sleep(0.05)

    def _send_rtp(self) -> None:
        with self.lock:
            self.sent += 1
        seq = self.sent & 0xFFFF
        header = struct.pack("!BBHII", 0x80, self.payload_type | (0x80 if self.sent == 1 else 0),
                             seq, self.sent * 160, self.SSRC)
        self.rtp.sendto(header + TONE, ("127.0.0.1", self.target[0]))

    def _send_rtcp(self) -> None:
        """An SR for our stream with one report block on the browser's (if it sent)."""
        blocks = b""
        if self.peer_ssrc:
            with self.lock:
                count = len(self.received_rtp)
            blocks = struct.pack("!IIIII", self.peer_ssrc, 0, count & 0xFFFF, 0, 0) + bytes(4)
        now = time.time() + 2208988800
        sr = struct.pack("!IIIII", self.SSRC, int(now), int((now % 1) * 2**32),
                         self.sent * 160, self.sent) + struct.pack("!I", self.sent * 160)
        body = sr + blocks
        header = struct.pack("!BBH", 0x80 | (1 if blocks else 0), 200, len(body) // 4)
        self.rtcp.sendto(header + body, ("127.0.0.1", self.target[1]))

    def _run(self) -> None:
        next_rtp = next_rtcp = time.monotonic()
        while not self.stopping.is_set():
            now = time.monotonic()
            sending = self.streaming.is_set() and self.target is not None
            wait = max(0.0, min(next_rtp, next_rtcp) - now) if sending else 0.05
            try:
                readable, _, _ = select.select([self.rtp, self.rtcp], [], [], min(wait, 0.05))
            except (OSError, ValueError):
                return
            for sock in readable:
                try:
                    data = sock.recv(2048)
                except OSError:
                    continue
                with self.lock:
                    if sock is self.rtp:
                        self.received_rtp.append(data)
                        if not self.peer_ssrc and len(data) >= 12:
                            self.peer_ssrc = struct.unpack_from("!I", data, 8)[0]
                    else:
                        self.received_rtcp.append(data)
            now = time.monotonic()
            if self.streaming.is_set() and self.target is not None:
                if now >= next_rtp:
                    self._send_rtp()
                    next_rtp = max(next_rtp + 0.02, now - 0.1)
                if now >= next_rtcp:
                    self._send_rtcp()
                    next_rtcp = now + 1.0

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.rtp.close()
        self.rtcp.close()


def page_fixtures():
    """A browser test module's fixtures, as ``network, browser, phone = page_fixtures()``:
    ``network``, the module's loopback-only namespace, entered by this thread (Chromium
    checks from every address it has, so it must have no other); ``browser``, one Chromium
    in it for the module; ``phone``, a ``PlainPhone`` per test. Each is undone whatever
    happens."""

    @pytest.fixture(scope="module")
    def network():
        namespace = LoopbackNamespace()
        try:
            with namespace.entered():
                yield namespace
        finally:
            namespace.delete()

    @pytest.fixture(scope="module")
    def browser(network):
        chromium = Chromium()
        try:
            yield chromium
        finally:
            chromium.quit()

    @pytest.fixture
    def phone(network):
        party = PlainPhone()
        try:
            yield party
        finally:
            party.close()

    return network, browser, phone


def ng(daemon, **message) -> dict:
    """An ng request to a daemon (``differential.NgProcess``) that must answer ok; the
    reply with its byte strings decoded."""
    reply = daemon.request(message)
    assert reply.get("result") == "ok", reply
    return {key: value.decode() if isinstance(value, bytes) else value
            for key, value in reply.items()}
