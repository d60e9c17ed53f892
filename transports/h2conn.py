"""HTTP/2 over TLS (ALPN ``h2``) on the HTTPS port: the h2 state machine over the same route table.

rtpengine speaks HTTP/1.1 only; HTTP/2 is here because clients such as httpx and curl pick it
when offered, and it costs one small adapter. Like the HTTP/1.1 shell it runs in the
connection's one task: requests are answered as their stream ends, response bodies are sent
as the peer's flow-control window allows. A peer that leaves the window shut (never reads)
for longer than the send deadline is hung up on, as is one that sends nothing for the idle
timeout; at most ``MAX_STREAMS`` requests are open at once, each body at most 1 MiB.
"""

from __future__ import annotations

import logging
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import trio

from .http_app import MAX_BODY, MAX_HEADER_BLOCK, Request, Response

log = logging.getLogger("rtpengined.http")
ALPN_PROTOCOLS = ["h2", "http/1.1"]
MAX_STREAMS = 32
_HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade"}


class H2Session:
    """Sans-I/O: bytes in → bytes out, answering each request when its stream ends."""

    def __init__(self, routes: Any, source: tuple[str, int] | None) -> None:
        self.routes = routes
        self.source = source
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.connection = h2.connection.H2Connection(config)
        self.connection.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEADER_BLOCK,
        })
        self.connection.initiate_connection()
        self.requests: dict[int, tuple[list[tuple[bytes, bytes]], bytearray]] = {}
        self.outgoing: dict[int, bytes] = {}  # response bodies waiting for window
        self.ended = False

    def start(self) -> bytes:
        return self.connection.data_to_send()

    @property
    def blocked(self) -> bool:
        """Response data is waiting for the peer to open its window."""
        return bool(self.outgoing)

    @property
    def busy(self) -> bool:
        return bool(self.requests)

    def receive(self, data: bytes) -> bytes:
        try:
            events = self.connection.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            log.info("http2: protocol error from %s: %s", self.source, exc)
            self.ended = True
            return self.connection.data_to_send()
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self.requests[event.stream_id] = (list(event.headers), bytearray())
                if event.stream_ended:
                    self._answer(event.stream_id)
            elif isinstance(event, h2.events.DataReceived):
                entry = self.requests.get(event.stream_id)
                self.connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if entry is not None:
                    entry[1].extend(event.data)
                    if len(entry[1]) > MAX_BODY:
                        del self.requests[event.stream_id]
                        self._respond(event.stream_id, Response(413, b"request entity too large\n"))
                    elif event.stream_ended:
                        self._answer(event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                if event.stream_id in self.requests:
                    self._answer(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.requests.pop(event.stream_id, None)
                self.outgoing.pop(event.stream_id, None)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.ended = True
        self._flush()
        return self.connection.data_to_send()

    def close(self) -> bytes:
        self.ended = True
        self.connection.close_connection()
        return self.connection.data_to_send()

    def _answer(self, stream_id: int) -> None:
        headers, body = self.requests.pop(stream_id)
        pseudo = {name: value for name, value in headers if name.startswith(b":")}
        request = Request(pseudo.get(b":method", b"GET"), pseudo.get(b":path", b"/"),
                          [(name, value) for name, value in headers if not name.startswith(b":")],
                          bytes(body), self.source)
        try:
            response = self.routes.handle(request)
        except Exception:
            log.exception("http2: internal error answering %r", request.target[:200])
            response = Response(500, b"internal error\n")
        self._respond(stream_id, response, head_only=request.method == b"HEAD")

    def _respond(self, stream_id: int, response: Response, head_only: bool = False) -> None:
        """Headers now; the body (none for HEAD, whose length is only announced) as windows allow."""
        headers = [(b":status", b"%d" % response.status)]
        headers += [(name, value) for name, value in response.header_list() if name not in _HOP_BY_HOP]
        body = b"" if head_only else response.body
        try:
            self.connection.send_headers(stream_id, headers, end_stream=not body)
        except h2.exceptions.ProtocolError:  # the stream is gone (reset by the peer)
            return
        if body:
            self.outgoing[stream_id] = body

    def _flush(self) -> None:
        """Send as much of each waiting body as the windows allow."""
        for stream_id in list(self.outgoing):
            body = self.outgoing[stream_id]
            try:
                while body:
                    window = min(self.connection.local_flow_control_window(stream_id),
                                 self.connection.max_outbound_frame_size)
                    if window <= 0:
                        break
                    chunk, body = body[:window], body[window:]
                    self.connection.send_data(stream_id, chunk, end_stream=not body)
            except (h2.exceptions.ProtocolError, h2.exceptions.StreamClosedError):
                body = b""
            if body:
                self.outgoing[stream_id] = body
            else:
                del self.outgoing[stream_id]


async def serve_h2(server: Any, conn: Any, source: Any) -> None:
    """One HTTP/2 connection in its task, with the server's deadlines (``http.Conn``)."""
    session = H2Session(server.routes, source)

    def goodbye(closing: bool) -> bytes:
        if blocked_since is not None and not closing:
            log.info("http2: closing a connection whose peer keeps its window shut")
        return session.close()

    conn.on_close = goodbye
    out = session.start()
    blocked_since = busy_since = None
    while True:
        if out:
            await conn.send(out)
        if session.ended:
            return
        now = trio.current_time()
        blocked_since = (blocked_since or now) if session.blocked else None
        busy_since = (busy_since or now) if session.busy else None
        deadline = now + server.idle
        if blocked_since is not None:
            deadline = min(deadline, blocked_since + server.send_seconds)
        if busy_since is not None:
            deadline = min(deadline, busy_since + server.request_seconds)
        data = await conn.receive(deadline)
        if not data:
            return
        out = session.receive(data)
