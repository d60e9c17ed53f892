"""A relay worker process: one tight epoll loop forwarding RTP/RTCP between stream sockets.

Run as ``python -m rtpengined.media.worker CHANNEL_FD COUNTERS_FD INDEX`` by the control
plane (``rtpengined.media.plane``). No trio, no threads, no logging per packet: each
ready socket is drained (up to ``BATCH`` packets, so one flooded socket cannot starve
the others and no socket is ever given up on) with ``recvfrom_into`` into one buffer,
and each packet is sent unchanged from the sink stream's socket to the sink's current
destination. When the C helper ``_relay`` was built, the loop itself is its ``run``, which
relays every settled stream (the usual case once a call is up, SDES- and DTLS-SRTP
included) without coming back to Python: one ``recvmmsg`` for everything waiting, one
``sendmmsg`` to send it on; Python keeps the channel, learning and everything unsettled, and
decides which streams are settled (``Worker.settle``). A drain's counters (and a newly learned endpoint or payload type) are
written to shared memory before its packets are sent on, so a query made after a
relayed packet arrived sees it (as rtpengine counts synchronously); the rest of a slot
(kernel drops, send errors, applied generation) is written when it changes, once the
loop goes idle. The control plane reads them without asking.

The worker exits when the control channel reaches end of file: the daemon stopped or
died (the kernel closes its end either way). No PR_SET_PDEATHSIG: trio spawns processes
from a helper thread, and that signal fires when the spawning *thread* ends.

A WebRTC stream (ICE and DTLS-SRTP terminated here) holds a ``secure.webrtc.WebrtcLeg``:
its STUN and DTLS datagrams go to the leg, its timers (ICE checks, DTLS retransmissions)
set the epoll timeout, and its keys, once the handshake is done, are the stream's SRTP
contexts; the ICE-nominated peer is its endpoint. From then on the C loop relays its media
(and the media sent into it), handing back every datagram that is not SRTP from the peer
(``Worker.settle``, ``drain_webrtc``). A stream with ICE may hold its port on the interface's
other addresses too (``add_alternates``): the selected pair's socket is the stream's
``sock`` (``select_local``), relayed as any other; the rest are drained in Python
(``drain_local``: checks answered from there, the peer's media relayed as the stream's).

Why one module of this size: the worker runs as its own process and its hot loop must not
pay for indirection (attribute look-ups across modules on every packet); the plain drain,
the SRTP and WebRTC drains and the channel handling share the same per-stream state (the
WebRTC protocol logic itself lives in ``secure``).
"""

from __future__ import annotations

import _socket
import array
import gc
import heapq
import logging
import os
import select
import signal
import socket
import struct
import sys
import time

from ..rare_fields import add_rare_fields
from . import channel as ch
from . import (
    codecs,
    dtmf,
    dtmf_guard,
    dtx,
    g711,
    player,
    reception,
    rtcp_feedback,
    rtcp_report,
    t38_relay,
    transcoding,
)
from .counters import (
    CONFIRMED,
    PAYLOAD_TYPE_SEEN,
    RTCP_SEEN,
    SLOT_SIZE,
    SSRC_SEEN,
    CounterTable,
    pack_address,
)
from .scheduling import apply_policy, request_short_slice

try:  # the event loop for settled streams in C (setup.py builds it; optional)
    from . import _relay
except ImportError:  # not built: the pure-Python loop below does the same, packet by packet
    _relay = None
if os.environ.get("RTPENGINED_PURE_RELAY") or getattr(_relay, "API", None) != 9:
    _relay = None  # forced (tests run both loops; operators may too) or a stale build
# SRTP contexts the C helper can call (pylibsrtp's libsrtp sessions, see _c_context): the C
# loop relays streams keyed with them; without the helper SRTP streams stay in Python.
_CContext = getattr(_relay, "SrtpContext", None)

log = logging.getLogger("rtpengined.relay")

BATCH = 64  # packets per socket per loop turn: fairness under overload
CONGESTED = 8  # packets read in one turn that make the next flush read the kernel's drops
FLUSH_INTERVAL = 0.005  # seconds between counter flushes while packets flow
_FAR = float("inf")
LEARNING_WINDOW = 3.0  # seconds after signalling during which delayed learning follows sources
# The type sockets arrive with: the control plane hands over non-blocking sockets only.
_NONBLOCKING_UDP = socket.SOCK_DGRAM | getattr(socket, "SOCK_NONBLOCK", 0)
# Stream sockets are the C socket type itself, without ``socket.socket``'s Python layer
# (makefile reference counts, enum-typed family and type) that the relay never uses: 48
# bytes instead of 88 per socket, and no Python-level __init__ and close per stream.
_UdpSocket = _socket.socket
PACKED_HOSTS = 1024  # hosts whose packed form a worker keeps (per family)
SO_MEMINFO = 55  # Linux: per-socket memory info, index 8 = packets dropped by the kernel
RTP_SSRC = struct.Struct("!I")
_FRESH_SLOT = (0, 0, 0, 0.0, 0, 0, 0, 0, bytes(16), 0, 0, 0)  # ``read_raw`` of a zero slot
# (now, now + LEARNING_WINDOW) of the last ``_Stream.apply`` that opened a learning window:
# the streams of one control batch share one ``now`` and so one float (24 bytes each else).
# A list changed in place: assigning a class attribute of ``_Stream`` instead would
# invalidate the interpreter's attribute caches for every stream access.
_window = [-1.0, -1.0]
# RTCP sender/receiver reports relayed by the Python paths (stream id, wall clock, packet as
# received, decrypted, and the same for the RTCP log or None), for the control plane's call
# quality figures (``Worker.report_rtcp``).
_REPORTS: list = []
# Keys the tone detectors of converted directions found ended: (stream id, event code,
# volume, samples), made DTMF news by ``Worker.report_detected`` (``dtmf_log``).
_DETECTED: list = []
# What went into this worker's conversions since the last report (``Worker.report_transcoded``).
_TALLY = transcoding.Tally()
NO_SUPPRESS = "dtmf-no-suppress"  # (a worker's command-line option)
# Whether converted directions suppress the audio sent during a telephone-event (10.5's
# default; a worker started with ``NO_SUPPRESS`` does not: ``--dtmf-no-suppress``).
_SUPPRESS = [True]
LOG_RTCP = "log-rtcp"  # (a worker's command-line option: ``--log-facility-rtcp``)
# Whether the reports noted carry the packet as the party sent it too, for the control
# plane's RTCP log (``rtcp_log``); a worker started with ``LOG_RTCP`` does.
_LOG_RTCP = [False]
SOFTWARE_ID = "software-id="  # (a worker's command-line option, with ``--software-id``)
SCHEDULING = "scheduling="  # (one too: ``--scheduling`` and ``--priority``, NAME:PRIORITY)
LOG_SRTP_KEYS = "log-srtp-keys"  # (and ``--log-srtp-keys``: DTLS legs log their keys)
LOG_SETTINGS = "log="  # (where its log goes: ``log_setup.LogSettings.to_arg``)
# RTP clocks of the static audio payload types (RFC 3551), for the jitter of generated
# reports (``reception``) where the party's rtpmaps do not name the type's.
_CLOCK_RATES = {0: 8000, 3: 8000, 4: 8000, 5: 8000, 6: 16000, 7: 8000, 8: 8000, 9: 8000,
                10: 44100, 11: 44100, 12: 8000, 13: 8000, 15: 8000, 16: 11025, 17: 22050,
                18: 8000}
_LOW_TYPES = (1 << 64) - 1  # (a payload type mask in two halves for the C table)
_REPORT_TYPES = frozenset({200, 201, 207})  # RTCP SR, RR, XR (as the first of a compound)
MAX_REPORTS = 256  # per loop turn (a flood of RTCP cannot grow it: the rest is not read)


class _Stream:
    """Relay state of one stream inside the worker (attributes read in the hot loop)."""

    __slots__ = (
        "id", "slot", "_sock", "fd", "family",
        "sink_id", "sink", "rtcp_peer_id", "rtcp_peer",
        "advertised", "endpoint", "dest", "native", "confirmed", "generation",
        "learning", "strict_source", "media_handover", "asymmetric", "rtcp_mux", "blocked",
        "learn_until", "best_score",
        "packets", "bytes", "errors", "last_packet", "ssrc", "ssrc_seen",
        "kernel_drops", "congested", "payload_type",
        "busy", "turn", "secure", "referred",
        "seq", "sr", "rtcp_port", "payload_types",
        "rare",  # (the state few streams set: ``add_rare_fields`` below the class)
    )

    def __init__(self, spec: ch.StreamSpec, fd: int, counters: CounterTable,
                 now: float | None = None) -> None:
        self.id = spec.id
        self.slot = spec.slot
        self._sock = None  # the socket object, made on first use (``sock``)
        self.fd = fd
        self.rare = None
        self.sink = None
        self.rtcp_peer = None
        self.endpoint = None
        self.confirmed = False
        self.generation = 0
        self.native = False  # registered in the C loop's table (Worker.settle)
        self.learn_until = 0.0
        self.best_score = -1
        # (a slot nobody wrote is all zero: a new stream's, the usual case)
        raw = counters.read_raw(spec.slot) if counters.written(spec.slot) else _FRESH_SLOT
        self.packets, self.bytes, self.errors, self.last_packet, self.ssrc = raw[:5]
        self.last_packet = raw[3] or 0.0  # (a fresh slot: one shared 0.0, not a float each)
        # bit 0: an SSRC was seen, bit 1: an RTCP packet was (the slot's ssrc_seen byte)
        self.ssrc_seen = (1 if raw[7] & SSRC_SEEN else 0) | (2 if raw[7] & RTCP_SEEN else 0)
        self.kernel_drops = raw[9]
        self.payload_type = raw[11]  # raw slot byte: PAYLOAD_TYPE_SEEN | type, 0 for none
        # Read the kernel's drop counter at the first flush after traffic (``flush_one``).
        self.congested = True
        self.busy = False  # packets come faster than loop turns: drain until empty
        self.turn = 0  # the loop turn of the last drain
        self.secure = False  # relayed by Worker.drain_secure (set by Worker.resolve)
        self.referred = None  # the streams naming this one (see Worker.link)
        # For the reports the relay sends itself (a media player's, ``rtcp_report``): the
        # last RTP sequence number received (-1: none), and (LSR, arrival stamp) of the
        # last RTCP sender report, None before one (the C table's while ``native``).
        self.seq = -1
        self.sr = None
        self.apply(spec, time.monotonic() if now is None else now)
        self.apply_keys(spec)

    def apply(self, spec: ch.StreamSpec, now: float) -> None:
        # (another local socket selected by ICE keeps its own family)
        if self.rare is None or not self.local:
            self.family = spec.family
        self.sink_id = spec.sink
        self.rtcp_peer_id = spec.rtcp_peer
        # Unpickled values live as long as the stream: the strings every call repeats (the
        # learning mode, the SDP's addresses) are shared, not one copy per stream.
        advertised = self.advertised = _shared_host(spec.advertised)
        learning = spec.learning
        self.learning = sys.intern(learning) if type(learning) is str else learning
        self.strict_source = spec.strict_source
        self.media_handover = spec.media_handover
        self.asymmetric = spec.asymmetric
        self.rtcp_mux = spec.rtcp_mux
        self.rtcp_port = spec.rtcp
        self.payload_types = spec.payload_types
        self.blocked = spec.blocked
        if (self.rare is not None or spec.extra_sinks or spec.transcode or spec.rtcp_only
                or spec.dropped or spec.egress or spec.t38 or spec.guard or spec.strip_feedback
                or spec.dtmf_events or spec.detect):
            self.extra_ids = spec.extra_sinks
            self.t38 = spec.t38
            self.rtcp_only = spec.rtcp_only
            self.dropped = spec.dropped
            # (payload type -> clock rate, looked up per packet of the stream)
            self.dtmf_events = dict(spec.dtmf_events) if spec.dtmf_events else ()
            self.strip_feedback = spec.strip_feedback
            self.egress = spec.egress
            # (None without conversions, the usual case: no empty dict per stream)
            self.transcode = _conversions(spec.transcode) if spec.transcode else None
            self.transcode_passes = spec.transcode_passes
            self.detect = _detect_conversions(spec.detect) if spec.detect else None
        if spec.override_endpoint:
            endpoint = spec.endpoint
            # (one tuple when the SDP's address is the endpoint too, as it came)
            self.endpoint = advertised if endpoint is spec.advertised else _shared_host(endpoint)
            self.confirmed = spec.confirmed
            self.best_score = -1
        self.generation = spec.generation
        if spec.restart_learning:
            if _window[0] != now:
                _window[:] = now, now + LEARNING_WINDOW
            self.learn_until = _window[1]
        self.update_destination()

    def apply_keys(self, spec: ch.StreamSpec) -> None:
        """SRTP contexts from the spec's keys, rebuilt only when the keys change (a context
        keeps its replay window and rollover counter across re-INVITEs). A WebRTC leg's
        keys come from its DTLS handshake instead (``Worker.follow_leg``)."""
        if spec.dtls is not None:
            return
        if (self.rare is None and spec.srtp_in is None and spec.srtp_out is None
                and spec.srtcp is None):
            return  # plain, and stays so
        if spec.srtp_in != self.srtp_in:
            self.srtp_in = spec.srtp_in
            self.unprotect = _srtp_context(spec.srtp_in, outbound=False)
        if spec.srtp_out != self.srtp_out:
            self.srtp_out = spec.srtp_out
            self.protect = _srtp_context(spec.srtp_out, outbound=True)
        if spec.srtcp != self.srtcp:
            self.srtcp = spec.srtcp
            inbound, outbound = spec.srtcp or (None, None)
            self.rtcp_unprotect = _srtp_context(inbound, outbound=False)
            self.rtcp_protect = _srtp_context(outbound, outbound=True)

    @property
    def sock(self) -> socket.socket:
        """The stream's own socket as a Python object, made on first use. The epoll and the
        C loop take the bare descriptor; making the object costs a ``getsockname`` (Python
        validates a descriptor it is given) and ~50 bytes, which a plain call's streams,
        relayed by the C loop from the start or never, do not need."""
        sock = self._sock
        if sock is None:
            sock = self._sock = _adopt(self.family, self.fd)
        return sock

    @sock.setter
    def sock(self, sock: socket.socket) -> None:
        self._sock = sock

    def descriptors(self) -> list[int] | tuple[int]:
        """The numbers of ``sockets()``, without making a socket object for them."""
        others = self.locals if self.rare is not None else None
        return [sock.fileno() for sock in others] if others else (self.fd,)

    def close(self) -> None:
        """Close all of the stream's sockets: its own through its socket object if it has
        one (the object would otherwise close the number again once something else had
        it), the bare descriptor if not."""
        others = self.locals if self.rare is not None else None
        if others:
            for sock in others:
                sock.close()
        elif self._sock is not None:
            self._sock.close()
        else:
            os.close(self.fd)

    def sockets(self) -> list[socket.socket] | tuple[socket.socket]:
        """The stream's sockets by local index (its own first)."""
        return self.locals or (self.sock,)

    def update_destination(self) -> None:
        """Where packets *for* this stream's party go: learned endpoint unless asymmetric."""
        if self.asymmetric or self.endpoint is None:
            self.dest = self.advertised
        else:
            self.dest = self.endpoint
        # The same for the C loop, which sends packets for this party from this socket
        # (packed there once per change, not per packet). (No socket: a unit test's stream.)
        if _relay is not None and self.fd >= 0:
            dest = self.dest
            if dest is None:
                _relay.destination(self.fd)
            else:
                _relay.destination(self.fd, self.family, str(dest[0]), dest[1])

    def score(self, source: tuple) -> int:
        """Heuristic learning: how well a source matches the SDP (address+port best)."""
        advertised = self.advertised
        if advertised is None:
            return 0
        if source[0] == advertised[0]:
            return 3 if source[1] == advertised[1] else 2
        return 1 if source[1] == advertised[1] else 0

    def on_new_source(self, source: tuple, now: float) -> bool:
        """Learning, strict source and handover for a packet from ``source``.

        Called only when ``source`` differs from the endpoint or the endpoint is not yet
        confirmed. Returns False to drop the packet.
        """
        if self.confirmed:
            if self.media_handover:
                self.endpoint = source
            elif self.strict_source:
                return False
            self.update_destination()
            return True
        mode = self.learning
        if self.asymmetric or mode == "off":
            self.confirmed = True  # nothing to learn: the SDP endpoint stays
            return True
        if mode == "immediate":
            self.endpoint = source
            self.confirmed = True
        elif mode == "heuristic":
            score = self.score(source)
            if score >= self.best_score:
                self.best_score = score
                self.endpoint = source
            if now >= self.learn_until:
                self.confirmed = True
        else:  # delayed
            self.endpoint = source
            if now >= self.learn_until:
                self.confirmed = True
        self.update_destination()
        return True


