"""``RedisCallStore``: calls written to Redis in the background, restored at start-up,
and other nodes' keyspaces followed as a standby.

Signalling never waits for Redis: ``changed``/``deleted`` only note the call-id in a
dict (a later change of the same call replaces the earlier one) and wake the writer
task, which serialises and sends whatever is pending as one pipeline. While Redis is
down or hung, pending changes wait there (counted as skipped writes) and reconnects are
bounded by the connect/command timeouts; when Redis is back, the latest state of every
call changed meanwhile is written. Over 400 lines because writer, restore and standby
share one connection state machine and its error accounting.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import hiredis
import trio

from ..model import Call
from .layout import LayoutError, decode_call, dumps, encode_call, loads
from .resp import RedisAddress, RedisConnection, RedisError
from .restore import RestoreError, interface_index, restore_call

if TYPE_CHECKING:
    from ..core import Core

log = logging.getLogger("rtpengined.redis")

BATCH = 500  # calls per pipeline
WRITE_DELAY = 0.01  # seconds changes are collected before a write round
ENCODE_SLICE = 16  # calls serialised between two checkpoints (~1 ms of event-loop time)
BUSY_SECONDS = 3.0  # how long restore waits for ports a dead daemon's workers still hold
RETRY_SECONDS = 0.5  # pause between reconnect attempts when errors do not disable Redis


class RedisUnavailable(Exception):
    """Redis is required (no ``--no-redis-required``) but cannot be reached at start-up."""


@dataclass
class RedisSettings:
    """The ``--redis*`` options, as rtpengine 10.5 names and defaults them."""

    read: RedisAddress
    write: RedisAddress
    expires: int = 86400
    connect_timeout_ms: int = 1000
    cmd_timeout_ms: int = 0
    allowed_errors: int = -1
    disable_time: int = 10
    required: bool = True
    keyspaces: list[int] = field(default_factory=list)
    active_switchover: bool = False


@dataclass
class RedisCounters:
    written: int = 0
    deleted: int = 0
    skipped: int = 0  # changes that arrived while Redis was down (written later)
    errors: int = 0
    restored: int = 0
    restore_failed: int = 0
    restore_seconds: float = 0.0


class RedisCallStore:
    """The ``CallStore`` backed by Redis; ``run`` (in the daemon's nursery) does the I/O."""

    def __init__(self, core: Core, settings: RedisSettings) -> None:
        self.core = core
        self.settings = settings
        self.counters = RedisCounters()
        self._pending: dict[str, Call | None] = {}
        self._wake = trio.Event()
        self._writer: RedisConnection | None = None
        self._down_until = 0.0
        self._errors_in_row = 0
        self._keyspaces: list[int] = list(dict.fromkeys(settings.keyspaces))
        self._keyspaces_changed = trio.Event()
        # Own calls whose SET was sent (so a DEL is due when they end): restored or written.
        self._sent: set[str] = set()
        self._foreign_db: dict[str, int] = {}  # foreign call-id → its keyspace
        self._foreign_packets: dict[str, int] = {}  # packets counted when it was restored
        self._intf_index = interface_index(core.calls)

    # -- CallStore (synchronous, from the command code) ----------------------------------------

    def changed(self, call: Call) -> None:
        if call.foreign:
            if not self.settings.active_switchover:
                return  # never write another node's call back
            call.foreign = False  # signalling or media reached us for it: ours now
            self._foreign_db.pop(call.call_id, None)
            self._foreign_packets.pop(call.call_id, None)
        self._note(call.call_id, call)

    def stream_learned(self, stream) -> None:
        """A media-driven change: the relay learned (or confirmed) a stream's endpoint."""
        call = self.core.calls.calls.get(stream.group)  # a stream's group is its call-id
        if call is not None and not call.foreign:
            self._note(call.call_id, call)

    def deleted(self, call: Call) -> None:
        if call.foreign:
            self._foreign_db.pop(call.call_id, None)
            self._foreign_packets.pop(call.call_id, None)
            return
        if call.call_id not in self._sent:
            # Never sent to Redis (e.g. created and ended during an outage): nothing to
            # delete, and nothing left pending, so an outage costs memory per live call only.
            self._pending.pop(call.call_id, None)
            return
        self._note(call.call_id, None)

    def _note(self, call_id: str, call: Call | None) -> None:
        if self._down():
            self.counters.skipped += 1
        self._pending[call_id] = call
        self._wake.set()

    def keyspaces(self) -> list[int]:
        return list(self._keyspaces)

    def configure(self, *, allowed_errors: int, disable_time: int, connect_timeout_ms: int,
                  cmd_timeout_ms: int) -> None:
        s = self.settings
        s.allowed_errors, s.disable_time = allowed_errors, disable_time
        s.connect_timeout_ms, s.cmd_timeout_ms = connect_timeout_ms, cmd_timeout_ms

    def keyspace_of(self, call: Call) -> int:
        db = self._foreign_db.get(call.call_id)
        return db if db is not None and call.foreign else self.settings.write.db

    def subscribe(self, keyspace: int) -> None:
        if keyspace not in self._keyspaces:
            self._keyspaces.append(keyspace)
            self._keyspaces_changed.set()

    def unsubscribe(self, keyspace: int) -> None:
        if keyspace not in self._keyspaces:
            return
        self._keyspaces.remove(keyspace)
        self._keyspaces_changed.set()
        for call_id, db in list(self._foreign_db.items()):
            call = self.core.calls.calls.get(call_id)
            if db == keyspace and call is not None and call.foreign:
                self.core.calls.destroy(call, "forced")

    def _down(self) -> bool:
        return self._writer is None and time.monotonic() < self._down_until

    # -- start-up restore --------------------------------------------------------------------

    async def restore(self) -> None:
        """Subscribed keyspaces first (foreign calls), then our own DB (own calls)."""
        started = time.monotonic()
        try:
            for keyspace in self._keyspaces:
                await self._restore_db(keyspace, foreign=True)
            await self._restore_db(self.settings.read.db, foreign=False)
        except RedisError as exc:
            if self.settings.required:
                raise RedisUnavailable(f"Cannot start up without running Redis database: {exc}") from None
            log.warning("Redis restore skipped: %s", exc)
        self.counters.restore_seconds = time.monotonic() - started
        log.info("Redis restore time = %d ms (%d calls, %d dropped)",
                 self.counters.restore_seconds * 1000, self.counters.restored,
                 self.counters.restore_failed)

    async def _restore_db(self, db: int, foreign: bool) -> None:
        s = self.settings
        conn = await RedisConnection.open(s.read, s.connect_timeout_ms, s.cmd_timeout_ms, db)
        try:
            keys = await conn.command("KEYS", "*")
            assert isinstance(keys, list)
            drop = await self._restore_keys(conn, keys, db, foreign)
            if drop and not foreign:  # never delete from another node's keyspace
                await conn.pipeline([("DEL", key) for key in drop])
        finally:
            await conn.aclose()

    async def _restore_keys(self, conn: RedisConnection, keys: list, db: int,
                            foreign: bool) -> list[bytes]:
        """GET and restore ``keys`` in pipelined batches; return the keys dropped.

        A call whose ports are still held (relay workers of a daemon that just died) is
        tried again for up to ``BUSY_SECONDS``.
        """
        drop: list[bytes] = []
        busy: list[tuple[bytes, object]] = []
        for first in range(0, len(keys), BATCH):
            chunk = keys[first:first + BATCH]
            docs = await conn.pipeline([("GET", key) for key in chunk])
            with self._media_batch():  # one relay message per worker for the whole chunk
                for key, doc in zip(chunk, docs, strict=True):
                    if doc is None:
                        continue  # deleted meanwhile
                    outcome = self._restore_one(key, doc, db, foreign, last_try=False)
                    if outcome is None:
                        busy.append((key, doc))
                    elif not outcome:
                        drop.append(key)
        deadline = time.monotonic() + BUSY_SECONDS
        while busy and time.monotonic() < deadline:
            await trio.sleep(0.1)
            still: list[tuple[bytes, object]] = []
            for key, doc in busy:
                outcome = self._restore_one(key, doc, db, foreign, last_try=False)
                if outcome is None:
                    still.append((key, doc))
                elif not outcome:
                    drop.append(key)
            busy = still
        for key, doc in busy:
            if not self._restore_one(key, doc, db, foreign):
                drop.append(key)
        return drop

    def _restore_one(self, key: bytes, doc: object, db: int, foreign: bool,
                     reuse: dict[tuple[str, int], object] | None = None,
                     last_try: bool = True) -> bool | None:
        """Restore one stored call: True done, False dropped, None ports busy (try again
        unless ``last_try``)."""
        call_id = key.decode("utf-8", "surrogateescape")
        if isinstance(doc, hiredis.ReplyError) or not isinstance(doc, bytes):
            log.warning("Failed to restore call ID '%s' from Redis: not a JSON string", call_id)
            self.counters.restore_failed += 1
            return False
        existing = self.core.calls.calls.get(call_id)
        try:
            stored = decode_call(call_id, loads(doc))
            if existing is not None:
                if not existing.foreign or stored.last_signal <= existing.last_signal:
                    return True  # ours, or not newer than what we have
            with self._media_batch():
                restore_call(self.core.calls, stored, self.core.clock(), foreign, reuse)
        except (LayoutError, RestoreError) as exc:
            if isinstance(exc, RestoreError) and exc.busy and not last_try:
                return None
            log.warning("Failed to restore call ID '%s' from Redis: %s", call_id, exc)
            self.counters.restore_failed += 1
            return False
        except Exception:  # a bug, but one stored document must not end the daemon
            log.exception("Failed to restore call ID '%s' from Redis", call_id)
            self.counters.restore_failed += 1
            return False
        if foreign:
            self._foreign_db[call_id] = db
            call = self.core.calls.calls[call_id]
            self._foreign_packets[call_id] = sum(s.stats.packets for s in call.streams())
        else:
            self._sent.add(call_id)
        self.counters.restored += 1
        return True

    def _media_batch(self):
        return self.core._media_batch()

    # -- background tasks --------------------------------------------------------------------

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._write_loop)
            nursery.start_soon(self._follow_keyspaces)
            if self.settings.active_switchover:
                nursery.start_soon(self._switch_over_on_media)
            task_status.started()

    async def _switch_over_on_media(self) -> None:
        """``--active-switchover``: a foreign call whose media reaches us becomes ours (as
        10.5 does on the first packet). Checked once a second, on foreign calls only."""
        while True:
            await trio.sleep(1.0)
            calls = self.core.calls.calls
            foreign = [c for c in (calls.get(i) for i in self._foreign_db) if c and c.foreign]
            streams = [s for c in foreign for s in c.streams() if not s.closed]
            if not streams:
                continue
            self.core.media.refresh(streams)
            for call in foreign:
                packets = sum(s.stats.packets for s in call.streams())
                if packets > self._foreign_packets.get(call.call_id, 0):
                    log.info("media for foreign call %s: it is ours now", call.call_id)
                    self.changed(call)

    async def _write_loop(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake = trio.Event()
                # Write rounds at most every WRITE_DELAY: the offer, answer (and delete) of
                # a call that follow each other closely become one write (or one DEL), and
                # a round costs the event loop the same for one call as for hundreds.
                await trio.sleep(WRITE_DELAY)
                while self._pending:
                    await self._flush_once()
                    if self._pending:
                        await trio.sleep(WRITE_DELAY)
        finally:
            if self._writer is not None:
                await self._writer.aclose()

    async def _flush_once(self) -> None:
        s = self.settings
        wait = self._down_until - time.monotonic()
        if self._writer is None and wait > 0:
            await trio.sleep(wait)
        if self._writer is None:
            try:
                self._writer = await RedisConnection.open(
                    s.write, s.connect_timeout_ms, s.cmd_timeout_ms)
                if self._errors_in_row:
                    log.info("Redis %s is back; writing %d pending calls", s.write,
                             len(self._pending))
                self._errors_in_row = 0
            except RedisError as exc:
                self._failed(exc)
                return
        batch: dict[str, Call | None] = {}
        for call_id in list(self._pending)[:BATCH]:
            batch[call_id] = self._pending.pop(call_id)
        commands: list[tuple] = []
        calls = self.core.calls.calls
        for n, (call_id, call) in enumerate(batch.items()):
            if n % ENCODE_SLICE == ENCODE_SLICE - 1:
                await trio.sleep(0)  # let requests in between: serialising is CPU work
            if call is None or calls.get(call_id) is not call or call.foreign:
                if call is None:
                    commands.append(("DEL", call_id))
                    self._sent.discard(call_id)
                continue
            try:
                text = dumps(encode_call(call, s.write.db, self._intf_index))
            except Exception:
                log.exception("cannot serialise call %s for Redis", call_id)
                continue
            commands.append(("SET", call_id, text, "EX", s.expires))
            self._sent.add(call_id)  # from now on its end needs a DEL, even mid-flight
        if not commands:
            return
        try:
            replies = await self._writer.pipeline(commands)
        except RedisError as exc:
            for call_id, call in batch.items():
                self._pending.setdefault(call_id, call)  # keep newer changes
            await self._writer.aclose()
            self._writer = None
            self._failed(exc)
            return
        for command, reply in zip(commands, replies, strict=True):
            if isinstance(reply, hiredis.ReplyError):
                self.counters.errors += 1
                log.warning("Redis %s %s: %s", command[0], command[1], reply)
            elif command[0] == "SET":
                self.counters.written += 1
            else:
                self.counters.deleted += 1

    def _failed(self, exc: Exception) -> None:
        s = self.settings
        self.counters.errors += 1
        self._errors_in_row += 1
        if self._errors_in_row == 1:
            log.warning("Redis %s unavailable: %s", s.write, exc)
        pause = RETRY_SECONDS
        if s.allowed_errors >= 0 and self._errors_in_row > s.allowed_errors:
            pause = max(pause, float(s.disable_time))
        self._down_until = time.monotonic() + pause

    # -- standby: keyspace notifications --------------------------------------------------------

    async def _follow_keyspaces(self) -> None:
        """``PSUBSCRIBE __keyspace@N__:*`` for every subscribed keyspace; reconnects."""
        while True:
            self._keyspaces_changed = trio.Event()
            spaces = list(self._keyspaces)
            if not spaces:
                await self._keyspaces_changed.wait()
                continue
            with trio.CancelScope() as scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._cancel_on_change, scope)
                    try:
                        await self._listen(spaces)
                    except RedisError as exc:
                        log.warning("Redis notifications: %s", exc)
                    await trio.sleep(RETRY_SECONDS)
                    scope.cancel()

    async def _cancel_on_change(self, scope: trio.CancelScope) -> None:
        await self._keyspaces_changed.wait()
        scope.cancel()

    async def _listen(self, spaces: list[int]) -> None:
        s = self.settings
        notify = await RedisConnection.open(s.read, s.connect_timeout_ms, 0)
        reader: RedisConnection | None = None
        try:
            await notify.send([("PSUBSCRIBE", *[f"__keyspace@{db}__:*" for db in spaces])])
            confirmed = 0
            while confirmed < len(spaces):
                reply = await notify.receive()
                if isinstance(reply, list) and reply and reply[0] == b"psubscribe":
                    confirmed += 1
            # Subscribed: now catch up with what was stored before (or while we were away).
            reader = await RedisConnection.open(s.read, s.connect_timeout_ms, s.cmd_timeout_ms)
            for db in spaces:
                await self._resync(reader, db)
            while True:
                message = await notify.receive(deadline=float("inf"))
                if not isinstance(message, list) or len(message) != 4:
                    continue
                if message[0] != b"pmessage":
                    continue
                channel = message[2].decode("utf-8", "surrogateescape")
                event = message[3]
                prefix, _, call_id = channel.partition(":")
                try:
                    db = int(prefix.removeprefix("__keyspace@").removesuffix("__"))
                except ValueError:
                    continue
                if event == b"set":
                    if reader is None or reader.closed:
                        reader = await RedisConnection.open(
                            s.read, s.connect_timeout_ms, s.cmd_timeout_ms)
                    await reader.command("SELECT", db)
                    doc = await reader.command("GET", call_id)
                    self._foreign_set(call_id, doc, db)
                elif event in (b"del", b"expired"):
                    self._foreign_del(call_id)
        finally:
            await notify.aclose()
            if reader is not None:
                await reader.aclose()

    async def _resync(self, conn: RedisConnection, db: int) -> None:
        """Restore the keyspace's calls we do not have; end foreign ones it lost."""
        await conn.command("SELECT", db)
        keys = await conn.command("KEYS", "*")
        assert isinstance(keys, list)
        names = {key.decode("utf-8", "surrogateescape") for key in keys}
        for call_id, where in list(self._foreign_db.items()):
            if where == db and call_id not in names:
                self._foreign_del(call_id)
        calls = self.core.calls.calls
        missing = [k for k in keys if k.decode("utf-8", "surrogateescape") not in calls]
        await self._restore_keys(conn, missing, db, foreign=True)

    def _foreign_set(self, call_id: str, doc: object, db: int) -> None:
        existing = self.core.calls.calls.get(call_id)
        if existing is not None and not existing.foreign:
            log.warning("Redis-Notifier: Ignoring SET received for OWN call: %s", call_id)
            return
        reuse: dict[tuple[str, int], object] = {}
        with self._media_batch():
            if existing is not None:  # replaced by the newer copy, on the same sockets
                for stream in existing.streams():
                    if not stream.closed and stream.sock is not None:
                        reuse[(stream.interface.address, stream.port)] = stream.sock
                        stream.sock = None
                self.core.calls.destroy(existing, "forced")
            if doc is not None:
                self._restore_one(call_id.encode("utf-8", "surrogateescape"), doc, db,
                                  foreign=True, reuse=reuse)
        for sock in reuse.values():  # ports the new copy no longer has
            sock.close()  # type: ignore[attr-defined]

    def _foreign_del(self, call_id: str) -> None:
        call = self.core.calls.calls.get(call_id)
        if call is None or not call.foreign:
            return
        with self._media_batch():
            self.core.calls.destroy(call, "forced")


