"""Where the log goes and how its lines look, for the daemon and its relay workers alike:
stderr (with timestamps unless journald stamps them, or ``--no-log-timestamps``) and/or
syslog (``--log-facility``, as 10.5 logs there), at ``--log-level`` and the subsystems'
``--log-level-NAME``, lines in 10.5's form (``[SECONDS.MICROS] LEVEL: [CALL-ID]: [subsystem]
message``, see ``log_context``) broken as ``--max-log-line-length`` and ``--split-logs`` say
(``log_lines``).

The relay workers are processes of their own: they get the same ``LogSettings`` on their
command line (``to_arg``/``from_arg``) and set their log up the same way, so what they
report reaches syslog and looks like every other line (without it Python's last-resort
handler wrote their warnings bare to stderr, at whatever level was set).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from .log_context import LOGGING_TO_SYSLOG, SUBSYSTEM_LOGGERS, syslog_to_logging
from .log_lines import DIRECT, JournalFormatter, LineFormatter, LineRecord, effective_max
from .log_stream import LineStreamHandler

if TYPE_CHECKING:
    from .config import Config


@dataclass(frozen=True)
class LogSettings:
    level: int = 5
    syslog_socket: str | None = None  # (with the facility: --log-facility)
    facility: int = 0
    stderr: bool = True  # (-E: with --log-facility, stderr too)
    timestamps: bool = True
    max_length: int = 0
    split: bool = False

    @classmethod
    def of(cls, config: Config) -> LogSettings:
        """The settings the options give (syslog only where its socket is there)."""
        syslog = (config.syslog_socket if config.log_facility is not None
                  and os.path.exists(config.syslog_socket) else None)
        return cls(config.log_level, syslog, config.log_facility or 0,
                   config.log_stderr, not config.no_log_timestamps,
                   config.max_log_line_length, config.split_logs)

    def to_arg(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_arg(cls, text: str) -> LogSettings:
        return cls(**json.loads(text))


def setup_logging(settings: LogSettings, journal: bool | None = None,
                  subsystem_levels: dict[str, int] | None = None) -> None:
    """Send this process's log where ``settings`` say (``journal``: stderr is journald's,
    found out here unless given); ``subsystem_levels`` are the ``--log-level-NAME`` given."""
    from .event_senders import SyslogHandler
    from .service import stderr_is_journal

    if journal is None:
        journal = stderr_is_journal()
    handlers: list[logging.Handler] = []
    syslog = settings.syslog_socket
    to_stderr = settings.stderr or syslog is None
    max_length = effective_max(settings.max_length, to_syslog_only=not to_stderr)
    if syslog is not None:
        handlers.append(SyslogHandler(syslog, settings.facility, LOGGING_TO_SYSLOG,
                                      LineFormatter(False, max_length, settings.split)))
    if to_stderr:
        handler = LineStreamHandler(sys.stderr)
        if journal:
            handler.setFormatter(JournalFormatter(False, max_length, settings.split))
        else:
            handler.setFormatter(LineFormatter(settings.timestamps, max_length, settings.split))
        handlers.append(handler)
    # (no line shows the source file, the thread or the process: not finding them out
    # saves a third of what each line costs)
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.setLogRecordFactory(LineRecord)
    logging.basicConfig(level=syslog_to_logging(settings.level), handlers=handlers)
    # (the lines written most go to them directly while they are the root's: log_lines)
    DIRECT.install(logging.getLogger().handlers)
    set_subsystem_levels(settings.level, subsystem_levels or {})


def set_subsystem_levels(default: int, levels: dict[str, int]) -> None:
    """Each subsystem's loggers at its own level (``--log-level-NAME``, else ``default``), so
    that a later ``set loglevel`` of one subsystem changes that one alone, as in 10.5."""
    for subsystem in SUBSYSTEM_LOGGERS:
        set_subsystem_level(subsystem, levels.get(subsystem, default))


def set_subsystem_level(subsystem: str, level: int) -> bool:
    """The loggers of ``subsystem`` at syslog ``level``; False for a subsystem with none."""
    names = SUBSYSTEM_LOGGERS.get(subsystem)
    if names is None:
        return False
    for name in names:
        logging.getLogger(name).setLevel(syslog_to_logging(level))
    return True
