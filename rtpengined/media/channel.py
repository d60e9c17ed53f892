"""Messages between the control plane and a relay worker, over a SOCK_SEQPACKET pair.

Each datagram is one pickled *batch*: a list of messages (both ends are this package,
so pickle is safe). An ng command changes several streams at once, and one datagram per
command instead of one per stream saves most of the pickling and syscalls. The sockets
of a batch's ``add`` messages travel with it as SCM_RIGHTS ancillary data, in the order
of those messages. The control plane keeps its own copy of every socket, so a restarted
worker gets them all again.

Control → worker: ``("add", spec)`` + fd, ``("update", spec)``, ``("remove", stream_id)``,
where ``spec`` is a ``StreamSpec`` sent as a plain tuple (cheaper to pickle) and its
sockets are the stream's own and then those of ``spec.alternates``,
``("alternates", (stream_id, families, start))`` + fds for sockets on other addresses
that an ICE leg gained after its stream was added (``start``: the first one's index among
them), and
``("certificate", (name, cert_pem, key_pem, mtu, ciphers))`` once per worker before the
first stream that needs the DTLS certificate. Worker → control: ``("removed", [stream_id, ...])`` once the
worker will no longer write those streams' counter slots (they may then be reused),
``("learned", [stream_id, ...])`` for streams whose endpoint changed, and
``("secure", [(stream_id, status), ...])`` when a WebRTC leg's state changed
(``secure.webrtc.Status`` as a tuple: peer, fingerprint verified, suite, failed, expired;
then the local socket of the peer's pair).
"""

from __future__ import annotations

import array
import pickle
import socket
from typing import Any, NamedTuple

MAX_MESSAGE = 65536  # bytes of one batch; the sender keeps batches well below this
MAX_BATCH = 64  # messages (and so sockets) per batch
MAX_FDS = MAX_BATCH


# ``StreamSpec.rtcp_gen``'s bits (``generate RTCP``): the party's RTCP arriving on the
# stream goes no further; the stream sends its party reports of its own; ... from its own
# port to the party's RTP address (rtcp-mux in use: 10.5's RTCP_MUX media flag), not from
# its RTCP stream; the party's leg is SRTP (a report goes out only protected with the
# keys the relay holds for it: none on a leg it passes SRTP through untouched).
RTCP_CONSUMED, RTCP_GENERATED, RTCP_ON_RTP, RTCP_SECURE_LEG = 1, 2, 4, 8


# ``StreamSpec.blocked`` of a stream under ``drop-traffic``: everything it receives is
# dropped as it arrives (1 is ``block media``: counted, learned from, not sent on).
DROP_ALL = 2


