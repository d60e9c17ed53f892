"""The call model's data: Call → Monologue (one per SIP tag) → CallMedia (one m= section; named apart from the relay package, ``rtpengined.media``) → Stream.

Plain data shared by the ng commands (``calls``), the CLI views (``cli``), the metrics
exporter and the media plane. Behaviour lives elsewhere; these classes only hold state,
so every view reads the same objects and no number is kept twice.

What a plain SIP call never sets (SDES, DTLS, ICE, pub/sub, extended commands) is kept
out of ``Stream``, ``CallMedia`` and ``Monologue``: in a holder of its own (``StreamRare``,
...) made on the first write of a value other than the default, so the thousands of plain
calls a daemon holds do not pay a slot for each (~1-1.7 kB a call). The owner's properties
read and write those attributes as its own; ``obj.rare is None`` says that all of them
still have their defaults. Written out as properties, not made at import: compiled
(mypyc), the owners are then native classes, whose attributes compiled code reads as C
struct fields (a lifecycle in process: 0.84x the time at -L 3).
"""

from __future__ import annotations

import _socket
import functools
import ipaddress
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

_stream_ids = itertools.count(1)

# The one empty set of transcoding payload types every media starts with (a module
# constant: mypyc compiles a class default only for simple literals).
_NO_PTS: Final[frozenset[str]] = frozenset()


def _differs(value: object, default: object) -> bool:
    """Whether a rare attribute's new value needs a holder: not its default (of the same
    type: 0 for a default of False is kept as 0)."""
    return value is not default and (type(value) is not type(default) or value != default)


@functools.lru_cache(maxsize=1024)
def _address_family(address: str) -> str:
    """``IPv4``/``IPv6`` of an interface address (parsed once: asked on every bind)."""
    return "IPv6" if ipaddress.ip_address(address).version == 6 else "IPv4"


@dataclass(frozen=True, slots=True, init=False)
class Endpoint:
    """A transport address (IP text as written in SDP or seen on the wire, and port)."""

    address: str
    port: int

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, address: str, port: int) -> None:
        object.__setattr__(self, "address", address)
        object.__setattr__(self, "port", port)

    @property
    def family(self) -> str:
        """``IPv4`` or ``IPv6``, as rtpengine names families in replies."""
        return "IPv6" if ":" in self.address else "IPv4"

    def as_dict(self) -> dict[str, Any]:
        return {"family": self.family, "address": self.address, "port": self.port}

    def rtcp_of(self, rtcp_port: int | None) -> Endpoint:
        """The RTCP address of a party whose RTP goes to this one: its SDP's ``a=rtcp``
        port (``rtcp_port``) if it gave one, else the port after (RFC 3605; 10.5's rule
        for a stream it fills without an RTCP port of its own)."""
        return Endpoint(self.address, rtcp_port or self.port + 1)


@dataclass(frozen=True, slots=True)
class Interface:
    """One ``--interface [NAME/]IP[!ADVERTISED]`` entry (made when the options are read,
    not per request: its generated ``__init__`` costs nothing that matters)."""

    name: str
    address: str
    advertised: str

    @property
    def family(self) -> str:
        return _address_family(self.address)

    @property
    def sdp_family(self) -> str:
        """``IP4``/``IP6`` as written in SDP ``c=`` lines."""
        return "IP6" if self.family == "IPv6" else "IP4"


@dataclass(slots=True, init=False)
class StreamStats:
    """Counters of packets *received* on a stream's local port (rtpengine counts these)."""

    packets: int = 0
    bytes: int = 0
    errors: int = 0
    last_packet: float = 0.0
    ssrc: int = 0
    # Payload type of the last RTP packet received (None until the relay reports one):
    # names the codec "actually used" in query and the CLI, as 10.5 does.
    payload_type: int | None = None
    # An RTCP packet arrived on this socket (with rtcp-mux: on the RTP port). 10.5 then shows
    # the SSRC on the media's RTCP component too.
    rtcp_seen: bool = False
    # The media plane forwards this stream in the kernel right now (``--table=N``).
    kernel: bool = False

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, packets: int = 0, bytes: int = 0, errors: int = 0, last_packet: float = 0.0,
                 ssrc: int = 0, payload_type: int | None = None, rtcp_seen: bool = False,
                 kernel: bool = False) -> None:
        self.packets = packets
        self.bytes = bytes
        self.errors = errors
        self.last_packet = last_packet
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.rtcp_seen = rtcp_seen
        self.kernel = kernel

    def as_dict(self) -> dict[str, int]:
        return {"packets": self.packets, "bytes": self.bytes, "errors": self.errors}