# What a plain stream never sets, kept out of it (``rare_fields``): 80 bytes of each of the
# worker's streams, ~0.3 kB of every open call. ``stream.rare is None``: all are defaults.
add_rare_fields(_Stream, {
    # SRTP: the spec's keys as they came and the contexts made from them.
    "srtp_in": None, "srtp_out": None, "unprotect": None, "protect": None,
    # A leg whose SDES keys pass end to end (``StreamSpec.srtcp``): the spec's keys and the
    # contexts of its RTCP (its SRTP goes on as it came, its SRTCP is decrypted: 10.5).
    "srtcp": None, "rtcp_unprotect": None, "rtcp_protect": None,
    "webrtc": None,  # secure.webrtc.WebrtcLeg (set by Worker.set_webrtc)
    # Subscribers (pubsub): their stream ids from the spec, and their streams here (set
    # by Worker.resolve); the conversions of what is sent or copied to this stream.
    "extra_ids": (), "extras": (), "transcode": None,
    # A stream whose sink converts (``transcode`` there): the SSRCs and sequence numbers
    # of what it relays (``transcoding.Direction``), made on the first such packet.
    "rewriter": None,
    "transcode_passes": False,  # (``StreamSpec.transcode_passes``, on the sink)
    # On an RTCP port's stream: the RTP stream it carries the RTCP of, while that stream's
    # call converts in either direction (set by ``Worker.resolve`` of the RTP stream): its
    # reports are translated (``_translate_rtcp``), so it goes by the per-packet drain.
    "rtcp_of": None,
    # A subscriber whose copies are converted through libavcodec (G.722, G.723.1): their
    # framing and clocks (a ``transcoding.Direction`` keeping the received SSRCs).
    "copies": None,
    "rtcp_only": False,  # (``StreamSpec.rtcp_only``)
    "dropped": (),  # (``StreamSpec.dropped``: payload types that go nowhere, ``_forward``)
    # DTMF logging (``StreamSpec.dtmf_events``): payload type -> clock rate of the
    # party's telephone-event, and the RTP timestamp of the last key reported (``note_dtmf``).
    "dtmf_events": (), "dtmf_ts": None,
    "strip_feedback": False,  # (``StreamSpec.strip_feedback``: RTCP feedback cut, ``_forward``)
    "egress": False,  # (``StreamSpec.egress``: a subscriber copied what goes on, ``_forward``)
    # ICE on several addresses (``Worker.add_alternates``): the stream's sockets, its own
    # first, and which of them ``sock`` is (the selected ICE pair's: media for the party
    # leaves from it, the C loop relays what arrives on it); the others are drained by
    # ``Worker.drain_local``. None for every other stream (``sockets()``: its own, local 0).
    "locals": None, "local": 0,
    "player": None,  # media.player.Player: ``play media`` to this stream's party
    # T.38 gateway (``StreamSpec.t38``): the spec's tuple; on the T.38 party's stream the
    # gateway (``media.t38.Gateway``); the audio party's stream plays its output
    # (``player``: a ``t38_relay.PcmOutput``).
    "t38": None, "gateway": None, "gateway_error_logged": False,
    "gateway_output": None,  # (on the T.38 party's stream: the stream that plays its audio)
    # DTX (``Worker.hold_dtx``): the received SSRC's ``dtx.DtxBuffer``, and what fills its
    # gaps by output payload type (``avcodec.AvConverter``s from comfort noise).
    "dtx": None, "dtx_fillers": None,
    # ``block DTMF`` behind a delay buffer (``StreamSpec.guard``): the spec's settings and
    # the ``dtmf_guard.Guard`` holding what the stream received (``Worker.run_guards``).
    "guard_spec": None, "guard": None,
    # Audio DTMF detection (``StreamSpec.detect``): conversions that read the party's G.711
    # audio for keys where nothing converts it (``_detect_conversions``), or None.
    "detect": None,
    # ``generate RTCP`` (``StreamSpec.rtcp_gen``); what the stream received as the generated
    # reports tell it (a ``reception.Reception``: ``Worker.send_generated``); the reports'
    # own SRTP context (keys passed end to end); the clock rate of each payload type.
    "rtcp_gen": None, "received": None, "report_protect": None, "report_rates": None,
})


