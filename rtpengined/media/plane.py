"""The relay media plane: worker processes that forward RTP/RTCP, supervised from trio.

The control plane (the trio thread) keeps owning every media socket and the call model.
``RelayPlane`` hands each stream's socket to a worker process over a SOCK_SEQPACKET
channel (``send_fds``), with what the worker needs to relay it; all streams of one
call (``stream.group``) go to the same worker, so a stream and its sink are together.
Counters and learned endpoints come back through shared memory (``counters``), so
``refresh`` never waits on a worker. A worker that dies is restarted and gets every
socket again; its calls go on. Methods called by ng commands are synchronous and never
block: a message that does not fit into the channel right now is queued and written by
a trio task. Inside ``with plane.batch():`` (the core wraps every command in one, the UDP
ng transport each burst of queued requests) the messages for each worker are collected
and sent as one datagram when the block ends. A new stream's ``add`` is not urgent: it
waits (``DEFER_DELAY`` at most) for the stream's own ``update`` (the answer, a re-offer),
which then replaces it (one ``add`` with the final spec, in the update's place: the worker
builds the stream once); other calls' urgent messages leave without it. Its spec is built
only when it leaves. A ``remove`` is urgent: once ``delete`` has answered, the call's ports
relay nothing more.

Why one module of this size: it is the single owner of every stream's record (slot,
worker, generation, followers, lingering sockets); splitting the supervision, messaging
and counter reading apart would spread that ownership over modules that all mutate it.
"""

from __future__ import annotations

import _socket
import logging
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from ..config import Config
from ..log_setup import LogSettings
from ..model import Endpoint, Stream, StreamStats
from ..ports import LingeringSockets
from . import channel as ch
from .counters import (
    CONFIRMED,
    PAYLOAD_TYPE_SEEN,
    RTCP_SEEN,
    SSRC_SEEN,
    CounterTable,
    SlotAllocator,
    unpack_address,
)
from .dtx import DtxSettings
from .kernel import Kernel, KernelPlanner, NullKernel, Pair
from .nft import open_kernel
from .worker import (
    LOG_RTCP,
    LOG_SETTINGS,
    LOG_SRTP_KEYS,
    NO_SUPPRESS,
    SCHEDULING,
    SOFTWARE_ID,
    socket_address,
)

log = logging.getLogger("rtpengined")

RESTART_BACKOFF = 0.2  # seconds before restarting a worker that died right after starting
STOP_GRACE = 1.0  # seconds a worker gets to exit on its own at shutdown before SIGKILL
KERNEL_TICK = 1.0  # seconds between moves into and out of the kernel
KERNEL_FRESH = 0.1  # a view of all streams re-reads kernel counters older than this
# A new stream's "add" waits this long for the stream's own "update" (the answer's) to take
# its place: a fresh call's offer costs no channel send and no worker wakeup of its own,
# which on a virtual machine cost as much as the command (a cross-CPU wakeup), and the
# worker builds the stream once, from the answer's spec. Nothing is lost meanwhile: the
# socket is bound, so early media waits in its buffer until the worker has it. A "remove"
# is not deferred so: a packet that reached a deleted call's port after delete answered
# was still relayed.
DEFER_DELAY = 0.02
WORKER_READY_TIMEOUT = 10  # seconds a starting daemon waits for its relay workers
# The directory this package was imported from. Workers import the same one: ``-m`` would
# put the working directory first, and a daemon installed with ``pip install .`` and started
# in the source tree (the README's first command) had its workers run that tree's sources,
# without the C loop that only the installed copy has been built with (``worker_command``).
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Bytes of a ``play media`` blob sent to the worker inside a batch (more: through a file).
INLINE_BLOB = 8192


@dataclass(eq=False, slots=True)
class _Record:
    """The control plane's book-keeping for one open stream."""

    stream: Stream
    slot: int
    worker: _WorkerHandle
    generation: int = 1
    seen_endpoint: Endpoint | None = None
    seen_confirmed: bool = False
    seen_raw: tuple | None = None  # (family, port, packed address) last read from the slot
    family: int = 4
    # A stream replaced by a re-INVITE relays as its successor (sink, flags) until the
    # call ends; its counters are added into the successor's.
    follows: Stream | None = None
    # The stream's sockets on other addresses of its interface (``Stream.alternates``)
    # handed to the worker: only once the stream has an ICE agent (without one nothing
    # arrives there that a party was told about, and the worker relays one socket as ever).
    alternates: tuple = ()


@dataclass(eq=False)
class _WorkerHandle:
    index: int
    channel: socket.socket
    child_end: socket.socket
    # Open streams relayed by this worker (their records are ``RelayPlane.records``' whose
    # ``worker`` is this one: a second dict per worker cost ~37 bytes per stream).
    streams: int = 0
    # stream id -> (slot, lingering keys) until the worker acknowledges the removal
    pending_removal: dict[int, tuple[int, list[tuple[str, int]]]] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)  # group -> open streams
    outbox: deque = field(default_factory=deque)  # batches waiting for room in the channel
    pending: list = field(default_factory=list)  # (message, socket_of) of the open batch
    # stream id -> index in ``pending`` of its "add" while that has not left (an answer's
    # update then travels as that add, see ``RelayPlane.update_stream``)
    unsent: dict[int, int] = field(default_factory=dict)
    lazy: bool = False  # ``pending`` holds an add whose spec is built when it leaves
    in_batch: bool = False  # in ``RelayPlane.batched``: sent when the open batch ends
    deferred: bool = False  # in ``RelayPlane.deferred``: sent within ``DEFER_DELAY``
    outbox_ready: trio.Event = field(default_factory=trio.Event)
    pid: int | None = None
    restarts: int = 0
    certificates: set = field(default_factory=set)  # DTLS certificates this worker holds
    ready: trio.Event = field(default_factory=trio.Event)  # its process said "ready" once