class StreamSpec(NamedTuple):
    """What a worker needs to relay one stream (all plain values, picklable)."""

    id: int
    slot: int
    family: int  # 4 or 6: the socket's family
    sink: int | None  # stream id of the sink (same worker)
    rtcp_peer: int | None  # stream id of this stream's RTCP stream (None when muxed)
    advertised: tuple | None  # socket address tuple ready for sendto
    endpoint: tuple | None  # learned endpoint as the control plane wants it, or None
    override_endpoint: bool  # True: replace the worker's learned endpoint/confirmed
    confirmed: bool
    learning: str  # delayed, immediate, off, heuristic
    strict_source: bool
    media_handover: bool
    asymmetric: bool
    rtcp_mux: bool
    blocked: int  # 1: block media (counted); 2: drop-traffic (dropped as it arrives)
    restart_learning: bool  # signalling happened: open a new 3 s learning window
    generation: int  # version of this spec; the worker echoes it in the counter slot
    # SRTP on this stream's leg, (libsrtp profile, key||salt) or None: unprotect what the
    # party sends (in), protect what is sent to it (out). Contexts are built in the worker.
    srtp_in: tuple | None = None
    srtp_out: tuple | None = None
    # WebRTC on this stream's leg (``secure.webrtc.IceSpec``/``DtlsSpec`` as tuples) or None:
    # the worker runs ICE and the DTLS-SRTP handshake on the port and takes the SRTP keys
    # from it. ``dtls`` names the daemon certificate sent before in a "certificate" message.
    ice: tuple | None = None
    dtls: tuple | None = None
    # Publish/subscribe: stream ids (same worker) that get a copy of every packet besides
    # ``sink`` (each protected for its own leg). Empty for nearly every stream.
    extra_sinks: tuple = ()
    # Payload conversions of packets sent to this stream (pubsub copies, offer/answer
    # transcoding): (pt in, pt out, codec in, codec out) tuples, G.711 µ-law/A-law only.
    transcode: tuple = ()
    # Only RTCP goes on to the sink (a subscriber's muxed RTCP with ``mirror RTCP``; its RTP
    # goes nowhere).
    rtcp_only: bool = False
    # A subscriber's stream with ``egress``: its copies are what the publisher's stream sends
    # on to its sink (converted), not what it received.
    egress: bool = False
    # Payload types of what this stream receives that go nowhere (``block DTMF``: the
    # party's telephone-event; ``dtmf_block``). Empty for nearly every stream.
    dropped: tuple = ()
    # A T.38 gateway between this stream's party and its sink's (``Stream.t38``): (side,
    # options, audio payload type, encoding, ptime). What arrives goes to the gateway.
    t38: tuple | None = None
    # ICE on several addresses: the families (4/6) of the stream's sockets on the logical
    # interface's other addresses, in order (local sockets 1, 2, ...). Their sockets travel
    # after the stream's own with its "add", or later with an "alternates" message.
    alternates: tuple = ()
    # ``block DTMF`` behind a delay buffer: the party's ``dtmf_guard.GuardSpec`` as a plain
    # tuple (what it sends waits there; its DTMF is replaced, delayed). None: no buffer.
    guard: tuple | None = None
    # ``generate RTCP`` on the stream's media (``Stream.rtcp_gen``): (its bits, the CNAME
    # of the reports, (payload type, clock rate) pairs, the SRTP keys of the reports or
    # None), or None.
    rtcp_gen: tuple | None = None
    # A leg whose SDES keys pass end to end (``Stream.srtcp``): (inbound, outbound) keys as
    # ``srtp_in``/``srtp_out``, for its RTCP only (RTP goes on as it came), or None.
    srtcp: tuple | None = None
    # ``transcode`` converts some codecs of a direction that otherwise passes through
    # (``Stream.transcode_passes``): SSRCs and what passes keep their numbers.
    transcode_passes: bool = False
    # RTPFB and PSFB packets are cut out of the RTCP compounds this stream receives (an
    # AVPF party's to a leg that is not AVPF: ``Stream.strip_feedback``).
    strip_feedback: bool = False
    # The stream is an RTCP port (``Stream.rtcp``: not muxed): whatever arrives is read as
    # RTCP, and what 10.5 would not read is dropped (``rtcp_feedback.refused``).
    rtcp: bool = False
    # The payload types of the stream's media (``Stream.payload_types``) as a bit mask (bit
    # n: type n), -1 for none checked: RTP of another type is an error of the stream,
    # relayed all the same (``rtcp_feedback.unknown_type``).
    payload_types: int = -1
    # DTMF logging: (payload type, clock rate) of the telephone-event the party sends
    # here; the relay reports each key's end ("dtmf" news, ``dtmf_log``). Empty: not read.
    dtmf_events: tuple = ()
    # Audio DTMF detection (``Stream.detect``): ((pt, law) of the party's G.711 audio, the
    # receiver's telephone-event type or -1), or None.
    detect: tuple | None = None


def encode(messages: list[tuple]) -> bytes:
    return pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL)


def decode(data: bytes) -> Any:
    return pickle.loads(data)


def send(channel: socket.socket, messages: list[tuple], fds: list[int] | None = None) -> None:
    """Send one batch; raises BlockingIOError when the channel is full."""
    if fds:
        socket.send_fds(channel, [encode(messages)], fds)
    else:
        channel.send(encode(messages))


def receive_raw(channel: socket.socket, flags: int = 0) -> tuple[bytes, list[int]]:
    """One datagram and the fds that came with it (``socket.recv_fds`` drops ``flags``)."""
    fd_size = array.array("i").itemsize
    data, ancillary, _msg_flags, _addr = channel.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(MAX_FDS * fd_size), flags)
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fd_size)])
    return data, list(fds)
