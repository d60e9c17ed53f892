"""The daemon's log lines as 10.5 writes them (``LineFormatter``), and ``--split-logs`` and
``--max-log-line-length``: one message written as several lines, each with the time, the
level and the call, the subsystem part of the text that is broken, as 10.5 breaks them.

``pieces`` is 10.5's rule: with ``--split-logs`` a message breaks at each newline (a
carriage return before it dropped); a piece longer than the maximum (0: none) breaks at it.
Every piece but the last ends in `` ...``, every one but the first begins with ``... ``.
The maximum is ``--max-log-line-length``; 0 (the default) means none when the log goes to
stderr and 500 when it goes to syslog only, a negative one none at all. A traceback counts
as part of its message.
"""

from __future__ import annotations

import logging
import time

from .log_context import CONTEXT, Context, level_name, subsystem_of

SYSLOG_DEFAULT_MAX = 500


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

    def format_lines(self, record: logging.LogRecord) -> list[str]:
        fields = record.__dict__
        head = f"{level_name(record.levelno)}: {self.context.prefix(self.context.call_of(fields))}"
        if self.stamped:
            head = f"[{record.created:.6f}] {head}"
        subsystem = f"[{subsystem_of(record.name)}] "
        block = fields.get("rtpe_lines")
        texts = [subsystem + line for line in block] if block else [subsystem + self._message(record)]
        if not self.max_length and not self.split:
            return [head + text for text in texts]
        return [head + piece for text in texts
                for piece in pieces(text, self.max_length, self.split)]

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


class LineStreamHandler(logging.StreamHandler):
    """A stream handler that writes each record once, flushing only a stream that buffers
    (stderr writes through): a record's lines reach the file in one write, no second call."""

    def __init__(self, stream) -> None:  # noqa: ANN001
        super().__init__(stream)
        self.flushes = not (getattr(stream, "write_through", False)
                            or getattr(stream, "line_buffering", False))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + "\n")
            if self.flushes:
                self.stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