@dataclass(eq=False, slots=True, init=False)
class Stream:
    """One local media socket: the port a party sends its RTP (or RTCP) to.

    Packets received here are relayed to ``sink.endpoint`` (or ``sink.advertised``) and
    sent from ``sink.sock``, so each party sees the port it sends to as the source.
    """

    interface: Interface
    port: int
    rtcp: bool = False
    sock: _socket.socket | None = None  # (the C type: ports.bind_udp)
    sink: Stream | None = None
    advertised: Endpoint | None = None
    endpoint: Endpoint | None = None
    confirmed: bool = False
    strict_source: bool = False
    media_handover: bool = False
    asymmetric: bool = False
    learning: str = "delayed"
    rtcp_mux: bool = False
    # The payload types 10.5 knows on an RTP stream, as a bit mask (bit n: type n;
    # ``media.rtcp_feedback.known_mask``), -1 for none checked (not RTP, or never offered
    # here): RTP of another type that arrives here is an error of the stream, relayed all
    # the same. Those of every offer on its media, the party's (what the strip left) or to
    # the party (what we sent on), gathered: a re-offer without some keeps them, and an
    # answer adds none (10.5 takes no codec the offer did not have).
    payload_types: int = -1
    # What the party sends goes nowhere: 1 (``block media``: counted and learned from) or
    # ``media.channel.DROP_ALL`` (``drop-traffic``: dropped as it arrives, uncounted,
    # STUN/DTLS included).
    blocked: int = 0
    # Streams of one call share a group, so the media plane relays them in one worker.
    group: str = ""
    # For an RTP stream: its RTCP stream (None with rtcp-mux or for non-RTP media).
    rtcp_peer: Stream | None = None
    stats: StreamStats = field(default_factory=StreamStats)
    id: int = field(default_factory=lambda: next(_stream_ids))
    # Ports released (party deleted) while the call lives on: query omits the local port.
    closed: bool = False
    created: float = 0.0

    # What few streams set, or None while all of it has its defaults (``StreamRare``).
    rare: StreamRare | None = field(default=None, init=False, repr=False, compare=False)

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, interface: Interface, port: int, rtcp: bool = False,
                 sock: _socket.socket | None = None, sink: Stream | None = None,
                 advertised: Endpoint | None = None, endpoint: Endpoint | None = None,
                 confirmed: bool = False, strict_source: bool = False, media_handover: bool = False,
                 asymmetric: bool = False, learning: str = "delayed", rtcp_mux: bool = False,
                 payload_types: int = -1, blocked: int = 0, group: str = "",
                 rtcp_peer: Stream | None = None, stats: StreamStats | None = None,
                 id: int | None = None, closed: bool = False, created: float = 0.0) -> None:
        self.interface = interface
        self.port = port
        self.rtcp = rtcp
        self.sock = sock
        self.sink = sink
        self.advertised = advertised
        self.endpoint = endpoint
        self.confirmed = confirmed
        self.strict_source = strict_source
        self.media_handover = media_handover
        self.asymmetric = asymmetric
        self.learning = learning
        self.rtcp_mux = rtcp_mux
        self.payload_types = payload_types
        self.blocked = blocked
        self.group = group
        self.rtcp_peer = rtcp_peer
        self.stats = StreamStats() if stats is None else stats
        self.id = next(_stream_ids) if id is None else id
        self.closed = closed
        self.created = created
        self.rare = None

    @property
    def local(self) -> Endpoint:
        return Endpoint(self.interface.address, self.port)

    @property
    def selected_local(self) -> tuple[Interface, int]:
        """The interface address and port media for the party leaves from (query)."""
        if self.selected and self.selected <= len(self.alternates):
            interface, port, _sock = self.alternates[self.selected - 1]
            return interface, port
        return self.interface, self.port

    # ``StreamRare``'s attributes, read and written as this stream's own.
    def _rare_holder(self) -> StreamRare:
        rare = self.rare
        if rare is None:
            rare = self.rare = StreamRare()
        return rare

    @property
    def shown_endpoint(self) -> Endpoint | None:
        rare = self.rare
        return _NO_STREAM_RARE.shown_endpoint if rare is None else rare.shown_endpoint

    @shown_endpoint.setter
    def shown_endpoint(self, value: Endpoint | None) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.shown_endpoint):
            self._rare_holder().shown_endpoint = value

    @property
    def srtp_in(self) -> tuple | None:
        rare = self.rare
        return _NO_STREAM_RARE.srtp_in if rare is None else rare.srtp_in

    @srtp_in.setter
    def srtp_in(self, value: tuple | None) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.srtp_in):
            self._rare_holder().srtp_in = value

    @property
    def srtp_out(self) -> tuple | None:
        rare = self.rare
        return _NO_STREAM_RARE.srtp_out if rare is None else rare.srtp_out

    @srtp_out.setter
    def srtp_out(self, value: tuple | None) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.srtp_out):
            self._rare_holder().srtp_out = value

    @property
    def srtcp(self) -> tuple | None:
        rare = self.rare
        return _NO_STREAM_RARE.srtcp if rare is None else rare.srtcp

    @srtcp.setter
    def srtcp(self, value: tuple | None) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.srtcp):
            self._rare_holder().srtcp = value

    @property
    def crypto_suite(self) -> str | None:
        rare = self.rare
        return _NO_STREAM_RARE.crypto_suite if rare is None else rare.crypto_suite

    @crypto_suite.setter
    def crypto_suite(self, value: str | None) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.crypto_suite):
            self._rare_holder().crypto_suite = value

    @property
    def dropped_types(self) -> tuple[int, ...]:
        rare = self.rare
        return _NO_STREAM_RARE.dropped_types if rare is None else rare.dropped_types

    @dropped_types.setter
    def dropped_types(self, value: tuple[int, ...]) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.dropped_types):
            self._rare_holder().dropped_types = value

    @property
    def guard(self) -> tuple | None:
        rare = self.rare
        return _NO_STREAM_RARE.guard if rare is None else rare.guard

    @guard.setter
    def guard(self, value: tuple | None) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.guard):
            self._rare_holder().guard = value

    @property
    def dtmf_events(self) -> tuple:
        rare = self.rare
        return _NO_STREAM_RARE.dtmf_events if rare is None else rare.dtmf_events

    @dtmf_events.setter
    def dtmf_events(self, value: tuple) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.dtmf_events):
            self._rare_holder().dtmf_events = value

    @property
    def detect(self) -> tuple | None:
        rare = self.rare
        return _NO_STREAM_RARE.detect if rare is None else rare.detect

    @detect.setter
    def detect(self, value: tuple | None) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.detect):
            self._rare_holder().detect = value

    @property
    def t38(self) -> tuple | None:
        rare = self.rare
        return _NO_STREAM_RARE.t38 if rare is None else rare.t38

    @t38.setter
    def t38(self, value: tuple | None) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.t38):
            self._rare_holder().t38 = value

    @property
    def ice(self) -> tuple | None:
        rare = self.rare
        return _NO_STREAM_RARE.ice if rare is None else rare.ice

    @ice.setter
    def ice(self, value: tuple | None) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.ice):
            self._rare_holder().ice = value

    @property
    def dtls(self) -> tuple | None:
        rare = self.rare
        return _NO_STREAM_RARE.dtls if rare is None else rare.dtls

    @dtls.setter
    def dtls(self, value: tuple | None) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.dtls):
            self._rare_holder().dtls = value

    @property
    def fingerprint_verified(self) -> bool:
        rare = self.rare
        return _NO_STREAM_RARE.fingerprint_verified if rare is None else rare.fingerprint_verified

    @fingerprint_verified.setter
    def fingerprint_verified(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.fingerprint_verified):
            self._rare_holder().fingerprint_verified = value

    @property
    def dtls_suite(self) -> str | None:
        rare = self.rare
        return _NO_STREAM_RARE.dtls_suite if rare is None else rare.dtls_suite

    @dtls_suite.setter
    def dtls_suite(self, value: str | None) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.dtls_suite):
            self._rare_holder().dtls_suite = value

    @property
    def extra_sinks(self) -> tuple:
        rare = self.rare
        return _NO_STREAM_RARE.extra_sinks if rare is None else rare.extra_sinks

    @extra_sinks.setter
    def extra_sinks(self, value: tuple) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.extra_sinks):
            self._rare_holder().extra_sinks = value

    @property
    def transcode(self) -> tuple:
        rare = self.rare
        return _NO_STREAM_RARE.transcode if rare is None else rare.transcode

    @transcode.setter
    def transcode(self, value: tuple) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.transcode):
            self._rare_holder().transcode = value

    @property
    def transcode_passes(self) -> bool:
        rare = self.rare
        return _NO_STREAM_RARE.transcode_passes if rare is None else rare.transcode_passes

    @transcode_passes.setter
    def transcode_passes(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.transcode_passes):
            self._rare_holder().transcode_passes = value

    @property
    def rtcp_only(self) -> bool:
        rare = self.rare
        return _NO_STREAM_RARE.rtcp_only if rare is None else rare.rtcp_only

    @rtcp_only.setter
    def rtcp_only(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.rtcp_only):
            self._rare_holder().rtcp_only = value

    @property
    def egress(self) -> bool:
        rare = self.rare
        return _NO_STREAM_RARE.egress if rare is None else rare.egress

    @egress.setter
    def egress(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.egress):
            self._rare_holder().egress = value

    @property
    def alternates(self) -> tuple:
        rare = self.rare
        return _NO_STREAM_RARE.alternates if rare is None else rare.alternates

    @alternates.setter
    def alternates(self, value: tuple) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.alternates):
            self._rare_holder().alternates = value

    @property
    def selected(self) -> int | None:
        rare = self.rare
        return _NO_STREAM_RARE.selected if rare is None else rare.selected

    @selected.setter
    def selected(self, value: int | None) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.selected):
            self._rare_holder().selected = value

    @property
    def strip_feedback(self) -> bool:
        rare = self.rare
        return _NO_STREAM_RARE.strip_feedback if rare is None else rare.strip_feedback

    @strip_feedback.setter
    def strip_feedback(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.strip_feedback):
            self._rare_holder().strip_feedback = value

    @property
    def rtcp_gen(self) -> tuple | None:
        rare = self.rare
        return _NO_STREAM_RARE.rtcp_gen if rare is None else rare.rtcp_gen

    @rtcp_gen.setter
    def rtcp_gen(self, value: tuple | None) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.rtcp_gen):
            self._rare_holder().rtcp_gen = value

    @property
    def tos_own(self) -> bool:
        rare = self.rare
        return _NO_STREAM_RARE.tos_own if rare is None else rare.tos_own

    @tos_own.setter
    def tos_own(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_STREAM_RARE.tos_own):
            self._rare_holder().tos_own = value