class RelayPlane:
    """MediaPlane implementation backed by relay worker processes."""

    def __init__(self, config: Config, workers: int | None = None,
                 kernel: Kernel | None = None) -> None:
        count = workers if workers is not None else config.relay_worker_count(
            os.cpu_count() or 1)
        self.config = config
        # What each worker's command line carries besides its descriptors: the DTX options
        # (``--dtx-delay`` on: the converted streams' timers run in the workers) and
        # ``--dtmf-no-suppress``.
        self.worker_options = [] if config.dtx_delay <= 0 else [DtxSettings(
            config.dtx_delay / 1000, config.max_dtx, config.dtx_buffer, config.dtx_lag / 1000,
            config.dtx_shift / 1000, bytes(config.dtx_cn_params)).to_arg()]
        if config.dtmf_no_suppress:
            self.worker_options.append(NO_SUPPRESS)
        if config.log_facility_rtcp is not None or config.homer is not None:
            # (the reports come with their packets: for the RTCP log and Homer)
            self.worker_options.append(LOG_RTCP)
        if config.software_id is not None:  # (canonical: letters, digits and '-' only)
            self.worker_options.append(SOFTWARE_ID + config.software_id)
        if config.log_srtp_keys:
            self.worker_options.append(LOG_SRTP_KEYS)
        if config.scheduling is not None or config.priority:
            self.worker_options.append(f"{SCHEDULING}{config.scheduling or ''}:{config.priority}")
        # Their log goes where the daemon's goes, and looks the same (``log_setup``).
        self.worker_options.insert(0, LOG_SETTINGS + LogSettings.of(config).to_arg())
        self.counters = CounterTable.create()
        # Ended streams' sockets a worker may still hold; the port pools reuse them.
        self.lingering = LingeringSockets()
        # RTP components count from the bottom of the table, RTCP ones from the middle, so
        # "streams with packets" (10.5 counts RTP components only) is one strided sum too.
        half = self.counters.capacity // 2
        self.slots = SlotAllocator(half, self.counters)
        self.rtcp_slots = SlotAllocator(self.counters.capacity - half, self.counters, base=half)
        self.records: dict[int, _Record] = {}
        self.group_workers: dict[str, _WorkerHandle] = {}
        self.workers = [self._new_handle(index) for index in range(max(1, count))]
        self.closing = False
        # Told when a refresh finds a stream's learned endpoint changed (the call store
        # writes the call again: a media-driven change).
        self.on_learned: Callable[[Stream], None] | None = None
        # RTCP reports the relay read (``rtcp_report.parse``): (the stream they came in on,
        # wall clock, sender reports, report blocks, extended reports, the packet as the
        # party sent it with ``--log-facility-rtcp`` or None), for the call quality
        # figures and the RTCP log.
        self.on_rtcp: Callable[[Stream, float, list, list, list, bytes | None], None] | None = None
        self.reports: list = []  # (read, not yet handed to ``on_rtcp``)
        # Keys the parties sent as telephone-event (``dtmf_log``): the stream they came in
        # on, the source address, and the event's code, volume, duration and clock rate.
        self.on_dtmf: Callable[[Stream, str, int, int, int, int], None] | None = None
        # The workers' conversions, added up from their "transcoded" news (``MediaPlane``).
        self.transcoded: dict[tuple[str, str], list[int]] = {}
        # Told when a refresh finds a stream's first packet counted (the Janus interface's
        # ``webrtcup``; the packet's "learned" news makes that refresh happen at once).
        self.on_first_packet: Callable[[Stream], None] | None = None
        self.batching = 0  # depth of nested ``batch()`` blocks
        self.batched: list[_WorkerHandle] = []  # workers with a pending batch
        self.deferred: list[_WorkerHandle] = []  # workers holding only deferred messages
        self.deferred_ready = trio.Event()
        # (family, host, port) -> sendto address (plain values as the key: an Endpoint's
        # hash and equality are Python code)
        self.addresses: dict[tuple, tuple | None] = {}
        # Stream id -> records of the streams it replaced (``retire_stream``), flattened.
        self.followers: dict[int, list[_Record]] = {}
        # Kernel forwarding: the planner decides, ``kernel`` installs. Per stream in the
        # kernel (or once there): [packets, bytes] folded from removed elements, the
        # current element's [packets, bytes], and the wall time the counters last moved.
        self.kernel: Kernel = kernel if kernel is not None else NullKernel()
        self.planner = KernelPlanner(families=self.kernel.families)
        self.kernel_counts: dict[int, list] = {}
        self.kernel_read = 0.0  # monotonic time of the last kernel counter read

    # -- batching ---------------------------------------------------------------------

    def batch(self) -> _Batch:
        """``with plane.batch():`` sends the messages of the block as one datagram per worker."""
        return _Batch(self)

    def flush(self) -> None:
        """Send every pending batch now (or queue it for the writer task)."""
        batched, self.batched = self.batched, []
        for worker in batched:
            worker.in_batch = False
            self._flush_worker(worker, hold=True)

    # -- MediaPlane -------------------------------------------------------------------

    def open_stream(self, stream: Stream) -> None:
        if stream.id in self.records:
            self.update_stream(stream)
            return
        if stream.sock is None:
            return
        if stream.sock.getblocking():  # (no system call) workers rely on O_NONBLOCK
            stream.sock.setblocking(False)
        worker = self._worker_for(stream)
        # (zero already: a fresh slot of the table, or one its allocator zeroed on release)
        slot = (self.rtcp_slots if stream.rtcp else self.slots).allocate()
        stats = stream.stats
        if stats.packets or stats.last_packet:  # a restored stream (Redis) goes on counting
            self.counters.write_traffic(slot, stats.packets, stats.bytes, stats.errors,
                                        stats.last_packet, stats.ssrc, bool(stats.ssrc))
        family = _family(stream.sock)
        record = _Record(stream, slot, worker, 1, stream.endpoint, stream.confirmed, None, family)
        if stream.rare is not None and stream.ice is not None and stream.alternates:
            record.alternates = _nonblocking(stream.alternates)
        self.records[stream.id] = record
        worker.streams += 1
        worker.groups[stream.group] = worker.groups.get(stream.group, 0) + 1
        self.group_workers[stream.group] = worker
        worker.unsent[stream.id] = len(worker.pending)  # (before: the send may flush)
        # The spec is built when the add leaves (``_complete``): the answer's update usually
        # replaces the add before that, with a spec of its own (see ``update_stream``).
        worker.lazy = True
        self._send(worker, ("add", None), stream.id, urgent=False)
        if stream.id in self.followers:
            self._update_followers(stream.id)
        if self.kernel.active:
            self._kernel_out(self.planner.touch(stream))

    def inject_dtmf(self, stream: Stream, event: tuple) -> None:
        record = self.records.get(stream.id)
        if record is not None:
            self._send(record.worker, ("dtmf", (stream.id, event)))

    def set_log_level(self, subsystem: str, level: int) -> None:
        for worker in self.workers:
            self._send(worker, ("log-level", (subsystem, level)))

    def probe_media(self, source: bytes | str) -> int:
        from .player import probe  # (loads libavformat: once a daemon plays media)

        return probe(source)

    def play_media(self, stream: Stream, playback: tuple) -> None:
        """The worker opens the media itself. A blob larger than ``INLINE_BLOB`` goes as a
        file the worker removes once it has read it: a batch must stay below the
        channel's datagram size."""
        record = self.records.get(stream.id)
        if record is None:
            return
        source = playback[0]
        if isinstance(source, bytes) and len(source) > INLINE_BLOB:
            fd, name = tempfile.mkstemp(prefix="rtpengined-media-")
            with os.fdopen(fd, "wb") as spill:
                spill.write(source)
            playback = (("spilled", name), *playback[1:])
        self._send(record.worker, ("play", (stream.id, playback)))

    def stop_media(self, stream: Stream) -> None:
        record = self.records.get(stream.id)
        if record is not None:
            self._send(record.worker, ("play", (stream.id, None)))

    def update_stream(self, stream: Stream) -> None:
        record = self.records.get(stream.id)
        if record is None:
            self.open_stream(stream)
            return
        endpoint = stream.endpoint
        override = (
            (endpoint is not record.seen_endpoint and endpoint != record.seen_endpoint)
            or stream.confirmed != record.seen_confirmed
        )
        record.generation += 1
        if override:
            record.seen_endpoint = stream.endpoint
            record.seen_confirmed = stream.confirmed
        worker = record.worker
        # Its add has not left yet (deferred, as after an offer): the add goes now, in the
        # update's place and with the final spec, so the worker builds the stream once
        # instead of building it and then applying an update to it. What the worker ends up
        # with is the same: nothing of the stream reached it before (an endpoint it could
        # have learned, a window it opened), and the add's sockets go with it.
        index = worker.unsent.pop(stream.id, None) if worker.unsent else None
        if (stream.rare is not None and stream.ice is not None
                and len(stream.alternates) > len(record.alternates)):
            # ICE on this leg now: the worker gets the sockets on the other addresses too
            # (with the add that replaces an unsent one: its spec names them all).
            start = len(record.alternates)
            record.alternates = _nonblocking(stream.alternates)
            if index is None:
                families = tuple(_family(sock) for _, _, sock in stream.alternates[start:])
                self._send(worker, ("alternates", (stream.id, families, start)), stream.id)
        if index is None:
            self._send(worker, ("update", self._spec(record, override, True)))
        else:
            worker.pending[index] = None
            self._send(worker, ("add", self._spec(record, True, True)), stream.id)
        if stream.id in self.followers:
            self._update_followers(stream.id)
        if self.kernel.active:
            self._kernel_out(self.planner.touch(stream))

    def retire_stream(self, stream: Stream, successor: Stream) -> None:
        record = self.records.get(stream.id)
        if record is None:
            return
        # The successor is opened (or updated) later in the same command; that sends
        # the followers' new specs. Until then the old spec relays as before.
        if self.kernel.active:  # the old ports relay as the successor: in userspace
            self._kernel_out(self.planner.forget(stream))
        group = self.followers.pop(stream.id, [])
        group.append(record)
        for follower in group:
            follower.follows = successor
        self.followers.setdefault(successor.id, []).extend(group)

    def _update_followers(self, successor_id: int) -> None:
        for follower in self.followers[successor_id]:
            follower.generation += 1
            self._send(follower.worker, ("update", self._spec(follower, False, False)))

    def take_back(self, stream: Stream) -> _socket.socket | None:
        if stream.id not in self.records:  # (never relayed: nobody else holds the socket)
            sock, stream.sock = stream.sock, None
            return sock
        # Closed as any stream, its socket lingers (bound) while the worker still holds a
        # copy; taken from there at once, and the party's packets queued on it kept.
        self.close_stream(stream)
        stream.sock = None
        return self.lingering.take(stream.interface.address, stream.port, drain=False)

    def close_stream(self, stream: Stream, counted: bool = False) -> None:
        if self.kernel.active:
            self._kernel_out(self.planner.forget(stream))
        record = self.records.pop(stream.id, None)
        if record is not None:
            if not counted or self.kernel.active:  # (a move out of the kernel adds counts)
                self._refresh_record(record)
            if self.kernel_counts:
                self.kernel_counts.pop(stream.id, None)  # folded into stats just now
            if self.followers:
                if record.follows is not None:
                    group = self.followers.get(record.follows.id)
                    if group is not None:
                        group.remove(record)
                        if not group:
                            del self.followers[record.follows.id]
                for follower in self.followers.pop(stream.id, ()):
                    follower.follows = None  # the stream is gone: its old ports stop relaying
                    self.close_stream(follower.stream)
            worker = record.worker
            worker.streams -= 1
            keys = []
            sock = stream.sock
            if sock is not None and not self.closing and sock.fileno() >= 0:
                # The worker closes its copy only when it gets to the remove: until then
                # the port stays bound, so keep our socket where the port pool finds it
                # (as its bare descriptor: ``detach`` leaves ``stream.sock`` closed without
                # a system call, where a ``dup`` now and a ``close`` here cost two per stream).
                key = (stream.interface.address, stream.port)
                self.lingering.hold(key[0], key[1], sock.detach())
                keys.append(key)
                sock = None  # (nothing left to close)
            for interface, port, alternate in record.alternates:
                # (the same for its sockets on other addresses; the call, which owns them,
                # then closes a detached socket: nothing)
                if not self.closing and alternate.fileno() >= 0:
                    key = (interface.address, port)
                    self.lingering.hold(*key, alternate.detach())
                    keys.append(key)
            worker.pending_removal[stream.id] = (record.slot, keys)
            remaining = worker.groups.get(stream.group, 1) - 1
            if remaining > 0:
                worker.groups[stream.group] = remaining
            else:
                worker.groups.pop(stream.group, None)
                if self.group_workers.get(stream.group) is worker:
                    del self.group_workers[stream.group]
            self._send(worker, ("remove", stream.id))
            if sock is not None:
                sock.close()
        elif stream.sock is not None:
            stream.sock.close()

    def refresh(self, streams: list[Stream] | None = None) -> None:
        records = self.records
        if streams is None:
            for worker in self.workers:
                self._read_news(worker)
        else:  # only the workers of these streams (a call's streams share one)
            for worker in {r.worker for s in streams if (r := records.get(s.id)) is not None}:
                self._read_news(worker)
        if self.planner.installed:
            self._kernel_refresh(streams)
        if streams is None:
            for record in records.values():
                self._refresh_record(record)
            return
        for stream in streams:
            found = records.get(stream.id)
            if found is not None:
                self._refresh_record(found)

    def _release_slot(self, slot: int) -> None:
        (self.slots if self.slots.owns(slot) else self.rtcp_slots).release(slot)

    def live_totals(self, count_flowing: bool = True) -> tuple[int, int, int, int]:
        """What summing ``refresh``ed ``stats`` over the streams of live calls gives:
        ``(packets, bytes, errors, RTP streams with packets)``, without a pass over them.

        The used part of the counter table is summed in C (``traffic_sums``); then the
        few exceptions are corrected one by one: streams closed here whose worker has
        not let go of the slot yet (their final counts are in the closed totals), and
        streams replaced by a re-INVITE, whose counts belong to their successor.
        """
        if self.planner.installed:
            self._kernel_refresh(None)
        read = self.counters.read_raw
        packets, nbytes, errors, flowing = self.counters.traffic_sums(
            self.slots.end, count_flowing)
        rtcp = self.counters.traffic_sums(self.rtcp_slots.end, False, self.rtcp_slots.base)
        packets, nbytes, errors = packets + rtcp[0], nbytes + rtcp[1], errors + rtcp[2]
        for worker in self.workers:
            for slot, _ in worker.pending_removal.values():
                p, b, e, *_, drops, _, _ = read(slot)
                packets, nbytes, errors = packets - p, nbytes - b, errors - e - drops
                flowing -= p > 0 and self.slots.owns(slot)
        for stream_id, counts in self.kernel_counts.items():
            kernel_packets = counts[0] + counts[2]
            packets += kernel_packets
            nbytes += counts[1] + counts[3]
            if count_flowing and kernel_packets:
                record = self.records.get(stream_id)
                if record is not None and self.slots.owns(record.slot) and not read(record.slot)[0]:
                    flowing += 1
        if not count_flowing:
            return packets, nbytes, errors, 0
        for successor_id, followers in self.followers.items():
            if followers[0].stream.rtcp:  # a successor and its followers are the same component
                continue
            record = self.records.get(successor_id)
            own = read(record.slot)[0] if record is not None else 0
            theirs = [read(f.slot)[0] for f in followers if f.stream.id in self.records]
            flowing -= sum(1 for p in theirs if p > 0)
            if record is not None and not own and any(theirs):
                flowing += 1
        return packets, nbytes, errors, flowing

    # -- introspection (tests, CLI) -----------------------------------------------------

    def worker_pids(self) -> list[int | None]:
        return [worker.pid for worker in self.workers]

    def synced(self, stream: Stream) -> bool:
        """True once the worker has applied the latest open/update of ``stream``."""
        record = self.records.get(stream.id)
        if record is None:
            return False
        values = self.counters.read(record.slot)
        return values.written and values.generation == record.generation

    def kernel_streams(self) -> tuple[int, int]:
        """``(kernel-only, mixed)`` RTP streams with packets among those the kernel
        forwards now: mixed when the relay also received packets since the move (from
        another source, or queued before it). The rest of ``live_totals``' flowing streams
        are userspace-only. In proportion to the streams in the kernel."""
        kernel = mixed = 0
        read = self.counters.read_raw
        for stream_id in self.planner.member:
            record = self.records.get(stream_id)
            counts = self.kernel_counts.get(stream_id)
            if record is None or counts is None or not self.slots.owns(record.slot):
                continue  # RTCP components are not counted (10.5)
            if not counts[0] + counts[2]:
                continue
            if read(record.slot)[0] > counts[5]:
                mixed += 1
            else:
                kernel += 1
        return kernel, mixed

    def in_kernel(self, stream: Stream) -> bool:
        """True while the kernel forwards what arrives on ``stream``'s port."""
        return self.planner.in_kernel(stream.id)

    # -- kernel forwarding --------------------------------------------------------------

    def _kernel_out(self, pair: Pair | None) -> None:
        if pair is not None:
            self._kernel_fold(self.kernel.remove([pair]), [pair])

    def _kernel_fold(self, last: dict, pairs: list[Pair]) -> None:
        """Removed elements' final counters become the streams' kernel base."""
        now = time.time()
        for pair in pairs:
            for leg in pair.legs():
                counts = self.kernel_counts.get(leg.stream_id)
                if counts is None:
                    continue
                packets, nbytes = last.get((leg.our_address, leg.our_port), (counts[2], counts[3]))
                if packets > counts[2]:
                    counts[4] = now
                counts[0] += packets
                counts[1] += nbytes
                counts[2] = counts[3] = 0

    def _kernel_refresh(self, streams: list[Stream] | None) -> None:
        """Fresh kernel counters for ``streams`` (all when None) before a view reads them:
        a few streams' elements are asked for by key; many, or all, in one dump that
        stays good for ``KERNEL_FRESH`` seconds."""
        if streams is not None and len(streams) <= 256:
            member = self.planner.member
            installed = self.planner.installed
            pairs = {member[s.id]: installed[member[s.id]] for s in streams if s.id in member}
            if pairs:
                self._kernel_poll(list(pairs.values()))
            return
        if time.monotonic() - self.kernel_read >= KERNEL_FRESH:
            self._kernel_poll()

    def _kernel_poll(self, pairs: list[Pair] | None = None) -> None:
        """Read forwarded ports' counters (``pairs``' or all); one that moved is a packet."""
        if pairs is None:
            self.kernel_read = time.monotonic()
            pairs = list(self.planner.installed.values())
            keys = None
        else:
            keys = [(leg.our_address, leg.our_port) for pair in pairs for leg in pair.legs()]
        try:
            values = self.kernel.counters(keys)
        except OSError:
            log.debug("kernel counters", exc_info=True)
            return
        now = time.time()
        for pair in pairs:
            for leg in pair.legs():
                counts = self.kernel_counts.get(leg.stream_id)
                value = values.get((leg.our_address, leg.our_port))
                if counts is None or value is None:
                    continue
                if value[0] != counts[2]:
                    counts[4] = now
                counts[2], counts[3] = value

    def kernel_tick(self) -> None:
        """Move settled pairs into the kernel and changed ones out (one transaction each)."""
        planner = self.planner
        for stream in planner.due() + list(planner.streams.values()):
            record = self.records.get(stream.id)
            if record is None or record.follows is not None or stream.id in self.followers:
                planner.candidates.pop(stream.id, None)  # re-INVITE transition: userspace
                continue
            self._refresh_record(record)
        # No counter read here: views read what they show (by key, or one dump), the
        # timers read the calls they are about to time out, and a removal reads its own.
        installs, removals = planner.tick()
        if removals:
            self._kernel_fold(self.kernel.remove(removals), removals)
        if installs:
            done = {pair.key for pair in self.kernel.install(installs)}
            for pair in installs:
                if pair.key not in done:  # refused: stays in userspace for good
                    planner.forget(planner.streams[pair.a.stream_id])
                    planner.candidates.pop(pair.b.stream_id, None)
                    continue
                for leg in pair.legs():
                    counts = self.kernel_counts.setdefault(leg.stream_id, [0, 0, 0, 0, 0.0, 0])
                    record = self.records.get(leg.stream_id)
                    counts[5] = self.counters.read_raw(record.slot)[0] if record else 0

    async def _kernel_loop(self) -> None:
        while not self.closing:
            await trio.sleep(KERNEL_TICK)
            try:
                self.kernel_tick()
            except Exception:  # a bug or a netlink failure must not end the relay
                log.exception("kernel forwarding tick failed")

    def worker_of(self, stream: Stream) -> int | None:
        record = self.records.get(stream.id)
        return record.worker.pid if record else None

    # -- internals ----------------------------------------------------------------------

    def _new_handle(self, index: int) -> _WorkerHandle:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        parent.setblocking(False)
        return _WorkerHandle(index, parent, child)

    def _worker_for(self, stream: Stream) -> _WorkerHandle:
        worker = self.group_workers.get(stream.group)
        if worker is not None:
            return worker
        sink = self.records.get(stream.sink.id) if stream.sink is not None else None
        if sink is not None:
            return sink.worker
        return min(self.workers, key=lambda w: w.streams)

    def _spec(self, record: _Record, override: bool, restart_learning: bool,
              ahead: list | None = None) -> tuple:
        """The stream's ``StreamSpec`` as a plain tuple (field order of ``StreamSpec``).
        A message the worker needs first (a DTLS certificate) is sent, or put in ``ahead``."""
        stream = record.stream
        stream_id = stream.id
        if record.follows is not None:  # replaced by a re-INVITE: relays as its successor
            stream = record.follows
        family = record.family
        sink = stream.sink
        rtcp_peer = stream.rtcp_peer
        ice = dtls = srtp_in = srtp_out = None
        extra_sinks: tuple = ()
        transcode: tuple = ()
        dropped: tuple = ()
        dtmf_events: tuple = ()
        rtcp_only = egress = False
        t38 = guard = rtcp_gen = srtcp = detect = None
        transcode_passes = strip_feedback = False
        if stream.rare is not None:  # (else plain: no keys, WebRTC, subscribers, conversions)
            if stream.dtls is not None or stream.ice is not None:
                ice, dtls = self._webrtc_spec(record, stream, ahead)
            # (the usual empties as they are: no generator run per spec)
            if stream.extra_sinks:
                extra_sinks = tuple(s.id for s in stream.extra_sinks if not s.closed)
            srtp_in, srtp_out, transcode = stream.srtp_in, stream.srtp_out, stream.transcode
            rtcp_only, egress = stream.rtcp_only, stream.egress
            dropped = stream.dropped_types
            dtmf_events = stream.dtmf_events
            t38 = stream.t38
            guard = stream.guard
            detect = stream.detect
            rtcp_gen = stream.rtcp_gen
            srtcp = stream.srtcp
            transcode_passes = stream.transcode_passes
            strip_feedback = stream.strip_feedback
        alternates = (tuple(_family(sock) for _, _, sock in record.alternates)
                      if record.alternates else ())
        return (
            stream_id,
            record.slot,
            family,
            sink.id if sink is not None else None,
            rtcp_peer.id if rtcp_peer is not None else None,
            self._address(family, stream.advertised),
            self._address(family, stream.endpoint),
            override,
            stream.confirmed,
            stream.learning,
            stream.strict_source,
            stream.media_handover,
            stream.asymmetric,
            stream.rtcp_mux,
            stream.blocked,
            restart_learning,
            record.generation,
            srtp_in,
            srtp_out,
            ice,
            dtls,
            extra_sinks,
            transcode,
            rtcp_only,
            egress,
            dropped,
            t38,
            alternates,
            guard,
            rtcp_gen,
            srtcp,
            transcode_passes,
            strip_feedback,
            stream.rtcp,
            stream.payload_types,
            dtmf_events,
            detect,
        )

    def _webrtc_spec(self, record: _Record, stream: Stream, ahead: list | None = None) -> tuple:
        """(ice, dtls) of a WebRTC stream for its worker: candidates as ``sendto`` addresses
        of the socket's family, the certificate by name (sent to the worker once, ahead). An
        ICE-only leg (plain or SDES media) has no DTLS part."""
        dtls = None
        if stream.dtls is not None:
            client, remote_fingerprint, certificate = stream.dtls
            name = certificate.fingerprint()
            worker = record.worker
            if name not in worker.certificates:
                worker.certificates.add(name)
                message = ("certificate", (name, *certificate.to_pem(), certificate.mtu,
                                           certificate.ciphers))
                if ahead is None:
                    self._send(worker, message)
                else:
                    ahead.append((message, None))
            dtls = (client, remote_fingerprint, name)
        ice = stream.ice
        if ice is not None:
            candidates = []
            for host, port, priority in ice[5]:
                # As recvfrom gives the source (IPv4-mapped on an IPv6 socket): pairs match it.
                address = socket_address(record.family, host, port) if port else None
                if address is not None:
                    candidates.append((address, priority))
            # The same for each socket on another address: the candidates of its family
            # (bound to one address, it reaches no other family; 10.5 pairs them so too).
            alternates = tuple(
                tuple((address, priority) for host, port, priority in ice[5]
                      if port and (":" in host) == (family == 6)
                      and (address := socket_address(family, host, port)) is not None)
                for family in (_family(sock) for _, _, sock in record.alternates))
            ice = (*ice[:5], tuple(candidates), *ice[6:8], alternates)
        return ice, dtls

    def _address(self, family: int, endpoint: Endpoint | None) -> tuple | None:
        """``_address`` with a cache: calls reuse the same few SDP addresses."""
        if endpoint is None:
            return None
        key = (family, endpoint.address, endpoint.port)
        try:
            return self.addresses[key]
        except KeyError:
            pass
        address = _address(family, endpoint)
        if len(self.addresses) >= 4096:
            self.addresses.clear()
        self.addresses[key] = address
        return address

    def _refresh_record(self, record: _Record) -> None:
        (packets, nbytes, errors, last_packet, ssrc, port, family, flags, address,
         kernel_drops, generation, payload_type) = self.counters.read_raw(record.slot)
        stream = record.stream
        stats = stream.stats
        kernel = self.kernel_counts.get(stream.id)
        if kernel is not None:
            packets += kernel[0] + kernel[2]
            nbytes += kernel[1] + kernel[3]
            last_packet = max(last_packet, kernel[4])
        first = packets and not stats.packets
        stats.packets = packets
        if first and self.on_first_packet is not None:
            self.on_first_packet(stream)
        stats.bytes = nbytes
        stats.errors = errors + kernel_drops
        stats.last_packet = last_packet
        if flags & SSRC_SEEN:
            stats.ssrc = ssrc
        stats.rtcp_seen = bool(flags & RTCP_SEEN)
        stats.kernel = kernel is not None and self.planner.in_kernel(stream.id)
        if payload_type & PAYLOAD_TYPE_SEEN:
            stats.payload_type = payload_type & 0x7F
        followers = self.followers.get(stream.id)
        if followers:
            self._add_followers(stats, followers)
        if generation != record.generation or not self.counters.written(record.slot):
            return  # the worker has not applied the latest update yet: keep our endpoint
        raw = (family, port, address)
        if raw != record.seen_raw:
            record.seen_raw = raw
            learned = (unpack_address(family, address), port) if family else None
            record.seen_endpoint = _endpoint(learned, stream.endpoint)
        before = (stream.endpoint, stream.confirmed)
        stream.endpoint = record.seen_endpoint
        stream.confirmed = record.seen_confirmed = bool(flags & CONFIRMED)
        if self.on_learned is not None and before != (stream.endpoint, stream.confirmed):
            self.on_learned(stream)

    def _add_followers(self, stats: StreamStats, followers: list[_Record]) -> None:
        """Packets that still arrive on replaced ports count for the successor (10.5)."""
        latest = stats.last_packet
        for follower in followers:
            self._refresh_record(follower)
            theirs = follower.stream.stats
            stats.packets += theirs.packets
            stats.bytes += theirs.bytes
            stats.errors += theirs.errors
            if theirs.last_packet > latest:
                latest = stats.last_packet = theirs.last_packet
                if theirs.ssrc:
                    stats.ssrc = theirs.ssrc
                if theirs.payload_type is not None:
                    stats.payload_type = theirs.payload_type

    def _send(self, worker: _WorkerHandle, message: tuple, socket_of: int | None = None,
              urgent: bool = True) -> None:
        """Add ``message`` to the worker's batch; send it unless a ``batch()`` block is open.

        ``socket_of``: the id of the stream whose socket goes along. The socket is looked
        up when the batch is finally sent (no fds held meanwhile); if the stream was
        closed in between, its ``add`` is skipped. A message that is not ``urgent`` (an
        add) waits up to ``DEFER_DELAY`` for an urgent one to travel with.
        """
        pending = worker.pending
        pending.append((message, socket_of))
        if len(pending) >= ch.MAX_BATCH:
            self._flush_worker(worker)
        elif not urgent:
            if not worker.deferred:
                worker.deferred = True
                self.deferred.append(worker)
                self.deferred_ready.set()
        elif not self.batching:
            self._flush_worker(worker, hold=True)
        elif not worker.in_batch:
            worker.in_batch = True
            self.batched.append(worker)

    async def _flush_deferred(self) -> None:
        """Send adds that found no urgent message within ``DEFER_DELAY``."""
        while not self.closing:
            await self.deferred_ready.wait()
            self.deferred_ready = trio.Event()
            await trio.sleep(DEFER_DELAY)
            deferred, self.deferred = self.deferred, []
            for worker in deferred:
                worker.deferred = False
                if not worker.in_batch:  # (else the open batch sends them)
                    self._flush_worker(worker)

    def _flush_worker(self, worker: _WorkerHandle, hold: bool = False) -> None:
        """Send the worker's pending batch now if the channel has room, else queue it.

        ``hold`` (an urgent message's send): new streams' adds stay pending while
        ``_flush_deferred`` is due to send them, for their own answer to replace (and
        otherwise leave as they would have: within ``DEFER_DELAY``).
        """
        batch = worker.pending
        if not batch:
            return
        if hold and worker.unsent and worker.deferred:
            batch = self._hold_adds(worker, batch)
            if not batch:
                return
        else:
            worker.pending = []
            if worker.unsent:
                worker.unsent.clear()
            if worker.lazy:
                worker.lazy = False
                batch = self._complete(batch)
        if not worker.outbox:
            try:
                self._transmit(worker.channel, batch)
                return
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                if self.closing:
                    return
                # A dying worker: the restart re-sends every stream, so nothing is lost.
                log.debug("relay worker %d channel: send failed", worker.index, exc_info=True)
                return
        worker.outbox.append(batch)
        worker.outbox_ready.set()

    def _hold_adds(self, worker: _WorkerHandle, batch: list) -> list:
        """Keep the batch's unsent adds (``open_stream``'s, not replaced yet) pending and
        return the rest. Under load an offer's adds would otherwise leave with the next
        urgent message of any call, and its answer's update follow as a message of its own.
        Those of a call that the rest changes go with it (a re-offer's new stream: the
        call's other streams may relay to it now). A closed stream's add is dropped."""
        unsent = worker.unsent
        records = self.records
        changed = set()  # the calls of the rest's updates (and adds with a spec)
        for entry in batch:
            if entry is not None:
                message = entry[0]
                # (a stream played to must be there before its "play")
                if message[0] in ("update", "play") or (
                        message[0] == "add" and message[1] is not None):
                    record = records.get(message[1][0])
                    if record is not None:
                        changed.add(record.stream.group)
        kept: list = []
        held: dict[int, int] = {}
        rest: list = []
        complete = False
        for entry in batch:
            if entry is None:
                continue
            message, stream_id = entry
            if _unbuilt_add(message):
                record = records.get(stream_id)
                if record is None:
                    continue  # closed since
                if stream_id in unsent and record.stream.group not in changed:
                    held[stream_id] = len(kept)
                    kept.append(entry)
                    continue
                complete = True  # (its spec is built now)
            rest.append(entry)
        worker.pending = kept
        worker.unsent = held
        worker.lazy = bool(kept)
        return self._complete(rest) if complete else rest

    def _complete(self, batch: list) -> list:
        """The batch with the specs of its adds of ``open_stream`` built now; messages the
        worker needs before them (a DTLS certificate) go first."""
        records = self.records
        ahead: list = []
        for index, entry in enumerate(batch):
            if entry is not None and _unbuilt_add(entry[0]):
                record = records.get(entry[1])
                batch[index] = None if record is None else (
                    ("add", self._spec(record, True, True, ahead)), entry[1])
        return ahead + batch if ahead else batch

    def _transmit(self, channel: socket.socket, batch: list) -> None:
        messages = []
        fds = []
        records = self.records
        for entry in batch:
            if entry is None:
                continue  # an add sent later in the batch (``update_stream``)
            message, socket_of = entry
            if socket_of is not None:
                record = records.get(socket_of)
                if record is None:
                    continue  # closed before it could be handed over
                numbers = [sock.fileno() if sock is not None else -1
                           for sock in _sockets_of(message, record)]
                if min(numbers) < 0:
                    continue
                fds += numbers
            messages.append(message)
        if not messages:
            return
        data = ch.encode(messages)
        if fds:
            socket.send_fds(channel, [data], fds)
        else:
            channel.send(data)

    def _reset_channel(self, worker: _WorkerHandle) -> None:
        """A fresh channel for a restarted worker, preloaded with all of its streams."""
        worker.outbox.clear()
        worker.pending = []
        worker.unsent.clear()
        worker.lazy = False
        if worker in self.batched:
            self.batched.remove(worker)
        worker.in_batch = False
        worker.channel.close()
        worker.child_end.close()
        worker.certificates.clear()  # the new worker process has none yet
        self._removed(worker, list(worker.pending_removal))  # the dead worker's copies are gone
        worker.channel, worker.child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        worker.channel.setblocking(False)
        worker.outbox_ready = trio.Event()
        records = [record for record in self.records.values() if record.worker is worker]
        for record in records:
            self._refresh_record(record)
        with self.batch():
            for record in records:
                # The slot keeps the counters; the new worker resumes from them.
                self._send(worker, ("add", self._spec(record, True, False)), record.stream.id)

    async def _supervise(self, worker: _WorkerHandle) -> None:
        """Run one worker process for as long as the plane is open; restart it if it dies."""
        process = None
        try:
            while not self.closing:
                started = time.monotonic()
                child_fd = worker.child_end.fileno()
                try:
                    process = await trio.lowlevel.open_process(
                        worker_command(child_fd, self.counters.fd, worker.index,
                                       self.worker_options),
                        pass_fds=(child_fd, self.counters.fd),
                        stdin=subprocess.DEVNULL,
                        env=worker_environment(os.environ),
                    )
                except OSError:
                    if self.closing:  # the plane closed the channel while the worker was spawning
                        return
                    raise
                worker.pid = process.pid
                worker.child_end.close()
                async with trio.open_nursery() as tasks:
                    tasks.start_soon(self._read_channel, worker)
                    tasks.start_soon(self._write_outbox, worker)
                    await process.wait()
                    tasks.cancel_scope.cancel()
                if self.closing:
                    return
                worker.restarts += 1
                log.warning(
                    "relay worker %d (pid %d) exited with status %s; restarting it with its %d streams",
                    worker.index, process.pid, process.returncode, worker.streams,
                )
                self._reset_channel(worker)
                if time.monotonic() - started < 1.0:
                    await trio.sleep(RESTART_BACKOFF)
        finally:
            with trio.CancelScope(shield=True):
                self._close_channel(worker)
                if process is not None and _running(process):
                    with trio.move_on_after(STOP_GRACE):
                        await process.wait()
                    if _running(process):  # (a function: the wait changed it)
                        process.kill()
                        await process.wait()

    async def _read_channel(self, worker: _WorkerHandle) -> None:
        """Acknowledgements from the worker: a removed stream's slot may be reused."""
        channel = worker.channel
        while True:
            if channel.fileno() < 0:  # closed while this task was not waiting on it
                return
            try:
                await trio.lowlevel.wait_readable(channel)
            except trio.ClosedResourceError:
                return
            if not self._read_news(worker):
                return

    def _read_news(self, worker: _WorkerHandle) -> bool:
        """Handle whatever the worker has sent so far, without waiting; False once its
        channel is closed. ``refresh`` calls it too: news a worker sent before a packet
        that a client then saw (a learned endpoint, a finished DTLS handshake) is in
        the next ``query``, whichever of the two the event loop happened to wake first."""
        channel = worker.channel
        while True:
            if channel.fileno() < 0:
                return False
            try:
                data = channel.recv(ch.MAX_MESSAGE)
            except BlockingIOError:
                if self.reports:
                    self._deliver_reports()
                return True
            except OSError:
                return False
            if not data:
                return False
            for kind, stream_ids in ch.decode(data):
                if kind == "ready":
                    worker.ready.set()
                elif kind == "removed":
                    self._removed(worker, stream_ids)
                elif kind == "learned":
                    for stream_id in stream_ids:
                        record = self.records.get(stream_id)
                        if record is not None:
                            self._refresh_record(record)  # on_learned sees the change
                elif kind == "rtcp":  # reports relayed: the call quality figures
                    self._reports(stream_ids)
                elif kind == "transcoded":  # what went into the worker's conversions
                    self._transcoded(stream_ids)
                elif kind == "dtmf":  # keys the parties sent (DTMF logging)
                    self._dtmf(stream_ids)
                elif kind == "secure":  # a WebRTC leg's handshake state changed
                    for stream_id, status in stream_ids:
                        record = self.records.get(stream_id)
                        if record is not None:
                            record.stream.fingerprint_verified = bool(status[1])
                            record.stream.dtls_suite = status[2]
                            # (no peer: ICE has selected no pair on the stream)
                            record.stream.selected = None if status[0] is None else status[5]

    def _reports(self, reports: list) -> None:
        if self.on_rtcp is not None:
            self.reports.extend(reports)

    def _dtmf(self, keys: list) -> None:
        handler = self.on_dtmf
        for stream_id, *key in keys:
            record = self.records.get(stream_id)
            if record is not None and handler is not None:
                handler(record.stream, *key)

    def _transcoded(self, counts: list) -> None:
        totals = self.transcoded
        for codec_in, codec_out, packets, nbytes, samples in counts:
            total = totals.get((codec_in, codec_out))
            if total is None:
                total = totals[(codec_in, codec_out)] = [0, 0, 0]
            total[0] += packets
            total[1] += nbytes
            total[2] += samples

    def _deliver_reports(self) -> None:
        """Hand the RTCP reports read to ``on_rtcp``, once the news is read (the handler
        may refresh the call's counters, which reads news again)."""
        reports, self.reports = self.reports, []
        handler = self.on_rtcp
        for stream_id, wall, senders, blocks, extended, packet in reports:
            record = self.records.get(stream_id)
            if record is not None and handler is not None:
                handler(record.stream, wall, senders, blocks, extended, packet)

    def _removed(self, worker: _WorkerHandle, stream_ids: list[int]) -> None:
        """The worker no longer holds these streams: their slots and ports are free."""
        pending_removal = worker.pending_removal
        slots = self.slots
        released = self.lingering.released
        for stream_id in stream_ids:
            pending = pending_removal.pop(stream_id, None)
            if pending is not None:
                slot, keys = pending
                (slots if slots.owns(slot) else self.rtcp_slots).release(slot)
                for key in keys:
                    released(*key)

    async def _write_outbox(self, worker: _WorkerHandle) -> None:
        channel = worker.channel
        while True:
            await worker.outbox_ready.wait()
            worker.outbox_ready = trio.Event()
            while worker.outbox:
                try:
                    self._transmit(channel, worker.outbox[0])
                except (BlockingIOError, InterruptedError):
                    if channel.fileno() < 0:
                        return
                    try:
                        await trio.lowlevel.wait_writable(channel)
                    except trio.ClosedResourceError:
                        return
                    continue
                except OSError:
                    return
                worker.outbox.popleft()

    def _close_channel(self, worker: _WorkerHandle) -> None:
        if worker.channel.fileno() >= 0:
            trio.lowlevel.notify_closing(worker.channel)
            worker.channel.close()
        worker.child_end.close()

    def start(self, nursery: trio.Nursery) -> None:
        for worker in self.workers:
            nursery.start_soon(self._supervise, worker)
        nursery.start_soon(self._flush_deferred)
        if self.kernel.active:
            nursery.start_soon(self._kernel_loop)

    async def wait_ready(self) -> None:
        """Until every worker process has started (or ``WORKER_READY_TIMEOUT`` passed): a
        daemon answers nothing before, so a call set up at once does not wait for a worker
        still loading (its first packets sat in the socket for 30-120 ms)."""
        with trio.move_on_after(WORKER_READY_TIMEOUT) as waited:
            for worker in self.workers:
                await worker.ready.wait()
        if waited.cancelled_caught:
            log.warning("relay workers not all started after %d s; going on",
                        WORKER_READY_TIMEOUT)

    def close(self) -> None:
        """Stop relaying: workers see end of file on their channel and exit."""
        self.closing = True
        for worker in self.workers:
            self._close_channel(worker)
            worker.outbox.clear()
            worker.pending = []
            worker.unsent.clear()
            worker.lazy = False
        self.batched = []
        self.deferred = []
        self.deferred_ready.set()  # (``_flush_deferred`` sees ``closing`` and returns)
        self.lingering.close_all()
        try:
            self.kernel.close()  # no forwarding survives the daemon
        except OSError:
            log.warning("removing the kernel forwarding table failed", exc_info=True)


