"""The handler that writes the daemon's lines to stderr (``LineStreamHandler``).

A module of its own, outside the compiled ng core (``log_lines`` is compiled with it): the
logging module holds every handler by weak reference, and a compiled class's deallocator
leaves weak references to it dangling (mypyc/mypyc#1102), so a dropped handler crashed the
interpreter in ``logging.shutdown`` at exit. Kept as Python, it costs one call per line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .log_lines import LineFormatter, record_of


class LineStreamHandler(logging.StreamHandler):
    """A stream handler that writes each record once, flushing only a stream that buffers
    (stderr writes through): a record's lines reach the file in one write, no second call."""

    def __init__(self, stream) -> None:  # noqa: ANN001
        super().__init__(stream)
        self.flushes = not (getattr(stream, "write_through", False)
                            or getattr(stream, "line_buffering", False))

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
        self.stream.write(text + "\n")
        if self.flushes:
            self.stream.flush()