class StreamRare:
    """The attributes of one ``Stream`` that a plain call leaves at their defaults
    (``Stream.rare``: made on the first write of another value)."""

    # What the party's SDP said when it must not be sent to (c=0.0.0.0 hold, port 0):
    # shown by query like rtpengine, never used as a destination.
    shown_endpoint: Endpoint | None = None
    # SRTP on this stream's leg, as (profile, key||salt) or, for SDES, (suite, key||salt,
    # session parameters): ``srtp_in`` unprotects what the party sends, ``srtp_out``
    # protects what it is sent. None: plain RTP.
    srtp_in: tuple | None = None
    srtp_out: tuple | None = None
    # A leg whose SDES keys pass end to end (no ``srtp_in``/``srtp_out``: its SRTP goes on as
    # it came): the keys of its RTCP, (inbound, outbound) as ``srtp_in``/``srtp_out``. 10.5
    # decrypts a party's SRTCP on such a leg all the same (and encrypts it again for the
    # other), so its reports count decrypted and give the call's quality figures.
    srtcp: tuple | None = None
    crypto_suite: str | None = None  # what query shows (10.5: on an SDES offerer's streams)
    # Payload types of what the party sends here that the relay drops: its telephone-event
    # while ``block DTMF`` blocks it (``dtmf_block``). Empty for nearly every stream.
    dropped_types: tuple[int, ...] = ()
    # ``block DTMF`` behind a delay buffer (``dtmf_block.guard_spec``): what the relay holds
    # and does with this party's DTMF (a ``media.dtmf_guard.GuardSpec`` tuple), or None.
    guard: tuple | None = None
    # DTMF logging: the (payload type, clock rate) pairs of the telephone-event the
    # party sends here, whose keys the relay reports (``dtmf_log``). Empty when not logging.
    dtmf_events: tuple = ()
    # Audio DTMF detection (``detect DTMF``, ``dtmf_block.detect_spec``): the party's G.711
    # payload types (pt, law) and the telephone-event type its keys go out as to the
    # receiver (-1: none, the keys are only reported), or None.
    detect: tuple | None = None
    # A T.38 gateway (``offer_answer.t38``) between this stream's party and the other:
    # (side "t38"/"pcm", options as a tuple, audio payload type, its encoding, ptime);
    # the relay feeds what arrives here to the gateway instead of the sink.
    t38: tuple | None = None
    # WebRTC on this stream's leg (offer_answer.webrtc.leg_spec): ICE (our and the peer's
    # credentials, our role, its candidates) and DTLS (our role, its fingerprint, our
    # certificate); the relay worker runs both on the stream's port. None: not terminated.
    ice: tuple | None = None
    dtls: tuple | None = None
    fingerprint_verified: bool = False  # the worker's handshake checked the peer (query)
    dtls_suite: str | None = None  # the SRTP suite that handshake chose (query)
    # Publish/subscribe (``pubsub``): the subscribers' streams that get a copy of what this
    # stream receives, besides its sink. A tuple: nearly every stream has none.
    extra_sinks: tuple = ()
    # G.711 conversions of what is sent to this stream (a subscriber's copies, or the other
    # party's media in an offer/answer that transcodes), as (payload type received, payload
    # type sent, codec received, codec sent) tuples (``media.g711``).
    transcode: tuple = ()
    # What ``transcode`` does not name passes as it came: its SSRC and sequence numbers
    # unchanged, and the converted packets keep the SSRC too. An answer that left the
    # direction without conversions but for codecs the offer added (10.5 keeps their codec
    # handlers in a call that otherwise passes through).
    transcode_passes: bool = False
    # Only RTCP is relayed to ``sink`` (a subscriber's muxed RTCP mirrored to the publisher).
    rtcp_only: bool = False
    # A subscriber's stream with ``egress``: it gets what its publisher's stream sends on to
    # its sink (converted, renumbered), not what that stream received.
    egress: bool = False
    # The same component's ports on the logical interface's other addresses, offered as ICE
    # host candidates (``offer_answer.ice``): ((Interface, port, socket), ...). The relay
    # worker receives on them too while the stream has an ICE agent; the call owns them
    # (``Call.retired_ports``). ``selected``: which of the stream's sockets its peer's ICE
    # pair uses (0: ``sock``, i: ``alternates[i - 1]``) as the worker reports it, None while
    # ICE has selected nothing on it.
    alternates: tuple = ()
    selected: int | None = None
    # The party's leg is AVPF and the sink's is not (``offer_answer.feedback``): the relay
    # cuts RTCP feedback out of the compounds this stream receives (``media.rtcp_feedback``).
    strip_feedback: bool = False
    # ``generate RTCP`` on this stream's media (``CallMedia.rtcp_gen``) as the relay needs
    # it, (bits, CNAME of the reports: the daemon's instance id, the clock rates of the
    # party's payload types as (type, rate) pairs, SRTP keys of the reports on a leg whose
    # SDES keys pass end to end or None) or None. The bits
    # (``media.channel``): ``RTCP_CONSUMED``, the party's RTCP arriving here is read for the
    # call's quality figures and goes no further; ``RTCP_GENERATED`` (the media's RTP
    # stream), the relay sends the party reports of its own every 5 to 7 s.
    rtcp_gen: tuple | None = None
    # The call's TOS is not ``--tos`` (an offer's ``TOS``): the kernel, which marks what it
    # forwards with ``--tos``, leaves the stream to the relay (``kernel.why_userspace``).
    tos_own: bool = False


_NO_STREAM_RARE = StreamRare()  # (read, never written)


