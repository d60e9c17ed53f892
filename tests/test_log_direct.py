"""The lines the daemon writes most go to its handlers without the logging module's dispatch
(``log_lines.DirectRoute``, ``write_line``, ``write_block``): the same lines as a record
gives, in every form the daemon writes (stamped, broken, split, journald's, syslog's,
parsable), and the logging module's way whenever anything else would see the line (a
handler or filter added, a disabled or non-propagating logger, levels)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
import trio

from rtpengined.event_senders import SyslogHandler
from rtpengined.log_context import CONTEXT, LOGGING_TO_SYSLOG, NOTICE
from rtpengined.log_lines import DIRECT, LineFormatter, write_block, write_line
from rtpengined.log_setup import JournalFormatter
from rtpengined.log_stream import LineStreamHandler, held_lines

CONTROL = logging.getLogger("rtpengined.control")
CORE = logging.getLogger("rtpengined.calls")


@pytest.fixture
def root_handlers() -> Iterator[Callable[[list[logging.Handler]], None]]:
    """Installs handlers on the root logger as ``setup_logging`` does (and the route to
    them); everything as it was afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, list(DIRECT.handlers), CONTROL.level, CORE.level,
             logging.root.manager.disable)
    # (earlier tests in the same process, the fuzz targets, switch logging off for it)
    logging.disable(logging.NOTSET)
    CONTROL.setLevel(logging.DEBUG)
    CORE.setLevel(logging.DEBUG)

    def install(handlers: list[logging.Handler]) -> None:
        root.handlers[:] = handlers
        DIRECT.install(root.handlers)

    try:
        yield install
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        DIRECT.handlers = saved[2]
        CONTROL.setLevel(saved[3])
        CORE.setLevel(saved[4])
        logging.disable(saved[5])
        CONTEXT.call_id = None
        CONTEXT.configure()


def _write_some() -> None:
    write_line(CONTROL, logging.INFO, "Received command 'offer' from 127.0.0.1:5060")
    write_line(CORE, NOTICE, "Creating new call with 100% of its ports")  # (a % of its own)
    write_line(CONTROL, logging.INFO, "a line\r\nof several\nlines, long enough to break")
    write_block(CORE, logging.INFO, ["Final packet stats:", "--- Tag 'ft', created 0:00 ago",
                                     "------ Media #1 (audio over RTP/AVP) using PCMU/8000"])
    write_block(CORE, logging.INFO, [])


