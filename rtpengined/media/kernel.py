"""Kernel forwarding of settled RTP/RTCP streams through nftables NAT.

rtpengine forwards most media in the kernel once a stream's endpoints are known; its
userspace relay is the fallback. We do the same with stock netfilter: one table of our
own per address family (``ip``, and ``ip6`` when the host forwards IPv6; a pair's four
addresses are always of one family) holds three sets/maps and a handful of rules (never
a rule per call):

* ``dnat_to``: ``peer address . peer port . our address . our port`` -> the other
  leg's peer ``address . port``. Keyed on the peer's *source* too, so a packet from any
  other source matches nothing and reaches our socket: the userspace relay then applies
  learning, strict source and handover exactly as before.
* ``snat_to``: ``our address . our port`` (the connection's original destination, read
  from conntrack because DNAT has already rewritten the packet) -> ``our address .
  the other leg's port``: the far party sees the packet come from the port it was told.
* ``rx_ports``: ``our address . our port`` with a counter per element: packets received
  on the port while the kernel forwards it (what the relay worker counts otherwise).

A nat chain sees only a connection's first packet; later packets follow the conntrack
entry, in both directions (one entry per call leg pair). So conntrack entries of a
pair's flows are deleted whenever its elements change (installed, removed): a flow the
userspace relay started must not bypass the new NAT, and a NAT binding must not outlive
its call. The counting chains also mark the connections they see (``ct_mark``) so a daemon
that starts after a crash flushes every binding its predecessor left, in one message.

Two layers, as elsewhere in the project: this module is the sans-I/O part (``KernelPlanner``:
which stream pairs go to the kernel, with which elements, when they come back; the
``Kernel`` interface and ``NullKernel``, for tests and for daemons that cannot or must not
use it); ``rtpengined.media.nft`` is the effect layer (libnftables via ctypes, raw
netlink for counters and conntrack).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Protocol

from ..model import Stream

STABLE_TICKS = 1  # ticks a pair must look the same (confirmed, same endpoints) before it moves
MAX_BACKOFF = 16  # ticks between looks at a candidate that keeps waiting (no RTCP, one-way)
PATIENCE = 5  # ticks a waiting candidate is looked at every tick (the learning window is 3 s)
CT_MARK = 0x72740000  # | table number: conntrack mark of connections our chains counted ("rt")


def ct_mark(table: int) -> int:
    """The mark of table ``table``'s connections: a daemon flushes only its own."""
    return CT_MARK | (table & 0xFFFF)


# -- the plan (sans-I/O) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of a forwarded pair: our socket's address/port and the peer behind it."""

    stream_id: int
    our_address: str
    our_port: int
    peer_address: str
    peer_port: int


@dataclass(frozen=True, slots=True)
class Pair:
    """Two streams that are each other's sink: what arrives on ``a`` leaves from ``b``.
    All four addresses are of one ``family`` (4 or 6): NAT cannot cross families."""

    a: Leg
    b: Leg
    family: int = 4

    @property
    def key(self) -> int:
        return min(self.a.stream_id, self.b.stream_id)

    def legs(self) -> tuple[Leg, Leg]:
        return (self.a, self.b)


def family_of(text: str | None) -> int | None:
    """4 or 6 for an address the kernel can forward; None otherwise (not an address, a
    scoped link-local one, IPv4 mapped into IPv6: those stay with the relay)."""
    if not text or "%" in text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return 4
    return None if address.ipv4_mapped is not None else 6


def _canonical(text: str, family: int) -> str:
    """IPv6 in its one compressed form: counter keys read back from the kernel match."""
    return str(ipaddress.IPv6Address(text)) if family == 6 else text