@dataclass(eq=False, slots=True, init=False)
class CallMedia:
    """One ``m=`` section of one party."""

    index: int
    type: str
    protocol: str
    streams: list[Stream] = field(default_factory=list)
    codec: str | None = None
    formats: list[str] = field(default_factory=list)
    # The format list of the last SDP either party sent on this media (the other party's
    # when it came in the same protocol), 10.5's ``format_str``, stored in Redis; None:
    # ``formats``. The SDP's own list, not a copy.
    last_formats: list[str] | None = None
    # Payload type -> "encoding/rate" from this party's SDP (static types filled in).
    rtpmaps: dict[str, str] = field(default_factory=dict)
    # Direction from this party's SDP: sendrecv, sendonly, recvonly or inactive.
    direction: str = "sendrecv"
    # Offer/answer state (fields, not dict keys: a dict per media cost ~0.6 kB a call).
    initialized: bool = False  # the party's own SDP has described this media
    ice_out: bool = False  # ICE spoken on this party's leg
    # ICE passthrough (offer_answer.ice): the parties do ICE (and DTLS/SDES) end to end
    # through us; set on both legs of the media, kept for the call (10.5's PASSTHRU).
    ice_passthrough: bool = False
    # An offer/answer has settled the ICE roles on this media (10.5 skips that while it
    # sets up or declines a passthrough: the party's ``ICE controlling`` is then not shown).
    ice_roles_settled: bool = False
    ice_controlling: bool = False
    # The a=ptime the SDP we send this party shows (10.5's media ptime; 0: none). Every
    # offer or answer whose SDP has an a=ptime sets it on both parties' media, a ``ptime``
    # option on the receiver's and ``ptime-reverse`` on the sender's; once either option
    # was given, only the options change it (``ptime_fixed``, both medias, for the call).
    # (a plain field: nearly every real SDP has an a=ptime, a holder for it cost ~250 B)
    ptime_shown: int = 0
    # (send, recv) media flags as query shows them (the proxy's point of view).
    dir_flags: tuple[bool, bool] = (True, True)
    mux_offered: bool = False  # the party's offer had a=rtcp-mux
    # The party's last SDP had an a=rtcp naming its RTP port: 10.5 fills no RTCP endpoint
    # (query shows none), RTCP goes to the RTP port.
    rtcp_on_rtp: bool = False
    # The port of the party's a=rtcp (None without one): query's fallback RTCP entry of a
    # leg with one port shows it (10.5), else the RTP port + 1.
    rtcp_port: int | None = None
    # The rtcp-mux options of the offer sent to this party (kept per fork: its answer is
    # negotiated with the options its own offer had, as in 10.5).
    mux_flags: frozenset[str] = frozenset()
    mux_sent: bool | None = None  # whether the SDP we sent this party offered rtcp-mux
    mux_answer: bool = False  # rtcp-mux answered to this (offering) party
    mux_shown: bool | None = None  # rtcp-mux in use on this leg, as query shows it
    # rtcp-mux as last agreed on this leg (offered to it, or what its answer said): once
    # set, a re-offer towards this party keeps rtcp-mux without a fallback port (10.5).
    mux_in_use: bool = False
    offered: Any = None  # codec_negotiation.Offered: what the offer sent to this party
    # The far address the ports in use were bound for (10.5's endpoint map key): set when
    # they are bound or first answered for, a zero address filled in by the first real one
    # of the same port; ICE and ``port-latching`` leave it as it was.
    bound_endpoint: Endpoint | None = None
    # SDES on this party's leg (offer_answer.output): the protocol its own offer used (the
    # a=crypto it offered and the a=crypto we offered it: ``crypto_received``,
    # ``crypto_offered``).
    offer_protocol: str | None = None
    # The party's own DTLS/ICE parameters from its last SDP (offer_answer.webrtc); our DTLS
    # role on its leg: ``dtls_role``.
    remote_webrtc: Any = None

    # What few callmedias set, or None while all of it has its defaults (``CallMediaRare``).
    rare: CallMediaRare | None = field(default=None, init=False, repr=False, compare=False)

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, index: int, type: str, protocol: str, streams: list[Stream] | None = None,
                 codec: str | None = None, formats: list[str] | None = None,
                 last_formats: list[str] | None = None, rtpmaps: dict[str, str] | None = None,
                 direction: str = "sendrecv", initialized: bool = False, ice_out: bool = False,
                 ice_passthrough: bool = False, ice_roles_settled: bool = False,
                 ice_controlling: bool = False, ptime_shown: int = 0,
                 dir_flags: tuple[bool, bool] = (True, True), mux_offered: bool = False,
                 rtcp_on_rtp: bool = False, rtcp_port: int | None = None,
                 mux_flags: frozenset[str] = frozenset(), mux_sent: bool | None = None,
                 mux_answer: bool = False, mux_shown: bool | None = None, mux_in_use: bool = False,
                 offered: Any = None, bound_endpoint: Endpoint | None = None,
                 offer_protocol: str | None = None, remote_webrtc: Any = None) -> None:
        self.index = index
        self.type = type
        self.protocol = protocol
        self.streams = [] if streams is None else streams
        self.codec = codec
        self.formats = [] if formats is None else formats
        self.last_formats = last_formats
        self.rtpmaps = {} if rtpmaps is None else rtpmaps
        self.direction = direction
        self.initialized = initialized
        self.ice_out = ice_out
        self.ice_passthrough = ice_passthrough
        self.ice_roles_settled = ice_roles_settled
        self.ice_controlling = ice_controlling
        self.ptime_shown = ptime_shown
        self.dir_flags = dir_flags
        self.mux_offered = mux_offered
        self.rtcp_on_rtp = rtcp_on_rtp
        self.rtcp_port = rtcp_port
        self.mux_flags = mux_flags
        self.mux_sent = mux_sent
        self.mux_answer = mux_answer
        self.mux_shown = mux_shown
        self.mux_in_use = mux_in_use
        self.offered = offered
        self.bound_endpoint = bound_endpoint
        self.offer_protocol = offer_protocol
        self.remote_webrtc = remote_webrtc
        self.rare = None

    @property
    def rtp(self) -> Stream | None:
        for stream in self.streams:  # a loop, not a generator: read on every command
            if not stream.rtcp:
                return stream
        return None

    @property
    def rtcp(self) -> Stream | None:
        for stream in self.streams:
            if stream.rtcp:
                return stream
        return None

    @property
    def muxed(self) -> bool:
        """rtcp-mux in use on this party's leg (negotiated both ways, as 10.5 shows it); its
        RTCP stream is then only a fallback (10.5's FALLBACK_RTCP).

        Before an answer settles it: what the offer said on this leg (the offerer's own
        a=rtcp-mux, or our offer of it to the callee), as 10.5 shows it while it waits."""
        shown = self.mux_shown
        if shown is not None:
            return bool(shown)
        rtp = self.rtp
        return self.mux_in_use or (rtp is not None and rtp.rtcp_mux)

    @property
    def has_dtls(self) -> bool:
        """DTLS is on this leg in any of its states: we offered it, an answer settled our
        role, or the party offered it and has not had our answer. 10.5 decides a leg's
        SDES and DTLS from a request's options only while it has neither."""
        return self.dtls_offered or self.dtls_role is not None or bool(self.dtls_pending)

    # ``CallMediaRare``'s attributes, read and written as this media's own.
    def _rare_holder(self) -> CallMediaRare:
        rare = self.rare
        if rare is None:
            rare = self.rare = CallMediaRare()
        return rare

    @property
    def ice_agent(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.ice_agent if rare is None else rare.ice_agent

    @ice_agent.setter
    def ice_agent(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.ice_agent):
            self._rare_holder().ice_agent = value

    @property
    def echo(self) -> str | None:
        rare = self.rare
        return _NO_MEDIA_RARE.echo if rare is None else rare.echo

    @echo.setter
    def echo(self, value: str | None) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.echo):
            self._rare_holder().echo = value

    @property
    def ice_role_own(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.ice_role_own if rare is None else rare.ice_role_own

    @ice_role_own.setter
    def ice_role_own(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.ice_role_own):
            self._rare_holder().ice_role_own = value

    @property
    def transcoding(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.transcoding if rare is None else rare.transcoding

    @transcoding.setter
    def transcoding(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.transcoding):
            self._rare_holder().transcoding = value

    @property
    def ptime_fixed(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.ptime_fixed if rare is None else rare.ptime_fixed

    @ptime_fixed.setter
    def ptime_fixed(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.ptime_fixed):
            self._rare_holder().ptime_fixed = value

    @property
    def rtcp_gen(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.rtcp_gen if rare is None else rare.rtcp_gen

    @rtcp_gen.setter
    def rtcp_gen(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.rtcp_gen):
            self._rare_holder().rtcp_gen = value

    @property
    def rtcp_kept(self) -> Endpoint | None:
        rare = self.rare
        return _NO_MEDIA_RARE.rtcp_kept if rare is None else rare.rtcp_kept

    @rtcp_kept.setter
    def rtcp_kept(self, value: Endpoint | None) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.rtcp_kept):
            self._rare_holder().rtcp_kept = value

    @property
    def rtcp_unbound(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.rtcp_unbound if rare is None else rare.rtcp_unbound

    @rtcp_unbound.setter
    def rtcp_unbound(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.rtcp_unbound):
            self._rare_holder().rtcp_unbound = value

    @property
    def transcoding_pts(self) -> frozenset[str]:
        rare = self.rare
        return _NO_MEDIA_RARE.transcoding_pts if rare is None else rare.transcoding_pts

    @transcoding_pts.setter
    def transcoding_pts(self, value: frozenset[str]) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.transcoding_pts):
            self._rare_holder().transcoding_pts = value

    @property
    def earlier_maps(self) -> tuple:
        rare = self.rare
        return _NO_MEDIA_RARE.earlier_maps if rare is None else rare.earlier_maps

    @earlier_maps.setter
    def earlier_maps(self, value: tuple) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.earlier_maps):
            self._rare_holder().earlier_maps = value

    @property
    def ice_alternates(self) -> tuple[int, list] | None:
        rare = self.rare
        return _NO_MEDIA_RARE.ice_alternates if rare is None else rare.ice_alternates

    @ice_alternates.setter
    def ice_alternates(self, value: tuple[int, list] | None) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.ice_alternates):
            self._rare_holder().ice_alternates = value

    @property
    def crypto_received(self) -> Sequence:
        rare = self.rare
        return _NO_MEDIA_RARE.crypto_received if rare is None else rare.crypto_received

    @crypto_received.setter
    def crypto_received(self, value: Sequence) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.crypto_received):
            self._rare_holder().crypto_received = value

    @property
    def crypto_answered(self) -> Any:
        rare = self.rare
        return _NO_MEDIA_RARE.crypto_answered if rare is None else rare.crypto_answered

    @crypto_answered.setter
    def crypto_answered(self, value: Any) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.crypto_answered):
            self._rare_holder().crypto_answered = value

    @property
    def crypto_offered(self) -> Sequence:
        rare = self.rare
        return _NO_MEDIA_RARE.crypto_offered if rare is None else rare.crypto_offered

    @crypto_offered.setter
    def crypto_offered(self, value: Sequence) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.crypto_offered):
            self._rare_holder().crypto_offered = value

    @property
    def crypto_accepted(self) -> list | None:
        rare = self.rare
        return _NO_MEDIA_RARE.crypto_accepted if rare is None else rare.crypto_accepted

    @crypto_accepted.setter
    def crypto_accepted(self, value: list | None) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.crypto_accepted):
            self._rare_holder().crypto_accepted = value

    @property
    def sdes(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.sdes if rare is None else rare.sdes

    @sdes.setter
    def sdes(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.sdes):
            self._rare_holder().sdes = value

    @property
    def osrtp(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.osrtp if rare is None else rare.osrtp

    @osrtp.setter
    def osrtp(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.osrtp):
            self._rare_holder().osrtp = value

    @property
    def dtls_only(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.dtls_only if rare is None else rare.dtls_only

    @dtls_only.setter
    def dtls_only(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.dtls_only):
            self._rare_holder().dtls_only = value

    @property
    def dtls_offered(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.dtls_offered if rare is None else rare.dtls_offered

    @dtls_offered.setter
    def dtls_offered(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.dtls_offered):
            self._rare_holder().dtls_offered = value

    @property
    def trickle_flagged(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.trickle_flagged if rare is None else rare.trickle_flagged

    @trickle_flagged.setter
    def trickle_flagged(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.trickle_flagged):
            self._rare_holder().trickle_flagged = value

    @property
    def dtls_pending(self) -> tuple:
        rare = self.rare
        return _NO_MEDIA_RARE.dtls_pending if rare is None else rare.dtls_pending

    @dtls_pending.setter
    def dtls_pending(self, value: tuple) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.dtls_pending):
            self._rare_holder().dtls_pending = value

    @property
    def dtls_role_left(self) -> str | None:
        rare = self.rare
        return _NO_MEDIA_RARE.dtls_role_left if rare is None else rare.dtls_role_left

    @dtls_role_left.setter
    def dtls_role_left(self, value: str | None) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.dtls_role_left):
            self._rare_holder().dtls_role_left = value

    @property
    def dtls_shown(self) -> tuple:
        rare = self.rare
        return _NO_MEDIA_RARE.dtls_shown if rare is None else rare.dtls_shown

    @dtls_shown.setter
    def dtls_shown(self, value: tuple) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.dtls_shown):
            self._rare_holder().dtls_shown = value

    @property
    def srtp_offered(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.srtp_offered if rare is None else rare.srtp_offered

    @srtp_offered.setter
    def srtp_offered(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.srtp_offered):
            self._rare_holder().srtp_offered = value

    @property
    def sdes_offered(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.sdes_offered if rare is None else rare.sdes_offered

    @sdes_offered.setter
    def sdes_offered(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.sdes_offered):
            self._rare_holder().sdes_offered = value

    @property
    def srtp_bridged(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.srtp_bridged if rare is None else rare.srtp_bridged

    @srtp_bridged.setter
    def srtp_bridged(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.srtp_bridged):
            self._rare_holder().srtp_bridged = value

    @property
    def protocol_sent(self) -> str | None:
        rare = self.rare
        return _NO_MEDIA_RARE.protocol_sent if rare is None else rare.protocol_sent

    @protocol_sent.setter
    def protocol_sent(self, value: str | None) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.protocol_sent):
            self._rare_holder().protocol_sent = value

    @property
    def fingerprint_hash(self) -> str | None:
        rare = self.rare
        return _NO_MEDIA_RARE.fingerprint_hash if rare is None else rare.fingerprint_hash

    @fingerprint_hash.setter
    def fingerprint_hash(self, value: str | None) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.fingerprint_hash):
            self._rare_holder().fingerprint_hash = value

    @property
    def dtls_role(self) -> str | None:
        rare = self.rare
        return _NO_MEDIA_RARE.dtls_role if rare is None else rare.dtls_role

    @dtls_role.setter
    def dtls_role(self, value: str | None) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.dtls_role):
            self._rare_holder().dtls_role = value

    @property
    def dtls_reverse(self) -> str | None:
        rare = self.rare
        return _NO_MEDIA_RARE.dtls_reverse if rare is None else rare.dtls_reverse

    @dtls_reverse.setter
    def dtls_reverse(self, value: str | None) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.dtls_reverse):
            self._rare_holder().dtls_reverse = value

    @property
    def mid(self) -> str | None:
        rare = self.rare
        return _NO_MEDIA_RARE.mid if rare is None else rare.mid

    @mid.setter
    def mid(self, value: str | None) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.mid):
            self._rare_holder().mid = value

    @property
    def ice_lite(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.ice_lite if rare is None else rare.ice_lite

    @ice_lite.setter
    def ice_lite(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.ice_lite):
            self._rare_holder().ice_lite = value

    @property
    def t38(self) -> Any:
        rare = self.rare
        return _NO_MEDIA_RARE.t38 if rare is None else rare.t38

    @t38.setter
    def t38(self, value: Any) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.t38):
            self._rare_holder().t38 = value

    @property
    def lite_self(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.lite_self if rare is None else rare.lite_self

    @lite_self.setter
    def lite_self(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.lite_self):
            self._rare_holder().lite_self = value

    @property
    def lite_controlled(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.lite_controlled if rare is None else rare.lite_controlled

    @lite_controlled.setter
    def lite_controlled(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.lite_controlled):
            self._rare_holder().lite_controlled = value

    @property
    def source(self) -> CallMedia | None:
        rare = self.rare
        return _NO_MEDIA_RARE.source if rare is None else rare.source

    @source.setter
    def source(self, value: CallMedia | None) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.source):
            self._rare_holder().source = value

    @property
    def unidirectional(self) -> bool:
        rare = self.rare
        return _NO_MEDIA_RARE.unidirectional if rare is None else rare.unidirectional

    @unidirectional.setter
    def unidirectional(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_MEDIA_RARE.unidirectional):
            self._rare_holder().unidirectional = value


class CallMediaRare:
    """The attributes of one ``CallMedia`` that a plain call leaves at their defaults
    (``CallMedia.rare``: made on the first write of another value)."""

    # An ICE agent of ours has run on this leg: 10.5 keeps it (and so its ports, and ICE
    # again with ``ICE: optional``) after SDPs without ICE, until a passthrough.
    ice_agent: bool = False
    # media-echo: what happens to media arriving from this party: "echo" (sent back to it),
    # "drop" (discarded), None (relayed to the other party)
    echo: str | None = None
    # Its ICE role was settled by an exchange (the re-offer that added it, an ICE restart),
    # no longer its party's (``session._ensure_media``).
    ice_role_own: bool = False
    transcoding: bool = False  # payload types renumbered between the parties
    ptime_fixed: bool = False
    # ``generate RTCP`` (10.5's RTCP_GEN media flag): the relay reports to this party itself
    # and drops the RTCP it sends (``Stream.rtcp_gen``). Set on both media of an offer or
    # answer that asks for it, until one says "off".
    rtcp_gen: bool = False
    # A leg on one port (rtcp-mux) that speaks ICE: the RTCP address its fallback RTCP
    # stream was filled with before a later SDP moved the party, which ICE legs keep as
    # their endpoint (10.5 has that stream all along); None where it follows the SDP.
    rtcp_kept: Endpoint | None = None
    # One port now where the leg had two: 10.5 keeps its RTCP stream (streams only grow),
    # without a socket, which query lists whether or not rtcp-mux is in use.
    rtcp_unbound: bool = False
    # The payload types 10.5's codec store for this party holds "for transcoding" (codecs
    # the codec options or its supplemental codec tracker made for the offers sent to it,
    # as its answer kept them): a re-offer's codecs under these numbers take the mark.
    transcoding_pts: frozenset[str] = _NO_PTS
    # The ports this party had before for other far addresses (10.5's other endpoint
    # maps): (the far address they were bound for, their retired streams, still bound and
    # relaying as their successor), oldest first. A party back at one of those addresses
    # gets those ports again (``offer_answer.endpoint_maps``).
    earlier_maps: tuple = ()
    ice_alternates: tuple[int, list] | None = None  # (rtp stream id, other-address ports)
    # SDES on this party's leg (offer_answer.output): the a=crypto it offered, the a=crypto
    # we offered it. (Sequences never changed in place: an empty tuple for none.)
    crypto_received: Sequence = ()
    # The offerer's own a=crypto line its answer passed back (SDES on both legs, keys end to
    # end): what `SDES: static` answers again while the offer still carries it.
    crypto_answered: Any = None
    crypto_offered: Sequence = ()  # (see ``crypto_received``)
    # What is left of our a=crypto lines once this party answered SDES (None: no SDES
    # answer since our offer): the one of the answer's tag and suite, or none (10.5).
    crypto_accepted: list | None = None
    sdes: bool = False  # SDES on this leg: query's "SDES" media flag
    # The leg is opportunistic SRTP (RFC 8643): RTP/AVP(F) on the wire, SDES keys in it.
    # 10.5 keeps that as a protocol of its own, so a re-offer that keeps a party's protocol
    # (its peer's own unchanged, no transport-protocol) keeps it too: an OSRTP leg is
    # offered SRTP again, a plain one is not sent its peer's opportunistic a=crypto.
    osrtp: bool = False
    # We answered this party's DTLS offer: what we offer it from now on carries DTLS alone,
    # no a=crypto (10.5 drops the leg's SDES then), until it sends a=crypto itself or is
    # offered a protocol without SRTP.
    dtls_only: bool = False
    dtls_offered: bool = False  # we offered DTLS (actpass) on this leg, not yet answered
    # An offer to this party had the ``trickle ICE`` flag: query's "trickle ICE" until the
    # party's own SDP says whether it trickles (10.5's media flag).
    trickle_flagged: bool = False
    # The party offered DTLS: the roles its a=setup leaves us until its answer ("active",
    # "passive" or both; query's flags as 10.5 shows them).
    dtls_pending: tuple = ()
    # The role 10.5 still shows after an answer that took the party's SDES over its DTLS.
    dtls_role_left: str | None = None
    # The DTLS role query shows on a leg whose ICE passthrough an answer started: 10.5
    # answered its DTLS as on any leg before it saw both legs speak ICE, though the relay
    # terminates nothing there (offer_answer.output); gone with the next passthrough request.
    dtls_shown: tuple = ()
    # We offered this leg SRTP, not answered yet: 10.5 shows both DTLS roles (it always
    # offers actpass, DTLS or not) and, with a=crypto lines, SDES.
    srtp_offered: bool = False
    sdes_offered: bool = False
    srtp_bridged: bool = False  # we offered this leg SRTP for a plain offerer
    # The transport-protocol and DTLS-fingerprint hash an offer to this party was given: a
    # re-offer without them keeps both (10.5).
    protocol_sent: str | None = None
    fingerprint_hash: str | None = None
    # Our DTLS role on this party's leg once an answer settled DTLS-SRTP there
    # ('active'/'passive'; its own parameters: ``CallMedia.remote_webrtc``).
    dtls_role: str | None = None
    dtls_reverse: str | None = None  # the DTLS-reverse option of this party's offer
    # This media's a=mid (10.5's media ID): set by its own offers, else taken from the first
    # offer it was sent; written in every SDP it is sent (offer_answer.output._offer_mid).
    mid: str | None = None
    ice_lite: bool = False  # the SDP we last sent this party declared a=ice-lite
    # This party's side of a T.38 gateway (offer_answer.t38.Gateway), kept for the call.
    t38: Any = None
    # We are ICE-lite towards this party (10.5's ICE_LITE_SELF: set by an offer's ICE-lite
    # option, kept until another offer's option changes it).
    lite_self: bool = False
    # This party's leg started out with us ICE-lite towards it, so its ICE agent is the
    # controlled one for the call: a later ICE-lite option does not make it controlling
    # (10.5 keeps the roles its first offer gave).
    lite_controlled: bool = False
    # A subscriber's media (``pubsub``): the publisher's media it receives a copy of.
    source: CallMedia | None = None
    # The ``unidirectional`` flag was on this party's last SDP (10.5 keeps it per media,
    # shown by query and stored in Redis; it asks 10.5's kernel module to take one-way
    # media too, which the relay here does anyway).
    unidirectional: bool = False


_NO_MEDIA_RARE = CallMediaRare()  # (read, never written)


def _joined(parties: tuple[Monologue, ...], party: Monologue) -> tuple[Monologue, ...]:
    """``parties`` with ``party`` added last, unless it is there already."""
    return parties if party in parties else (*parties, party)


def _without(parties: tuple[Monologue, ...], party: Monologue) -> tuple[Monologue, ...]:
    return tuple(m for m in parties if m is not party)


@dataclass(eq=False, slots=True, init=False)
class Monologue:
    """One call party, keyed by its SIP tag (empty until the answer names it)."""

    tag: str
    created: float
    label: str = ""
    via_branch: str = ""
    medias: list[CallMedia] = field(default_factory=list)
    # Offer/answer links: the parties this one receives media from (the latest answer or
    # fork first) and the ones receiving its media. Tuples, changed only through
    # ``link``/``unlink``/``put_first``: a list each cost ~90 bytes of every party.
    subscriptions: tuple[Monologue, ...] = ()
    subscribers: tuple[Monologue, ...] = ()
    tag_type: str = "FROM_TAG"
    # ``delete`` with a delay on this party alone: when its ports go (calls.tick).
    delete_at: float | None = None
    terminated: float | None = None  # deleted at: its call duration stops here (CLI)
    # ICE role and credentials on this party's leg (offer_answer).
    ice_controlling: bool = False
    new_via_branch: str | None = None  # an answer from a fork not yet picked (via-branch)
    # Ended as a branch of a call that goes on (``branches``): found by neither tag nor
    # via-branch any more, its ports released; still listed by query, as in 10.5.
    destroyed: bool = False
    # What the SDP we send this party keeps from one offer/answer to the next (o=, s=,
    # the version bumped only when the body changes).
    sdp_username: str | None = None
    sdp_session_name: str | None = None
    sdp_version: int | None = None
    sdp_last_body: str | None = None
    # The party's own last SDP: a subscription offer (``pubsub``) mirrors it.
    last_sdp: str | None = None

    # What few monologues set, or None while all of it has its defaults (``MonologueRare``).
    rare: MonologueRare | None = field(default=None, init=False, repr=False, compare=False)

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, tag: str, created: float, label: str = "", via_branch: str = "",
                 medias: list[CallMedia] | None = None, subscriptions: tuple[Monologue, ...] = (),
                 subscribers: tuple[Monologue, ...] = (), tag_type: str = "FROM_TAG",
                 delete_at: float | None = None, terminated: float | None = None,
                 ice_controlling: bool = False, new_via_branch: str | None = None,
                 destroyed: bool = False, sdp_username: str | None = None,
                 sdp_session_name: str | None = None, sdp_version: int | None = None,
                 sdp_last_body: str | None = None, last_sdp: str | None = None) -> None:
        self.tag = tag
        self.created = created
        self.label = label
        self.via_branch = via_branch
        self.medias = [] if medias is None else medias
        self.subscriptions = subscriptions
        self.subscribers = subscribers
        self.tag_type = tag_type
        self.delete_at = delete_at
        self.terminated = terminated
        self.ice_controlling = ice_controlling
        self.new_via_branch = new_via_branch
        self.destroyed = destroyed
        self.sdp_username = sdp_username
        self.sdp_session_name = sdp_session_name
        self.sdp_version = sdp_version
        self.sdp_last_body = sdp_last_body
        self.last_sdp = last_sdp
        self.rare = None

    def link(self, sender: Monologue) -> None:
        """This party receives ``sender``'s media (once, however often linked)."""
        self.subscriptions = _joined(self.subscriptions, sender)
        sender.subscribers = _joined(sender.subscribers, self)

    def unlink(self, sender: Monologue) -> None:
        """This party stops receiving ``sender``'s media."""
        self.subscriptions = _without(self.subscriptions, sender)
        sender.subscribers = _without(sender.subscribers, self)

    def put_first(self, sender: Monologue) -> None:
        """``sender`` (if subscribed to) comes first among this party's subscriptions."""
        if sender in self.subscriptions:
            self.subscriptions = (sender, *_without(self.subscriptions, sender))

    def pubsub_link(self, publisher: Monologue) -> None:
        """This party gets a copy of ``publisher``'s media (once, however often asked)."""
        self.pubsub_subscriptions = _joined(self.pubsub_subscriptions, publisher)
        publisher.pubsub_subscribers = _joined(publisher.pubsub_subscribers, self)

    def pubsub_unlink(self, publisher: Monologue) -> None:
        self.pubsub_subscriptions = _without(self.pubsub_subscriptions, publisher)
        publisher.pubsub_subscribers = _without(publisher.pubsub_subscribers, self)

    # ``MonologueRare``'s attributes, read and written as this party's own.
    def _rare_holder(self) -> MonologueRare:
        rare = self.rare
        if rare is None:
            rare = self.rare = MonologueRare()
        return rare

    @property
    def ice_credentials(self) -> Any:
        rare = self.rare
        return _NO_PARTY_RARE.ice_credentials if rare is None else rare.ice_credentials

    @ice_credentials.setter
    def ice_credentials(self, value: Any) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.ice_credentials):
            self._rare_holder().ice_credentials = value

    @property
    def block_media(self) -> bool:
        rare = self.rare
        return _NO_PARTY_RARE.block_media if rare is None else rare.block_media

    @block_media.setter
    def block_media(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.block_media):
            self._rare_holder().block_media = value

    @property
    def inject_dtmf(self) -> bool:
        rare = self.rare
        return _NO_PARTY_RARE.inject_dtmf if rare is None else rare.inject_dtmf

    @inject_dtmf.setter
    def inject_dtmf(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.inject_dtmf):
            self._rare_holder().inject_dtmf = value

    @property
    def silence_media(self) -> bool:
        rare = self.rare
        return _NO_PARTY_RARE.silence_media if rare is None else rare.silence_media

    @silence_media.setter
    def silence_media(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.silence_media):
            self._rare_holder().silence_media = value

    @property
    def block_dtmf(self) -> bool:
        rare = self.rare
        return _NO_PARTY_RARE.block_dtmf if rare is None else rare.block_dtmf

    @block_dtmf.setter
    def block_dtmf(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.block_dtmf):
            self._rare_holder().block_dtmf = value

    @property
    def dtmf_security(self) -> str:
        rare = self.rare
        return _NO_PARTY_RARE.dtmf_security if rare is None else rare.dtmf_security

    @dtmf_security.setter
    def dtmf_security(self, value: str) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.dtmf_security):
            self._rare_holder().dtmf_security = value

    @property
    def dtmf_settings(self) -> Any:
        rare = self.rare
        return _NO_PARTY_RARE.dtmf_settings if rare is None else rare.dtmf_settings

    @dtmf_settings.setter
    def dtmf_settings(self, value: Any) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.dtmf_settings):
            self._rare_holder().dtmf_settings = value

    @property
    def forwarding(self) -> bool:
        rare = self.rare
        return _NO_PARTY_RARE.forwarding if rare is None else rare.forwarding

    @forwarding.setter
    def forwarding(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.forwarding):
            self._rare_holder().forwarding = value

    @property
    def detect_dtmf(self) -> bool:
        rare = self.rare
        return _NO_PARTY_RARE.detect_dtmf if rare is None else rare.detect_dtmf

    @detect_dtmf.setter
    def detect_dtmf(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.detect_dtmf):
            self._rare_holder().detect_dtmf = value

    @property
    def media_player(self) -> bool:
        rare = self.rare
        return _NO_PARTY_RARE.media_player if rare is None else rare.media_player

    @media_player.setter
    def media_player(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.media_player):
            self._rare_holder().media_player = value

    @property
    def quality(self) -> dict | None:
        rare = self.rare
        return _NO_PARTY_RARE.quality if rare is None else rare.quality

    @quality.setter
    def quality(self, value: dict | None) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.quality):
            self._rare_holder().quality = value

    @property
    def pubsub_subscriptions(self) -> tuple[Monologue, ...]:
        rare = self.rare
        return _NO_PARTY_RARE.pubsub_subscriptions if rare is None else rare.pubsub_subscriptions

    @pubsub_subscriptions.setter
    def pubsub_subscriptions(self, value: tuple[Monologue, ...]) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.pubsub_subscriptions):
            self._rare_holder().pubsub_subscriptions = value

    @property
    def pubsub_subscribers(self) -> tuple[Monologue, ...]:
        rare = self.rare
        return _NO_PARTY_RARE.pubsub_subscribers if rare is None else rare.pubsub_subscribers

    @pubsub_subscribers.setter
    def pubsub_subscribers(self, value: tuple[Monologue, ...]) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.pubsub_subscribers):
            self._rare_holder().pubsub_subscribers = value

    @property
    def mirror_rtcp(self) -> bool:
        rare = self.rare
        return _NO_PARTY_RARE.mirror_rtcp if rare is None else rare.mirror_rtcp

    @mirror_rtcp.setter
    def mirror_rtcp(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.mirror_rtcp):
            self._rare_holder().mirror_rtcp = value

    @property
    def egress(self) -> bool:
        rare = self.rare
        return _NO_PARTY_RARE.egress if rare is None else rare.egress

    @egress.setter
    def egress(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.egress):
            self._rare_holder().egress = value

    @property
    def published(self) -> bool:
        rare = self.rare
        return _NO_PARTY_RARE.published if rare is None else rare.published

    @published.setter
    def published(self, value: bool) -> None:
        if self.rare is not None or _differs(value, _NO_PARTY_RARE.published):
            self._rare_holder().published = value