class Worker:
    def __init__(self, channel: socket.socket, counters: CounterTable, index: int) -> None:
        self.channel = channel
        self.counters = counters
        if _relay is not None:
            _relay.attach(counters.map)  # the C loop counts settled streams' packets there
        self.index = index
        self.epoll = select.epoll()
        self.streams: dict[int, _Stream] = {}
        # Streams by the fd of their selected socket: a list indexed by fd (fds are small
        # and dense; 8 bytes per number where a dict entry cost ~37), None where no stream's.
        self.by_fd: list[_Stream | None] = []
        self.dirty: set[_Stream] = set()
        # The streams naming a stream id that is not here (not added yet, or removed while
        # others still name it); those naming one that is are its ``referred`` (see link).
        self.referrers: dict[int, _Stream | tuple[_Stream, ...]] = {}
        # Room for a batch of typical packets; a drain stops receiving once less than a
        # maximal datagram would fit, so nothing is ever truncated.
        self.buffer = bytearray(3 * 65536)
        self.view = memoryview(self.buffer)
        self.room = len(self.buffer) - 65536
        self.ends: list[int] = []
        self.targets: list[_Stream | None] = []
        # Streams whose endpoint or confirmation changed this turn ("learned" messages).
        self.learned: list[int] = []
        # Keys the parties ended this turn ("dtmf" messages, ``note_dtmf``).
        self.dtmf_keys: list[tuple] = []
        # WebRTC: daemon certificates by name, leg timers (due time, tie, stream), and the
        # legs whose state changed this turn ("secure" messages).
        self.certificates: dict = {}
        self.timers: list = []
        # Per WebRTC stream (only those: not a slot of every stream): when its leg's timer is
        # due (its live entry in ``timers``), and the state last reported for it.
        self.leg_due: dict[_Stream, float] = {}
        # The stream of the other ICE component (RTP's and its RTCP port's, each way) of
        # legs whose agents are partners: its timer is armed again when this one's agent
        # chose a pair for it (``link_ice_partners``).
        self.ice_partners: dict[_Stream, _Stream] = {}
        self.failed_streams: set[int] = set()  # streams whose relaying raised (logged once)
        self.leg_reports: dict[_Stream, tuple] = {}
        self.timer_tie = 0
        self.secure_changed: list = []
        # Streams whose kept leg may repeat its unanswered hello once the control batch is
        # applied (``set_webrtc``), with that leg.
        self.unanswered: dict[_Stream, object] = {}
        # The WebRTC stream drain_webrtc is relaying: not settled (registered with the
        # counters it is about to change) until that drain is done.
        self.draining: _Stream | None = None
        # ICE on several addresses: the fds of streams' sockets that are not their selected
        # one (``_Stream.locals``) -> (stream, local index). Empty without such streams.
        self.others: dict[int, tuple[_Stream, int]] = {}
        # Media players (``play media``): (due, tie, stream) of each playing stream's next
        # packet, stale entries skipped (``player_due``: the live one per stream).
        self.play_timers: list = []
        self.player_due: dict[_Stream, float] = {}
        # DTX (``--dtx-delay``, ``dtx``): converted packets held by the drains (``_forward``
        # appends (stream, packet), None without DTX), and (due, tie, stream) of each
        # holding stream's timer (``dtx_due``: the live one per stream).
        self.dtx_settings: dtx.DtxSettings | None = None
        self.software_id: str | None = None  # (``--software-id``: what its ICE agents send)
        self.log_srtp_keys = False  # (``--log-srtp-keys``)
        self.dtx_held: list | None = None
        self.dtx_timers: list = []
        self.dtx_due: dict[_Stream, float] = {}
        # Delay buffers (``dtmf_guard``): streams the drains gave packets to, and the
        # buffers' timers (due, tie, stream; the live one per stream in ``guard_due``).
        self.guarded: list = []
        self.guard_timers: list = []
        self.guard_due: dict[_Stream, float] = {}
        # ``generate RTCP``: (due, tie, stream) of each reporting stream's next report
        # (``report_due``: the live one per stream).
        self.report_timers: list = []
        self.report_due: dict[_Stream, float] = {}
        # Endpoint hosts as the counter slots take them (``pack_address``), per family.
        self.packed4: dict[str, bytes] = {}
        self.packed6: dict[str, bytes] = {}

    # -- control messages -----------------------------------------------------------

    def handle_channel(self) -> bool:
        """Apply every queued control batch; False when the control plane is gone."""
        removed: list[int] = []
        try:
            while True:
                try:
                    data, fds = ch.receive_raw(self.channel, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    return True
                except ConnectionError:
                    return False
                if not data:
                    for fd in fds:
                        socket.close(fd)
                    return False
                fds.reverse()  # the sockets of the batch's adds, in order: pop() takes the next
                now = time.monotonic()  # (one for the batch: the signalling that sent it)
                first_removed = len(removed)
                for kind, argument in ch.decode(data):
                    if kind == "add":
                        spec = ch.StreamSpec._make(argument)
                        if len(fds) > len(spec.alternates):
                            own = fds.pop()
                            self.add(spec, own, [fds.pop() for _ in spec.alternates], now)
                    elif kind == "alternates":
                        stream_id, families, _start = argument
                        if len(fds) >= len(families):
                            self.add_alternates(self.streams.get(stream_id), families,
                                                [fds.pop() for _ in families])
                    elif kind == "update":
                        self.update(ch.StreamSpec._make(argument), now)
                    elif kind == "remove":
                        self.remove(argument, publish=False, resolve=False)
                        removed.append(argument)
                    elif kind == "certificate":
                        self.load_certificate(*argument)
                    elif kind == "dtmf":
                        self.inject_dtmf(*argument)
                    elif kind == "play":
                        self.play(*argument)
                    elif kind == "log-level":  # (the CLI's set loglevel, SIGUSR1/2)
                        from ..log_setup import set_subsystem_level

                        set_subsystem_level(*argument)
                # The streams that named the removed ones and are still here, once for the
                # batch (before the next receive: its sockets may take the closed numbers).
                # A call's streams are removed together: most name each other and are gone.
                for stream_id in removed[first_removed:]:
                    self.resolve_referrers(stream_id)
                for fd in fds:
                    socket.close(fd)
                if self.unanswered:
                    self.repeat_hellos()
        finally:
            if removed:  # one acknowledgement for everything removed in this turn
                try:
                    self.channel.send(ch.encode([("removed", removed)]))
                except OSError:
                    pass  # the control plane is gone: nobody waits for the slots

    def report_learned(self) -> None:
        """Name the streams that learned or confirmed an endpoint (already in their slots):
        the control plane reads just those (Redis stores the change) instead of polling
        every stream for it."""
        learned, self.learned = self.learned, []
        try:
            self.channel.send(ch.encode([("learned", learned)]))
        except OSError:
            pass  # channel full or gone: the next refresh of the stream sees it anyway

    def note_dtmf(self, stream: _Stream, packet: bytes, source: tuple) -> None:
        """DTMF logging: a telephone-event packet (decrypted) that ends a key is news
        for the control plane (``dtmf_log``), once per key: 10.5 takes the end packets
        repeated with the same RTP timestamp for the same key."""
        if len(packet) < 12:
            return
        rate = stream.dtmf_events.get(packet[1] & 0x7F)
        if rate is None:
            return
        start = 12 + 4 * (packet[0] & 0x0F)
        if packet[0] & 0x10 and len(packet) >= start + 4:  # (a header extension)
            start += 4 + 4 * int.from_bytes(packet[start + 2:start + 4], "big")
        if len(packet) < start + 4 or not packet[start + 1] & 0x80:
            return  # (short, or the key goes on)
        timestamp = packet[4:8]
        if timestamp == stream.dtmf_ts:
            return
        stream.dtmf_ts = timestamp
        code, volume = packet[start], packet[start + 1] & 0x3F
        samples = int.from_bytes(packet[start + 2:start + 4], "big")
        self.dtmf_keys.append((stream.id, _plain_host(source), code, volume, samples, rate))

    def report_detected(self) -> None:
        """Keys found in a party's audio (``_DETECTED``) as DTMF news, from the stream's
        endpoint at 8 kHz (G.711: what the detector reads), as 10.5 reports a key its DSP
        found. Sent whether or not the daemon logs keys: they are rare, and the control
        plane drops them unless an option asks."""
        for stream_id, code, volume, samples in _DETECTED:
            stream = self.streams.get(stream_id)
            if stream is None:
                continue
            address = stream.endpoint or stream.advertised
            self.dtmf_keys.append((stream_id, _plain_host(address) if address else "", code,
                                   volume, samples, 8000))
        _DETECTED.clear()

    def report_dtmf(self) -> None:
        keys, self.dtmf_keys = self.dtmf_keys, []
        try:
            self.channel.send(ch.encode([("dtmf", keys)]))
        except OSError:
            log.warning("relay worker: %d DTMF events not reported (channel full)", len(keys))

    def report_rtcp(self) -> None:
        """The RTCP reports relayed since the last turn, parsed (``rtcp_report.parse``), for the
        control plane's call quality figures: (stream id, wall clock, sender reports,
        report blocks, extended reports, the packet as received for the RTCP log or
        None)."""
        parsed = []
        for stream_id, wall, packet, logged in _REPORTS:
            reports, blocks, extended = rtcp_report.parse(packet)
            if reports or blocks or extended or logged:
                parsed.append((stream_id, wall, reports, blocks, extended, logged))
        _REPORTS.clear()
        if parsed:
            try:
                self.channel.send(ch.encode([("rtcp", parsed)]))
            except OSError:
                pass  # channel full or gone: these figures are lost, the relay goes on

    def report_transcoded(self) -> None:
        """What went into the conversions since the last report, by codec pair (counted by
        ``transcoding.Tally``), for ``statistics``' transcoders."""
        try:
            self.channel.send(ch.encode([("transcoded", _TALLY.take())]))
        except OSError:
            pass  # channel full or gone: these counts are lost, the relay goes on

    def add(self, spec: ch.StreamSpec, fd: int, alternates: list[int] = (),
            now: float | None = None) -> None:
        if spec.id in self.streams:
            self.remove(spec.id)
        stream = _Stream(spec, fd, self.counters, now)
        if spec.dtls is not None or spec.ice is not None:
            self.set_webrtc(stream, spec)
        if spec.guard:
            self.set_guard(stream, spec.guard)
        if spec.rtcp_gen:
            self.set_generated(stream, spec.rtcp_gen)
        self.streams[stream.id] = stream
        self.place(stream)
        stream.referred = self.referrers.pop(stream.id, None)
        self.epoll.register(stream.fd, select.EPOLLIN)
        if alternates:
            self.add_alternates(stream, spec.alternates, alternates)
        self.link(stream)
        self.dirty.add(stream)
        if stream.webrtc is not None:
            self.start_leg(stream)

    def place(self, stream: _Stream) -> None:
        """``by_fd[stream.fd] = stream``, the list grown (doubled) to hold it."""
        by_fd = self.by_fd
        fd = stream.fd
        if fd >= len(by_fd):
            by_fd.extend([None] * max(fd + 1 - len(by_fd), len(by_fd)))
        by_fd[fd] = stream

    def add_alternates(self, stream: _Stream | None, families: tuple, fds: list[int]) -> None:
        """The stream's sockets on its interface's other addresses (local 1, 2, ...): their
        datagrams go to its ICE agent (``drain_local``) until ICE selects one of them."""
        if stream is None:  # removed meanwhile
            for fd in fds:
                socket.close(fd)
            return
        if stream.locals is None:
            stream.locals = [stream.sock]  # (local 0 is selected: ``sock`` is its own)
        for family, fd in zip(families, fds, strict=True):
            sock = _adopt(family, fd)
            self.others[sock.fileno()] = (stream, len(stream.locals))
            stream.locals.append(sock)
            self.epoll.register(sock.fileno(), select.EPOLLIN)

    def select_local(self, stream: _Stream, local: int) -> None:
        """Make socket ``local`` the stream's own (ICE selected a pair on it, or media came
        there before ICE chose, as 10.5 switches a stream's local socket): media for the
        party leaves from it, and the C loop relays what arrives on it; the one it replaces
        becomes one of the others (still received on, by ``drain_local``)."""
        if local == stream.local or local >= len(stream.sockets()) \
                or self.streams.get(stream.id) is not stream:
            return
        self.unsettle(stream)
        self.by_fd[stream.fd] = None
        self.others[stream.fd] = (stream, stream.local)
        sock = stream.sockets()[local]
        del self.others[sock.fileno()]
        stream.sock, stream.fd, stream.local = sock, sock.fileno(), local
        stream.family = 6 if sock.family == socket.AF_INET6 else 4
        self.place(stream)
        stream.update_destination()
        self.dirty.add(stream)
        if _relay is not None:  # its own registration and its referrers' (their sink fd)
            self.settle(stream)
            for referrer in self.referring(stream.id):
                self.settle(referrer)

    def drain_local(self, stream: _Stream, local: int, wall: float, now: float,
                    turn: int) -> None:
        """Datagrams on one of a stream's sockets other than its selected one: ICE checks
        (answered from there), DTLS, and media from the leg's peer, relayed and counted as
        the stream's (10.5 relays media arriving on any of a stream's sockets)."""
        sock = stream.locals[local]
        if stream.webrtc is None:  # no ICE on the leg any more: nobody should send here
            for _ in range(BATCH):
                try:
                    sock.recv(1)
                except OSError:
                    break
            return
        self.unsettle(stream)  # its counters come back to Python for this drain
        self.draining = stream
        try:
            self.relay_webrtc(stream, wall, now, turn, None, sock, local)
        finally:
            self.draining = None
        if _relay is not None:
            self.settle(stream)

    def update(self, spec: ch.StreamSpec, now: float | None = None) -> None:
        stream = self.streams.get(spec.id)
        if stream is None:
            return
        self.unlink(stream)
        stream.apply(spec, time.monotonic() if now is None else now)
        if spec.dtls is not None or spec.ice is not None or stream.webrtc is not None:
            self.set_webrtc(stream, spec)
        stream.apply_keys(spec)
        if spec.guard != stream.guard_spec:
            self.set_guard(stream, spec.guard)
        if spec.rtcp_gen != stream.rtcp_gen:
            self.set_generated(stream, spec.rtcp_gen)
        self.link(stream)
        self.dirty.add(stream)
        if stream.webrtc is not None:
            self.start_leg(stream)

    def repeat_hellos(self) -> None:
        """The hello of each leg an update kept, if its handshake is still unanswered and
        the leg is still the stream's (``WebrtcLeg.repeat_hello``)."""
        unanswered, self.unanswered = self.unanswered, {}
        for stream, leg in unanswered.items():
            if stream.webrtc is leg and self.streams.get(stream.id) is stream:
                self.send_leg(stream, leg.repeat_hello())

    def start_leg(self, stream: _Stream) -> None:
        """A leg that starts its DTLS handshake now (we are the client and have the peer: no
        ICE to wait for) sends its ClientHello at once, while the batch that set it up is
        being applied, as 10.5 sends it while it handles the command. A later message of
        the same batch may replace the leg (an answer right after the offer that started
        it early, ``offer_answer.webrtc.early_dtls``): the party has had the hello anyway."""
        leg = stream.webrtc
        if leg.deadline() == 0.0:
            self.leg_due.pop(stream, None)  # (the timer ``schedule`` armed is stale now)
            self.send_leg(stream, leg.poll(time.monotonic()))
            self.follow_leg(stream)

    def remove(self, stream_id: int, publish: bool = True, resolve: bool = True) -> None:
        """Stop relaying a stream; its slot is freed by the caller's acknowledgement.

        ``publish=False`` (the control plane's "remove"): no last write of the slot. The
        control plane read the stream's final figures when it closed it (the traffic part
        is current anyway: every drain publishes before it sends), and until it releases
        the slot it only subtracts whatever is there from its totals (``live_totals``).
        ``resolve=False``: the caller resolves the streams naming it (``resolve_referrers``).
        """
        stream = self.streams.pop(stream_id, None)
        if stream is not None:
            if stream.referred is not None:  # named still: until they change or it is back
                self.referrers[stream_id] = stream.referred
                stream.referred = None
            if publish:
                self.flush_one(stream)
            self.dirty.discard(stream)
            self.by_fd[stream.fd] = None
            for fd in stream.descriptors():
                self.others.pop(fd, None)
                self.epoll.unregister(fd)
                if _relay is not None:  # before the close: the number may come back at once
                    _relay.forget(fd)
            stream.native = False
            if stream.webrtc is not None:  # close_notify: the browser knows at once
                self.send_leg(stream, stream.webrtc.close())
            if self.leg_due:
                self.leg_due.pop(stream, None)
            if self.leg_reports:
                self.leg_reports.pop(stream, None)
            if self.ice_partners:
                partner = self.ice_partners.pop(stream, None)
                if partner is not None:
                    self.ice_partners.pop(partner, None)
                    if partner.webrtc is not None and partner.webrtc.agent is not None:
                        partner.webrtc.agent.partner = None
            if stream.rare is not None:
                self.stop_player(stream)
                if stream.guard is not None:  # (its packets are dropped with the stream)
                    stream.guard = None
                    self.guard_due.pop(stream, None)
                if stream.rtcp_gen is not None:
                    self.report_due.pop(stream, None)
                if stream.gateway is not None:
                    stream.gateway.close()
                    stream.gateway = None
            stream.close()
            self.unlink(stream)
            peer = stream.rtcp_peer
            if peer is not None and peer.rtcp_of is stream:  # (not kept alive by its RTCP)
                peer.rtcp_of = None
                if self.streams.get(peer.id) is peer:
                    self.resolve(peer)
            if resolve:
                self.resolve_referrers(stream_id)

    # Sinks and RTCP peers arrive in any order. The streams that name a stream (as sink,
    # RTCP peer or subscriber) are its ``referred`` while it is here, ``referrers[its id]``
    # while it is not, so adding or removing one stream touches only its neighbours. Nearly
    # always one: held as the stream itself (a list per stream cost ~90 bytes, a set 216,
    # a dict entry ~70), a tuple when several.

    def link(self, stream: _Stream) -> None:
        """Name ``stream`` among the referrers of its sink, RTCP peer and subscribers; then
        resolve it and the streams naming it. The ids it keeps are those streams' own int
        objects where they are here: an unpickled id is a new int (28 bytes) per mention,
        kept as long as the stream is (``resolve`` does the same for those added later)."""
        stream.sink_id = self.refer(stream.sink_id, stream)
        stream.rtcp_peer_id = self.refer(stream.rtcp_peer_id, stream)
        for target_id in stream.extra_ids:
            self.refer(target_id, stream)
        self.resolve(stream, False)  # (its referrers are resolved, and so settled, below)
        present = stream.referred
        if present is not None:  # (resolve_referrers for a stream that is here)
            if type(present) is tuple:
                for referrer in present:
                    self.resolve(referrer)
            else:
                self.resolve(present)

    def refer(self, target_id: int | None, stream: _Stream) -> int | None:
        """``stream`` names ``target_id`` (None: nothing): held on the target while it is
        here, else under its id. Returns the id to keep: the target's own int object."""
        target = self.streams.get(target_id)
        if target is not None:
            target.referred = _with(target.referred, stream)
            return target.id
        if target_id is not None:
            self.name_absent(target_id, stream)
        return target_id

    def name_absent(self, target_id: int, stream: _Stream) -> None:
        """``stream`` names ``target_id``, which is not here (yet)."""
        self.referrers[target_id] = _with(self.referrers.get(target_id), stream)

    def unlink(self, stream: _Stream) -> None:
        referrers = self.referrers
        streams = self.streams
        for target_id in (stream.sink_id, stream.rtcp_peer_id, *stream.extra_ids):
            if target_id is None:
                continue
            target = streams.get(target_id)
            if target is not None:
                present = target.referred
                target.referred = None if present is stream else _without(present, stream)
            else:
                present = referrers.get(target_id)
                if present is not None:
                    rest = _without(present, stream)
                    if rest is None:
                        del referrers[target_id]
                    else:
                        referrers[target_id] = rest

    def referring(self, stream_id: int) -> tuple[_Stream, ...]:
        """The streams that name ``stream_id``, in the order they did."""
        stream = self.streams.get(stream_id)
        present = stream.referred if stream is not None else self.referrers.get(stream_id)
        if present is None:
            return ()
        return present if type(present) is tuple else (present,)

    def resolve(self, stream: _Stream, settle_referrers: bool = True) -> None:
        streams = self.streams
        stream.sink = sink = streams.get(stream.sink_id) if stream.sink_id is not None else None
        stream.rtcp_peer = peer = (
            streams.get(stream.rtcp_peer_id) if stream.rtcp_peer_id is not None else None
        )
        if sink is not None:  # (see link)
            stream.sink_id = sink.id
        if peer is not None:
            stream.rtcp_peer_id = peer.id
        # SRTP on either side of this stream's relay: the per-packet drain, not the batch one.
        # (Streams without rare attributes have no keys, leg or subscribers: plain.)
        sink_peer = sink.rtcp_peer if sink is not None else None
        if stream.rare is None and (sink is None or sink.rare is None) and (
                sink_peer is None or sink_peer.rare is None):
            stream.secure = False
        else:
            stream.secure = stream.srtp_in is not None or stream.webrtc is not None or (
                stream.rtcp_of is not None  # (its reports translated: ``_translate_rtcp``)
                or (stream.rtcp_mux and stream.transcode is not None)
                or stream.rtcp_only or stream.dropped or stream.dtmf_events
                or stream.detect is not None or stream.t38 is not None
                or stream.guard is not None or stream.rtcp_gen is not None
                or stream.srtcp is not None or stream.strip_feedback) or (
                sink is not None and (
                    sink.srtp_out is not None or sink.webrtc is not None
                    or sink.srtcp is not None
                    or sink.transcode is not None  # (converted packet by packet)
                    or (sink_peer is not None and (sink_peer.srtp_out is not None
                                                   or sink_peer.webrtc is not None
                                                   or sink_peer.srtcp is not None))))
            if stream.extra_ids:
                # Subscribers (pubsub): each packet is copied, so the per-packet drain
                # relays the stream (the batched drains know one sink only).
                stream.extras = tuple(e for e in map(streams.get, stream.extra_ids)
                                      if e is not None)
                stream.secure = stream.secure or bool(stream.extras)
            else:
                stream.extras = ()
        if stream.blocked == ch.DROP_ALL:
            stream.secure = True  # (``drain_secure`` drops it all; plain drains pay nothing)
        if stream.t38 is not None or stream.gateway is not None:
            self.follow_gateway(stream)
        peer = stream.rtcp_peer
        if peer is not None and peer is not stream:
            # A call converting either way: the reports on the RTCP port are translated as
            # 10.5 translates them (``_translate_rtcp``), by the per-packet drain.
            converts = sink is not None and (sink.transcode is not None
                                             or stream.transcode is not None)
            if converts != (peer.rtcp_of is stream):
                peer.rtcp_of = stream if converts else None
                self.resolve(peer)
        if _relay is not None:
            self.settle(stream)
            # The streams relaying to this one send their demuxed RTCP to its RTCP stream:
            # that may just have changed (added, removed, new keys). (Its ``referred``: a
            # stream that is not here any more is no referrer's sink.)
            present = stream.referred
            if present is not None and settle_referrers:
                for referrer in present if type(present) is tuple else (present,):
                    if referrer.sink is stream:
                        self.settle(referrer)

    def settle(self, stream: _Stream) -> None:
        """Hand a settled stream to the C loop, or take it back when it no longer is.

        Settled: confirmed without source checks (the source of a packet no longer
        matters), one sink and no subscribers (pubsub), not blocked, and SRTP (if any) with contexts
        of the C helper (SDES or DTLS keys, any suite the relay does; not a key with an MKI). That is
        every stream the Python drains would relay without a decision per packet; the C
        loop relays it the same way. Its counters move with it: to the C table on
        registration, back with ``take_back``. Called whenever one of these can change:
        ``resolve`` (add, update, remove of it or its sink, keys), a drain that learned,
        and a WebRTC leg that changed (``follow_leg``, the end of ``drain_webrtc``).

        A stream with a WebRTC leg (ICE and/or DTLS here) is settled once the leg has a
        peer (the nominated pair, or the DTLS peer without ICE), its consent has not
        expired and, for DTLS, its handshake gave keys: the C loop then relays only
        RTP/SRTP(C) from exactly that peer and hands everything else (STUN consent checks,
        DTLS, another source) back to ``drain_webrtc`` (``_relay.held``), which decides as
        it always does. A stream relaying *into* a WebRTC leg is settled once that leg's
        consent holds and, for DTLS, its outbound context exists (never sent unencrypted);
        the C loop sends to the leg's peer (its ``dest``). Peer or keys changing come
        through here again (re-registered, or taken back).
        """
        if stream is self.draining:
            return  # drain_webrtc settles it once its counters are written
        sink = stream.sink
        # RTCP demux (a muxed stream to a sink that is not): RTCP goes to the sink's RTCP
        # stream, which must be one the C loop can send to as it is (no WebRTC leg of its
        # own: its keys and peer change only through signalling, which re-settles this).
        rtcp_target = (sink.rtcp_peer if sink is not None and stream.rtcp_mux
                       and not sink.rtcp_mux else None)
        if stream.rare is None and (sink is None or sink.rare is None) and (
                rtcp_target is None or rtcp_target.rare is None):
            # Plain on every side (no keys, WebRTC leg or subscribers): the usual case.
            if (sink is not None and stream.confirmed and not stream.blocked
                    and not (stream.strict_source or stream.media_handover)
                    and self.streams.get(stream.id) is stream
                    and self._register(stream, sink, None, None, None, rtcp_target, None)):
                return
            self.unsettle(stream)
            return
        if sink is not None and _with_rtcp_keys(stream, sink, rtcp_target):
            self.settle_rtcp_keys_only(stream, sink, rtcp_target)
            return
        leg = stream.webrtc
        peer = None
        ok = (sink is not None and self._relayable(stream, sink)
              and (rtcp_target is None or (
                  rtcp_target.webrtc is None
                  and (rtcp_target.srtp_out is None or type(rtcp_target.protect) is _CContext))))
        if ok and leg is None:
            ok = (not (stream.strict_source or stream.media_handover)
                  and (stream.srtp_in is None or type(stream.unprotect) is _CContext))
        elif ok:
            peer = leg.peer
            ok = peer is not None and not leg.expired and (
                type(stream.unprotect) is _CContext if leg.terminates_dtls
                else stream.srtp_in is None or type(stream.unprotect) is _CContext)
        if ok:
            sink_leg = sink.webrtc
            if sink_leg is not None and (sink_leg.expired or sink_leg.terminates_dtls):
                ok = not sink_leg.expired and type(sink.protect) is _CContext
            else:
                ok = sink.srtp_out is None or type(sink.protect) is _CContext
        if ok:
            ok = self._register(
                stream, sink,
                stream.unprotect if stream.srtp_in is not None
                or (leg is not None and leg.terminates_dtls) else None,
                sink.protect if sink.srtp_out is not None
                or sink.webrtc is not None and sink.webrtc.terminates_dtls else None,
                None if peer is None else (stream.family, tuple(peer)),
                rtcp_target,
                rtcp_target.protect if rtcp_target is not None
                and rtcp_target.srtp_out is not None else None)
        if not ok:
            self.unsettle(stream)

    def settle_rtcp_keys_only(self, stream: _Stream, sink: _Stream,
                              rtcp_target: _Stream | None) -> None:
        """``settle`` for a stream of a leg whose SDES keys pass end to end (``srtcp``):
        the C loop relays its SRTP as it came and its SRTCP decrypted and encrypted again
        (as ``drain_secure`` does), when both ends (and a demuxed RTCP stream) have RTCP
        contexts of the C helper and nothing else needs Python."""
        contexts = (stream.rtcp_unprotect, sink.rtcp_protect,
                    rtcp_target.rtcp_protect if rtcp_target is not None else None)
        ok = (_rtcp_keys_only(stream, sink, rtcp_target)
              and self._relayable(stream, sink)
              and not (stream.strict_source or stream.media_handover)
              and all(type(c) is _CContext for c in contexts[:2])
              and (rtcp_target is None or type(contexts[2]) is _CContext)
              and self._register(stream, sink, contexts[0], contexts[1], None, rtcp_target,
                                 contexts[2], rtcp_keys_only=True))
        if not ok:
            self.unsettle(stream)

    def _relayable(self, stream: _Stream, sink: _Stream) -> bool:
        """What every stream with rare attributes needs before the C loop relays it to
        ``sink``: confirmed, still ours, and nothing only Python does (blocked, copies to
        subscribers, conversions, RTCP to translate, RTCP only, dropped payload types, DTMF
        to report, T.38, a delay buffer, reports of our own)."""
        return (stream.confirmed and not stream.blocked and not stream.extras
                and sink.transcode is None and stream.rtcp_of is None
                and not (stream.rtcp_mux and stream.transcode is not None)
                and not stream.rtcp_only and not stream.dropped and not stream.dtmf_events
                and stream.detect is None
                and stream.t38 is None and stream.guard is None and stream.rtcp_gen is None
                and self.streams.get(stream.id) is stream)

    @staticmethod
    def _register(stream: _Stream, sink: _Stream, unprotect, protect, peer: tuple | None,
                  rtcp_target: _Stream | None, rtcp_protect, rtcp_keys_only: bool = False
                  ) -> bool:
        """Put the settled stream in the C table (already there: its sink, keys and peer
        are updated; the counters stay the C table's). Contexts are shared with Python's
        drains: one replay window. ``rtcp_keys_only``: the contexts are for RTCP only (RTP
        goes on as it came). False if the C loop cannot take it."""
        lsr, lsr_at = stream.sr or (0, 0)
        try:
            _relay.register(stream.fd, sink.fd, stream.slot * SLOT_SIZE, stream.packets,
                            stream.bytes, stream.errors, stream.last_packet, stream.ssrc,
                            stream.ssrc_seen, stream.payload_type, unprotect, protect, peer,
                            -1 if rtcp_target is None else rtcp_target.fd, rtcp_protect,
                            stream.seq, lsr, lsr_at, rtcp_keys_only, stream.strip_feedback,
                            stream.rtcp_port, stream.rtcp_mux,
                            stream.payload_types & _LOW_TYPES, stream.payload_types >> 64 & _LOW_TYPES)
        except ValueError:  # a peer the C loop cannot compare sources with
            return False
        stream.native = True
        return True

    def unsettle(self, stream: _Stream) -> None:
        """Take the stream out of the C table if it is there, its counters with it."""
        if stream.native:
            stream.native = False
            self.take_back(stream, _relay.unregister(stream.fd))

    @staticmethod
    def take_back(stream: _Stream, totals: tuple | None) -> None:
        """The C table's counters of a stream, as ``unregister``/``totals`` return them."""
        if totals is None:
            return
        (stream.packets, stream.bytes, stream.errors, stream.last_packet, stream.ssrc,
         stream.ssrc_seen, stream.payload_type, congested, stream.seq, lsr, lsr_at) = totals
        stream.sr = (lsr, lsr_at) if lsr_at else None
        if congested:
            stream.congested = True

    def resolve_referrers(self, stream_id: int) -> None:
        for referrer in self.referring(stream_id):
            self.resolve(referrer)

    # -- counters -------------------------------------------------------------------

    def flush_one(self, stream: _Stream) -> None:
        if stream.native:  # the C table holds its counters: the slot gets those
            self.take_back(stream, _relay.totals(stream.fd))
        # The kernel only drops when we fall behind: a full batch. And a new stream's socket
        # only had drops (say, while a restarted worker was not reading it) if its buffer was
        # full, which the loop drains and counts before its next flush: until then its
        # counter has nothing to say, and a stream that never gets traffic never reads it.
        if stream.congested and (stream.turn or stream.packets or stream.errors):
            stream.kernel_drops = _kernel_drops(stream.sock)
            stream.congested = False
        endpoint = stream.endpoint
        if endpoint is None:
            family, port, address = 0, 0, b""
        else:
            port = endpoint[1]
            host = endpoint[0]
            # The address's own family, not the socket's: an ICE pair on a socket of the
            # interface's other family (an alternate) makes an IPv6 peer of an IPv4 stream
            # (packing it as IPv4 raised, and the worker died on every restart).
            family = 6 if ":" in host else 4
            # (packed once per host and family: not a copy per stream)
            packed = self.packed6 if family == 6 else self.packed4
            address = packed.get(host)
            if address is None:
                if len(packed) >= PACKED_HOSTS:
                    packed.clear()
                try:
                    address = packed[host] = pack_address(family, host)
                except (OSError, ValueError):  # (not an address literal: nothing to show)
                    family, port, address = 0, 0, b""
        flags = ((CONFIRMED if stream.confirmed else 0) | (SSRC_SEEN if stream.ssrc_seen & 1 else 0)
                 | (RTCP_SEEN if stream.ssrc_seen & 2 else 0))
        self.counters.write(
            stream.slot, stream.packets, stream.bytes, stream.errors, stream.last_packet,
            stream.ssrc, port, family, flags, address, stream.kernel_drops, stream.generation,
            stream.payload_type,
        )

    def flush(self) -> None:
        for stream in self.dirty:
            try:
                self.flush_one(stream)
            except Exception:  # (a bug: that stream's counters wait, the worker goes on)
                if self.first_failure(stream):
                    log.exception("counters of stream %s not written", stream.id)
        self.dirty.clear()

    # -- the loop -------------------------------------------------------------------

    def run(self) -> None:
        """The loop: wait, signalling first, drain what is ready, flush counters once idle.

        With the C helper, the waiting and the settled streams are ``_relay.run``'s: it
        returns only with the events left for Python (the channel, streams not settled), the
        streams whose counters want a flush, and how many it relayed itself (which keeps the
        flush for when the loop is really idle, as before).
        """
        channel_fd = self.channel.fileno()
        self.epoll.register(channel_fd, select.EPOLLIN)
        poll = self.epoll.poll
        native_run = _relay.run if _relay is not None else None
        self.channel.send(ch.encode([("ready", [])]))  # (the daemon opens its listeners)
        epoll_fd = self.epoll.fileno()
        handled = 0
        by_fd = self.by_fd
        dirty = self.dirty
        drain = self.drain
        drain_secure = self.drain_secure
        wall_clock = time.time
        monotonic = time.monotonic
        next_flush = 0.0
        turn = 0
        timers = self.timers
        play_timers = self.play_timers
        dtx_timers = self.dtx_timers
        dtx_held = self.dtx_held
        guarded = self.guarded
        guard_timers = self.guard_timers
        report_timers = self.report_timers
        while True:
            if dirty or _TALLY.counts:
                timeout = 0  # idle: flush now, query sees it
            elif timers or play_timers or dtx_timers or guard_timers or report_timers:
                # a WebRTC leg's ICE check or DTLS retransmission, a played packet, a DTX
                # tick, a delay buffer's packet, a generated RTCP report is due
                due = min(timers[0][0] if timers else _FAR, play_timers[0][0] if play_timers else _FAR,
                          dtx_timers[0][0] if dtx_timers else _FAR,
                          guard_timers[0][0] if guard_timers else _FAR,
                          report_timers[0][0] if report_timers else _FAR)
                timeout = max(0.0, due - monotonic())
            else:
                timeout = -1
            if native_run is not None:
                events, handled, to_flush, emptied = native_run(epoll_fd, channel_fd, timeout)
                for fd in to_flush:
                    stream = by_fd[fd] if fd < len(by_fd) else None
                    if stream is not None:
                        dirty.add(stream)
                if emptied is not None:  # (RTCP the feedback strip left empty, rare)
                    for fd in emptied:
                        stream = by_fd[fd] if fd < len(by_fd) else None
                        if stream is not None:
                            self.count_error(stream)
            else:
                events = poll(timeout)
            wall = wall_clock()
            now = monotonic()
            if timers and timers[0][0] <= now:
                self.run_timers(now)
            if play_timers and play_timers[0][0] <= now:
                self.run_players(now)
            if dtx_timers and dtx_timers[0][0] <= now:
                self.run_dtx(now)
            if guard_timers and guard_timers[0][0] <= now:
                self.run_guards(now)
            if report_timers and report_timers[0][0] <= now:
                self.run_generated(now)
            turn += 1
            if len(events) > 1 and (channel_fd, select.EPOLLIN) in events:
                # Signalling first: a packet sent after an ng reply must see the change
                # that reply announced (epoll does not keep readiness order).
                if not self.handle_channel():
                    return
                events.remove((channel_fd, select.EPOLLIN))
            for fd, _mask in events:
                stream = by_fd[fd] if fd < len(by_fd) else None
                if stream is not None:
                    try:
                        if stream.native:  # its sink's address is one sendmmsg cannot take
                            self.drain_taken(stream, wall, now, turn)
                        elif stream.secure:
                            drain_secure(stream, wall, now, turn)
                        else:
                            drain(stream, wall, now, turn)
                    except Exception:  # a bug on one stream: its packets are dropped, the
                        # worker and every other call go on (raised on, it ended the worker,
                        # and the restart with the same streams ran into it again)
                        self.drain_failed(stream)
                elif fd == channel_fd:
                    if not self.handle_channel():
                        return
                elif fd in self.others:  # a socket on another address (ICE)
                    self.drain_local(*self.others[fd], wall, now, turn)
            if dtx_held:
                self.hold_dtx(now)
            if guarded:
                self.arm_guards()
            if dirty and (not (events or handled) or now >= next_flush):
                self.flush()
                next_flush = now + FLUSH_INTERVAL
            # (with the counters; DTX converts on its timer, without new counts)
            if _TALLY.counts and (not (events or handled) or now >= next_flush):
                self.report_transcoded()
            if self.learned:
                self.report_learned()
            if _DETECTED:
                self.report_detected()
            if self.dtmf_keys:
                self.report_dtmf()
            if native_run is not None:
                for fd, at, packet in _relay.reports():
                    stream = by_fd[fd] if fd < len(by_fd) else None
                    if stream is not None:
                        _note_report(stream, at, packet)
            if _REPORTS:
                self.report_rtcp()
            if self.secure_changed:
                self.report_secure()

    def drain_taken(self, stream: _Stream, wall: float, now: float, turn: int) -> None:
        """``drain`` for a stream of the C table that the C loop left to Python."""
        stream.native = False
        self.take_back(stream, _relay.unregister(stream.fd))
        if stream.secure:
            self.drain_secure(stream, wall, now, turn)
        else:
            self.drain(stream, wall, now, turn)
        self.settle(stream)

    def drain(self, stream: _Stream, wall: float, now: float, turn: int = 0) -> None:
        """Relay the packets waiting on ``stream``'s socket (at most BATCH).

        Three steps: receive the packets (one after the other into one buffer), publish
        the counters they change (and a learned endpoint, a new payload type), then send
        them on. Publishing before sending means that once a party has received a relayed
        packet, ``query``/``list``/``/metrics`` already count it: a client that sends one
        packet, sees it arrive and queries never reads a stale slot (it once did when the
        worker was preempted between its ``sendto`` and the counter write).

        A quiet stream (one packet per wakeup, the usual case for RTP at 50 packets/s)
        gets one read and no second read to find the socket empty: that read costs a
        syscall and an exception. The socket is level-triggered, so anything left is
        reported by the next poll; a stream that shows up in consecutive turns is busy
        and is drained until empty (up to BATCH) until a drain finds a single packet.

        With the C helper built, a settled stream (confirmed, no source checks, one
        destination) is relayed by ``_relay.run`` instead (``settle``) and comes here only
        when its sink's address is not one the C loop can send to. This drain is for the
        rest, and for everything when the helper is absent.
        """
        sink = None if stream.blocked else stream.sink
        buffer = self.buffer
        view = self.view
        room = self.room
        sock = stream.sock
        endpoint = endpoint0 = stream.endpoint
        settled = settled0 = stream.confirmed
        demux = stream.rtcp_mux and sink is not None and not sink.rtcp_mux
        count = nbytes = errors = size = offset = first = 0
        rtcp_port = stream.rtcp_port
        muxed = stream.rtcp_mux
        known = stream.payload_types  # (-1: not checked)
        busy = stream.busy
        limit = BATCH if busy else 1
        ends = self.ends  # end offset of each packet received, in order
        ends.clear()
        fast = (
            settled and sink is not None and not demux and sink.dest is not None
            and not (stream.strict_source or stream.media_handover)
        )
        if fast:
            # Confirmed, no source checks: the source address no longer matters, so do
            # not build it (the common case once a call is up).
            recv_into = sock.recv_into
            while count < limit and offset <= room:
                try:
                    size = recv_into(view[offset:] if offset else buffer)
                except BlockingIOError:
                    break
                except OSError:
                    errors += 1
                    break
                count += 1
                nbytes += size
                first = offset
                if rtcp_port or muxed and size >= 8 and 194 <= buffer[offset + 1] <= 223:
                    # (RTCP: ``rtcp_feedback.taken_for_rtcp``)
                    if rtcp_feedback.refused(view[offset:offset + size], rtcp_port):
                        errors += 1  # dropped: the next packet lands in its place
                        continue
                    if buffer[offset + 1] in _REPORT_TYPES:  # (an RTCP SR, RR or XR)
                        _note_report(stream, wall, buffer[offset:offset + size])
                elif (size > 1 and not known >> (buffer[offset + 1] & 0x7F) & 1
                      and rtcp_feedback.unknown_type(view[offset:offset + size], known)):
                    errors += 1  # (counted and relayed all the same, as 10.5 does)
                offset += size
                ends.append(offset)
            targets = None
        else:
            targets = self.targets  # per packet: the stream to send it from, or None
            targets.clear()
            while count < limit and offset <= room:
                try:
                    size, source = sock.recvfrom_into(view[offset:] if offset else buffer)
                except BlockingIOError:
                    break
                except OSError:
                    errors += 1
                    break
                count += 1
                nbytes += size
                first = offset
                offset += size
                ends.append(offset)
                if settled and source == endpoint:
                    pass
                elif not settled and rtcp_feedback.ignored_for_learning(
                        view[first:offset], rtcp_port):
                    pass  # (stray RTCP on the RTP port: relayed, no source to learn: 10.5)
                else:
                    if not stream.on_new_source(source, now):
                        errors += 1
                        targets.append(None)
                        continue
                    endpoint = stream.endpoint
                    settled = stream.confirmed
                rtcp = rtcp_port or muxed and size >= 8 and 194 <= buffer[first + 1] <= 223
                if rtcp:  # (``rtcp_feedback.taken_for_rtcp``)
                    if rtcp_feedback.refused(view[first:offset], rtcp_port):
                        errors += 1
                        targets.append(None)
                        continue
                    if buffer[first + 1] in _REPORT_TYPES:  # (an RTCP SR, RR or XR)
                        _note_report(stream, wall, buffer[first:offset])
                elif (size > 1 and not known >> (buffer[first + 1] & 0x7F) & 1
                      and rtcp_feedback.unknown_type(view[first:offset], known)):
                    errors += 1  # (counted and relayed all the same, as 10.5 does)
                target = sink
                if rtcp and demux and sink.rtcp_peer is not None:
                    target = sink.rtcp_peer
                targets.append(target)
        stream.busy = count > 1 if busy else stream.turn == turn - 1
        stream.turn = turn
        if not (count or errors):
            return
        # -- publish ------------------------------------------------------------------
        stream.packets += count
        stream.bytes += nbytes
        stream.errors += errors
        publish_all = not fast and (stream.endpoint != endpoint0 or stream.confirmed != settled0)
        if publish_all:  # rare (learning): tell the control plane, which polls nothing
            self.learned.append(stream.id)
        self.publish(stream, count, wall, buffer, first, size, publish_all)
        # -- send -----------------------------------------------------------------------
        if sink is not None and count:
            failed = 0
            start = 0
            if targets is None:
                send = sink.sock.sendto
                destination = sink.dest
                for end in ends:
                    try:
                        send(view[start:end], destination)
                    except OSError:
                        failed += 1
                    start = end
            else:
                for end, target in zip(ends, targets, strict=True):
                    if target is not None and (destination := target.dest) is not None:
                        try:
                            target.sock.sendto(view[start:end], destination)
                        except OSError:
                            failed += 1
                    start = end
            if failed:
                stream.errors += failed
                self.dirty.add(stream)  # published with the next flush
        if publish_all and _relay is not None:  # confirmed now: the C loop may take it over
            self.settle(stream)

    def publish(self, stream: _Stream, count: int, wall: float, packet, first: int, size: int,
                publish_all: bool) -> None:
        """Write a drain's counters to the stream's slot (both drains end here).

        ``packet[first:first + size]`` is the last packet received (decrypted, for SRTP):
        its SSRC, and for RTP its payload type, are what ``query`` shows. A new payload
        type, the first RTCP on the port, or ``publish_all`` (an endpoint learned) writes
        the whole slot; otherwise only the traffic part.
        """
        if count:
            stream.last_packet = wall
            if size >= 8 and packet[first] & 0xC0 == 0x80:
                marker = packet[first + 1]
                if 192 <= marker <= 223:
                    stream.ssrc = RTP_SSRC.unpack_from(packet, first + 4)[0]
                    if not stream.ssrc_seen & 2:  # RTCP here (on a muxed port: query shows it)
                        stream.ssrc_seen |= 2
                        publish_all = True
                    if marker == 200 and size >= 16:
                        stream.sr = (rtcp_report.lsr_of(packet, first), rtcp_report.stamp(wall))
                elif size >= 12:
                    stream.ssrc = RTP_SSRC.unpack_from(packet, first + 8)[0]
                    stream.seq = packet[first + 2] << 8 | packet[first + 3]
                    # The codec actually received (query/CLI name it, as 10.5 does).
                    payload_type = PAYLOAD_TYPE_SEEN | (marker & 0x7F)
                    if payload_type != stream.payload_type:
                        stream.payload_type = payload_type
                        publish_all = True
                if size >= 12 or 192 <= marker <= 223:
                    stream.ssrc_seen |= 1
        if count >= CONGESTED:  # a queue built up: the kernel may have dropped some
            stream.congested = True
            self.dirty.add(stream)
        if publish_all:  # learned an endpoint or a payload type: rare, the whole slot
            self.flush_one(stream)
        else:
            self.counters.write_traffic(
                stream.slot, stream.packets, stream.bytes, stream.errors, stream.last_packet,
                stream.ssrc, stream.ssrc_seen,
            )

    def drain_secure(self, stream: _Stream, wall: float, now: float, turn: int = 0) -> None:
        """``drain`` for a stream with SRTP on either side: packet by packet, each
        unprotected with the stream's inbound context (SRTP/SRTCP told apart by the RTCP
        packet types, RFC 5761) and protected with the context of the stream it is sent
        from. Kept apart so that plain streams pay nothing for it. A packet that fails
        authentication or replay checks counts as an error and is dropped. A quiet stream
        gets one read per wakeup, a busy one up to BATCH (as ``drain``). A WebRTC leg's
        stream goes to ``drain_webrtc``; media for a WebRTC party whose handshake is not
        done is dropped (never sent to it unencrypted)."""
        if stream.blocked == ch.DROP_ALL:
            _discard(stream.sock)
            return
        if stream.webrtc is not None:
            self.drain_webrtc(stream, wall, now, turn)
            return
        sock = stream.sock
        busy = stream.busy
        limit = BATCH if busy else 1
        endpoint0, settled0 = stream.endpoint, stream.confirmed
        sink = None if stream.blocked else stream.sink
        demux = stream.rtcp_mux and sink is not None and not sink.rtcp_mux
        extras = () if stream.blocked else stream.extras
        unprotect = stream.unprotect
        count = nbytes = errors = refused = 0
        publish_all = False
        out = []
        last = b""
        while count < limit:
            try:
                data, source = sock.recvfrom(65536)
            except BlockingIOError:
                break
            except OSError:
                errors += 1
                break
            count += 1
            rtcp = rtcp_feedback.taken_for_rtcp(data, stream.rtcp_port, stream.rtcp_mux)
            if (not rtcp and stream.payload_types != -1
                    and rtcp_feedback.unknown_type(data, stream.payload_types)):
                errors += 1  # (its clear header, before decryption: 10.5)
            if stream.srtp_in is not None or (rtcp and stream.srtcp is not None):
                try:
                    if rtcp and not rtcp_feedback.srtcp_header_ok(data):
                        raise ValueError("not SRTCP")  # (10.5 looks before it decrypts)
                    data = _unprotect(stream, unprotect, data, rtcp)
                except Exception:  # libsrtp: authentication, replay, malformed
                    errors += 1
                    refused += 1  # as 10.5: an error, not a packet of the stream
                    continue  # (nor a source: 10.5 learns after it decrypts)
            nbytes += len(data)  # as 10.5 counts SRTP: the packet decrypted
            if not _source_ok(stream, source, data, now):
                errors += 1  # (strict source: counted, decrypted, dropped: 10.5)
                continue
            last = data
            if stream.dtmf_events and not rtcp:
                self.note_dtmf(stream, data, source)
            errors += _forward(stream, sink, extras, data, rtcp, demux, out, self.dtx_held,
                               self.guarded)
        stream.busy = count > 1 if busy else stream.turn == turn - 1
        stream.turn = turn
        if not (count or errors):
            return
        stream.packets += count - refused
        stream.bytes += nbytes
        stream.errors += errors
        if stream.endpoint != endpoint0 or stream.confirmed != settled0:
            self.learned.append(stream.id)
            publish_all = True
        self.publish(stream, count - refused, wall, last, 0, len(last), publish_all)
        self.send_on(stream, out)
        if publish_all and _relay is not None:  # confirmed now: the C loop may take it over
            self.settle(stream)

    def send_on(self, stream: _Stream, out: list) -> None:
        """Send a secure drain's packets (decrypted or re-encrypted) to their targets; a
        send the kernel refuses counts as an error of the stream they came from. A None
        packet is an error of its target: an RTCP compound the feedback strip left empty
        (``_forward``), or one its context could not encrypt (``_send_on``)."""
        failed = 0
        for target, data in out:
            if data is None:
                self.count_error(target)
                continue
            try:
                target.sock.sendto(data, target.dest)
            except OSError:
                failed += 1
        if failed:
            stream.errors += failed
            self.dirty.add(stream)

    def count_error(self, stream: _Stream) -> None:
        """One more error of ``stream``, found while relaying another stream's packet (10.5
        counts a compound the feedback strip emptied on the stream it was for). A stream
        the C loop relays keeps its counters there: taken back, counted, registered again."""
        native = stream.native
        if native:
            self.unsettle(stream)
        stream.errors += 1
        self.dirty.add(stream)
        if native:
            self.settle(stream)

    def inject_dtmf(self, stream_id: int, event: tuple) -> None:
        """``play DTMF``: the event goes into what the stream relays converted (nothing
        when its direction does not convert: 10.5 needs ``inject DTMF`` for it too)."""
        stream = self.streams.get(stream_id)
        if stream is None or stream.sink is None or stream.sink.transcode is None:
            return
        _rewriter(stream).inject(dtmf.Event(*event))

    # -- T.38 gateways (``t38_relay``) ------------------------------------------------

    def follow_gateway(self, stream: _Stream) -> None:
        """Make or end the gateway a stream's spec asks for. The T.38 party's stream holds
        it; the audio party's stream plays its output once both parties' addresses are
        known (10.5 starts it then), from then on whatever the party sends."""
        spec = stream.t38
        if spec is None or spec[0] != "t38":
            if stream.gateway is not None:
                stream.gateway.close()
                stream.gateway = None
        if spec is None:
            if isinstance(stream.player, t38_relay.PcmOutput):
                self.stop_player(stream)
                stream.player = None
            return
        if spec[0] == "t38":
            if stream.gateway is None:
                stream.gateway = self.new_gateway(stream, spec)
            if stream.sink is not None and stream.sink.t38 is not None:
                self.start_pcm(stream.sink)
        else:
            self.start_pcm(stream)

    def new_gateway(self, stream: _Stream, spec: tuple):
        from ..udptl import T38Options  # (only workers relaying fax load spandsp)
        from .t38 import Gateway

        def send_udptl(packet: bytes, stream=stream) -> None:
            if stream.dest is not None and self.streams.get(stream.id) is stream:
                try:
                    stream.sock.sendto(packet, stream.dest)
                except OSError:
                    stream.errors += 1
                    self.dirty.add(stream)

        try:
            return Gateway(T38Options(*spec[1]), send_udptl)
        except (OSError, TypeError, ValueError) as error:
            log.error("stream %d: no T.38 gateway: %s", stream.id, error)
            return None

    def start_pcm(self, stream: _Stream) -> None:
        """Start the gateway's audio towards the audio party's stream, if it can be: the
        stream the T.38 party's stream relays to (a stream a re-INVITE replaced lingers a
        while with the same spec; one player per gateway, or each would get half of it)."""
        spec, source = stream.t38, stream.sink
        if (spec is None or spec[0] != "pcm" or spec[2] is None or stream.dest is None
                or source is None or source.gateway is None or source.sink is not stream
                or isinstance(stream.player, t38_relay.PcmOutput)):
            return
        playing = source.gateway_output
        if playing is not None and isinstance(playing.player, t38_relay.PcmOutput):
            self.stop_player(playing)
            playing.player = None
        source.gateway_output = stream
        now = time.monotonic()
        stream.player = t38_relay.PcmOutput(source, spec[2], spec[3], spec[4], now)
        self.send_played(stream, now)  # (arms its timer: the first packet is a frame away)

    # -- media players (``play media``) -----------------------------------------------

    def play(self, stream_id: int, playback: tuple | None) -> None:
        """Start (or, ``playback`` None, stop) playing to the stream's party: (source,
        codec name, payload type, frame, times) as ``media.player`` takes them. A source
        that was spilled to a file is read and the file removed, whatever happens."""
        source = playback[0] if playback is not None else None
        if isinstance(source, tuple):  # ("spilled", file name): the control plane's copy
            try:
                with open(source[1], "rb") as spilled:
                    source = spilled.read()
            except OSError:
                source = None
            finally:
                try:
                    os.unlink(playback[0][1])
                except OSError:
                    pass
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        if playback is None:
            self.stop_player(stream)
            return
        _, codec_name, payload_type, frame, times, keys, cname = playback
        codec = codecs.CODECS.get(codec_name)
        if source is None or codec is None:
            return
        try:
            media = player.Playback(source, codec, frame, times)
        except ValueError as error:  # (opened by the control plane just before: rare)
            log.warning("stream %d: media playback not started: %s", stream_id, error)
            return
        if stream.player is None:
            stream.player = player.Player()
        # (SDES keys passed end to end: the relay has no context of its own for the leg)
        stream.player.protect = _srtp_context(keys, outbound=True) if keys else None
        stream.player.cname = cname
        now = time.monotonic()  # (opening the media took a while the first time: PyAV loads)
        stream.player.start(media, payload_type, frame, codec.clock_rate, now)
        self.send_played(stream, now)

    def stop_player(self, stream: _Stream) -> None:
        """What plays to the stream's party stops (its player stays: SSRC and sequence)."""
        if stream.player is not None:
            stream.player.stop()
            self.player_due.pop(stream, None)

    def send_played(self, stream: _Stream, now: float) -> None:
        """Send what the stream's player has due (encrypted as anything sent to its party),
        and arm its timer for the next packet."""
        playing = stream.player
        failed = 0
        protect = playing.protect
        out = []
        for packet in playing.due(now):
            timestamp = int.from_bytes(packet[4:8], "big")
            if protect is not None:
                try:
                    packet = protect.protect(packet)
                except Exception:  # noqa: BLE001  (libsrtp refused it)
                    failed += 1
                    continue
                onward = (stream, packet) if stream.dest is not None else None
            else:
                onward = _onward(stream, packet, False, False)
            if onward is False:
                failed += 1
            elif onward is not None:
                out.append(onward)
                playing.sent(len(onward[1]), timestamp, now)
        if failed:
            stream.errors += failed
            self.dirty.add(stream)
        self.send_on(stream, out)
        report = playing.take_report()
        if report is not None:
            self.send_report(stream, playing, *report)
        due = playing.next_due()
        if due is None:
            self.player_due.pop(stream, None)
        elif due != self.player_due.get(stream):
            self.arm(self.play_timers, self.player_due, stream, due)

    def send_report(self, stream: _Stream, playing: player.Player, packets: int, octets: int,
                    timestamp: int) -> None:
        """The player's RTCP sender report (``rtcp_report``), to the party's RTCP address
        from the RTCP stream facing it (the stream itself when muxed), with a block for
        the RTP the party sent here. With RTCP on the RTP port (rtcp-mux), to that port:
        a muxed stream's RTCP stream (kept for a fallback) names the party's next port."""
        target = stream if stream.rtcp_mux else stream.rtcp_peer or stream
        if target.dest is None:
            return
        wall = time.time()
        ssrc, seq, _, _ = self.reception(stream)
        blocks = []
        if seq >= 0:  # (an RTP packet came: its SSRC is the one reported on)
            _, _, lsr, lsr_at = self.reception(target)
            blocks.append(rtcp_report.Block(ssrc, seq, lsr, rtcp_report.since(wall, lsr_at)))
        report = rtcp_report.sender_report(int.from_bytes(playing.ssrc, "big"), wall, timestamp,
                                           packets, octets, blocks, playing.cname)
        self.send_rtcp(stream, target, report, playing.protect)

    def send_rtcp(self, stream: _Stream, target: _Stream, report: bytes, protect) -> bool:
        """An RTCP packet of the relay's own to ``target``'s party (SRTCP with ``protect``,
        an outbound context, if given), counted as ``stream``'s; whether it went out."""
        if protect is not None:
            try:
                onward = (target, protect.protect_rtcp(report))
            except Exception:  # noqa: BLE001  (libsrtp refused it)
                onward = False
        else:
            onward = _onward(target, report, True, False)
        if onward is False:
            stream.errors += 1
            self.dirty.add(stream)
            return False
        if onward is None:
            return False
        self.send_on(stream, [onward])
        return True

    @staticmethod
    def reception(stream: _Stream) -> tuple[int, int, int, int]:
        """(SSRC, last RTP sequence number or -1, LSR, its arrival stamp or 0) of what the
        stream received: the C table's while it relays the stream."""
        if stream.native:
            got = _relay.reception(stream.fd)
            if got is not None:
                return got
        lsr, lsr_at = stream.sr or (0, 0)
        return stream.ssrc, stream.seq, lsr, lsr_at

    def run_players(self, now: float) -> None:
        for due, _tie, stream in _pop_due(self.play_timers, now):
            if self.player_due.get(stream) != due or self.streams.get(stream.id) is not stream:
                continue  # re-armed since, stopped, or the stream is gone
            del self.player_due[stream]
            if stream.player is not None:
                self.send_played(stream, now)

    # -- generated RTCP (``generate RTCP``: ``StreamSpec.rtcp_gen``) -------------------------

    def set_generated(self, stream: _Stream, spec: tuple | None) -> None:
        """The stream's ``generate RTCP`` changed. A stream that starts reporting sends its
        first report 5 to 7 s from now, then one every 5 to 7 s (10.5's RTCP timer); one
        that consumes RTCP is relayed by the Python drains (``_forward`` drops it there; the
        C loop does not take it: ``settle``)."""
        old = stream.rtcp_gen
        reported = old is not None and old[0] & ch.RTCP_GENERATED
        stream.rtcp_gen = spec
        keys = spec[3] if spec is not None else None
        if keys != (old[3] if old is not None else None):
            stream.report_protect = _srtp_context(keys, outbound=True) if keys else None
        stream.report_rates = {**_CLOCK_RATES, **dict(spec[2])} if spec is not None else None
        if spec is not None and spec[0] & ch.RTCP_GENERATED:
            if not reported:
                self.arm(self.report_timers, self.report_due, stream,
                         time.monotonic() + rtcp_report.next_interval())
        else:
            self.report_due.pop(stream, None)

    def run_generated(self, now: float) -> None:
        for due, _tie, stream in _pop_due(self.report_timers, now):
            if self.report_due.get(stream) != due or self.streams.get(stream.id) is not stream:
                continue  # re-armed since, stopped, or the stream is gone
            self.arm(self.report_timers, self.report_due, stream,
                     now + rtcp_report.next_interval())
            self.send_generated(stream)

    def send_generated(self, stream: _Stream) -> None:
        """``generate RTCP``: a sender report to the stream's party for each SSRC relayed to
        it (its packets, octets and last timestamp as received from the other party), with
        a block for the RTP the party sent here, from the RTCP stream facing it (the stream
        itself when muxed), as 10.5 sends them. The call's quality figures take each one
        as a report of that SSRC's sender (10.5 files them with the other party's media)."""
        peer = stream.rtcp_peer
        target = stream if peer is None or stream.rtcp_gen[0] & ch.RTCP_ON_RTP else peer
        if target.dest is None:
            return
        wall = time.time()
        blocks = []
        got = stream.received
        if got is not None:  # (the party sent RTP: its SSRC is the one reported on)
            # its last sender report, on either port
            reports = [sr for sr in (stream.sr, peer.sr if peer else None) if sr]
            lsr, lsr_at = min(reports, key=lambda sr: rtcp_report.since(wall, sr[1]),
                              default=(0, 0))
            blocks.append(rtcp_report.Block(
                got.ssrc, got.highest, lsr, rtcp_report.since(wall, lsr_at),
                got.fraction_lost(), got.lost, got.jitter >> 4))
        cname = stream.rtcp_gen[1]
        for source in self.referring(stream.id):
            sent = source.received
            if source.sink is not stream or sent is None:
                continue  # (not relaying RTP to this party, or nothing relayed yet)
            # (a transcoded direction goes out under an SSRC of its own, as 10.5's does)
            output = (source.rewriter.outputs.get(sent.ssrc.to_bytes(4, "big"))
                      if source.rewriter is not None else None)
            ssrc = int.from_bytes(output.ssrc, "big") if output is not None else sent.ssrc
            report = rtcp_report.sender_report(ssrc, wall, sent.timestamp, sent.packets,
                                               sent.octets, blocks, cname)
            protect = None
            if (target.srtp_out is not None or target.webrtc is not None
                    or stream.rtcp_gen[0] & ch.RTCP_SECURE_LEG):
                # (the leg's context, or on one whose keys pass end to end, the reports' own)
                protect = target.protect or stream.report_protect
                if protect is None:
                    # (no outbound keys yet, or SRTP passed through untouched: nothing
                    # goes to an SRTP leg unencrypted)
                    continue
            if self.send_rtcp(stream, target, report, protect):
                # As 10.5 files it: a sender report of that SSRC (a later block about it
                # names this one), seen where its sender's media comes in.
                (source.rtcp_peer or source).sr = (rtcp_report.lsr_of(report),
                                                   rtcp_report.stamp(wall))
                if ssrc != sent.ssrc:  # (filed under the SSRC it was received with)
                    report = rtcp_report.sender_report(sent.ssrc, wall, sent.timestamp,
                                                       sent.packets, sent.octets, blocks, cname)
                _note_report(source, wall, report, generated=True)

    # -- delay buffers (``block DTMF`` with ``delay-buffer``, ``dtmf_guard``) ----------------

    def set_guard(self, stream: _Stream, spec: tuple | None) -> None:
        """A stream's delay buffer changed: what the old one holds goes out now (10.5
        flushes a buffer when its handlers are rebuilt), the new one starts empty."""
        old = stream.guard
        stream.guard_spec = spec
        stream.guard = (dtmf_guard.Guard(dtmf_guard.GuardSpec(*spec), keys=_DETECTED,
                                         owner=stream.id) if spec else None)
        self.guard_due.pop(stream, None)
        if old is not None and old.held:
            self.send_guarded(stream, old, None)

    def arm_guards(self) -> None:
        """Arm the timer of each buffer the drains gave packets to (if not armed yet)."""
        for stream in self.guarded:
            guard = stream.guard
            if guard is not None and stream not in self.guard_due and guard.next_due:
                self.arm(self.guard_timers, self.guard_due, stream, guard.next_due)
        self.guarded.clear()

    def run_guards(self, now: float) -> None:
        """The buffers with packets due: those go out; the next one re-arms the timer."""
        for due, _tie, stream in _pop_due(self.guard_timers, now):
            if self.guard_due.get(stream) != due:
                continue  # (stale: re-armed or stopped since)
            del self.guard_due[stream]
            guard = stream.guard
            if guard is None:
                continue
            self.send_guarded(stream, guard, now)
            if guard.next_due is not None:
                self.arm(self.guard_timers, self.guard_due, stream, guard.next_due)

    def send_guarded(self, stream: _Stream, guard, now: float | None) -> None:
        sink = stream.sink
        if sink is None or stream.blocked:
            guard.held.clear()
            return
        table = sink.transcode
        rewriter = _rewriter(stream)

        def output_for(ssrc: bytes):
            # (a direction that passed as it came so far goes on under the received SSRC)
            return rewriter.output_for(ssrc, keep=table is None)

        def forward(packet: bytes) -> list[bytes]:
            # (as it came: renumbered like the frames around it once any went out)
            if table is None and packet[8:12] not in rewriter.outputs:
                return [packet]
            return rewriter.rewrite(packet, table or {})

        target = None
        if table is not None:
            target = {pt: (entry[0], entry[6]) for pt, entry in table.items()
                      if entry[6] in ("PCMU", "PCMA")}
        pieces = guard.release(now, output_for, forward, target)
        if pieces:
            self.send_converted(stream, sink, pieces)

    # -- DTX (``--dtx-delay``) ------------------------------------------------------------

    def hold_dtx(self, now: float) -> None:
        """Put the converted packets the drains held into their streams' DTX buffers (one
        per received SSRC: a new SSRC ends the old one's buffer, as 10.5 shuts it down),
        arming a stopped buffer's timer."""
        held = self.dtx_held
        for stream, packet in held:
            sink = stream.sink
            if sink is None or sink.transcode is None:
                continue
            conversion = sink.transcode.get(packet[1] & 0x7F)
            if conversion is None:
                continue
            ssrc = packet[8:12]
            buffer = stream.dtx
            if buffer is not None and buffer.ssrc != ssrc:
                self.end_dtx(stream)
                buffer = None
            codec_in = conversion[5]
            events = codec_in.startswith("TELEPHONE-EVENT/")
            if buffer is None:
                known = codecs.codec(codec_in) if not events else None
                rate = known.clock_rate if known is not None else (
                    int(codec_in[16:]) if events else 8000)
                buffer = stream.dtx = dtx.DtxBuffer(self.dtx_settings, rate, ssrc)
            # (G.711: a byte per sample, so its packet time; others keep the last one)
            samples = len(packet) - 12 if codec_in.split("/")[0] in ("PCMU", "PCMA") else 0
            if buffer.push(packet, now, samples, events):
                self.arm(self.dtx_timers, self.dtx_due, stream, stream.dtx.next_at)
        held.clear()

    def run_dtx(self, now: float) -> None:
        """The DTX timers due: each converts its next held packet or fills the gap."""
        for due, _tie, stream in _pop_due(self.dtx_timers, now):
            if self.dtx_due.get(stream) != due:
                continue  # re-armed since
            del self.dtx_due[stream]
            if self.streams.get(stream.id) is not stream:
                continue  # the stream is gone
            buffer, sink = stream.dtx, stream.sink
            if buffer is None:
                continue
            if stream.blocked:  # (``block media`` since: what it held goes nowhere either)
                buffer.stop()
                stream.dtx = None
                continue
            if sink is None or sink.transcode is None:
                self.end_dtx(stream)
                continue
            rewriter = _rewriter(stream)
            pieces: list[bytes] = []
            for step, packet in buffer.tick(now):
                if step == dtx.PACKET:
                    pieces += rewriter.rewrite(packet, sink.transcode)
                elif step == dtx.DISCARD:
                    rewriter.discard(packet, sink.transcode)
                elif step == dtx.FILL:
                    pieces += self.fill_dtx(stream, sink, rewriter, buffer)
            if pieces:
                self.send_converted(stream, sink, pieces)
            if buffer.next_at is not None:
                self.arm(self.dtx_timers, self.dtx_due, stream, stream.dtx.next_at)
            else:
                stream.dtx = None

    def fill_dtx(self, stream: _Stream, sink: _Stream, rewriter: transcoding.Direction,
                 buffer: dtx.DtxBuffer) -> list[bytes]:
        """A frame for a gap in what the stream sends on: comfort noise made from
        ``--dtx-cn-params`` (silence without) in the codec its audio goes out in."""
        audio = buffer.audio_type
        conversion = sink.transcode.get(audio) if audio is not None else None
        if conversion is None:
            return []
        pt_out, frame, codec_out = conversion[0], conversion[2], conversion[6]
        fillers = stream.dtx_fillers
        if fillers is None:
            fillers = stream.dtx_fillers = {}
        filler = fillers.get((pt_out, codec_out, frame))
        if filler is None:
            filler = fillers[(pt_out, codec_out, frame)] = transcoding.filler(codec_out, frame)
        if filler is None:
            return []
        cn_params = self.dtx_settings.cn_params
        if type(conversion[1]) in (bytes, type(None)) and codec_out in ("PCMU", "PCMA"):
            # G.711 framed by the tables: a packet time of the sender's audio (10.5 fills
            # in the decoder), framed with the samples pending as that audio would be
            table = g711.encoder(codec_out)
            linear = array.array("H", filler.linear(cn_params, max(1, round(buffer.ptime * 8000))))
            return rewriter.fill(buffer.ssrc, pt_out, bytes(table[v] for v in linear), frame, True)
        payload = filler.fill(cn_params)
        return rewriter.fill(buffer.ssrc, pt_out, payload, frame) if payload is not None else []

    def end_dtx(self, stream: _Stream) -> None:
        """Stop a stream's DTX buffer: what it still holds is converted and sent now."""
        buffer = stream.dtx
        stream.dtx = None
        self.dtx_due.pop(stream, None)
        if buffer is None:
            return
        held = buffer.stop()
        sink = stream.sink
        if not held or sink is None:
            return
        if sink.transcode is None:
            self.send_converted(stream, sink, held)
            return
        rewriter = _rewriter(stream)
        pieces = [piece for packet in held for piece in rewriter.rewrite(packet, sink.transcode)]
        self.send_converted(stream, sink, pieces)

    def send_converted(self, stream: _Stream, sink: _Stream, pieces: list[bytes]) -> None:
        out: list = []
        errors = _send_on(stream, sink, stream.extras, pieces, False, False, out)
        if errors:
            stream.errors += errors
            self.dirty.add(stream)
        self.send_on(stream, out)

    # -- WebRTC legs (ICE + DTLS-SRTP on the stream's port) -------------------------

    def load_certificate(self, name: str, cert_pem: bytes, key_pem: bytes, mtu: int,
                         ciphers: str) -> None:
        """The daemon's DTLS certificate and handshake settings (``--dtls-mtu``,
        ``--dtls-ciphers``), sent once per worker (not with every stream)."""
        from ..secure.dtls import Certificate  # only workers relaying WebRTC load OpenSSL

        if name not in self.certificates:
            self.certificates[name] = Certificate.from_pem(cert_pem, key_pem, mtu, ciphers)

    def set_webrtc(self, stream: _Stream, spec: ch.StreamSpec) -> None:
        """Create, keep or replace the stream's WebRTC leg from its spec.

        The same DTLS parameters keep the leg (and its keys: a re-INVITE that changes
        nothing does not interrupt media); new remote candidates are added to its ICE
        agent. A new fingerprint, role or certificate (DTLS renegotiation) makes a new leg:
        a new handshake, the old keys stop. New ICE credentials alone (an ICE restart) get
        a new agent and keep the DTLS association (a browser's ``restartIce()`` keeps its
        own, as 10.5 does).
        An ICE-only leg (no DTLS: plain or SDES media) keeps the keys signalling gave.
        """
        from ..secure.ice import software_value
        from ..secure.webrtc import DtlsSpec, IceSpec, WebrtcLeg

        leg = stream.webrtc
        if spec.dtls is None and spec.ice is None:
            if leg is not None:
                stream.webrtc = None
                if leg.terminates_dtls:
                    stream.srtp_in = stream.srtp_out = stream.unprotect = stream.protect = None
                self.leg_due.pop(stream, None)
                self.select_local(stream, 0)  # no ICE: the stream's own socket again
                partner = self.ice_partners.pop(stream, None)
                if partner is not None and partner.webrtc is not None \
                        and partner.webrtc.agent is not None:
                    partner.webrtc.agent.partner = None
                    self.ice_partners.pop(partner, None)
            return
        dtls_spec = DtlsSpec._make(spec.dtls) if spec.dtls is not None else None
        ice_spec = IceSpec._make(spec.ice) if spec.ice is not None else None
        if leg is not None and leg.spec == dtls_spec and not leg.failed and (
                (leg.ice_spec is None) == (ice_spec is None)
                and (ice_spec is None or leg.ice_spec[:4] == ice_spec[:4])):
            leg.update_ice(ice_spec)
            # A handshake started with the offer that the party has not answered yet: it
            # may not have been listening before its answer (which this update likely
            # follows), so the hello goes again (once the batch is applied: a later update
            # of the same answer may end the leg) rather than at the backed-off timer.
            self.unanswered[stream] = leg
        elif (leg is not None and dtls_spec is not None and leg.spec == dtls_spec
              and leg.ice_spec is not None and ice_spec is not None and leg.ice_spec[2]):
            # An ICE restart of a negotiated leg: a new agent, the same DTLS association
            leg.restart_ice(ice_spec)
        else:
            certificate = None
            if dtls_spec is not None:
                certificate = self.certificates.get(dtls_spec.certificate)
                if certificate is None:
                    log.warning("stream %d: DTLS certificate %s not loaded", stream.id,
                                dtls_spec.certificate)
                    return
            same_ice = (leg is not None and ice_spec is not None and leg.ice_spec is not None
                        and leg.ice_spec[:4] == ice_spec[:4])
            stream.webrtc = WebrtcLeg(certificate, dtls_spec, ice_spec,
                                      default_peer=spec.endpoint or spec.advertised,
                                      agent=leg.agent if same_ice else None,
                                      srtp_context=_leg_context,
                                      software=software_value(self.software_id),
                                      log_keys=self.log_srtp_keys)
            if dtls_spec is not None or (leg is not None and leg.terminates_dtls):
                stream.srtp_in = stream.srtp_out = stream.unprotect = stream.protect = None
            self.leg_reports.pop(stream, None)
        self.link_ice_partners(stream)
        peer = stream.webrtc.peer
        # (A new agent has chosen nothing yet: the stream's own socket and the SDP's
        # endpoint, in its family, until it does.)
        self.select_local(stream, stream.webrtc.local if peer is not None else 0)
        peer = stream.webrtc.heard_peer
        if peer is not None and (stream.endpoint != peer or not stream.confirmed):
            # Signalling reset the endpoint to the SDP's: the peer ICE/DTLS chose stays.
            stream.endpoint = peer
            stream.confirmed = True
            stream.update_destination()
            self.learned.append(stream.id)
        self.schedule(stream)

    def link_ice_partners(self, stream: _Stream) -> None:
        """The agents of a media's RTP port and its own RTCP port know each other (a pair
        is usable once both components have one, ``ice.IceAgent._usable``). Called for
        either stream whenever its leg is set; the second one links them."""
        agent = stream.webrtc.agent
        if agent is None:
            return
        partner = None
        if agent.component == 1:
            partner = self.streams.get(stream.rtcp_peer_id) if stream.rtcp_peer_id is not None \
                else None
        else:  # (component 2: the RTP stream naming this one as its RTCP peer, from the
            # index of the streams naming it: no scan of the worker's streams per leg set)
            partner = next((s for s in self.referring(stream.id) if s.rtcp_peer_id == stream.id),
                           None)
        other = partner.webrtc.agent if partner is not None and partner.webrtc is not None \
            else None
        if other is None or other.component == agent.component:
            agent.partner = None
            self.ice_partners.pop(stream, None)
            return
        agent.partner, other.partner = other, agent
        self.ice_partners[stream], self.ice_partners[partner] = partner, stream

    def arm(self, timers: list, live: dict, stream: _Stream, due: float) -> None:
        """Put ``stream``'s timer at ``due`` on the heap ``timers`` (legs, players, DTX,
        delay buffers): ``live`` keeps the entry that counts, older ones for the stream are
        skipped when they come up (a heap cannot drop them cheaply)."""
        live[stream] = due
        self.timer_tie += 1
        heapq.heappush(timers, (due, self.timer_tie, stream))

    def schedule(self, stream: _Stream) -> None:
        """(Re)arm the leg's timer: one heap entry per due time, stale ones skipped."""
        leg = stream.webrtc
        due = leg.deadline() if leg is not None else None
        if due is not None and due != self.leg_due.get(stream):
            self.arm(self.timers, self.leg_due, stream, due)
        elif due is None:
            self.leg_due.pop(stream, None)

    def run_timers(self, now: float) -> None:
        """The legs whose timers are due; what they re-arm waits for the next loop turn
        (so a leg that keeps asking for 'now' cannot hold the loop)."""
        for due, _tie, stream in _pop_due(self.timers, now):
            if self.leg_due.get(stream) != due or self.streams.get(stream.id) is not stream:
                continue  # re-armed since, or the stream is gone
            del self.leg_due[stream]
            leg = stream.webrtc
            if leg is None:
                continue
            try:
                self.send_leg(stream, leg.poll(now))
                self.follow_leg(stream)
            except Exception:  # a bug in one leg: its timer stops, the worker goes on
                # (raised on, it ended the worker, and the restart ran into it again)
                log.exception("ICE/DTLS timer of stream %s failed; the leg stops checking",
                              stream.id)

    def drain_failed(self, stream: _Stream) -> None:
        """An exception relaying ``stream``'s packets: counted as an error of the stream,
        logged with its traceback once per stream (a bug to report, not peer input to
        log per packet)."""
        stream.errors += 1
        self.dirty.add(stream)
        if self.first_failure(stream):
            log.exception("relaying stream %s failed; its packets are dropped", stream.id)

    def first_failure(self, stream: _Stream) -> bool:
        """Whether this is the first exception seen on ``stream`` (the streams remembered
        are bounded: past 1,000 of them, each failure is logged)."""
        if stream.id in self.failed_streams:
            return False
        if len(self.failed_streams) < 1000:
            self.failed_streams.add(stream.id)
        return True

    def send_leg(self, stream: _Stream, datagrams: list) -> None:
        """ICE and DTLS datagrams of the leg. One that cannot be sent (a candidate on an
        unreachable network) is the check's failure, retried or timed out by the leg; it is
        not a media error of the stream (10.5's counters count media only)."""
        socks = stream.sockets()
        for data, address, *via in datagrams:  # (from another local socket: its index)
            local = via[0] if via else 0
            if local >= len(socks):
                continue  # a socket this worker does not hold (not handed over yet)
            try:
                socks[local].sendto(data, address)
            except (OSError, OverflowError, ValueError, TypeError):
                pass  # (also an address the socket cannot take: the check fails, no more)

    def follow_leg(self, stream: _Stream) -> None:
        """After the leg did something: its peer is the stream's endpoint (learned from ICE
        or DTLS, never from the first packet), its keys the stream's SRTP contexts, its state
        reported to the control plane when it changed; its timer re-armed."""
        leg = stream.webrtc
        status = leg.status()
        report = (*status, leg.local)  # and the local socket of the peer's pair
        if report != self.leg_reports.get(stream):
            self.leg_reports[stream] = report
            self.secure_changed.append((stream.id, report))
            if status.peer is not None:
                self.select_local(stream, leg.local)
            heard = leg.heard_peer
            if heard is not None and (heard != stream.endpoint or not stream.confirmed):
                stream.endpoint = heard
                stream.confirmed = True
                stream.update_destination()
                self.learned.append(stream.id)
                self.flush_one(stream)
            if leg.inbound is not None and stream.unprotect is None:
                stream.unprotect, stream.protect = leg.inbound, leg.outbound
                stream.srtp_in = stream.srtp_out = ("DTLS", status.suite)
                self.resolve(stream)
                self.resolve_referrers(stream.id)
            elif status.expired and stream.unprotect is not None and leg.terminates_dtls:
                # ICE consent expired (RFC 7675): nothing more is sent to or taken from it
                # (media for it is dropped as before its handshake) until the peer restarts.
                stream.unprotect = stream.protect = None
            if _relay is not None:  # a new peer, keys or expiry: the C loop follows
                self.settle(stream)
                for referrer in self.referring(stream.id):
                    self.settle(referrer)
            partner = self.ice_partners.get(stream) if self.ice_partners else None
            if partner is not None and partner.webrtc is not None \
                    and self.streams.get(partner.id) is partner:
                self.schedule(partner)  # (its agent may have had a pair chosen with ours)
        self.schedule(stream)

    def report_secure(self) -> None:
        changed, self.secure_changed = self.secure_changed, []
        try:
            self.channel.send(ch.encode([("secure", changed)]))
        except OSError:
            pass  # channel full or gone: query shows the previous state until the next change

    def drain_webrtc(self, stream: _Stream, wall: float, now: float, turn: int = 0) -> None:
        """``drain_secure`` for a stream whose party speaks ICE/DTLS on the port; with the C
        helper, first the datagrams its loop handed back (``_relay.held``: everything that
        was not media from the leg's peer, and what followed it), and then the stream is
        settled again if it can be (``settle``).
        """
        if _relay is None:
            self.relay_webrtc(stream, wall, now, turn, None)
            return
        self.draining = stream
        try:
            self.relay_webrtc(stream, wall, now, turn, _relay.held(stream.fd))
        finally:
            self.draining = None
        self.settle(stream)

    def relay_webrtc(self, stream: _Stream, wall: float, now: float, turn: int,
                     held: list | None, sock: socket.socket | None = None,
                     local: int = 0) -> None:
        """The drain of a WebRTC leg's stream: ``held`` datagrams if any, else the socket's
        (``sock``, the stream's local socket ``local``; by default its selected one).

        Datagrams are told apart by their first byte (RFC 7983): STUN and DTLS go to the
        leg and its replies leave from this socket; SRTP/SRTCP is accepted only from the
        leg's peer once the handshake is done, decrypted, and relayed like any other
        packet (encrypted again for a target that is SRTP or WebRTC itself). On an
        ICE-only leg media is taken from the nominated pair once there is one, before that
        from wherever learning allows (a party may send before its checks finish, and
        10.5 relays it), SDES-decrypted when the leg has keys.
        """
        if sock is None:
            sock, local = stream.sock, stream.local
        leg = stream.webrtc
        ice_only = not leg.terminates_dtls
        endpoint0, settled0 = stream.endpoint, stream.confirmed
        busy = stream.busy
        limit = len(held) if held else BATCH if busy else 1
        sink = None if stream.blocked else stream.sink
        demux = stream.rtcp_mux and sink is not None and not sink.rtcp_mux
        extras = () if stream.blocked else stream.extras
        first_media = stream.packets == 0
        count = nbytes = errors = media = 0
        out = []
        last = b""
        control = False
        while count < limit:
            if held:
                data, source = held[count]
            else:
                try:
                    data, source = sock.recvfrom(65536)
                except BlockingIOError:
                    break
                except OSError:
                    errors += 1
                    break
            count += 1
            first = data[0] if data else 0
            if not 128 <= first <= 191:  # STUN, DTLS (or noise): the leg's, not media
                self.send_leg(stream, leg.receive(data, source, now, local))
                control = True
                continue
            unprotect = stream.unprotect
            rtcp = rtcp_feedback.taken_for_rtcp(data, stream.rtcp_port, stream.rtcp_mux)
            # (10.5 reads the clear header before it decrypts: RTP of a payload type the
            # stream does not know is an error, SRTCP it would not decrypt an error and
            # not a packet)
            unknown = (not rtcp and stream.payload_types != -1
                       and rtcp_feedback.unknown_type(data, stream.payload_types))
            not_srtcp = rtcp and not rtcp_feedback.srtcp_header_ok(data)
            if ice_only:
                peer = leg.peer
                if leg.expired or (peer is not None and source != peer):
                    continue  # consent gone, or not from the nominated pair: dropped
                if peer is None and local != stream.local:
                    # Before ICE chose, media on another of the stream's sockets makes that
                    # one the stream's (as 10.5 switches local sockets while learning).
                    self.select_local(stream, local)
                errors += unknown
                if stream.srtp_in is not None:  # (decrypted before its source is looked at)
                    if unprotect is None or not_srtcp:
                        errors += 1  # SDES suite without a context, or not SRTCP
                        continue
                    try:
                        data = (unprotect.unprotect_rtcp(data) if rtcp
                                else unprotect.unprotect(data))
                    except Exception:  # libsrtp: authentication, replay, malformed
                        errors += 1
                        continue
                if peer is None and not _source_ok(stream, source, data, now):
                    errors += 1
                    continue
            else:
                if unprotect is None or source != leg.peer:
                    continue  # no keys yet, or not from the ICE/DTLS peer: dropped
                errors += unknown
                if not_srtcp:
                    errors += 1  # as 10.5: an error, not a packet of the stream
                    continue
                try:
                    data = unprotect.unprotect_rtcp(data) if rtcp else unprotect.unprotect(data)
                except Exception:  # libsrtp: authentication, replay, malformed
                    errors += 1  # as 10.5: an error, not a packet of the stream
                    continue
            nbytes += len(data)  # decrypted, as 10.5 counts it
            media += 1
            last = data
            if stream.dtmf_events and not rtcp:
                self.note_dtmf(stream, data, source)
            errors += _forward(stream, sink, extras, data, rtcp, demux, out, self.dtx_held,
                               self.guarded)
        stream.busy = count > 1 if busy else stream.turn == turn - 1
        stream.turn = turn
        # (an endpoint media learned, before ICE chose one; follow_leg reports its own. The
        # leg's first media is news too: the control plane's first-packet hook, Janus's
        # "webrtcup", runs on it at once, as 10.5 tells Janus on the first packet.)
        learned = (stream.endpoint != endpoint0 or stream.confirmed != settled0
                   or (first_media and media > 0))
        if control:
            self.follow_leg(stream)
        if not (media or errors):
            return
        stream.packets += media
        stream.bytes += nbytes
        stream.errors += errors
        if learned:
            self.learned.append(stream.id)
        self.publish(stream, media, wall, last, 0, len(last), learned)
        self.send_on(stream, out)


def _pop_due(timers: list, now: float) -> list:
    """The entries of a timer heap due by ``now``, taken off it (what they re-arm waits for
    the next loop turn, so a timer that keeps asking for 'now' cannot hold the loop)."""
    due_now = []
    while timers and timers[0][0] <= now:
        due_now.append(heapq.heappop(timers))
    return due_now


def _adopt(family: int, fd: int) -> socket.socket:
    """A socket object for a stream's descriptor from the control plane. Family, type and
    protocol given and the socket already non-blocking (the control plane hands over
    non-blocking sockets only): no getsockopt calls and no ioctl, only the getsockname
    Python makes to validate the descriptor."""
    sock = _UdpSocket(socket.AF_INET6 if family == 6 else socket.AF_INET,
                      _NONBLOCKING_UDP, 0, fd)
    if _NONBLOCKING_UDP == socket.SOCK_DGRAM:
        sock.setblocking(False)
    return sock


def _with(present: _Stream | tuple | None, stream: _Stream) -> _Stream | tuple:
    """A set of referrers (see ``Worker.link``) with ``stream`` added."""
    if present is None:
        return stream
    return (*present, stream) if type(present) is tuple else (present, stream)


def _without(present: _Stream | tuple | None, stream: _Stream) -> _Stream | tuple | None:
    """A set of referrers with one mention of ``stream`` taken out (None: empty)."""
    if present is stream:
        return None
    if type(present) is not tuple or stream not in present:
        return present
    index = present.index(stream)
    rest = present[:index] + present[index + 1:]
    return rest[0] if len(rest) == 1 else rest


def _conversions(entries: tuple) -> dict | None:
    """A spec's conversions as the relay looks them up: payload type received -> (payload
    type sent, the G.711 table or None to keep the samples, samples per frame, silence
    detection: (CN payload type, threshold, CN payload) or None, the DTMF detection's
    payload type or None, codec received, codec sent (names as the entries give them)). Entries
    are (pt in, pt out, codec in, codec out[, RTP clock units per frame]): pubsub copies
    into the other G.711 law are converted packet by packet (no frame size); offer/answer
    directions, and copies into a codec of libavcodec's (G.722, G.723.1, Opus), framed
    anew."""
    table = {}
    shift = max((transcoding.event_shift(entry[3], entry[4]) for entry in entries
                 if len(entry) > 4 and entry[2] != entry[3]), default=0)
    for entry in entries:
        pt_in, pt_out, codec_in, codec_out = entry[:4]
        frame = entry[4] if len(entry) > 4 else transcoding.FRAME
        if codec_out.startswith("TONES/"):
            convert = transcoding.Tones(codec_out[6:])
        elif codec_in.startswith("TELEPHONE-EVENT/"):
            convert = transcoding.Events(int(codec_in[16:]), int(codec_out[16:]), shift)
        elif codec_in == codec_out:
            # (re-framed: through the codec as 10.5 does; copies pass as they are)
            convert = g711.ROUND_TRIP.get(codec_in) if len(entry) > 4 else None
        elif (codec_in, codec_out) in g711.TABLES:
            convert = g711.TABLES[(codec_in, codec_out)]
        elif len(entry) > 4 and codecs.convertible(codec_in, codec_out):
            convert = transcoding.Codecs(codecs.codec(codec_in), codecs.codec(codec_out), frame)
        else:
            continue
        table[pt_in] = (pt_out, convert, frame, entry[5] if len(entry) > 5 else None,
                        entry[6] if len(entry) > 6 else None, codec_in, codec_out)
    return table or None


def _forward(stream: _Stream, sink: _Stream | None, extras: tuple, data: bytes, rtcp: bool,
             demux: bool, out: list, held: list | None = None,
             guarded: list | None = None) -> int:
    """Queue what the per-packet drains send on for one packet (decrypted) that ``stream``
    received: a copy for each subscriber, and the packet for the sink, converted when the
    sink's party was answered another G.711 law (``transcoding``); returns the errors.
    A payload type the stream drops (``block DTMF``) goes to neither. With DTX (``held``
    a list) a packet to convert goes there instead, converted on the stream's DTX timer
    (``Worker.run_dtx``). A stream with a delay buffer (``guard``) puts what it receives
    there (``guarded``: armed by ``Worker.arm_guards``, sent by ``Worker.run_guards``)."""
    if rtcp:  # (RTCP 10.5 cannot read is dropped: ``refused``; ``taken_for_rtcp``)
        if rtcp_feedback.refused(data, stream.rtcp_port):
            return 1
    dropped = stream.dropped
    if dropped and not rtcp and len(data) > 1 and data[1] & 0x7F in dropped:
        return 0
    translated = None
    if rtcp and len(data) >= 8 and data[1] in _REPORT_TYPES:
        rtp = stream.rtcp_of if stream.rtcp_port else stream
        received = None
        if rtp is not None and rtp.sink is not None and (
                rtp.sink.transcode is not None or rtp.transcode is not None):
            received = data
            data, translated = _translate_rtcp(rtp, data)
        _note_report(stream, time.time(), data, received)
        if translated is not None:
            data = translated
    generated = stream.rtcp_gen
    if generated is not None:  # ``generate RTCP``: the relay reports itself
        if rtcp:
            # (what an RTCP port gets that has no RTCP packet type, junk, goes on: 10.5)
            if len(data) > 1 and 192 <= data[1] <= 223 and not (
                    generated[0] & ch.RTCP_SECURE_LEG and stream.srtp_in is None
                    and stream.webrtc is None and generated[3] is None):
                return 0
            # (SRTP passed through untouched and no keys for reports: the relay cannot
            # report on the leg, so the party's own SRTCP goes on)
        elif len(data) >= 12:
            stream.received = reception.receive(
                stream.received, data, time.time(), stream.report_rates.get(data[1] & 0x7F),
                sink is not None and sink.transcode is not None)
    if stream.t38 is not None:  # (a T.38 gateway takes it: nothing goes on as it came)
        return _into_gateway(stream, data, rtcp)
    errors = _fan_out(extras, data, rtcp, stream.rtcp_mux, out) if extras else 0
    if sink is None or (not rtcp and stream.rtcp_only):
        return errors
    if rtcp and stream.strip_feedback:  # (an AVPF party's RTCP to a leg that is not)
        data = rtcp_feedback.strip_feedback(data)
        if not data:
            if data is None:  # (unreadable: ``refused`` took it above)
                return errors + 1
            # Nothing left: not sent, an error of the stream it was for (as 10.5 counts
            # it); ``send_on`` counts it.
            out.append((_target(sink, rtcp, demux), None))
            return errors
    guard = stream.guard
    if guard is not None and not rtcp and guarded is not None:
        guard.push(data, time.monotonic())
        guarded.append(stream)
        return errors
    conversions = sink.transcode
    if conversions is None and not rtcp:
        conversions = stream.detect  # (``detect DTMF``: its reading is a conversion too)
    if conversions is not None and not rtcp:
        if (held is not None and len(data) >= 12 and sink.transcode is not None
                and data[1] & 0x7F in conversions):
            held.append((stream, data))
            return errors
        rewriter = _rewriter(stream)
        # (none: a duplicate, or less than a frame yet; more: a long packet)
        pieces = rewriter.rewrite(data, conversions)
    else:
        pieces = (data,)
    return errors + _send_on(stream, sink, extras, pieces, rtcp, demux, out)


def _discard(sock) -> None:
    """``drop-traffic``: what waits on the socket is read and dropped, before anything sees
    it (no counters, learning, STUN or DTLS; 10.5)."""
    for _ in range(BATCH):
        try:
            sock.recv(1)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # (an ICMP error queued on the socket)
            continue


def _ends(stream: _Stream, sink: _Stream, rtcp_target: _Stream | None) -> tuple:
    return (stream, sink) if rtcp_target is None else (stream, sink, rtcp_target)


def _with_rtcp_keys(stream: _Stream, sink: _Stream, rtcp_target: _Stream | None) -> bool:
    """Whether a stream, its sink or its demuxed RTCP stream has RTCP keys (``srtcp``):
    the C loop relays it only as ``Worker.settle_rtcp_keys_only`` says."""
    return any(end.rare is not None and end.srtcp is not None
               for end in _ends(stream, sink, rtcp_target))


def _rtcp_keys_only(stream: _Stream, sink: _Stream, rtcp_target: _Stream | None) -> bool:
    """Whether the stream, its sink and its demuxed RTCP stream (if any) all are of a leg
    whose SDES keys pass end to end, none with SRTP keys or a WebRTC leg of its own. (A
    mix, which signalling does not make, stays with Python's drains, which key each end
    as it is.)"""
    return all(end.srtcp is not None and end.srtp_in is None and end.srtp_out is None
               and end.webrtc is None for end in _ends(stream, sink, rtcp_target))


def _source_ok(stream: _Stream, source: tuple, data: bytes, now: float) -> bool:
    """The source check of a packet the drains took (decrypted: 10.5 looks at the source
    only after decryption, so a packet it refuses before neither learns nor confirms):
    learning, strict source and handover (``_Stream.on_new_source``). Stray RTCP on the
    RTP port of a stream not yet confirmed is no source (``ignored_for_learning``). False:
    drop the packet (an error)."""
    if stream.confirmed:
        return source == stream.endpoint or stream.on_new_source(source, now)
    if rtcp_feedback.ignored_for_learning(data, stream.rtcp_port):
        return True
    return stream.on_new_source(source, now)


def _unprotect(stream: _Stream, unprotect, data: bytes, rtcp: bool) -> bytes:
    """A packet of a stream with keys decrypted: SRTP with the stream's context, SRTCP
    with it or, on a leg whose SDES keys pass end to end, with its RTCP context (its SRTP
    is not decrypted: not called for it). Raises what libsrtp raises, or ValueError
    without a context (a suite libsrtp cannot do here)."""
    if stream.srtp_in is None:
        unprotect = stream.rtcp_unprotect
    if unprotect is None:
        raise ValueError("no SRTP context")
    return unprotect.unprotect_rtcp(data) if rtcp else unprotect.unprotect(data)


def _translate_rtcp(rtp: _Stream, data: bytes) -> tuple[bytes, bytes | None]:
    """RTCP of a party whose call converts (``rtp``: the party's RTP stream), as 10.5
    passes it on: each direction converted goes out under SSRCs of the relay's own
    (``transcoding.Direction``), so a report block about one the party received names
    the SSRC it stands for again, and a packet sent under an SSRC of the party whose
    media is converted goes out under that media's output SSRC, a sender report with
    what that output sent (its RTP timestamp, packet and octet counts; the NTP time as it
    came). Returns (the packet with its blocks mapped back, for the call's
    quality figures, which name the SSRCs as they came; what goes on), or the packet and
    None when nothing was translated."""
    sink = rtp.sink
    ours = rtp.rewriter if sink.transcode is not None else None
    theirs = sink.rewriter if rtp.transcode is not None else None
    forward = {k: o for k, o in ours.outputs.items() if o.ssrc != k} if ours else {}
    back = ({o.ssrc: k for k, o in theirs.outputs.items() if o.ssrc != k} if theirs
            else {})
    if not forward and not back:
        return data, None
    noted = bytearray(data)
    at = 0
    size = len(data)
    headers = []
    while at + 8 <= size:
        first, kind, length = struct.unpack_from("!BBH", data, at)
        end = at + 4 + 4 * length
        if first >> 6 != 2 or end > size:
            break
        headers.append((at + 4, kind == 200 and at + 28 <= end))
        blocks = (at + 28 if kind == 200 else at + 8) if kind in (200, 201) else end
        for index in range(first & 0x1F if kind in (200, 201) else 0):
            where = blocks + 24 * index
            if where + 24 > end:
                break
            named = bytes(data[where:where + 4])
            if named in back:
                noted[where:where + 4] = back[named]
        at = end
    sent = bytearray(noted)
    for where, report in headers:
        output = forward.get(bytes(sent[where:where + 4]))
        if output is None:
            continue
        sent[where:where + 4] = output.ssrc
        if report and output.sent is not None:  # (RTP timestamp, packet and octet counts)
            packets, octets, stamp = output.sent
            sent[where + 12:where + 16] = stamp
            struct.pack_into("!II", sent, where + 16, packets & 0xFFFFFFFF,
                             octets & 0xFFFFFFFF)
    return bytes(noted), bytes(sent)


def _note_report(stream: _Stream, wall: float, packet, received=None,
                 generated: bool = False) -> None:
    """A report for the quality figures; for the RTCP log (``_LOG_RTCP``) also the packet
    as the party sent it (``received``, when ``packet`` was translated), none for one the
    relay made itself (``generated``)."""
    if len(_REPORTS) < MAX_REPORTS:
        noted = bytes(packet)
        logged = None if generated or not _LOG_RTCP[0] else (
            noted if received is None else bytes(received))
        _REPORTS.append((stream.id, wall, noted, logged))


def _plain_host(address: tuple) -> str:
    """An address's host as 10.5 prints it: IPv4 mapped into an IPv6 socket's as IPv4."""
    host = address[0]
    return host[7:] if host.startswith("::ffff:") and "." in host else host


def _rewriter(stream: _Stream) -> transcoding.Direction:
    """The stream's converted direction (its output SSRCs and clocks), made on first use;
    made anew when the sink's conversions change between converting the direction and
    passing it with some codecs converted (``StreamSpec.transcode_passes``), or between
    converting it and only reading it for DTMF (``StreamSpec.detect``: the received SSRCs
    kept, as 10.5 keeps them, and nothing counted as transcoding)."""
    rewriter = stream.rewriter
    sink = stream.sink
    passes = sink is not None and sink.rare is not None and sink.transcode_passes
    detects = sink is not None and sink.transcode is None and stream.detect is not None
    if rewriter is None or rewriter.passes != passes or (rewriter.tally is None) != detects:
        rewriter = stream.rewriter = transcoding.Direction(
            keep_ssrc=passes or detects, passes=passes, tally=None if detects else _TALLY,
            keys=_DETECTED, owner=stream.id, suppress=_SUPPRESS[0])
    return rewriter


def _detect_conversions(spec: tuple) -> dict:
    """``StreamSpec.detect`` as a conversions table: the party's G.711 audio through the
    conversion path unchanged in 20 ms frames, read by the tone detector, whose keys go out
    as the receiver's telephone-event (or, -1, are only reported)."""
    laws, event_pt = spec
    return {pt: (pt, None, transcoding.FRAME, None, event_pt, law, law) for pt, law in laws}


def _send_on(stream: _Stream, sink: _Stream, extras: tuple, pieces, rtcp: bool, demux: bool,
             out: list) -> int:
    """Queue packets for the sink (converted ones: ``_forward``, ``Worker.run_dtx``) and
    their copies for ``egress`` subscribers; returns the errors. A packet the sink's
    context cannot encrypt is an error of the stream it was for (``send_on`` counts it),
    as 10.5 counts it on the sink."""
    errors = 0
    egress = extras if extras and any(e.egress for e in extras) else None
    for piece in pieces:
        if egress is not None:  # (``egress`` subscribers: what goes on, as it goes)
            errors += _fan_out(egress, piece, rtcp, stream.rtcp_mux, out, egress=True)
        onward = _onward(sink, piece, rtcp, demux)
        if onward is False:
            out.append((_target(sink, rtcp, demux), None))
        elif onward is not None:
            out.append(onward)
    return errors


def _into_gateway(stream: _Stream, data: bytes, rtcp: bool) -> int:
    """A packet for a T.38 gateway: UDPTL from the T.38 party, G.711 RTP from the audio
    party (its RTCP and other payloads go nowhere); returns the errors (a UDPTL packet
    the gateway cannot decode, logged once per stream)."""
    spec = stream.t38
    if spec[0] == "t38":
        gateway = stream.gateway
        if gateway is None:
            return 0
        try:
            gateway.feed_udptl(data)
        except ValueError as error:  # (udptl.UdptlError: the party's packet, not ours)
            if not stream.gateway_error_logged:
                stream.gateway_error_logged = True
                log.warning("stream %d: UDPTL packet dropped: %s", stream.id, error)
            return 1
        return 0
    source = stream.sink
    gateway = source.gateway if source is not None else None
    if gateway is None or rtcp:
        return 0
    samples = t38_relay.payload_to_pcm(data, spec)
    if samples is not None:
        gateway.feed_pcm(samples)
    return 0


def _fan_out(extras: tuple, data: bytes, rtcp: bool, muxed: bool, out: list,
             egress: bool = False) -> int:
    """Queue a copy of a packet for each subscriber stream (pubsub) of the kind asked for
    (``egress``: those that get what goes on to the sink, else the others), each in the
    form its leg needs; returns the copies that failed (errors of the stream they came
    from)."""
    failed = 0
    for extra in extras:
        if extra.egress != egress:
            continue
        copies = (data,)
        if extra.transcode and not rtcp and len(data) > 1:
            conversion = extra.transcode.get(data[1] & 0x7F)
            if conversion is not None and type(conversion[1]) is transcoding.Codecs:
                # a subscriber that answered a codec of libavcodec's: framed anew
                copies = _copies_converted(extra, data)
            elif conversion is not None and conversion[1] is not None:
                # a subscriber that answered the other G.711 law
                copy = g711.convert_rtp(data, conversion[0], conversion[1])
                if copy is None:
                    failed += 1
                    continue
                copies = (copy,)
                bounds = g711.payload_bounds(copy)  # (not None: convert_rtp took it)
                _TALLY.packet(conversion, bounds[1] - bounds[0])
                _TALLY.samples(conversion, bounds[1] - bounds[0])
        demux = muxed and not extra.rtcp_mux
        for copy in copies:
            onward = _onward(extra, copy, rtcp, demux)
            if onward is False:
                failed += 1
            elif onward is not None:
                out.append(onward)
    return failed


def _copies_converted(extra: _Stream, data: bytes) -> list[bytes]:
    """A subscriber's copies of an RTP packet in the codec it answered (none while the
    encoder fills its first frame). They keep the received SSRC, as copies in the other
    G.711 law do; their numbers and clock are the conversion's
    (``transcoding.Direction``), as 10.5 sends them."""
    rewriter = extra.copies
    if rewriter is None:
        rewriter = extra.copies = transcoding.Direction(keep_ssrc=True, tally=_TALLY,
                                                        suppress=_SUPPRESS[0])
    return rewriter.rewrite(data, extra.transcode)


def _target(sink: _Stream | None, rtcp: bool, demux: bool) -> _Stream | None:
    """The stream a packet for ``sink`` goes out from: its RTCP stream for RTCP that a
    muxed stream demultiplexes (when the sink has one), else the sink itself."""
    if rtcp and demux and sink is not None and sink.rtcp_peer is not None:
        return sink.rtcp_peer
    return sink


def _onward(sink: _Stream | None, data: bytes, rtcp: bool, demux: bool):
    """Where a packet taken off a secure stream goes, and in what form: ``(target, bytes)``
    encrypted for the target if it is an SRTP or WebRTC leg; ``None`` to drop it quietly
    (nowhere to send it, or a WebRTC leg whose handshake is not done: never sent
    unencrypted); ``False`` when the target has no SRTP context for its suite or the
    context refuses the packet (counted as an error). One place
    for both secure drains (SDES/plain and WebRTC), per packet as libsrtp is anyway."""
    target = _target(sink, rtcp, demux)
    if target is None or target.dest is None:
        return None
    leg = target.webrtc
    if leg is not None and leg.expired:
        return None  # ICE consent expired (RFC 7675): nothing more is sent to it
    dtls = leg is not None and leg.terminates_dtls
    if target.srtp_out is not None or dtls:
        protect = target.protect
        if protect is None:  # DTLS not done yet (quiet), or a suite libsrtp cannot do
            return None if dtls else False
        try:
            data = protect.protect_rtcp(data) if rtcp else protect.protect(data)
        except Exception:  # libsrtp: malformed, or an index it will not reuse
            return False
    elif rtcp and target.srtcp is not None:  # (a leg whose SDES keys pass end to end)
        try:
            data = target.rtcp_protect.protect_rtcp(data)
        except Exception:  # libsrtp, as above
            return False
    return target, data


def _leg_context(profile: str, key_salt: bytes, outbound: bool):
    """A WebRTC leg's SRTP context (its DTLS keys); see ``_c_context``."""
    from ..secure.srtp import SrtpContext

    return _c_context(SrtpContext(profile, key_salt, outbound))


def _c_context(context):
    """A pylibsrtp context as the C helper's (the same libsrtp session, called from C), so
    the C loop can relay the stream; the context itself without the helper (Python's
    drain relays it)."""
    if _CContext is None:
        return context
    try:
        return _CContext(*context.handles())
    except (ValueError, TypeError):
        return context


def _srtp_context(keys: tuple | None, outbound: bool):
    """A libsrtp context for (profile, key||salt[, SDES session parameters[, MKI]]); None
    without keys, for keys that name no suite (``sdes.NO_KEY``: a party that gave no key
    we can read) or for a profile libsrtp cannot do here (the stream then drops what it
    cannot decrypt or encrypt). A key with an MKI gets the plain context behind the MKI
    framing (Python's drain relays it: the C loop takes only its own contexts)."""
    if keys is None or keys[0] == "no key":  # (offer_answer.sdes.NO_KEY: refused, quietly)
        return None
    if len(keys) > 3 and keys[3]:
        inner = _srtp_context(keys[:3], outbound)
        if inner is None:
            return None
        from ..secure.mki import MkiContext

        try:
            return MkiContext(inner, keys[3], keys[0], keys[2])
        except ValueError:
            log.warning("SRTP context for %s with an MKI not built", keys[0])
            return None
    from ..secure.srtp import SrtpContext  # only workers relaying SRTP load libsrtp

    try:
        context = SrtpContext(keys[0], keys[1], outbound, keys[2] if len(keys) > 2 else ())
    except Exception:  # pylibsrtp.Error or an unknown profile
        log.warning("SRTP context for %s not built", keys[0])
        return None
    return _c_context(context)


def _shared_host(address: tuple | None) -> tuple | None:
    """``address`` with its host string interned (the same object for every stream that
    names that host); the tuple itself when it already is."""
    if address is None:
        return None
    host = address[0]
    if type(host) is not str:
        return address
    shared = sys.intern(host)
    if shared is host:
        return address
    return (shared, address[1]) if len(address) == 2 else (shared, *address[1:])


def _kernel_drops(sock: socket.socket) -> int:
    """Packets the kernel dropped on this socket because its receive buffer was full."""
    try:
        info = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 36)
    except OSError:
        return 0
    return struct.unpack_from("I", info, 32)[0]


