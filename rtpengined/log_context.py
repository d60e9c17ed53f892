"""What a log line says besides its message, as 10.5 writes it: the level by its syslog
name, the call it is about and the subsystem, ``INFO: [CALL-ID]: [control] Received ...``.

The call is the one the code on the event loop is working for at the moment: the core
names it while it runs an ng command (``Context.call_id``), so every line written meanwhile,
in whatever module, carries it, as 10.5's per-thread log context does. The daemon is one
thread and a command runs without awaiting, so one slot is enough.

``--log-format=parsable`` writes the call as ``[ID="CALL-ID"]``; ``--log-mark-prefix`` and
``--log-mark-suffix`` wrap what 10.5 deems private in a line (the tags, a request's raw
bytes) so that a log shipper can find and scrub it (``Context.mark``).

Plain Python without I/O: ``log_lines.LineFormatter`` writes the lines with it.
"""

from __future__ import annotations

import logging
import threading

from .protocol.cliwords import SUBSYSTEMS  # (10.5's: --log-level-NAME, set loglevel NAME)

NOTICE = 25  # (syslog's 5, between logging's INFO and WARNING)
logging.addLevelName(NOTICE, "NOTICE")

# syslog level → logging level, and back (10.5's numbers: -L 5 shows notices, 6 info too).
SYSLOG_TO_LOGGING = {0: logging.CRITICAL, 1: logging.CRITICAL, 2: logging.CRITICAL,
                     3: logging.ERROR, 4: logging.WARNING, 5: NOTICE, 6: logging.INFO,
                     7: logging.DEBUG}
LOGGING_TO_SYSLOG = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, NOTICE: 5,
                     logging.INFO: 6, logging.DEBUG: 7}
_LEVEL_NAMES = {logging.CRITICAL: "CRIT", logging.ERROR: "ERR", logging.WARNING: "WARNING",
                NOTICE: "NOTICE", logging.INFO: "INFO", logging.DEBUG: "DEBUG"}

# The loggers whose lines belong to a subsystem; another logger writes as ``core``.
SUBSYSTEM_LOGGERS = {
    "core": ("rtpengined", "rtpengined.calls", "rtpengined.relay", "rtpengined.redis",
             "rtpengined.dtmf", "rtpengined.graphite", "rtpengined.homer", "rtpengined.b2b",
             "rtpengined.sdp"),
    "control": ("rtpengined.control", "rtpengined.ng", "rtpengined.cli", "rtpengined.accept",
                "rtpengined.udp", "rtpengined.tcp"),
    "http": ("rtpengined.http", "rtpengined.ws", "rtpengined.janus"),
    "crypto": ("rtpengined.crypto",),
}
_SUBSYSTEM_OF = {name: subsystem for subsystem, names in SUBSYSTEM_LOGGERS.items()
                 for name in names}


def address_text(source: tuple | None) -> str:
    """A peer's address as 10.5 writes it in log lines (IPv6 in brackets; none: "local")."""
    if not source:
        return "local"
    host = source[0]
    return f"[{host}]:{source[1]}" if ":" in host else f"{host}:{source[1]}"


def syslog_to_logging(level: int) -> int:
    return SYSLOG_TO_LOGGING[max(0, min(level, 7))]


def level_name(levelno: int) -> str:
    """A record's level as 10.5 names it (a level between two: the next more severe)."""
    name = _LEVEL_NAMES.get(levelno)
    if name is None:
        name = next((_LEVEL_NAMES[known] for known in sorted(_LEVEL_NAMES) if known >= levelno),
                    "CRIT")
    return name


def subsystem_of(logger_name: str) -> str:
    """The subsystem a logger writes as (``rtpengined.NAME`` for any 10.5 subsystem NAME)."""
    subsystem = _SUBSYSTEM_OF.get(logger_name)
    if subsystem is None:
        suffix = logger_name[11:] if logger_name.startswith("rtpengined.") else ""
        subsystem = suffix if suffix in SUBSYSTEMS else "core"
    return subsystem


class Context:
    """The call being worked on and the marks for private data."""

    def __init__(self) -> None:
        self.call_id: str | None = None
        # (the event loop's: a line another thread writes meanwhile is not about the call)
        self.thread = threading.get_ident()
        self.parsable = False
        self.mark_prefix = ""
        self.mark_suffix = ""

    def configure(self, parsable: bool = False, mark_prefix: str = "",
                  mark_suffix: str = "") -> None:
        self.parsable = parsable
        self.mark_prefix = mark_prefix
        self.mark_suffix = mark_suffix

    def mark(self, text: str) -> str:
        """``text`` between ``--log-mark-prefix`` and ``--log-mark-suffix``."""
        return f"{self.mark_prefix}{text}{self.mark_suffix}"

    def call_of(self, fields: dict) -> str | None:
        """The call a record (its ``__dict__``) is about: the one it names
        (``extra={"call_id": ...}``), else the one being worked on in this thread."""
        named = fields.get("call_id")
        if named is not None:
            return named
        return self.call_id if threading.get_ident() == self.thread else None

    def prefix(self, call_id: str | None) -> str:
        """What stands before the subsystem for a line about ``call_id`` (none: nothing)."""
        if call_id is None:
            return ""
        if self.parsable:
            return f'[ID="{call_id}"]: '
        return f"[{self.mark_prefix}{call_id}{self.mark_suffix}]: "  # (10.5 marks it here)


class Limiter:
    """10.5's limit on lines that could repeat without end (a proxy sending the same odd
    word in every request): a line, with the call it names, at most once in 15 seconds;
    the memory of lines forgotten at once when it holds more than 10,000."""

    WINDOW = 15
    SIZE = 10_000

    def __init__(self) -> None:
        self._last: dict[tuple[str | None, str], float] = {}

    def allows(self, call_id: str | None, line: str, now: float) -> bool:
        key = (call_id, line)
        last = self._last.get(key)
        if last is not None and now - last < self.WINDOW:
            return False
        if len(self._last) > self.SIZE:
            self._last.clear()
        self._last[key] = now
        return True


CONTEXT = Context()
LIMITER = Limiter()