def why_userspace(stream: Stream, families: frozenset[int] = frozenset({4})) -> str | None:
    """Why ``stream`` (with its sink) must stay in userspace now, or None if it can move.

    ``families``: the address families the kernel forwards (4, and 6 when the host
    forwards IPv6). Reasons that can go away (learning, an unknown endpoint) and ones
    that cannot (a family not forwarded, asymmetric) are both reported;
    ``KernelPlanner`` keeps asking only about the first.
    """
    sink = stream.sink
    if sink is None or sink.sink is not stream:
        return "no symmetric sink"
    family = family_of(stream.interface.address)
    for s in (stream, sink):
        if s.closed or s.blocked:
            return "blocked or closed"
        if s.asymmetric:
            return "asymmetric"
        if s.srtp_in is not None or s.srtp_out is not None:
            return "SRTP"  # the relay decrypts/encrypts
        if s.srtcp is not None and (s.rtcp or s.rtcp_mux):
            return "SRTCP"  # SDES keys passed end to end: the relay still decrypts RTCP
        if s.tos_own:
            return "TOS"  # the kernel's rule marks with --tos, the call has its own
        if s.ice is not None:
            return "ICE"  # the relay's agent answers and sends checks on the port
        if s.extra_sinks:
            return "subscribers"  # the relay copies each packet to them (pubsub)
        if s.dropped_types:
            return "DTMF blocked"  # the relay drops the party's telephone-event
        if s.dtmf_events:
            return "DTMF logged"  # the relay reads the party's telephone-event
        if s.detect is not None:
            return "DTMF detected"  # the relay reads the party's audio for DTMF tones
        if s.strip_feedback:
            return "RTCP feedback stripped"  # the relay rewrites the party's RTCP compounds
        if s.transcode:
            return "transcoding"  # the relay converts what is sent to it
        if s.t38 is not None:
            return "T.38 gateway"  # spandsp in the relay takes what arrives
        ours = family_of(s.interface.address)
        if ours not in families:
            return "family not forwarded"
        if ours != family:
            return "mixed families"
        if s.endpoint is None or not 0 < s.endpoint.port <= 0xFFFF:  # (65536: m=audio 65535's RTCP)
            return "endpoint unknown"
        if family_of(s.endpoint.address) != family:
            return "mixed families"  # e.g. an IPv4 peer learned on an IPv6 socket
        if not s.confirmed:
            return "learning"
    if stream.rtcp_mux != sink.rtcp_mux:
        return "RTCP mux on one side only"  # the relay demultiplexes
    return None


PERMANENT = frozenset({"asymmetric", "family not forwarded", "mixed families"})


def pair_of(stream: Stream, families: frozenset[int] = frozenset({4})) -> Pair | None:
    """The pair ``stream`` forms with its sink, if both can be forwarded in the kernel."""
    if why_userspace(stream, families) is not None:
        return None
    sink = stream.sink
    assert sink is not None and stream.endpoint is not None and sink.endpoint is not None
    family = family_of(stream.interface.address)
    assert family is not None

    def leg(s: Stream) -> Leg:
        assert s.endpoint is not None
        return Leg(s.id, _canonical(s.interface.address, family), s.port,
                   _canonical(s.endpoint.address, family), s.endpoint.port)

    a, b = leg(stream), leg(sink)
    return Pair(a, b, family) if a.stream_id < b.stream_id else Pair(b, a, family)


@dataclass(frozen=True, slots=True)
class Elements:
    dnat: tuple[str, ...]
    snat: tuple[str, ...]
    rx: tuple[str, ...]


def elements(pair: Pair) -> Elements:
    """The map/set elements (nft syntax) that forward ``pair`` both ways."""
    a, b = pair.a, pair.b
    return Elements(
        dnat=(
            f"{a.peer_address} . {a.peer_port} . {a.our_address} . {a.our_port} : "
            f"{b.peer_address} . {b.peer_port}",
            f"{b.peer_address} . {b.peer_port} . {b.our_address} . {b.our_port} : "
            f"{a.peer_address} . {a.peer_port}",
        ),
        snat=(
            f"{a.our_address} . {a.our_port} : {b.our_address} . {b.our_port}",
            f"{b.our_address} . {b.our_port} : {a.our_address} . {a.our_port}",
        ),
        rx=(f"{a.our_address} . {a.our_port}", f"{b.our_address} . {b.our_port}"),
    )


