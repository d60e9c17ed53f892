"""Call lifecycle: the call table, media ports, teardown and timers.

The ng commands that create, read and end calls live in ``offer_answer``, ``query`` and
``delete`` and act on this model; it never imports them. Everything
is sans-I/O apart from binding media sockets, which goes through the binder it is given.
About 400 lines: the timer heap and teardown share the call table's invariants.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import secrets
from typing import TYPE_CHECKING, Any

from . import branches, final_stats
from .b2b import MEDIA_TIMEOUTS
from .family_gauges import FamilyGauges
from .log_context import CONTEXT
from .log_lines import write_block
from .model import Call, CallMedia, Interface, Monologue, Stream
from .ports import Binder, PortPool, bind_udp
from .redis import CallStore, NullCallStore
from .secure.trickle import PendingFragments

if TYPE_CHECKING:
    from collections.abc import Callable

    from .config import Config
    from .media import MediaPlane
    from .stats import Stats

log = logging.getLogger("rtpengined.calls")

# Timer times are lower bounds: a call filed a microsecond early is looked at and filed
# again, one filed late would outlive its timeout by a tick (float rounding of the sums).
_SLACK = 1e-6
_FAMILIES = (None, "IPv4", "IPv6")
CALL_ID_KEYS = ("call-id", "call-ID", "call id", "call ID")

REASON_COUNTERS: dict[str | None, str] = {  # (None: a CLI terminate, counted nowhere)
    "regular": "regular_terminated_sessions",
    "forced": "forced_terminated_sessions",
    "timeout": "timeout_sessions",
    "silent_timeout": "silent_timeout_sessions",
    "final_timeout": "final_timeout_sessions",
    "offer_timeout": "offer_timeout_sessions",
}


def _unlink(call: Call) -> None:
    """Break an ended call's reference cycles (stream <-> sink, RTP <-> RTCP stream, party
    <-> party), so reference counting frees it at once. Left to the cyclic collector, every
    ended call was walked by a collection or two first, and collections ran more often."""
    for stream in [*call.streams(), *call.retired_streams]:
        stream.sink = None
        stream.rtcp_peer = None
        if stream.rare is not None:
            stream.extra_sinks = ()
    for party in call.monologues:
        party.subscriptions = ()
        party.subscribers = ()
        if party.rare is not None:
            party.pubsub_subscriptions = ()
            party.pubsub_subscribers = ()
        for media in party.medias:
            if media.rare is not None:
                media.source = None


class CallManager:
    """Owns every call (keyed by call-id, in creation order) and the media port pools."""

    def __init__(self, config: Config, media: MediaPlane, stats: Stats, clock: Callable[[], float],
                 binder: Binder = bind_udp) -> None:
        # What the call model needs and nothing more: the settings, the media plane its
        # streams go to, the counters it keeps, the time, and how ports are bound (a test
        # or a fuzzer binds nothing). ``store`` is set by the daemon when Redis is on.
        self.config = config
        self.media = media
        self.stats = stats
        self.clock = clock
        self.store: CallStore = NullCallStore()
        self.calls: dict[str, Call] = {}
        # The calls by the address families of offer and answer (``list numsessions``).
        self.families = FamilyGauges()
        # Trickle ICE fragments waiting for their call or party (offer_answer.trickle).
        self.pending_fragments = PendingFragments()
        self.port_pools: list[PortPool] = [
            PortPool(interface, config.port_min, config.port_max, binder,
                     lingering=getattr(media, "lingering", None))
            for interface in config.interfaces
        ]
        self._pool_for: dict[tuple[str | None, str | None], PortPool] = {}  # see pool_for
        self._interface_names = frozenset(p.interface.name for p in self.port_pools)
        # Loop protection marker: a=rtpengine:<instance id> (12 hex digits like rtpengine).
        self.instance_id = secrets.token_hex(6)
        # Streams that convert what they are sent: sink stream id -> (source, sink)
        self.converting: dict[int, tuple[Stream, Stream]] = {}
        # Timers (see ``tick``): a heap of (earliest time, filing number, call-id) and,
        # per call-id, (the call, its current filing number, its place in table order).
        self._timers: list[tuple[float, int, str]] = []
        self._timer_of: dict[str, tuple[Call, int, int]] = {}
        # Call-ids touched by commands since the last tick, in the order of their first
        # touch (a dict as an ordered set): filed at the tick (see ``touch``).
        self._touched: dict[str, None] = {}
        self._seqs = itertools.count()
        self._orders = itertools.count()
        self._settings: tuple | None = None
        self._certificate: Any = None  # secure.dtls.Certificate, see ``certificate``
        # Told of every own call as it ends, its counters read (``--log-facility-cdr``:
        # ``Core.call_detail_record``); None without the option.
        self.on_end: Callable[[Call, str | None], None] | None = None
        # Told of every own call its media timed out, before it goes (``--b2b-url``:
        # ``Core.media_timed_out``); None without the option.
        self.on_media_timeout: Callable[[Call], None] | None = None

    def certificate(self):
        """The daemon's DTLS certificate (``secure.dtls.Certificate``), made on first use.

        10.5 makes one at start; here the first offer or answer that needs it makes it (an
        SRTP offer, a DTLS leg to terminate). A method, passed uncalled to the offer/answer
        steps that need it only for DTLS: a daemon that only relays plain calls never loads
        the X.509 and key code (~2.3 MB of the control process) nor pays for the key."""
        if self._certificate is None:
            from .secure.dtls import Certificate
            logging.getLogger("rtpengined.crypto").info("Generating new DTLS certificate")
            config = self.config
            self._certificate = Certificate(config.dtls_cert_cipher, config.dtls_mtu,
                                            config.dtls_ciphers, config.dtls_rsa_key_size,
                                            common_name=config.software_id or "rtpengine")
        return self._certificate

    @property
    def fingerprint(self) -> str:
        """``a=fingerprint`` of the daemon's DTLS certificate."""
        return self.certificate().fingerprint()

    # -- interfaces and ports ------------------------------------------------------------

    def pool_for(self, name: str | None = None, family: str | None = None) -> PortPool:
        """The pool of logical interface ``name`` (default: the first), preferring ``family``.

        Remembered per (name, family): every offer and answer asks two or three times, and
        the pools are fixed once the manager is made. Only for names and families that
        exist, so that what a request names cannot grow the table."""
        key = (name, family)
        pool = self._pool_for.get(key)
        if pool is None:
            pool = self._find_pool(name, family)
            if (name is None or name in self._interface_names) and family in _FAMILIES:
                self._pool_for[key] = pool
        return pool

    def _find_pool(self, name: str | None, family: str | None) -> PortPool:
        pools = [p for p in self.port_pools if name is not None and p.interface.name == name]
        if not pools:
            first = self.port_pools[0].interface.name
            pools = [p for p in self.port_pools if p.interface.name == first]
        if family is not None:
            for pool in pools:
                if pool.interface.family == family:
                    return pool
        return pools[0]

    def has_interface(self, name: str) -> bool:
        return name in self._interface_names

    def pool_of(self, interface: Interface) -> PortPool | None:
        for pool in self.port_pools:  # (the same object nearly always: no field compare)
            if pool.interface is interface or pool.interface == interface:
                return pool
        return None

    def set_converting(self, source: Stream, sink: Stream) -> None:
        """``sink`` now converts what ``source`` relays to it (``sink.transcode``), or no
        longer does: kept for the transcoder statistics, without a pass over the calls.
        Registered anew, a sink goes last: statistics list the chains in the order the
        latest answer set them (an offer may have set one before, for early media)."""
        self.converting.pop(sink.id, None)
        if sink.transcode:
            self.converting[sink.id] = (source, sink)

    def release_stream(self, stream: Stream, counted: bool = False) -> None:
        """Close a stream's socket through the media plane and give its port back
        (``counted``: its counters were ``refresh``ed just now, ``MediaPlane.close_stream``)."""
        if stream.closed:
            return
        if self.converting:
            self.converting.pop(stream.id, None)
        self.media.close_stream(stream, counted)
        stream.sock = None
        stream.closed = True
        pool = self.pool_of(stream.interface)
        if pool is not None:
            pool.release(stream.port)

    def retire_stream(self, call: Call, stream: Stream, successor: Stream | None = None) -> None:
        """A re-INVITE moved a party: ``successor`` takes over ``stream``'s role.

        rtpengine 10.5 keeps the old ports bound until the call ends, and packets that
        still arrive on them are relayed as if they came to the new ports (the same
        stream, its counters go on). Without a successor the old ports stay bound only.
        """
        if stream.closed:
            return
        stream.closed = True
        if self.converting:
            self.converting.pop(stream.id, None)
        if successor is not None:
            self.media.retire_stream(stream, successor)
            call.retired_streams = (*call.retired_streams, stream)
            return
        sock, stream.sock = stream.sock, None
        self.media.close_stream(stream)
        call.retired_ports = (*call.retired_ports, (stream.interface, stream.port, sock))

    def hold_stream(self, call: Call, stream: Stream) -> bool:
        """A refused media's stream stops relaying but keeps its port bound for the call
        (10.5 keeps a refused media's sockets in its endpoint map), so that a later offer
        or answer for the same far address takes it again (``reclaim``). False if no socket
        could be had (the daemon shuts down): then its port is free."""
        if stream.closed:
            return False
        if self.converting:
            self.converting.pop(stream.id, None)
        sock = self.media.take_back(stream)
        stream.closed = True
        if sock is None:
            pool = self.pool_of(stream.interface)
            if pool is not None:
                pool.release(stream.port)
            return False
        stream.sock = sock
        call.retired_streams = (*call.retired_streams, stream)
        return True

    def reclaim(self, call: Call, streams: tuple[Stream, ...]) -> list[tuple[int, Any]] | None:
        """Retired ``streams`` stop relaying and hand back their still-bound sockets, as
        (port, socket) for new streams on the same ports: their party came back to the far
        address they were bound for (``offer_answer.endpoint_maps``). None if a socket could
        not be had (the daemon shuts down): then none is kept and their ports are free."""
        call.retired_streams = tuple(s for s in call.retired_streams
                                     if all(s is not taken for taken in streams))
        ports: list[tuple[int, Any]] = []
        for stream in streams:
            sock = self.media.take_back(stream)
            if sock is not None:
                ports.append((stream.port, sock))
        pool = self.pool_of(streams[0].interface)
        if len(ports) == len(streams) and pool is not None:
            return ports
        for _port, sock in ports:
            sock.close()
        for stream in streams:
            if pool is not None:
                pool.release(stream.port)
        return None

    def _free_retired(self, call: Call) -> None:
        retired_streams, call.retired_streams = call.retired_streams, ()
        retired_ports, call.retired_ports = call.retired_ports, ()
        for stream in retired_streams:
            self.media.close_stream(stream)
            stream.sock = None
            pool = self.pool_of(stream.interface)
            if pool is not None:
                pool.release(stream.port)
        for interface, port, sock in retired_ports:
            if sock is not None:
                sock.close()
            pool = self.pool_of(interface)
            if pool is not None:
                pool.release(port)

    # -- teardown ------------------------------------------------------------------------

    def create_call(self, call_id: str, proxy: str = "") -> Call:
        """An empty call (a Janus room before anyone publishes in it)."""
        now = self.clock()
        call = Call(call_id=call_id, created=now, last_signal=now, proxy=proxy,
                    tos=self.config.tos)
        self.add(call)
        self.touch(call_id)
        return call

    def add(self, call: Call) -> None:
        """File a new call under its call-id (every way one comes: an offer, a publish, a
        Janus room, Redis), counted in the session gauge. (Its address family is filed
        with ``changed`` after the command that made it, or by the Redis restore.)"""
        self.calls[call.call_id] = call
        self.stats.call_added(call.call_id, call.created, len(self.calls))

    def changed(self, call: Call) -> None:
        """A command, a timer or Janus may have changed ``call``: its address-family gauge
        follows, and the call store hears of it."""
        if self.calls.get(call.call_id) is call:
            self.families.refile(call)
        self.store.changed(call)

    def destroy(self, call: Call, reason: str | None) -> None:
        """End ``call``: final counters into the totals, ports released, call removed (its
        final packet stats logged at info level, as 10.5 logs them)."""
        streams = [s for s in call.streams() if not s.closed]
        outer_call, CONTEXT.call_id = CONTEXT.call_id, call.call_id
        try:
            self._destroy(call, reason, streams)
        finally:
            CONTEXT.call_id = outer_call

    def _destroy(self, call: Call, reason: str | None, streams: list[Stream]) -> None:
        stats = self.stats
        if reason in MEDIA_TIMEOUTS or reason == "final_timeout":
            log.info("Closing call due to %stimeout", "final " if reason == "final_timeout" else "")
        report = log.isEnabledFor(logging.INFO)
        counted = report or (self.on_end is not None and not call.foreign)
        if counted:
            # (its streams as they are: the ports a delete that named a tag closed show so)
            self.media.refresh(streams)
        if report:
            final_stats.note_codecs(call)
            block = final_stats.lines(call, self.clock(), CONTEXT.mark)
            # (one record, a line per entry: ``log_lines.LineFormatter``)
            write_block(log, logging.INFO, block)
        if self.on_media_timeout is not None and reason in MEDIA_TIMEOUTS and not call.foreign:
            try:
                self.on_media_timeout(call)
            except Exception:  # a bug in the teardown requests: the call still ends
                log.exception("call %s: its teardown requests failed", call.call_id)
        if self.on_end is not None and not call.foreign:
            try:
                self.on_end(call, reason)
            except Exception:  # a bug in the record: the call still ends
                log.exception("call %s: its detail record failed", call.call_id)
        for stream in streams:
            # The media plane reads each stream's final counters as it closes it, unless
            # they were read for the lines and the record above: those are the final ones.
            self.release_stream(stream, counted)
        self._count_stream_pairs(call)
        for stream in streams:
            stats.closed_packets += stream.stats.packets
            stats.closed_bytes += stream.stats.bytes
            stats.closed_errors += stream.stats.errors
        self._free_retired(call)
        if not call.foreign:
            stats.record_call_end(max(0.0, self.clock() - call.created))
        counter = REASON_COUNTERS.get(reason)
        if counter is not None:
            setattr(stats, counter, getattr(stats, counter) + 1)
        if self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]
            self.families.remove(call)
            stats.call_removed(call.call_id, len(self.calls))
            entry = self._timer_of.get(call.call_id)
            if entry is not None and entry[0] is call:
                del self._timer_of[call.call_id]
            self.store.deleted(call)
        log.debug("call %s ended (%s)", call.call_id, reason)
        _unlink(call)

    def abandon(self, call: Call) -> None:
        """A new call whose first offer failed part way (an internal error: a bug): its
        sockets close and its ports go back. It was never registered, so nothing is counted
        and the call store never hears of it; without this every such request left its
        sockets open and its ports taken (and a relay worker holding streams of no call)."""
        for stream in call.streams():
            self.release_stream(stream)
        self._free_retired(call)
        _unlink(call)

    def _count_stream_pairs(self, call: Call) -> None:
        """rtpengine's zero-way/one-way stream counters: RTP stream pairs by packets received."""
        stats = self.stats
        seen: set[int] = set()
        for stream in call.streams():
            if stream.rtcp or stream.id in seen:
                continue
            peer = stream.sink
            seen.add(stream.id)
            if peer is None or peer.id in seen:
                continue
            seen.add(peer.id)
            flowing = (stream.stats.packets > 0) + (peer.stats.packets > 0)
            if flowing == 0:
                stats.zeroway_streams += 1
            elif flowing == 1:
                stats.oneway_streams += 1

    def close_parties(self, parties: list[Monologue]) -> None:
        """Release the open streams of parties that go while their call goes on: their
        final counters read and added to the totals first."""
        stats = self.stats
        streams = [s for party in parties for media in party.medias for s in media.streams
                   if not s.closed]
        self.media.refresh(streams)
        for stream in streams:
            stats.closed_packets += stream.stats.packets
            stats.closed_bytes += stream.stats.bytes
            stats.closed_errors += stream.stats.errors
            self.release_stream(stream)

    def end_branch(self, call: Call, monologue: Monologue) -> bool:
        """End one party (a forked branch, or one side of a dialogue) as 10.5 does.

        The parties ``branches.teardown`` says go with it are marked destroyed (no longer
        found by tag or via-branch; ``query`` still lists them, without ports) and their
        ports are released; the call goes on. Returns True, touching nothing, when ending
        the party ends the call: the caller destroys the call then.
        """
        gone, ends = branches.teardown(call, monologue)
        if ends:
            return True
        self.close_parties(gone)
        for party in gone:
            party.destroyed = True
            party.delete_at = None
        for other in call.monologues:
            for media in other.medias:
                for stream in media.streams:
                    if stream.sink is not None and stream.sink.closed and not stream.closed:
                        stream.sink = None
                        self.media.update_stream(stream)
                    if stream.extra_sinks and not stream.closed and any(
                            s.closed for s in stream.extra_sinks):  # a subscriber went (pubsub)
                        stream.extra_sinks = tuple(s for s in stream.extra_sinks if not s.closed)
                        self.media.update_stream(stream)
        log.debug("call %s: branch %r (via-branch %r) deleted", call.call_id, monologue.tag,
                 monologue.via_branch)
        return False

    # -- timers --------------------------------------------------------------------------
    #
    # No sweep: each call has one entry in a heap, keyed by the earliest time it could
    # possibly need attention (``_earliest``: its delete delay, a party's delete delay,
    # the final timeout, or the time all its streams would be past their media limits
    # if no packet came). Packets only move a stream's limit later, so that time is a
    # lower bound; when it comes, the call's own streams are refreshed from the media
    # plane, ``_expired`` decides exactly as before, and a call that lives on is filed
    # again under its new earliest time. A tick costs in proportion to the calls whose
    # time came, not to the number of calls.
    #
    # ``touch(call_id)`` re-files a call after a command changed it (the core calls it
    # after every ng command naming a call-id): signalling can only bring a call's time
    # earlier through a command. The filing itself waits for the next tick, which files
    # every call touched since, before it looks at the heap: nothing can fire between
    # ticks anyway, a call offered, answered and deleted within one tick is never filed,
    # and one offered and answered is filed once (``_earliest`` walks every stream of the
    # call, so filing at each command was ~5 % of an in-process lifecycle). Calls that
    # appeared without a command are filed at the next tick too, and a change of the
    # timeout settings re-files every call once.

    def touch_message(self, message: dict) -> None:
        """``touch`` the call an ng message names (under any spelling offer/answer accept)."""
        for key in CALL_ID_KEYS:
            call_id = message.get(key)
            if call_id is not None:
                self.touch(call_id)

    def touch(self, call_id: object) -> None:
        """File (or re-file) the call ``call_id`` at the next tick: a command may have
        changed it."""
        if isinstance(call_id, str):
            self._touched[call_id] = None

    def _file_touched(self) -> None:
        touched, self._touched = self._touched, {}
        for call_id in touched:
            call = self.calls.get(call_id)
            if call is not None:
                self._arm(call)
            else:
                self._timer_of.pop(call_id, None)

    def _arm(self, call: Call, order: int | None = None) -> None:
        entry = self._timer_of.get(call.call_id)
        if order is None:
            order = entry[2] if entry is not None and entry[0] is call else next(self._orders)
        seq = next(self._seqs)
        self._timer_of[call.call_id] = (call, seq, order)
        heapq.heappush(self._timers, (self._earliest(call), seq, call.call_id))
        if len(self._timers) > 4 * len(self._timer_of) + 64:
            self._compact()

    def _compact(self) -> None:
        """Drop heap entries that were superseded by a later ``_arm`` of the same call."""
        live = {(cid, seq) for cid, (_, seq, _) in self._timer_of.items()}
        self._timers = [entry for entry in self._timers if (entry[2], entry[1]) in live]
        heapq.heapify(self._timers)

    def _timer_settings(self) -> tuple:
        config = self.config
        return (config.timeout, config.silent_timeout, config.offer_timeout,
                config.final_timeout)

    def _reconcile(self) -> None:
        """File calls that are in the table without a timer, forget timers of gone calls."""
        for call_id in [cid for cid, entry in self._timer_of.items()
                        if self.calls.get(cid) is not entry[0]]:
            del self._timer_of[call_id]
        for call in self.calls.values():
            entry = self._timer_of.get(call.call_id)
            if entry is None or entry[0] is not call:
                self._arm(call)

    def _earliest(self, call: Call) -> float:
        """A time before which ``_expired(call, now)`` is certainly None (see above)."""
        config = self.config
        due = math.inf
        for party in call.monologues:
            party_due = party.delete_at
            if party_due is not None and party_due < due:
                due = party_due
        if call.delete_at is not None:
            return min(due, call.delete_at)
        if config.final_timeout > 0:
            due = min(due, call.created + config.final_timeout - _SLACK)
        media = -math.inf
        any_stream = False
        for party in call.monologues:
            for media_section in party.medias:
                for stream in media_section.streams:
                    if stream.closed:
                        continue
                    any_stream = True
                    _, limit = _stream_limit(config, media_section, stream)
                    if limit <= 0:
                        return due  # this stream never times out, so the call does not
                    last = max(stream.stats.last_packet, call.last_signal)
                    media = max(media, math.ceil(int(last) + limit))
        if not any_stream:
            limit = config.timeout if call.answered else config.offer_timeout
            if limit <= 0:
                return due
            media = call.last_signal + limit - _SLACK
        return min(due, media)

    def tick(self, now: float) -> None:
        """Fire due timers: delete delay, offer/final timeouts, media and silent timeouts."""
        if self._touched:
            self._file_touched()
        settings = self._timer_settings()
        if settings != self._settings:
            self._settings = settings
            for call in self.calls.values():
                self._arm(call)
        if len(self._timer_of) != len(self.calls):
            self._reconcile()
        timers = self._timers
        ready: list[tuple[int, Call]] = []
        while timers and timers[0][0] <= now:
            _, seq, call_id = heapq.heappop(timers)
            entry = self._timer_of.get(call_id)
            if entry is None or entry[1] != seq:
                continue  # superseded by a later filing of the same call
            call = entry[0]
            if self.calls.get(call_id) is not call:
                del self._timer_of[call_id]
                continue
            ready.append((entry[2], call))
        if not ready:
            return
        ready.sort(key=lambda item: item[0])  # table order, as the sweep went
        config = self.config
        if config.timeout > 0 or config.silent_timeout > 0:
            streams = [s for _, c in ready if c.delete_at is None for s in c.streams()
                       if not s.closed]
            if streams:
                self.media.refresh(streams)
        due: list[tuple[Call, str]] = []
        for order, call in ready:
            try:
                reason = self._end_due_branches(call, now)
                if reason is None:
                    reason = self._expired(call, now)
            except Exception:  # a bug: keep the call filed (looked at again next tick)
                log.exception("timers of call %s failed", call.call_id)
                self._timer_of[call.call_id] = (call, next(self._seqs), order)
                heapq.heappush(self._timers, (now, self._timer_of[call.call_id][1], call.call_id))
                continue
            if reason is not None:
                due.append((call, reason))
            else:
                self._arm(call, order)
        for call, reason in due:
            self._timer_of.pop(call.call_id, None)
            try:
                if reason == "regular" and call.deletion_mark and self.on_end is not None:
                    # The parties a delayed delete named go first, as 10.5 ends them: the
                    # call's detail record shows their ports closed.
                    self.close_parties([m for m in call.monologues
                                        if m.terminated is not None and not m.destroyed])
                self.destroy(call, reason)
            except Exception:
                log.exception("ending call %s failed", call.call_id)
                if self.calls.get(call.call_id) is call:
                    del self.calls[call.call_id]
                    self.families.remove(call)
                    self.stats.call_removed(call.call_id, len(self.calls))

    def _end_due_branches(self, call: Call, now: float) -> str | None:
        """Parties whose delete delay is over go; "regular" if that ends the call."""
        ended = False
        for party in call.monologues:
            due_at = party.delete_at
            if due_at is not None and now >= due_at and not party.destroyed:
                party.delete_at = None
                if self.end_branch(call, party):
                    return "regular"
                ended = True
        if ended:
            self.changed(call)  # a branch gone on a timer: as after a command
        return None

    def _expired(self, call: Call, now: float) -> str | None:
        config = self.config
        if call.delete_at is not None:  # deleted via ng, waiting for its delete delay
            return "regular" if now >= call.delete_at else None
        if config.final_timeout > 0 and now - call.created >= config.final_timeout:
            return "final_timeout"
        if call.foreign:  # another node's call (Redis standby): only the final timeout (10.5)
            return None
        # As 10.5: every stream has its own limit, measured from its last packet (or the
        # last signalling); the call ends once all are past theirs, and is counted under the
        # kind of limit of the stream checked last (callee's streams first, caller's last).
        reason: str | None = None
        for party in reversed(call.monologues):
            for media in party.medias:
                for stream in media.streams:
                    if stream.closed:
                        continue
                    kind, limit = _stream_limit(config, media, stream)
                    # Whole seconds, as 10.5 keeps them: a 1 s limit may end a call
                    # 0.1 s after its last packet if a second boundary fell in between.
                    last = max(stream.stats.last_packet, call.last_signal)
                    if limit <= 0 or int(now) - int(last) < limit:
                        return None
                    reason = kind
        if reason is None:  # no media ports at all: signalling age only
            answered = call.answered
            kind, limit = ("timeout", config.timeout) if answered else (
                "offer_timeout", config.offer_timeout)
            if limit > 0 and now - call.last_signal >= limit:
                return kind
        return reason

    def shutdown(self) -> None:
        """Release every call's media (daemon exit); not counted as terminated sessions."""
        for call in list(self.calls.values()):
            for stream in call.streams():
                try:
                    self.release_stream(stream)
                except Exception:
                    log.exception("closing a stream of %s failed", call.call_id)
            self._free_retired(call)
        self.calls.clear()
        self._timers.clear()
        self._timer_of.clear()
        self._touched.clear()


def _stream_limit(config, media: CallMedia, stream: Stream) -> tuple[str, int]:
    """The timeout that applies to ``stream``: offer timeout while its party has no
    address yet, silent timeout if its party sends nothing (recvonly, inactive)."""
    if stream.advertised is None and stream.shown_endpoint is None:
        return "offer_timeout", config.offer_timeout
    if media.direction in ("recvonly", "inactive"):
        return "silent_timeout", config.silent_timeout
    return "timeout", config.timeout