def settings_from_config(config) -> RedisSettings | None:
    """The Redis settings of a ``Config``; ``None`` without ``--redis``."""
    if not config.redis:
        return None
    read = RedisAddress.parse(config.redis)
    write = RedisAddress.parse(config.redis_write) if config.redis_write else read
    return RedisSettings(
        read=read, write=write, expires=config.redis_expires,
        connect_timeout_ms=config.redis_connect_timeout,
        cmd_timeout_ms=config.redis_cmd_timeout,
        allowed_errors=config.redis_allowed_errors,
        disable_time=config.redis_disable_time,
        required=not config.no_redis_required,
        keyspaces=list(config.subscribe_keyspace),
        active_switchover=config.active_switchover)


async def start_call_store(core: Core, nursery: trio.Nursery) -> None:
    """With ``--redis``: restore the stored calls, then store changes from now on.

    Without it the core keeps its ``NullCallStore`` (only the keyspace list for the CLI).
    Raises ``RedisUnavailable`` when Redis is required and cannot be reached.
    """
    settings = settings_from_config(core.config)
    if settings is None:
        for keyspace in core.config.subscribe_keyspace:
            core.store.subscribe(keyspace)
        return
    store = RedisCallStore(core, settings)
    await store.restore()
    core.store = store
    if hasattr(core.media, "on_learned"):  # the relay reports learned endpoints
        core.media.on_learned = store.stream_learned  # type: ignore[attr-defined]
    await nursery.start(store.run)