def flows(pair: Pair) -> list[tuple[str, int, str, int]]:
    """Original tuples ``(src, sport, dst, dport)`` of every conntrack entry that can carry
    the pair's packets: a peer's flow to us (NATed or not) and our relay's flow to a peer."""
    out = []
    for leg in pair.legs():
        out.append((leg.peer_address, leg.peer_port, leg.our_address, leg.our_port))
        out.append((leg.our_address, leg.our_port, leg.peer_address, leg.peer_port))
    return out


@dataclass
class KernelPlanner:
    """Decides which stream pairs the kernel forwards; holds no sockets, makes no calls.

    ``touch`` (signalling changed a stream) and ``forget`` (stream closed) take a pair
    out of the kernel at once; ``tick`` moves candidates that have looked the same for
    ``STABLE_TICKS`` ticks into it, and takes out installed pairs whose streams no longer
    match what was installed (an endpoint changed: handover, re-learning). Work per tick
    is in proportion to the candidates due plus the pairs in the kernel: a candidate that
    keeps waiting (an RTCP port nobody sends to, a one-way call) is looked at every tick
    for ``PATIENCE`` ticks, then after 2, 4 … ``MAX_BACKOFF`` ticks, and at once again when
    signalling touches it.
    """

    families: frozenset[int] = frozenset({4})  # what the kernel forwards (Kernel.families)
    installed: dict[int, Pair] = field(default_factory=dict)  # pair key -> pair
    member: dict[int, int] = field(default_factory=dict)  # stream id -> pair key
    candidates: dict[int, Stream] = field(default_factory=dict)
    seen: dict[int, tuple[Pair, int]] = field(default_factory=dict)  # key -> (pair, ticks)
    streams: dict[int, Stream] = field(default_factory=dict)  # installed streams by id
    # stream id -> (due tick, interval, looks so far)
    waiting: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    ticks: int = 0

    def in_kernel(self, stream_id: int) -> bool:
        return stream_id in self.member

    def _take_out(self, stream_id: int) -> Pair | None:
        key = self.member.get(stream_id)
        if key is None:
            return None
        pair = self.installed.pop(key)
        for leg in pair.legs():
            self.member.pop(leg.stream_id, None)
            stream = self.streams.pop(leg.stream_id, None)
            if stream is not None and not stream.closed:
                self.candidates[leg.stream_id] = stream
                self.waiting.pop(leg.stream_id, None)
        return pair

    def touch(self, stream: Stream) -> Pair | None:
        """Signalling changed ``stream``: back to userspace (returned pair to remove)."""
        pair = self._take_out(stream.id)
        if not stream.closed:
            self.candidates[stream.id] = stream
            self.waiting.pop(stream.id, None)
        return pair

    def forget(self, stream: Stream) -> Pair | None:
        """``stream`` closed: its pair leaves the kernel; nothing more is planned for it."""
        pair = self._take_out(stream.id)
        self.candidates.pop(stream.id, None)
        self.waiting.pop(stream.id, None)
        return pair

    def due(self) -> list[Stream]:
        """The candidates the next ``tick`` looks at (the caller refreshes them first)."""
        now = self.ticks + 1
        waiting = self.waiting
        return [stream for stream_id, stream in self.candidates.items()
                if stream_id not in waiting or waiting[stream_id][0] <= now]

    def tick(self) -> tuple[list[Pair], list[Pair]]:
        """``(pairs to install, pairs to remove)``."""
        removals: list[Pair] = []
        for pair in list(self.installed.values()):
            stream = self.streams.get(pair.a.stream_id)
            if stream is None or pair_of(stream, self.families) != pair:
                taken = self._take_out(pair.a.stream_id)
                if taken is not None:
                    removals.append(taken)
        installs: list[Pair] = []
        seen: dict[int, tuple[Pair, int]] = {}
        due = self.due()
        self.ticks += 1
        for stream in due:
            stream_id = stream.id
            if stream.closed:
                del self.candidates[stream_id]
                self.waiting.pop(stream_id, None)
                continue
            reason = why_userspace(stream, self.families)
            if reason is not None:
                if reason in PERMANENT:
                    del self.candidates[stream_id]
                    self.waiting.pop(stream_id, None)
                else:
                    _, interval, looks = self.waiting.get(stream_id, (0, 1, 0))
                    if looks >= PATIENCE:
                        interval = min(MAX_BACKOFF, 2 * interval)
                    self.waiting[stream_id] = (self.ticks + interval, interval, looks + 1)
                continue
            self.waiting.pop(stream_id, None)
            pair = pair_of(stream, self.families)
            assert pair is not None
            if pair.key in seen or pair.key in self.installed:
                continue
            previous = self.seen.get(pair.key)
            ticks = previous[1] + 1 if previous is not None and previous[0] == pair else 0
            if ticks >= STABLE_TICKS:
                self.installed[pair.key] = pair
                sink = stream.sink
                assert sink is not None
                for s in (stream, sink):
                    self.member[s.id] = pair.key
                    self.streams[s.id] = s
                    self.candidates.pop(s.id, None)
                installs.append(pair)
            else:
                seen[pair.key] = (pair, ticks)
        self.seen = seen
        return installs, removals


