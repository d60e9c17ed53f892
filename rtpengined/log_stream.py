"""The handler that writes the daemon's lines to stderr (``LineStreamHandler``).

A module of its own, outside the compiled ng core (``log_lines`` is compiled with it): the
logging module holds every handler by weak reference, and a compiled class's deallocator
leaves weak references to it dangling (mypyc/mypyc#1102), so a dropped handler crashed the
interpreter in ``logging.shutdown`` at exit. Kept as Python, it costs one call per line.

``held_lines`` keeps what the handlers write during a block and writes it at once when the
block ends: a transport answering the requests one wakeup found (each ng command writes
at least two lines at -L 6, the default) makes one write of them all, not one per line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import TracebackType

from .log_lines import LineFormatter, record_of


class LineStreamHandler(logging.StreamHandler):
    """A stream handler that writes each record once, flushing only a stream that buffers
    (stderr writes through): a record's lines reach the file in one write, no second call."""

    def __init__(self, stream) -> None:  # noqa: ANN001
        super().__init__(stream)
        self.flushes = not (getattr(stream, "write_through", False)
                            or getattr(stream, "line_buffering", False))
        self.holds = 0  # open ``hold_lines`` blocks: while > 0, ``_write`` keeps its text
        self.held: list[str] = []  # (what it kept, in order)

    def hold_lines(self) -> None:
        """Keep the lines written from now on, in order, until ``write_held`` (nestable;
        not ``hold``/``release``: ``logging.Handler`` has those for its lock)."""
        with self.lock:  # type: ignore[union-attr]
            self.holds += 1

    def write_held(self) -> None:
        """Write what the matching ``hold_lines`` kept, in one write (the outermost release).
        A failed write is reported as ``emit`` reports one, as a record of every line lost."""
        with self.lock:  # type: ignore[union-attr]
            self.holds -= 1
            if self.holds > 0 or not self.held:
                return
            text = "\n".join(self.held)
            self.held = []
            try:
                self._write(text)
            except RecursionError:
                raise
            except Exception:
                self.handleError(logging.makeLogRecord({"msg": text}))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._write(self.format(record))
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def write_lines(self, levelno: int, name: str, texts: Sequence[str], created: float) -> None:
        """What ``emit`` writes for a record of ``texts`` (``DirectRoute``), under the lock
        ``handle`` would hold."""
        formatter: LineFormatter = self.formatter  # type: ignore[assignment]
        try:
            lines = formatter.current_lines(levelno, name, texts, created)
            with self.lock:  # type: ignore[union-attr]
                self._write("\n".join(lines))
        except RecursionError:
            raise
        except Exception:
            self.handleError(record_of(levelno, name, texts))

    def _write(self, text: str) -> None:
        if self.holds:
            self.held.append(text)
            return
        self.stream.write(text + "\n")
        if self.flushes:
            self.stream.flush()


class held_lines:  # noqa: N801 (used as a function: ``with held_lines():``)
    """The root logger's stream handlers hold their lines for the block (``hold_lines``) and
    write them at its end: one write for all the lines of a burst of requests, which
    costs a write (a system call, and a send to journald when it takes stderr) per
    line otherwise. Lines written from other threads meanwhile join them in order.
    Other handlers (syslog: a datagram per line) write as before."""

    __slots__ = ("handlers",)

    def __init__(self) -> None:
        self.handlers = [handler for handler in logging.getLogger().handlers
                         if isinstance(handler, LineStreamHandler)]

    def __enter__(self) -> None:
        for handler in self.handlers:
            handler.hold_lines()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for handler in self.handlers:
            handler.write_held()