class _Batch:
    """The context manager of ``RelayPlane.batch()`` (nestable; the outermost sends)."""

    __slots__ = ("plane",)

    def __init__(self, plane: RelayPlane) -> None:
        self.plane = plane

    def __enter__(self) -> None:
        self.plane.batching += 1

    def __exit__(self, *exc_info) -> None:
        plane = self.plane
        plane.batching -= 1
        if not plane.batching and plane.batched:
            plane.flush()


def worker_command(channel_fd: int, counters_fd: int, index: int,
                   options: list[str]) -> list[str]:
    """A relay worker's command line: ``-P`` leaves the working directory off its import
    path (``worker_environment`` puts ``PACKAGE_ROOT`` there instead)."""
    return [sys.executable, "-P", "-m", "rtpengined.media.worker", str(channel_fd),
            str(counters_fd), str(index), *options]


def worker_environment(environ) -> dict[str, str]:
    """The daemon's environment with ``PACKAGE_ROOT`` first on the worker's import path."""
    env = dict(environ)
    rest = [part for part in environ.get("PYTHONPATH", "").split(os.pathsep)
            if part and part != PACKAGE_ROOT]
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_ROOT, *rest])
    return env


def _family(sock: _socket.socket) -> int:
    """4 or 6 (the C getter: ``socket.socket.family`` builds an enum, ten times slower)."""
    return 6 if _socket_family(sock) == _AF_INET6 else 4