# -- effects --------------------------------------------------------------------------


class KernelUnavailable(Exception):
    """``--table`` >= 0 with ``--no-fallback``, and kernel forwarding cannot be set up: the
    daemon stops at start (as rtpengine does) instead of relaying in userspace."""


class Kernel(Protocol):
    """What the relay plane needs from a kernel forwarder."""

    active: bool
    families: frozenset[int]  # address families forwarded: {4}, or {4, 6}

    def install(self, pairs: list[Pair]) -> list[Pair]:
        """Install the pairs' elements; returns those that did get installed."""

    def remove(self, pairs: list[Pair]) -> dict[tuple[str, int], tuple[int, int]]:
        """Remove the pairs' elements and flows; returns their last counters."""

    def counters(self, keys: list[tuple[str, int]] | None = None
                 ) -> dict[tuple[str, int], tuple[int, int]]:
        """``(our address, our port) -> (packets, payload bytes)`` of the forwarded ports
        ``keys`` (every one when None)."""

    def close(self) -> None:
        """Remove the table and every NAT binding it made."""


class NullKernel:
    """No kernel forwarding (``--table=-1``, no CAP_NET_ADMIN, no nftables); also a test
    double that records what would be installed when ``record`` is set."""

    def __init__(self, record: bool = False) -> None:
        self.active = record
        self.families = frozenset({4, 6}) if record else frozenset()
        self.pairs: dict[int, Pair] = {}
        self.fake: dict[tuple[str, int], tuple[int, int]] = {}

    def install(self, pairs: list[Pair]) -> list[Pair]:
        if not self.active:
            return []
        for pair in pairs:
            self.pairs[pair.key] = pair
        return pairs

    def remove(self, pairs: list[Pair]) -> dict[tuple[str, int], tuple[int, int]]:
        out = {}
        for pair in pairs:
            self.pairs.pop(pair.key, None)
            for leg in pair.legs():
                key = (leg.our_address, leg.our_port)
                out[key] = self.fake.pop(key, (0, 0))
        return out

    def counters(self, keys: list[tuple[str, int]] | None = None
                 ) -> dict[tuple[str, int], tuple[int, int]]:
        if keys is None:
            return dict(self.fake)
        return {key: self.fake[key] for key in keys if key in self.fake}

    def close(self) -> None:
        self.pairs.clear()
