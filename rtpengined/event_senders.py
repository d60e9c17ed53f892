"""The I/O side of the event outputs that go out as datagrams: DTMF events (``dtmf_log``
makes the lines; ``Core.dtmf_event`` hands them to every sink here) and the syslog lines of
``--log-facility-cdr`` (``cdr``) and ``--log-facility-rtcp`` (``rtcp_log``); and the
occasional warning every sender here and ``homer_sender`` gives about what it lost.

``--dtmf-log-dest``: one connected UDP socket to the collector. ``--log-facility-dtmf``
(and the CDR and RTCP facilities): the local syslog socket (``--syslog-socket``,
``/dev/log``), one datagram per line in the format glibc's ``syslog()`` writes
(``<PRI>Mmm dd hh:mm:ss ident[pid]: message``) at priority info of the facility named, as
10.5 logs them. Neither ever blocks the daemon: a line that cannot be sent is lost and
warned about, at most once a minute.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence

from .config import ListenAddress
from .log_lines import LineFormatter, record_of

log = logging.getLogger("rtpengined.dtmf")
WARN_EVERY = 60.0  # seconds between two warnings about failing sends
LOG_INFO = 6  # (syslog severity of the DTMF lines, as 10.5 logs them)
SYSLOG_IDENT = "rtpengined"


class DtmfLogUnavailable(Exception):
    """``--dtmf-log-dest`` names an address the daemon cannot send to (it does not start,
    as 10.5 does not)."""


class OccasionalWarning:
    """A warning logged at most once every ``WARN_EVERY`` seconds: a sink that cannot send
    fails for every line, and one warning a line would flood the log it warns in."""

    def __init__(self, logger: logging.Logger,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.clock = clock
        self.warned_at = -WARN_EVERY

    def __call__(self, message: str, *args: object) -> None:
        now = self.clock()
        if now - self.warned_at >= WARN_EVERY:
            self.warned_at = now
            self.logger.warning(message, *args)


class _LossySink:
    """Counts what could not be sent, and warns about it at most once a minute."""

    what = "DTMF event not sent"

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.warn = OccasionalWarning(log)
        self.lost = 0

    def _lose(self, exc: OSError) -> None:
        self.lost += 1
        self.warn("%s (%s); %d lost so far", self.what, exc.strerror or exc, self.lost)

    def close(self) -> None:
        self.sock.close()


class DtmfLogSender(_LossySink):
    """``--dtmf-log-dest``. Nobody listening shows as every other send failing: the kernel
    reports the port unreachable of one datagram as the next one's error, and that one is
    not sent."""

    what = "DTMF event not sent to --dtmf-log-dest"

    def __init__(self, destination: ListenAddress) -> None:
        sock: socket.socket | None = None
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                destination.host, destination.port, type=socket.SOCK_DGRAM)[0]
            sock = socket.socket(family, kind, proto)
            # (connected, as 10.5's: a port unreachable comes back as the next send's error)
            sock.connect(address)
        except OSError as exc:
            if sock is not None:
                sock.close()
            raise DtmfLogUnavailable(
                f"--dtmf-log-dest: cannot send to {destination}: {exc.strerror or exc}") from None
        super().__init__(sock)

    def __call__(self, line: bytes) -> None:
        try:
            self.sock.send(line)
        except OSError as exc:
            self._lose(exc)


class SyslogSender(_LossySink):
    """``--log-facility-dtmf``, ``-cdr``, ``-rtcp`` and the daemon's own log
    (``--log-facility``, ``SyslogHandler``): each line to the syslog socket at ``path``,
    addressed anew each time (no connection to lose: a syslog daemon that starts or
    restarts later gets the lines from then on; until then they are lost, as 10.5's
    ``syslog()`` loses them). ``what``: the warning's words for a line lost."""

    def __init__(self, path: str, facility: int,
                 what: str = "DTMF event not logged to syslog") -> None:
        self.what = what
        super().__init__(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
        self.path = path
        self.facility = facility
        self.header = f"<{facility * 8 + LOG_INFO}>"
        self.tag = f" {SYSLOG_IDENT}[{os.getpid()}]: ".encode()

    def __call__(self, line: bytes, severity: int = LOG_INFO) -> None:
        stamp = time.strftime("%b %e %H:%M:%S")  # (RFC 3164's, local time, as glibc's)
        header = self.header if severity == LOG_INFO else f"<{self.facility * 8 + severity}>"
        try:
            self.sock.sendto(f"{header}{stamp}".encode() + self.tag + line, self.path)
        except OSError as exc:
            self._lose(exc)


class SyslogHandler(logging.Handler):
    """The daemon's log to syslog (``--log-facility``), as 10.5 logs without
    ``--log-stderr``: each line a datagram at its own severity, ``LEVEL: [CALL-ID]:
    [subsystem] message``, never blocking the daemon (a full or absent syslog socket loses lines, and
    says so once a minute, to itself)."""

    def __init__(self, path: str, facility: int, severities: dict[int, int],
                 formatter: LineFormatter | None = None) -> None:
        super().__init__()
        self.sender = SyslogSender(path, facility, "log line not sent to syslog")
        self.severities = severities  # (logging level -> syslog severity)
        self.breaking = formatter or LineFormatter(stamped=False)
        self.setFormatter(self.breaking)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            lines = self.breaking.format_lines(record)
        except Exception:  # (a record that does not format: logging's own report)
            self.handleError(record)
            return
        self._send(lines, record.levelno)

    def write_lines(self, levelno: int, name: str, texts: Sequence[str], created: float) -> None:
        """What ``emit`` sends for a record of ``texts`` (``log_lines.DirectRoute``)."""
        try:
            lines = self.breaking.current_lines(levelno, name, texts, created)
        except Exception:
            self.handleError(record_of(levelno, name, texts))
            return
        with self.lock:  # type: ignore[union-attr]  # (as ``handle`` holds it)
            self._send(lines, levelno)

    def _send(self, lines: list[str], levelno: int) -> None:
        severity = self.severities.get(levelno, LOG_INFO)
        for line in lines:  # (each its own datagram, as 10.5 writes each piece)
            self.sender(line.encode("utf-8", "replace"), severity)

    def close(self) -> None:
        self.sender.close()
        super().close()