class MonologueRare:
    """The attributes of one ``Monologue`` that a plain call leaves at their defaults
    (``Monologue.rare``: made on the first write of another value)."""

    ice_credentials: Any = None  # sdp.IceCredentials once generated
    # States set by the extended ng commands (block/silence media, block DTMF, forwarding)
    # and the CLI (call ... tag ... detect-dtmf): kept and reported, not acted on by the
    # media plane except ``block_media`` and ``block_dtmf`` (``dtmf_security``: its mode,
    # the ``DTMF-security`` key; ``dtmf_settings``, the delay buffer the CLI's ``delay``
    # sets too: ``dtmf_block``).
    block_media: bool = False
    # ``inject DTMF`` was on a message of this party (kept for the call, as 10.5 keeps it):
    # what is sent to it goes through the conversion path, ready for ``play DTMF``.
    inject_dtmf: bool = False
    silence_media: bool = False
    block_dtmf: bool = False
    dtmf_security: str = "drop"
    # ``block DTMF``'s other settings, kept as 10.5 keeps them on the party
    # (``dtmf_block.Settings``): the delay buffer, DTMF-delay, triggers, tone; None: none.
    dtmf_settings: Any = None
    forwarding: bool = False
    detect_dtmf: bool = False
    media_player: bool = False  # ``play media`` named this party (``playback``)
    # Call quality from the party's RTCP (``quality``): its SSRCs' ``SsrcQuality``, by SSRC.
    quality: dict | None = None
    # Publish/subscribe (``pubsub``), apart from the offer/answer links
    # (``Monologue.subscriptions``): the parties this one gets a copy of, and the ones
    # getting a copy of this one; ``mirror_rtcp``: a subscriber whose RTCP goes back to the publisher. Tuples, changed only through
    # ``pubsub_link``/``pubsub_unlink``: nearly every party has none, and two empty lists
    # per party cost ~0.2 kB of every open call.
    pubsub_subscriptions: tuple[Monologue, ...] = ()
    pubsub_subscribers: tuple[Monologue, ...] = ()
    mirror_rtcp: bool = False
    egress: bool = False  # a subscriber with the ``egress`` flag (``Stream.egress``)
    published: bool = False  # created by ``publish`` (no offer/answer peer)


