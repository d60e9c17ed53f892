"""A thin trio shell around hiredis' RESP parser: one connection, pipelined commands.

hiredis (the C parser Redis itself ships, through its maintained Python binding) does
all the protocol work: ``pack_command`` encodes, ``Reader`` parses and resumes where a
partial reply stopped. This module only owns the socket, the deadlines and AUTH/SELECT.
Every operation is bounded by a deadline, so a hung Redis can never hold a caller for
longer than the configured command timeout.
"""

from __future__ import annotations

import math

import hiredis
import trio

from .address import RedisAddress


class RedisError(Exception):
    """Redis could not be reached, timed out, or answered with an error."""


def _seconds(ms: int) -> float:
    return ms / 1000 if ms > 0 else math.inf


class RedisConnection:
    """One TCP connection to Redis. Not shared between tasks that send concurrently."""

    def __init__(self, stream: trio.abc.Stream, cmd_timeout_ms: int) -> None:
        self.stream = stream
        self.reader = hiredis.Reader(notEnoughData=None)
        self.cmd_timeout = _seconds(cmd_timeout_ms)
        self.closed = False

    @classmethod
    async def open(cls, address: RedisAddress, connect_timeout_ms: int,
                   cmd_timeout_ms: int, db: int | None = None) -> RedisConnection:
        """Connect, authenticate and select ``db`` (default: the address's) within the
        connect timeout; ``RedisError`` otherwise."""
        try:
            with trio.fail_after(_seconds(connect_timeout_ms)):
                stream = await trio.open_tcp_stream(address.host, address.port)
        except (OSError, trio.TooSlowError) as exc:
            raise RedisError(f"cannot connect to Redis {address}: {exc or 'timeout'}") from None
        conn = cls(stream, cmd_timeout_ms)
        # The handshake is bounded by the connect timeout too: a Redis that accepts but
        # never answers (hung) fails here, even with no command timeout.
        conn.cmd_timeout = min(conn.cmd_timeout, _seconds(connect_timeout_ms))
        try:
            setup: list[tuple] = []
            if address.password:
                setup.append(("AUTH", address.password))
            setup.append(("SELECT", address.db if db is None else db))
            for reply in await conn.pipeline(setup):
                if isinstance(reply, hiredis.ReplyError):
                    raise RedisError(f"Redis {address}: {reply}")
        except BaseException:
            await conn.aclose()
            raise
        conn.cmd_timeout = _seconds(cmd_timeout_ms)
        return conn

    async def send(self, commands: list[tuple]) -> None:
        data = b"".join(hiredis.pack_command(c) for c in commands)
        try:
            with trio.fail_after(self.cmd_timeout):
                await self.stream.send_all(data)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError,
                trio.TooSlowError) as exc:
            self.closed = True
            raise RedisError(f"Redis write failed: {exc or 'timeout'}") from None

    async def receive(self, deadline: float | None = None) -> object:
        """The next reply (or push message); an error reply is returned, not raised."""
        while True:
            reply = self.reader.gets()
            if reply is not None:
                return reply
            try:
                if deadline is None:
                    with trio.fail_after(self.cmd_timeout):
                        data = await self.stream.receive_some(65536)
                else:
                    with trio.fail_at(deadline):
                        data = await self.stream.receive_some(65536)
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError,
                    trio.TooSlowError) as exc:
                self.closed = True
                raise RedisError(f"Redis read failed: {exc or 'timeout'}") from None
            except hiredis.ProtocolError as exc:
                self.closed = True
                raise RedisError(f"Redis protocol error: {exc}") from None
            if not data:
                self.closed = True
                raise RedisError("Redis closed the connection")
            self.reader.feed(data)

    async def pipeline(self, commands: list[tuple]) -> list[object]:
        """Send ``commands`` in one write and read their replies in order."""
        await self.send(commands)
        return [await self.receive() for _ in commands]

    async def command(self, *args) -> object:
        reply = (await self.pipeline([args]))[0]
        if isinstance(reply, hiredis.ReplyError):
            raise RedisError(str(reply))
        return reply

    async def aclose(self) -> None:
        self.closed = True
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            await self.stream.aclose()
