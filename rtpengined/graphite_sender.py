"""The I/O side of ``--graphite``: one TCP connection to the Graphite server and a report
(``graphite.report``) down it every ``--graphite-interval`` seconds.

As 10.5 does it: the daemon connects at start and sends the first report as soon as the
connection stands, then one each interval. A connection that fails or breaks is dropped
and tried again at the next interval, and the first report after it goes at once; an
interval no report could go out in is not lost, it runs on into the next one (its minima,
maxima and counts cover the longer time). A write that does not finish within
``SEND_DEADLINE`` drops the connection (10.5 gives up after about as long), so a server
that stops reading never holds the daemon. ``--graphite-timeout`` sets TCP_USER_TIMEOUT,
as 10.5 does. A server that stays away is warned about once a minute, not every interval.
"""

from __future__ import annotations

import logging
import socket
import time

import trio

from .config import Config
from .core import Core
from .event_senders import OccasionalWarning
from .graphite import report

log = logging.getLogger("rtpengined.graphite")
CONNECT_DEADLINE = 5.0
SEND_DEADLINE = 5.0


class GraphiteUnavailable(Exception):
    """``--graphite`` names a host that does not resolve (the daemon does not start, as
    10.5 does not)."""


def check_destination(config: Config) -> None:
    """At start: GraphiteUnavailable unless ``--graphite``'s host resolves."""
    destination = config.graphite
    if destination is None:
        return
    try:
        socket.getaddrinfo(destination.host, destination.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise GraphiteUnavailable(
            f"--graphite: invalid IP or port {destination} ({exc.strerror or exc})") from None


async def _connect(destination, timeout: int) -> trio.SocketStream:
    with trio.fail_after(CONNECT_DEADLINE):
        stream = await trio.open_tcp_stream(destination.host, destination.port)
    if timeout > 0:
        stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, timeout * 1000)
    return stream


async def run(core: Core, config: Config, *, connect=_connect,
              send_deadline: float = SEND_DEADLINE) -> None:
    """Report to ``config.graphite`` until cancelled (``connect`` and ``send_deadline``:
    a test's own, to see a stalled server dropped without waiting minutes)."""
    destination, interval = config.graphite, config.graphite_seconds
    tally = core.stats.graphite
    assert destination is not None and tally is not None
    if config.graphite_interval <= 0:
        log.warning("--graphite-interval not set: reporting to Graphite every second")
    warn = OccasionalWarning(log, time.monotonic)
    connected_once = tried = report_failed = False
    while True:
        next_run = trio.current_time() + interval
        (log.debug if tried else log.info)("connecting to Graphite at %s", destination)
        tried = True
        try:
            stream = await connect(destination, config.graphite_timeout)
        except (OSError, trio.TooSlowError) as exc:
            warn("cannot connect to Graphite at %s: %s; trying again every %d s",
                 destination, _reason(exc), interval)
            await trio.sleep_until(next_run)
            continue
        log.info("%s to Graphite at %s", "reconnected" if connected_once else "connected",
                 destination)
        connected_once = True
        async with stream:
            try:
                while True:
                    try:
                        text = report(core, tally, int(core.clock()), config.graphite_prefix)
                    except Exception:  # a bug in a report must not end the daemon
                        if not report_failed:  # (the traceback once, then a warning a minute)
                            log.exception("Graphite report failed")
                        report_failed = True
                        warn("Graphite reports fail (see the first traceback)")
                        text = ""
                    next_run = trio.current_time() + interval
                    with trio.fail_after(send_deadline):
                        await stream.send_all(text.encode())
                    await trio.sleep_until(next_run)
            except (OSError, trio.BrokenResourceError, trio.TooSlowError) as exc:
                warn("cannot send to Graphite at %s: %s; connecting again in %d s",
                     destination, _reason(exc), interval)
        await trio.sleep_until(next_run)


def _reason(exc: BaseException) -> str:
    """What went wrong, in the system's words where there are some (trio wraps the errors
    of its connection attempts in a group)."""
    if isinstance(exc, trio.TooSlowError):
        return "timed out"
    for cause in (exc, exc.__cause__, *getattr(exc.__cause__, "exceptions", ())):
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    return str(exc) or type(exc).__name__