_socket_family = _socket.socket.family.__get__
_AF_INET6 = int(socket.AF_INET6)


def _running(process: trio.Process) -> bool:
    return process.returncode is None


def _nonblocking(alternates: tuple) -> tuple:
    for _, _, sock in alternates:
        if sock.fileno() >= 0 and sock.getblocking():  # (no system call) as open_stream
            sock.setblocking(False)
    return alternates


def _unbuilt_add(message: tuple) -> bool:
    """An ``open_stream`` add whose spec is built when it leaves (``RelayPlane._complete``)."""
    return message[1] is None and message[0] == "add"


_ALTERNATES = ch.StreamSpec._fields.index("alternates")  # (specs travel as plain tuples)


def _sockets_of(message: tuple, record: _Record) -> list | tuple:
    """The sockets that travel with a message naming ``record``'s stream: an "add" takes
    the stream's own and those of its spec's ``alternates``, an "alternates" message the
    ones it names."""
    if message[0] == "alternates":
        _, families, start = message[1]
        return [sock for _, _, sock in record.alternates[start:start + len(families)]]
    count = len(message[1][_ALTERNATES])
    if not count:  # (nearly every add: its own socket only)
        return (record.stream.sock,)
    return [record.stream.sock, *(sock for _, _, sock in record.alternates[:count])]


