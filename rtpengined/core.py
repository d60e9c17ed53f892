"""The command core: every transport hands its bytes here and sends back what it returns.

Sans-I/O: no sockets, no trio. ``handle_ng`` implements the ng envelope (cookie, reply
cache, encodings, error replies) and dispatches to the command table; ``handle_cli``
runs one line of the text CLI. Both are synchronous, so a request is never half done
when another arrives, and a retransmission can always be answered from the cache.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from types import TracebackType
from typing import Any

from . import b2b, cdr, ctl, dtmf_log, homer, ng_vocabulary, quality, rtcp_log, statsview
from .calls import CallManager
from .commands import NG_COMMANDS
from .config import Config
from .host import Host, OsHost
from .janus import Janus, JanusLink
from .log_context import CONTEXT, LIMITER, address_text
from .log_lines import write_line
from .log_stream import held_lines
from .media import MediaPlane, NullMediaPlane
from .model import Call, Stream
from .ngoptions import canonical_keys
from .ports import Binder, bind_udp
from .protocol import ngcodec, ngdump
from .protocol.ngcodec import BENCODE, NgError
from .redis import CallStore
from .request import NgHandler, Request
from .stats import IntervalTally, Stats

log = logging.getLogger("rtpengined")
control_log = logging.getLogger("rtpengined.control")  # (10.5's "control" subsystem)

# Commands that never change a call (everything else may: the call store is told).
_READ_ONLY_COMMANDS = frozenset({"ping", "query", "list", "statistics"})


class Core:
    """Daemon state behind every transport: config, calls, counters, reply cache."""

    def __init__(
        self,
        config: Config | None = None,
        media: MediaPlane | None = None,
        clock: Callable[[], float] = time.time,
        commands: dict[str, NgHandler] | None = None,
        binder: Binder = bind_udp,
        release_memory: Callable[[], None] = lambda: None,
        host: Host | None = None,
    ) -> None:
        """Effects come from outside: ``binder`` binds media ports (real UDP sockets unless a
        test or fuzzer passes one that binds nothing) and ``release_memory`` gives freed heap
        back to the OS (the daemon passes ``service.release_freed_memory``); ``host`` does
        what the CLI asks of the process (file limit, logger levels)."""
        self.config = config or Config()
        self.clock = clock
        # ng command -> handler; the table lives in ``commands`` (one place lists them all).
        self.commands = NG_COMMANDS if commands is None else commands
        self.stats = Stats(clock=clock)
        if self.config.graphite is not None:  # (its interval figures: ``graphite``)
            self.stats.graphite = IntervalTally(clock(), self.config.graphite_seconds)
        self.cache = ngcodec.ReplyCache()
        self.calls = CallManager(self.config, media or NullMediaPlane(), self.stats, clock, binder)
        self._trimmed_at_generation = 0
        self._release_memory = release_memory
        self.host: Host = host or OsHost()
        # The text CLI's own state (ctl.state.CliState), made on its first command.
        self.ctl_state: Any = None
        # The Janus videoroom interface's sessions and rooms (``janus``).
        self.janus = Janus(self)
        # Where ``dtmf_event`` sends each key's JSON line: the daemon's sockets to
        # ``--dtmf-log-dest`` and to syslog (``event_senders``), none without the options.
        self.dtmf_sinks: list[Callable[[bytes], None]] = []
        # Where ``call_detail_record`` sends each call's CDR as it ends: the daemon's
        # syslog socket with ``--log-facility-cdr``.
        self.cdr_sinks: list[Callable[[bytes], None]] = []
        # Where ``rtcp_report`` sends each RTCP packet's line: syslog with
        # ``--log-facility-rtcp`` (its relay workers then hand over the packets too).
        self.rtcp_sinks: list[Callable[[bytes], None]] = []
        # Where ``rtcp_report`` sends each RTCP packet's HEPv3 frame (``homer``): the
        # daemon's Homer socket with ``--homer``.
        self.homer_sinks: list[Callable[[bytes], None]] = []
        if self.config.log_facility_cdr is not None:
            self.calls.on_end = self.call_detail_record
        # Where ``media_timed_out`` sends the XML-RPC requests that end a timed-out call's
        # dialogs (``b2b``): the daemon's sender with ``--b2b-url``.
        self.teardown_sinks: list[Callable[[list[b2b.Teardown]], None]] = []
        if self.config.b2b_url:
            self.calls.on_media_timeout = self.media_timed_out
        # ``--dtmf-log-ng-tcp``: one callable per open TCP ng connection, each taking a
        # framed message to write to its peer (the transport adds and removes them).
        self.ng_notified: set[Callable[[bytes], None]] = set()

    # The media plane and the call store belong to the call model; the core reaches them
    # through it. The daemon replaces the null call store once Redis is connected.
    @property
    def media(self) -> MediaPlane:
        return self.calls.media

    @media.setter
    def media(self, plane: MediaPlane) -> None:
        self.calls.media = plane

    @property
    def store(self) -> CallStore:
        """Where calls are kept beyond this process (Redis); a null store without it."""
        return self.calls.store

    @store.setter
    def store(self, store: CallStore) -> None:
        self.calls.store = store

    def rtcp_report(self, stream: Stream, wall: float, senders: list, blocks: list,
                    extended: list | tuple = (), packet: bytes | None = None) -> None:
        """RTCP the relay read on a stream (``MediaPlane.on_rtcp``): the call quality
        figures of its call (``quality``), and with ``--log-facility-rtcp`` the packet's
        line (``rtcp_log``) to every RTCP sink."""
        call = self.calls.calls.get(stream.group)
        if call is not None:
            if packet and self.rtcp_sinks:
                logged = rtcp_log.line(call.call_id, packet)
                if logged is not None:
                    for sink in self.rtcp_sinks:
                        sink(logged)
            if packet and self.homer_sinks:
                self._to_homer(call, stream, wall, packet)
            if not (senders or blocks or extended):
                return
            if blocks:  # (the payload types the reported streams came in with)
                self.media.refresh([s for s in call.streams() if not s.closed])
            quality.note(call.monologues, stream, wall, senders, blocks, self.stats.mos,
                         extended, self.config.mos == "LQ")

    def _to_homer(self, call: Call, stream: Stream, wall: float, packet: bytes) -> None:
        """An RTCP packet as 10.5 sends it Homer: its JSON in a HEPv3 frame, from the party's
        address to our socket's."""
        payload = homer.rtcp_json(packet)
        source = stream.endpoint or stream.advertised
        if payload is None or source is None or stream.closed:
            return
        interface, port = stream.selected_local
        try:
            frame = homer.hep3(payload, call.call_id, self.config.homer_id,
                               (source.address, source.port), (interface.address, port), wall)
        except ValueError:  # (an address that is no IP: a name in the party's SDP)
            return
        for sink in self.homer_sinks:
            sink(frame)

    def media_timed_out(self, call: Call) -> None:
        """An own call whose media timed out (``CallManager.on_media_timeout``): the
        requests asking ``--b2b-url`` to end its dialogs, to every sink."""
        requests = b2b.teardown_requests(call, self.config.b2b_url or "",
                                         self.config.xmlrpc_format, call.xmlrpc_callback)
        if requests:
            for sink in self.teardown_sinks:
                sink(requests)

    def call_detail_record(self, call: Call, reason: str | None) -> None:
        """An own call ending (``CallManager.on_end``): its CDR line (``cdr``) to every
        sink, as 10.5 logs it with ``--log-facility-cdr``."""
        if self.cdr_sinks:
            record = cdr.line(call, reason, self.clock())
            for sink in self.cdr_sinks:
                sink(record)

    def dtmf_event(self, stream: Stream, source_ip: str, event: int, volume: int,
                   samples: int, rate: int) -> None:
        """A key a party ended as telephone-event on ``stream`` (``MediaPlane.on_dtmf``): its
        JSON line to ``--dtmf-log-dest`` and to syslog (``--log-facility-dtmf``), its
        ``onDTMF`` message to every TCP ng client with ``--dtmf-log-ng-tcp``
        (``dtmf_log``)."""
        call = self.calls.calls.get(stream.group)
        party = dtmf_log.sender_of(call, stream) if call is not None else None
        if call is None or party is None:
            return
        tags = [p.tag for p in call.monologues if p.tag]
        key = (call.call_id, party.tag, tags, int(self.clock()), source_ip, event, volume,
               samples, rate)
        if self.dtmf_sinks:
            line = dtmf_log.line(*key)
            for sink in self.dtmf_sinks:
                sink(line)
        if self.ng_notified:
            message = dtmf_log.notification(secrets.token_hex(8).encode(), *key)
            for notify in list(self.ng_notified):
                notify(message)

    # -- ng ---------------------------------------------------------------------------

    def handle_ng(self, raw: bytes, source: tuple[str, int] | None = None) -> bytes | None:
        """Answer one ng envelope; ``None`` means drop it silently (no cookie)."""
        self.stats.register_proxy(source[0] if source else "")
        envelope = ngcodec.split_envelope(raw)
        if envelope is None:
            if control_log.isEnabledFor(logging.WARNING):
                control_log.warning("Received invalid data on NG port (no cookie) from %s: %s",
                                    address_text(source), CONTEXT.mark(_raw_text(raw)))
            return None
        cached = self.cache.get(envelope.cookie)
        if cached is not None:
            if control_log.isEnabledFor(logging.INFO):
                write_line(control_log, logging.INFO,
                           f"Detected command from {address_text(source)} as a duplicate")
            return envelope.cookie + b" " + cached
        reply = self._execute(envelope.payload, Request(source))
        self.cache.put(envelope.cookie, reply)
        return envelope.cookie + b" " + reply

    def handle_ng_plain(self, payload: bytes, source: tuple[str, int] | None = None) -> tuple[bytes, str]:
        """Answer a bare payload (``/ng-plain``): no cookie, no cache. Returns the encoding too."""
        self.stats.register_proxy(source[0] if source else "")
        encoding = ngcodec.detect_encoding(payload) or BENCODE
        return self._execute(payload, Request(source)), encoding

    def _execute(self, payload: bytes, request: Request) -> bytes:
        """Decode, run and encode one request, with 10.5's log lines about it: received,
        replied (with the time it took), or the protocol error with the request's bytes;
        at debug level the request and the reply as 10.5 dumps them. Every line written
        meanwhile names the request's call (``log_context``)."""
        if not payload:
            return self._error(BENCODE, "Invalid data (no payload)", request, payload)
        encoding = ngcodec.detect_encoding(payload)
        if encoding is None:
            return self._error(BENCODE, "Invalid NG data format", request, payload)
        try:
            message = ngcodec.decode_payload(payload, encoding)
        except NgError as exc:
            return self._error(encoding, exc.reason, request, payload)
        command = message.get("command")
        if not isinstance(command, str):
            return self._error(encoding, 'Dictionary contains no key "command"', request, payload)
        call_id = message.get("call-id")
        outer_call, CONTEXT.call_id = CONTEXT.call_id, call_id if isinstance(call_id, str) else None
        try:
            logged = control_log.isEnabledFor(logging.INFO)  # (-L 6, the default)
            dumped = logged and control_log.isEnabledFor(logging.DEBUG)  # (-L 7)
            peer = address_text(request.source) if logged else ""
            if logged:
                write_line(control_log, logging.INFO, f"Received command '{command}' from {peer}")
            if dumped:
                control_log.debug("Dump for '%s' from %s: %s", command, peer,
                                  CONTEXT.mark(ngdump.dump(message)))
            handler = self.commands.get(command)
            if handler is None:
                return self._error(encoding, "Unrecognized command", request, payload)
            if logged and command in ng_vocabulary.COMMANDS:  # (a key or flag 10.5 knows not)
                for level, line, limited in ng_vocabulary.warnings(command, message):
                    if not limited or LIMITER.allows(CONTEXT.call_id, line, self.clock()):
                        log.log(level, "%s", line)
            started = time.perf_counter()
            try:
                reply = self._run(command, handler, message, request)
            except NgError as exc:
                return self._error(encoding, exc.reason, request, payload)
            except Exception:
                log.exception("ng %s from %s: internal error", command,
                              address_text(request.source))
                reply = ngcodec.error_reply("Internal error while processing the request")
            else:
                if logged:
                    write_line(control_log, logging.INFO, f"Replying to '{command}' from {peer} "
                               f"(elapsed time {time.perf_counter() - started:.6f} sec)")
                if dumped and encoding == BENCODE:
                    control_log.debug("Response dump for '%s' to %s: %s", command, peer,
                                      CONTEXT.mark(ngdump.dump(reply)))
            return ngcodec.encode_payload(reply, encoding)
        finally:
            CONTEXT.call_id = outer_call

    def command(self, message: dict[str, Any], source: tuple[str, int] | None = None) -> dict[str, Any]:
        """Run one ng command given as a dictionary (the Janus interface maps its requests
        onto them): counted and stored as an ng request is; NgError for its error reply."""
        command = message["command"]
        return self._run(command, self.commands[command], message, Request(source))

    def _run(self, command: str, handler: NgHandler, message: dict[str, Any],
             request: Request) -> dict[str, Any]:
        """One command's handler in one media batch (one media-plane message per worker per
        command); whether it answers or raises, the call's timer is re-filed (calls.tick),
        the command counted and the call it names stored."""
        started = time.perf_counter()
        failed = True
        message = canonical_keys(message)
        try:
            with self._media_batch():
                reply = handler(self, message, request)
            failed = False
            return reply
        finally:
            self.calls.touch_message(message)
            self.stats.record_command(request.source_ip, command, time.perf_counter() - started,
                                      failed)
            if command not in _READ_ONLY_COMMANDS:
                self._store_call(message.get("call-id"))

    def end_call(self, call: Any) -> None:
        """Destroy a call at once (a Janus room that is destroyed)."""
        with self._media_batch():
            self.calls.destroy(call, "regular")

    def drop_party(self, call: Any, party: Any) -> None:
        """Remove one published or subscribing party from a call (a Janus handle detached)."""
        from .pubsub import drop_party

        with self._media_batch():
            drop_party(self, call, party)
        self.calls.changed(call)

    def add_candidate(self, call: Any, party: Any, media: Any, candidate: str,
                      ufrag: str | None) -> None:
        """A trickled ICE candidate of a published or subscribing party (Janus)."""
        from .pubsub import add_candidate

        with self._media_batch():
            add_candidate(self, party, media, candidate, ufrag)
        self.calls.changed(call)

    def handle_janus(self, payload: bytes, link: JanusLink | None) -> list[bytes]:
        """Answer one Janus JSON message (see ``janus``); ``link`` is None over HTTP."""
        return self.janus.handle(payload, link)

    def _store_call(self, call_id: Any) -> None:
        """A command may have changed the call it names: its gauges and the call store
        follow."""
        if isinstance(call_id, bytes):
            call_id = call_id.decode("utf-8", "surrogateescape")
        if isinstance(call_id, str):
            call = self.calls.calls.get(call_id)
            if call is not None:
                self.calls.changed(call)

    def _error(self, encoding: str, reason: str, request: Request, payload: bytes) -> bytes:
        """The error reply for ``reason``, logged as 10.5 logs it (the request's bytes
        between the log marks)."""
        if control_log.isEnabledFor(logging.WARNING):
            control_log.warning("Protocol error in packet from %s: %s [%s]",
                                address_text(request.source), reason,
                                CONTEXT.mark(_raw_text(payload)))
        return ngcodec.encode_payload(ngcodec.error_reply(reason), encoding)

    # -- CLI --------------------------------------------------------------------------

    def handle_cli(self, line: str) -> str:
        """Run one CLI command line and return its complete output text."""
        with self._media_batch():
            return ctl.handle_cli(self, line)

    # -- timers -----------------------------------------------------------------------

    def tick(self) -> None:
        """Run due timers (delete delay, timeouts) and sample the per-second rates."""
        now = self.clock()
        with self._media_batch():
            self.calls.tick(now)
        statsview.sample_rates(self, now)
        self.cache.expire()
        if self.cache.dropped_generations != self._trimmed_at_generation:
            self._trimmed_at_generation = self.cache.dropped_generations
            self._release_memory()  # a reply-cache generation was dropped

    def media_batch(self) -> AbstractContextManager[None]:
        """Collect media-plane messages until the block ends (nestable): a transport
        answering several queued requests at once sends the workers one message."""
        return self._media_batch()

    def burst(self) -> AbstractContextManager[None]:
        """What a transport answering the requests one wakeup found wraps them in: one
        media-plane batch (``media_batch``) and one write of their log lines to stderr
        (``log_stream.held_lines``), written before the batch goes to the relay workers,
        so that what the workers log about it follows the requests' lines."""
        return _Burst(self._media_batch(), held_lines())

    def _media_batch(self) -> AbstractContextManager[None]:
        batch = getattr(self.media, "batch", None)  # optional for third-party planes
        return batch() if batch is not None else nullcontext()

    def shutdown(self) -> None:
        """Release every call's media before the process exits."""
        self.calls.shutdown()


class _Burst:
    """Two context managers in one ``with`` (no ``ExitStack``: this runs per wakeup)."""

    def __init__(self, batch: AbstractContextManager[None],
                 lines: AbstractContextManager[None]) -> None:
        self.batch = batch
        self.lines = lines

    def __enter__(self) -> None:
        self.batch.__enter__()
        try:
            self.lines.__enter__()
        except BaseException:
            self.batch.__exit__(None, None, None)
            raise

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> bool | None:
        self.lines.__exit__(kind, value, traceback)  # (reports a failed write itself)
        return self.batch.__exit__(kind, value, traceback)


def _raw_text(data: bytes) -> str:
    """A request's bytes as 10.5 writes them in a line: up to the first NUL (a C string)."""
    return data.split(b"\0", 1)[0].decode("utf-8", "replace")
