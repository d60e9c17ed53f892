"""``--split-logs`` and ``--max-log-line-length``: one log message written as several lines,
as 10.5 breaks them: each with the time, the level and the call, the subsystem
(``rtpe_subsystem``, see ``log_context``) part of the text that is broken.

``pieces`` is 10.5's rule: with ``--split-logs`` a message breaks at each newline (a
carriage return before it dropped); a piece longer than the maximum (0: none) breaks at it.
Every piece but the last ends in `` ...``, every one but the first begins with ``... ``.
The maximum is ``--max-log-line-length``; 0 (the default) means none when the log goes to
stderr and 500 when it goes to syslog only, a negative one none at all. A traceback counts
as part of its message.
"""

from __future__ import annotations

import logging

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


class BreakingFormatter(logging.Formatter):
    """A formatter whose ``format_lines`` gives a record's lines, each with the prefix."""

    def __init__(self, fmt: str, max_length: int = 0, split: bool = False) -> None:
        super().__init__(fmt)
        self.max_length = max_length
        self.split = split

    def format_lines(self, record: logging.LogRecord) -> list[str]:
        if not self.max_length and not self.split:
            return [logging.Formatter.format(self, record)]
        message = getattr(record, "rtpe_subsystem", "") + record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        if record.stack_info:
            message = f"{message}\n{self.formatStack(record.stack_info)}"
        if (not self.max_length or len(message) <= self.max_length) and (
                not self.split or "\n" not in message):
            return [logging.Formatter.format(self, record)]  # (the usual line: as it is)
        lines = []
        for piece in pieces(message, self.max_length, self.split):
            copy = logging.makeLogRecord(record.__dict__)
            copy.msg, copy.args, copy.rtpe_subsystem = piece, None, ""
            copy.exc_info = copy.exc_text = copy.stack_info = None
            lines.append(logging.Formatter.format(self, copy))
        return lines

    def format(self, record: logging.LogRecord) -> str:
        return "\n".join(self.format_lines(record))