def _address(family: int, endpoint: Endpoint | None) -> tuple | None:
    if endpoint is None or not endpoint.port:
        return None
    return socket_address(family, endpoint.address, endpoint.port)


def _endpoint(raw: tuple | None, current: Endpoint | None) -> Endpoint | None:
    """An ``Endpoint`` for a learned address (IPv4-mapped IPv6 shown as IPv4)."""
    if raw is None:
        return current
    address, port = raw
    if address.startswith("::ffff:") and "." in address:
        address = address[7:]
    if current is not None and current.address == address and current.port == port:
        return current
    return Endpoint(address, port)


def _raise_file_limit() -> None:
    """Every call holds several sockets (here and in a worker): use the hard fd limit."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


def open_media_plane(config: Config, nursery: trio.Nursery) -> _OpenPlane:
    """``async with open_media_plane(config, nursery) as plane``: start the relay workers in
    ``nursery``, give the plane once they are ready, stop them on exit."""
    return _OpenPlane(config, nursery)


class _OpenPlane:
    """``open_media_plane``'s context (a class, not an async generator: the compiled build
    has none of those)."""

    def __init__(self, config: Config, nursery: trio.Nursery) -> None:
        self.config = config
        self.nursery = nursery
        self.plane: RelayPlane | None = None

    async def __aenter__(self) -> RelayPlane:
        _raise_file_limit()
        config = self.config
        plane = self.plane = RelayPlane(config, kernel=open_kernel(
            config.table, config.no_fallback, config.tos))
        plane.start(self.nursery)
        try:
            await plane.wait_ready()
        except BaseException:
            plane.close()
            raise
        return plane

    async def __aexit__(self, *exc_info: object) -> None:
        if self.plane is not None:
            self.plane.close()