class _EveryRecord(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return True


def _both_ways(stream: io.StringIO, between: Callable[[], object] = lambda: None
               ) -> tuple[str, str]:
    """What ``_write_some`` writes by the route, and by records (a filter on a logger
    makes the route step aside); ``between`` runs after each."""
    assert DIRECT.handlers_for(CONTROL, logging.INFO) is not None
    _write_some()
    between()
    direct = stream.getvalue()
    stream.seek(0)
    stream.truncate()
    keep = _EveryRecord()
    CONTROL.addFilter(keep)
    CORE.addFilter(keep)
    try:
        assert DIRECT.handlers_for(CONTROL, logging.INFO) is None
        _write_some()
        between()
    finally:
        CONTROL.removeFilter(keep)
        CORE.removeFilter(keep)
    return direct, stream.getvalue()


@pytest.mark.parametrize("formatter", [
    LineFormatter(False), LineFormatter(False, max_length=30), LineFormatter(False, split=True),
    LineFormatter(False, max_length=20, split=True), JournalFormatter(False, 25),
], ids=["plain", "broken", "split", "broken-and-split", "journald"])
@pytest.mark.parametrize("call_id", [None, "call-1"])
def test_the_direct_lines_are_the_lines_a_record_gives(root_handlers, formatter, call_id):
    stream = io.StringIO()
    handler = LineStreamHandler(stream)
    handler.setFormatter(formatter)
    root_handlers([handler])
    CONTEXT.call_id = call_id
    direct, recorded = _both_ways(stream)
    assert direct == recorded
    assert len(direct.splitlines()) >= 6
    prefix = f"[{call_id}]: " if call_id else ""
    if isinstance(formatter, JournalFormatter):
        assert direct.startswith(f"<6>INFO: {prefix}[control] ")
    elif not formatter.max_length:
        assert f"NOTICE: {prefix}[core] Creating new call with 100% of its ports\n" in direct
        assert f"INFO: {prefix}[core] Final packet stats:\n" in direct


def test_stamped_and_parsable_lines_with_marks(root_handlers):
    stream = io.StringIO()
    handler = LineStreamHandler(stream)
    handler.setFormatter(LineFormatter())
    root_handlers([handler])
    CONTEXT.configure(parsable=True, mark_prefix="{", mark_suffix="}")
    CONTEXT.call_id = "c"
    direct, recorded = _both_ways(stream)
    strip = re.compile(r"^\[\d+\.\d{6}\] ", re.M)
    assert strip.sub("", direct) == strip.sub("", recorded)
    assert re.match(r'\[\d+\.\d{6}\] INFO: \[ID="c"\]: \[control\] Received', direct), direct


def test_syslog_gets_the_same_datagrams(root_handlers, tmp_path):
    path = os.path.join(tmp_path, "log")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    handler = SyslogHandler(path, 3 << 3, LOGGING_TO_SYSLOG, LineFormatter(False, 40))
    stream = io.StringIO()
    beside = LineStreamHandler(stream)  # (-E: syslog and stderr)
    beside.setFormatter(LineFormatter(False))
    halves: list[list[bytes]] = []

    def drain() -> None:  # (a datagram socket queues only a few: read each half)
        half = []
        try:
            while True:
                half.append(server.recv(4096))
        except BlockingIOError:
            halves.append(half)

    server.setblocking(False)
    try:
        root_handlers([handler, beside])
        CONTEXT.call_id = "s"
        direct, recorded = _both_ways(stream, drain)
    finally:
        handler.close()
        server.close()
    assert direct == recorded
    strip = re.compile(rb"^<\d+>.*?\[\d+\]: ")  # (syslog's header: the time, the pid)
    assert [strip.sub(b"", d) for d in halves[0]] == [strip.sub(b"", d) for d in halves[1]]
    assert len(halves[0]) >= 6 and halves[0][0].startswith(b"<198>")
    assert any(b"[s]: [control] Received command" in d for d in halves[0])


def test_anything_else_that_would_see_a_line_gets_its_record(root_handlers):
    stream = io.StringIO()
    handler = LineStreamHandler(stream)
    handler.setFormatter(LineFormatter(False))
    root_handlers([handler])
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    # A handler added to the root afterwards (pytest's caplog) or on the way to it.
    for where in (logging.getLogger(), logging.getLogger("rtpengined")):
        keep = Keep()
        where.addHandler(keep)
        try:
            write_line(CONTROL, logging.INFO, "seen 100%")
        finally:
            where.removeHandler(keep)
        assert records.pop().getMessage() == "seen 100%"
    assert stream.getvalue() == "INFO: [control] seen 100%\nINFO: [control] seen 100%\n"
    # A handler's own level or filter.
    handler.setLevel(logging.WARNING)
    write_line(CONTROL, logging.INFO, "below the handler's level")
    handler.setLevel(logging.NOTSET)
    handler.addFilter(lambda record: False)
    write_line(CONTROL, logging.INFO, "filtered")
    handler.filters.clear()
    # A logger's filter that drops the line, a disabled logger, a level above the line's.
    drop = logging.Filter("nothing.of.ours")
    CONTROL.addFilter(drop)
    write_line(CONTROL, logging.INFO, "dropped")
    CONTROL.removeFilter(drop)
    CONTROL.disabled = True
    try:
        write_line(CONTROL, logging.INFO, "disabled")
    finally:
        CONTROL.disabled = False
    CONTROL.setLevel(logging.WARNING)
    write_line(CONTROL, logging.INFO, "below the level")
    logging.disable(logging.WARNING)
    write_line(CONTROL, logging.WARNING, "all disabled")
    logging.disable(logging.NOTSET)
    assert stream.getvalue().count("\n") == 2
    # A logger on the way that does not propagate: the logging module's last resort.
    parent = logging.getLogger("rtpengined")
    parent.propagate = False
    try:
        assert DIRECT.handlers_for(CORE, logging.WARNING) is None
    finally:
        parent.propagate = True
    assert DIRECT.handlers_for(CORE, logging.WARNING) == [handler]


def test_a_stock_handler_on_the_root_takes_the_logging_modules_way(root_handlers):
    stream = io.StringIO()
    plain = logging.StreamHandler(stream)
    plain.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root_handlers([plain])
    assert DIRECT.handlers == []
    write_line(CONTROL, logging.INFO, "as ever")
    write_block(CORE, logging.INFO, ["one", "two"])
    assert stream.getvalue() == "INFO rtpengined.control as ever\nINFO rtpengined.calls one\ntwo\n"


@pytest.mark.parametrize("held", [False, True], ids=["at-once", "held"])
def test_a_line_that_cannot_be_written_is_reported_as_its_record(root_handlers, capsys, held):
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("disk full")

    handler = LineStreamHandler(Broken())
    handler.setFormatter(LineFormatter(False))
    root_handlers([handler])
    with held_lines() if held else contextlib.nullcontext():
        write_line(CONTROL, logging.INFO, "lost line")  # (no exception reaches the caller)
        write_line(CONTROL, logging.INFO, "and another")
    report = capsys.readouterr().err
    assert "lost line" in report and "and another" in report  # (held: one report of both)
    assert handler.held == [] and handler.holds == 0  # (the next lines are not kept)


class _CountedWrites(io.StringIO):
    """A stream that keeps each write apart (``writes``)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def _counted(root_handlers) -> _CountedWrites:
    stream = _CountedWrites()
    handler = LineStreamHandler(stream)
    handler.setFormatter(LineFormatter(False))
    root_handlers([handler])
    return stream


def test_held_lines_are_written_at_once_and_in_order(root_handlers):
    stream = _counted(root_handlers)
    with held_lines():
        write_line(CONTROL, logging.INFO, "first")
        CONTROL.warning("second, by the logging module's way")
        write_block(CORE, logging.INFO, ["third", "fourth"])
        assert stream.writes == []
    assert stream.writes == ["INFO: [control] first\n"
                             "WARNING: [control] second, by the logging module's way\n"
                             "INFO: [core] third\nINFO: [core] fourth\n"]
    write_line(CONTROL, logging.INFO, "after the block")  # (written at once again)
    assert stream.writes[1:] == ["INFO: [control] after the block\n"]


def test_a_hold_inside_a_hold_writes_with_the_outer_one(root_handlers):
    stream = _counted(root_handlers)
    with held_lines():
        write_line(CONTROL, logging.INFO, "outer")
        with held_lines():
            write_line(CONTROL, logging.INFO, "inner")
        assert stream.writes == []
    assert stream.writes == ["INFO: [control] outer\nINFO: [control] inner\n"]


def test_a_line_from_another_thread_joins_the_held_ones(root_handlers):
    stream = _counted(root_handlers)
    with held_lines():
        write_line(CONTROL, logging.INFO, "main thread")
        other = threading.Thread(target=CORE.warning, args=("other thread",))
        other.start()
        other.join()
        assert stream.writes == []
    assert stream.writes == ["INFO: [control] main thread\nWARNING: [core] other thread\n"]


async def test_a_burst_of_ng_requests_writes_its_lines_once(root_handlers, daemon):
    """Requests queued together on the UDP ng port: one wakeup answers them, and their
    lines (each one's received and replying lines, in order) reach stderr in one write."""
    stream = _counted(root_handlers)
    address = daemon.address("udp-ng")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.connect(address)
        for number in range(10):  # (no checkpoint between: all are queued before it wakes)
            raw.send(b"burst-%d d7:command4:pinge" % number)
        client = trio.socket.from_stdlib_socket(raw)
        replies = set()
        with trio.fail_after(5):
            while len(replies) < 10:
                replies.add(await client.recv(100))
    assert replies == {b"burst-%d d6:result4:ponge" % number for number in range(10)}
    ping_writes = [text for text in stream.writes if "'ping'" in text]
    assert len(ping_writes) == 1, stream.writes
    lines = [line for line in ping_writes[0].splitlines() if line.startswith("INFO:")]
    assert [line.split("'ping'")[0] for line in lines] == [
        "INFO: [control] Received command ", "INFO: [control] Replying to "] * 10