def socket_address(family: int, address: str, port: int) -> tuple | None:
    """A ``sendto`` address for a socket of ``family`` (IPv4 mapped into IPv6 if needed).

    ``None`` for anything that is not an IP literal (a worker must never resolve names)
    and for a port ``sendto`` refuses: an SDP's ``m=audio 65535`` puts its RTCP on 65536,
    which 10.5 shows in ``query`` and cannot send to either (the worker raised
    ``OverflowError`` on the first packet for it, died, and died again on restart).
    """
    if not 0 <= port <= 0xFFFF:
        return None
    try:
        socket.inet_pton(socket.AF_INET, address)
        version = 4
    except OSError:
        try:
            packed = socket.inet_pton(socket.AF_INET6, address)
        except (OSError, ValueError):
            return None
        version = 6
        address = socket.inet_ntop(socket.AF_INET6, packed)
    if family == 6:
        if version == 4:
            return (f"::ffff:{address}", port, 0, 0)
        return (address, port, 0, 0)
    if version == 6:
        return None
    return (address, port)


def main(argv: list[str]) -> int:
    channel_fd, counters_fd, index = (int(arg) for arg in argv[1:4])
    settings = None
    software_id = None
    scheduling: tuple[str, str, str] | None = None
    log_srtp_keys = False
    for option in argv[4:]:
        if option == NO_SUPPRESS:
            _SUPPRESS[0] = False
        elif option == LOG_RTCP:
            _LOG_RTCP[0] = True
        elif option.startswith(SOFTWARE_ID):
            software_id = option[len(SOFTWARE_ID):]
        elif option == LOG_SRTP_KEYS:
            log_srtp_keys = True
        elif option.startswith(SCHEDULING):
            scheduling = option[len(SCHEDULING):].rpartition(":")
        elif option.startswith(LOG_SETTINGS):
            from ..log_setup import LogSettings, setup_logging

            setup_logging(LogSettings.from_arg(option[len(LOG_SETTINGS):]))
        else:
            settings = dtx.DtxSettings.from_arg(option)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the daemon; it stops us
    # (the daemon's log-level signals: a ``pkill -USR2 rtpengined`` must not end a worker)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        channel = socket.socket(fileno=channel_fd)
        counters = CounterTable.attach(counters_fd)
    except OSError:
        return 0  # the daemon stopped (e.g. a listener failed) before this worker started
    request_short_slice()  # run soon after a packet arrives, even beside busy work
    if scheduling is not None:  # (what the operator asked for goes over the slice)
        name, _, priority = scheduling
        failed = apply_policy(name or None, int(priority or 0))
        if failed is not None:
            log.error("%s", failed)
    try:
        worker = Worker(channel, counters, index)
        worker.software_id, worker.log_srtp_keys = software_id, log_srtp_keys
        if settings is not None:
            worker.dtx_settings, worker.dtx_held = settings, []
            # Loaded now, not when the first gap is due: libavcodec and its CN decoder
            # take tens of ms to load, and a timer that late fills a gap a packet was
            # already there for.
            transcoding.filler("PCMA", 160)
            for law in ("PCMU", "PCMA"):
                g711.encoder(law)
        # What is alive now (modules, libraries, the worker's tables) lives as long as the
        # process: kept out of the cyclic collector, whose older generations' passes walked
        # it all every few hundred streams set up (the daemon does the same once ready).
        gc.freeze()
        worker.run()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the daemon went away: nothing left to relay for
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