_NO_PARTY_RARE = MonologueRare()  # (read, never written)


@dataclass(eq=False, slots=True, init=False)
class Call:
    """One call, keyed by SIP Call-ID."""

    call_id: str
    created: float
    last_signal: float
    monologues: list[Monologue] = field(default_factory=list)
    deletion_mark: bool = False
    delete_at: float | None = None
    proxy: str = ""
    foreign: bool = False
    tos: int = 0
    debug: bool = False
    answered: bool = False  # an answer came: the normal timeout applies, not offer-timeout
    terminated: float | None = None  # deleted at: durations shown by the CLI stop growing
    # Call-wide states of the extended ng commands (a party's own state adds to them).
    block_media: bool = False
    # ``drop-traffic: start`` of an offer or answer, until one with ``stop`` (10.5): every
    # stream of the call drops what arrives (``Stream.blocked``).
    drop_traffic: bool = False
    silence_media: bool = False
    block_dtmf: bool = False
    dtmf_security: str = "drop"
    forwarding: bool = False
    recording: bool = False
    # Old ports replaced by a re-offer, freed once the answer confirms the new ones
    # (offer_answer retires, calls frees): streams still relaying into their successor,
    # and (interface, port, socket) of ports bound only. Tuples, replaced when they change:
    # nearly every call has none, and two empty lists cost ~0.1 kB of every open call.
    retired_streams: tuple[Stream, ...] = ()
    retired_ports: tuple[tuple[Interface, int, Any], ...] = ()
    # Which address-family gauge the call counts in (``family_gauges``; 0: none yet).
    family: int = field(default=0, init=False)
    # ``xmlrpc-callback`` of an offer or answer: what ``%%`` in --b2b-url names (``b2b``).
    xmlrpc_callback: str | None = field(default=None, init=False)

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, call_id: str, created: float, last_signal: float,
                 monologues: list[Monologue] | None = None, deletion_mark: bool = False,
                 delete_at: float | None = None, proxy: str = "", foreign: bool = False,
                 tos: int = 0, debug: bool = False, answered: bool = False,
                 terminated: float | None = None, block_media: bool = False,
                 drop_traffic: bool = False, silence_media: bool = False, block_dtmf: bool = False,
                 dtmf_security: str = "drop", forwarding: bool = False, recording: bool = False,
                 retired_streams: tuple[Stream, ...] = (),
                 retired_ports: tuple[tuple[Interface, int, Any], ...] = ()) -> None:
        self.call_id = call_id
        self.created = created
        self.last_signal = last_signal
        self.monologues = [] if monologues is None else monologues
        self.deletion_mark = deletion_mark
        self.delete_at = delete_at
        self.proxy = proxy
        self.foreign = foreign
        self.tos = tos
        self.debug = debug
        self.answered = answered
        self.terminated = terminated
        self.block_media = block_media
        self.drop_traffic = drop_traffic
        self.silence_media = silence_media
        self.block_dtmf = block_dtmf
        self.dtmf_security = dtmf_security
        self.forwarding = forwarding
        self.recording = recording
        self.retired_streams = retired_streams
        self.retired_ports = retired_ports
        self.family = 0
        self.xmlrpc_callback = None

    def proxy_address(self) -> str:
        """The address of the ng client that created the call, without its port (10.5's
        ``created_from_addr``; empty for a call no ng client made)."""
        return self.proxy.rpartition(":")[0].strip("[]")

    def streams(self) -> list[Stream]:
        """Every stream of every party, for counters and teardown (a list: cheaper than a
        generator for the few streams of a call, and read several times per command)."""
        return [stream for monologue in self.monologues for media in monologue.medias
                for stream in media.streams]


def media_by_stream(monologues: list[Monologue]) -> dict[int, CallMedia]:
    """The media each stream of these parties belongs to, by stream id (a stream knows its
    sink and subscribers, not its media: DTMF injection, Redis restore look it up here)."""
    return {stream.id: media for monologue in monologues for media in monologue.medias
            for stream in media.streams}
