"""The daemon's log lines as 10.5 writes them (``LineFormatter``), and ``--split-logs`` and
``--max-log-line-length``: one message written as several lines, each with the time, the
level and the call, the subsystem part of the text that is broken, as 10.5 breaks them.

``pieces`` is 10.5's rule: with ``--split-logs`` a message breaks at each newline (a
carriage return before it dropped); a piece longer than the maximum (0: none) breaks at it.
Every piece but the last ends in `` ...``, every one but the first begins with ``... ``.
The maximum is ``--max-log-line-length``; 0 (the default) means none when the log goes to
stderr and 500 when it goes to syslog only, a negative one none at all. A traceback counts
as part of its message.

Compiled with the ng core (every command writes its lines through here); the handler that
writes them to stderr is in ``log_stream``, which is not: the logging module holds
handlers by weak reference, which a compiled class does not honour.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from .log_context import CONTEXT, LOGGING_TO_SYSLOG, Context, level_name, subsystem_of

SYSLOG_DEFAULT_MAX = 500
_NO_FIELDS: dict = {}  # (a line without a record names no call of its own)


def pieces(message: str, max_length: int = 0, split: bool = False) -> list[str]:
    """``message`` as the lines 10.5 writes for it (trailing newlines dropped)."""
    text = message.rstrip("\n")
    out: list[str] = []
    infix = ""
    while True:
        length = skip = max_length
        if split:
            newline = text.find("\n")
            if newline >= 0 and (not length or newline < length):
                length, skip = newline, newline + 1
                if newline >= 1 and text[newline - 1] == "\r":
                    length -= 1
        if not length or len(text) <= length:
            break
        out.append(f"{infix}{text[:length]} ...")
        text = text[skip:]
        infix = "... "
    out.append(infix + text)
    return out


def effective_max(configured: int, to_syslog_only: bool) -> int:
    """The maximum ``pieces`` gets for ``--max-log-line-length=configured``."""
    if configured == 0 and to_syslog_only:
        return SYSLOG_DEFAULT_MAX
    return max(0, configured)


class LineFormatter(logging.Formatter):
    """A record as the lines 10.5 writes for it (``format_lines``): each starts with the
    head (``[SECONDS.MICROS] `` unless ``stamped`` is off, the level's syslog name, the
    call's prefix), then its piece of the text (the subsystem and the message, a
    traceback included), broken as ``pieces`` says. A record with ``rtpe_lines`` (a
    block such as the final packet stats) is one line per entry, written at once.

    Built by hand rather than from a format string: at the default level each ng command
    writes two lines, and ``logging.Formatter``'s way costs several times this."""

    def __init__(self, stamped: bool = True, max_length: int = 0, split: bool = False,
                 context: Context = CONTEXT) -> None:
        super().__init__()
        self.stamped = stamped
        self.max_length = max_length
        self.split = split
        self.context = context
        # (each logger's level name and subsystem, by level and logger name)
        self._parts: dict[tuple[int, str], tuple[str, str]] = {}

    def format_lines(self, record: logging.LogRecord) -> list[str]:
        fields = record.__dict__
        block = fields.get("rtpe_lines")
        return self.lines_of(record.levelno, record.name,
                             block if block else (self._message(record),), record.created,
                             self.context.call_of(fields))

    def lines_of(self, levelno: int, name: str, texts: Sequence[str], created: float,
                 call_id: str | None) -> list[str]:
        """The lines of a message made of ``texts`` (one each) from logger ``name``: what
        ``format_lines`` gives for a record and ``write_line`` for a line without one."""
        parts = self._parts.get((levelno, name))
        if parts is None:  # (a few levels times a few dozen loggers)
            parts = self._parts[levelno, name] = (f"{level_name(levelno)}: ",
                                                  f"[{subsystem_of(name)}] ")
        level, subsystem = parts
        head = level + self.context.prefix(call_id)
        if self.stamped:
            head = f"[{created:.6f}] {head}"
        if not self.max_length and not self.split:
            head += subsystem
            if len(texts) == 1:
                return [head + texts[0]]
            return [head + text for text in texts]
        return [head + piece for text in texts
                for piece in pieces(subsystem + text, self.max_length, self.split)]

    def current_lines(self, levelno: int, name: str, texts: Sequence[str],
                      created: float) -> list[str]:
        """``lines_of`` a line without a record: about the call being worked on, if any."""
        return self.lines_of(levelno, name, texts, created, self.context.call_of(_NO_FIELDS))

    def _message(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        if record.stack_info:
            message = f"{message}\n{self.formatStack(record.stack_info)}"
        return message

    def format(self, record: logging.LogRecord) -> str:
        return "\n".join(self.format_lines(record))


class JournalFormatter(LineFormatter):
    """journald stamps every line itself and reads a ``<N>`` syslog priority prefix (here, not
    beside ``setup_logging``, which uses it: Python classes cannot subclass compiled ones)."""

    def lines_of(self, levelno: int, name: str, texts: Sequence[str], created: float,
                 call_id: str | None) -> list[str]:
        priority = LOGGING_TO_SYSLOG.get(levelno, 6)
        return [f"<{priority}>{line}"
                for line in super().lines_of(levelno, name, texts, created, call_id)]


class LineRecord(logging.LogRecord):
    """A log record made with what the daemon's lines use and cheap constants for the rest
    (``logging.setLogRecordFactory``): the stock one looks up its source file's base name and
    module and tests its arguments against an abstract class on every line, a fifth of what
    a line costs at -L 6, where every ng command writes at least two."""

    def __init__(self, name: str, level: int, pathname: str, lineno: int, msg: object,
                 args: tuple | dict | None, exc_info: object, func: str | None = None,
                 sinfo: str | None = None, **_: object) -> None:
        now = time.time()
        self.name = name
        self.msg = msg
        if args and len(args) == 1 and type(args[0]) is dict and args[0]:  # type: ignore[arg-type]
            args = args[0]  # type: ignore[index]
        self.args = args  # type: ignore[assignment]
        self.levelname = logging.getLevelName(level)
        self.levelno = level
        self.pathname = self.filename = pathname
        self.module = "Unknown module"
        self.exc_info = exc_info  # type: ignore[assignment]
        self.exc_text = None
        self.stack_info = sinfo
        self.lineno = lineno
        self.funcName = func  # type: ignore[assignment]
        self.created = now
        self.msecs = int((now - int(now)) * 1000) + 0.0
        self.relativeCreated = (now - logging._startTime) * 1000  # type: ignore[attr-defined]
        self.thread = self.threadName = self.processName = self.process = None
        self.taskName = None


def record_of(levelno: int, name: str, texts: Sequence[str]) -> logging.LogRecord:
    """The record a direct line stands for, made only when a handler has to report it."""
    return LineRecord(name, levelno, "", 0, "\n".join(texts), None, None)


class DirectRoute:
    """The way the lines the daemon writes most (each ng command's received and replying
    lines, a call's creation, deletion and final stats: eleven per offer/answer/delete at
    -L 6) reach the log without the logging module's dispatch, which costs more than
    formatting and writing them: the handlers ``setup_logging`` installed on the root
    logger are called directly, with the text.

    Only while nothing else would see the line: the logger, its ancestors and the handlers
    without filters, the ancestors without handlers of their own, every one propagating,
    the root's handlers still the installed ones (pytest's ``caplog``, a test's handler or a
    second configuration make it take the logging module's way, which gives the same lines).
    Checked on every line: the logging module tells nobody when a handler is added."""

    def __init__(self) -> None:
        self.handlers: list[logging.Handler] = []

    def install(self, handlers: list[logging.Handler]) -> None:
        """Route to ``handlers`` (those on the root logger now), if each can take lines."""
        direct = all(callable(getattr(handler, "write_lines", None)) for handler in handlers)
        self.handlers = list(handlers) if direct and handlers else []

    def handlers_for(self, logger: logging.Logger, level: int) -> list[logging.Handler] | None:
        """The handlers a line at ``level`` from ``logger`` goes to directly; None: it takes
        the logging module's way."""
        installed = self.handlers
        if not installed or logger.disabled:
            return None
        node = logger
        parent = node.parent
        while parent is not None:
            if node.handlers or node.filters or not node.propagate:
                return None
            node, parent = parent, parent.parent
        if node.filters or node.handlers != installed:
            return None
        for handler in installed:
            if handler.filters or level < handler.level \
                    or not isinstance(handler.formatter, LineFormatter):
                return None
        return installed


DIRECT = DirectRoute()


def write_line(logger: logging.Logger, level: int, text: str) -> None:
    """``logger.log(level, "%s", text)``, the same lines by the ``DirectRoute``."""
    if logger.isEnabledFor(level) and not _written_directly(logger, level, (text,)):
        logger.log(level, "%s", text)


def write_block(logger: logging.Logger, level: int, lines: list[str]) -> None:
    """A block of lines written at once (the final packet stats): one record whose message
    is the lines joined, one line each (``rtpe_lines``), or the same by the ``DirectRoute``."""
    # (no lines: one empty line, as the record's empty message gives)
    if logger.isEnabledFor(level) and not _written_directly(logger, level, lines or [""]):
        logger.log(level, "%s", "\n".join(lines), extra={"rtpe_lines": lines})


def _written_directly(logger: logging.Logger, level: int, texts: Sequence[str]) -> bool:
    """``texts`` written by the ``DirectRoute``; False: it stands aside."""
    handlers = DIRECT.handlers_for(logger, level)
    if handlers is None:
        return False
    created = time.time()
    name = logger.name
    for handler in handlers:
        handler.write_lines(level, name, texts, created)  # type: ignore[attr-defined]
    return True
