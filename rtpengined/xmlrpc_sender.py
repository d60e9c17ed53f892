"""The I/O side of ``--b2b-url``: the XML-RPC requests ``b2b`` makes for a call whose media
timed out, sent one after the other by a task of the daemon's, as 10.5's XMLRPC thread does.

Each request waits 10 ms, then goes as an XML-RPC call (the standard library's client, in a
worker thread: it blocks) with 5 s to finish; one that fails (no answer, an HTTP error, a
fault) is tried again up to three times, then given up with a warning. A fault that says
the dialog was not found counts as done: the dialogs are gone either way. Requests queue
(up to ``QUEUE_LIMIT``; more are dropped with a warning at most once a minute), so a B2BUA
that is slow or away never holds the daemon.
"""

from __future__ import annotations

import http.client
import logging
import xmlrpc.client

import trio

from . import __version__
from .b2b import Teardown
from .event_senders import OccasionalWarning

log = logging.getLogger("rtpengined.b2b")
QUEUE_LIMIT = 1000
ATTEMPTS = 4  # (10.5: the first, and three more after failures)
ATTEMPT_DEADLINE = 5.0  # seconds (10.5 gives its child process as long)
PAUSE = 0.01  # before each attempt, as 10.5


class _Timed:
    """An XML-RPC transport whose connections give up after ``ATTEMPT_DEADLINE``."""

    user_agent = f"rtpengined/{__version__}"

    def make_connection(self, host) -> http.client.HTTPConnection:
        connection = super().make_connection(host)  # type: ignore[misc]
        connection.timeout = ATTEMPT_DEADLINE
        return connection


class _TimedTransport(_Timed, xmlrpc.client.Transport):
    pass


class _TimedSafeTransport(_Timed, xmlrpc.client.SafeTransport):
    pass


def call(request: Teardown) -> None:
    """One XML-RPC call (blocking); raises what went wrong."""
    secure = request.url.lower().startswith("https:")
    transport = _TimedSafeTransport() if secure else _TimedTransport()
    proxy = xmlrpc.client.ServerProxy(request.url, transport=transport)
    try:
        getattr(proxy, request.method)(*request.params)
    except xmlrpc.client.Fault as fault:
        if "dialog not found" not in str(fault.faultString).lower():
            raise
    finally:
        proxy("close")()


class XmlRpcSender:
    """Takes the requests (``Core.teardown_sinks``); ``run`` sends them."""

    def __init__(self) -> None:
        self._queue, self._requests = trio.open_memory_channel[Teardown](QUEUE_LIMIT)
        self.dropped = 0
        self._warn = OccasionalWarning(log)

    def __call__(self, requests: list[Teardown]) -> None:
        for request in requests:
            try:
                self._queue.send_nowait(request)
            except trio.WouldBlock:
                self.dropped += 1
                self._warn("%d XML-RPC teardown requests waiting: one dropped (%d so far)",
                           QUEUE_LIMIT, self.dropped)

    async def run(self) -> None:
        async for request in self._requests:
            await self._send(request)

    async def _send(self, request: Teardown) -> None:
        what = f"{request.method}{request.params!r} to {request.url}"
        for attempt in range(1, ATTEMPTS + 1):
            await trio.sleep(PAUSE)
            log.info("asking the B2BUA to end the dialogs of a timed-out call: %s", what)
            try:
                with trio.fail_after(ATTEMPT_DEADLINE + 1):
                    await trio.to_thread.run_sync(call, request, abandon_on_cancel=True)
                return
            except trio.TooSlowError:
                reason = "no answer in time"
            except xmlrpc.client.Fault as fault:
                reason = f"fault {fault.faultCode}: {fault.faultString}"
            except (OSError, xmlrpc.client.Error, http.client.HTTPException, ValueError) as exc:
                reason = str(exc) or type(exc).__name__
            (log.warning if attempt == ATTEMPTS else log.info)(
                "XML-RPC %s failed (attempt %d of %d%s): %s", what, attempt, ATTEMPTS,
                ", given up" if attempt == ATTEMPTS else "", reason)
