"""The log lines' form as 10.5 writes them (``log_context``, ``log_setup``), the request
dump (``protocol.ngdump``) and the final packet stats (``final_stats``), in process.

The daemon beside 10.5 is ``test_diff_control_log.py``; here the parts on their own: the
level names, the call's prefix and the marks, the subsystem levels, and a core that logs
what it does while a command runs, with the call named on every line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rtpengined.config import Config
from rtpengined.core import Core
from rtpengined.log_context import (
    CONTEXT,
    NOTICE,
    SUBSYSTEM_LOGGERS,
    Context,
    Limiter,
    level_name,
    subsystem_of,
    syslog_to_logging,
)
from rtpengined.log_lines import LineFormatter, LineRecord
from rtpengined.log_setup import set_subsystem_level, set_subsystem_levels
from rtpengined.log_stream import LineStreamHandler
from rtpengined.protocol import bencode, ngdump

_LOGGERS = [name for names in SUBSYSTEM_LOGGERS.values() for name in names]


@contextmanager
def captured(level: int = logging.DEBUG, max_length: int = 0, split: bool = False
             ) -> Iterator[io.StringIO]:
    """The daemon's lines (without the time) while the block runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LineFormatter(False, max_length, split))
    levels = {name: logging.getLogger(name).level for name in _LOGGERS}
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(level)
    root = logging.getLogger("rtpengined")
    root.addHandler(handler)
    # (earlier tests in the same process, the fuzz targets, switch logging off for it)
    disabled = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    try:
        yield stream
    finally:
        logging.disable(disabled)
        root.removeHandler(handler)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)


def test_levels_have_syslogs_names_and_numbers():
    assert [level_name(level) for level in (logging.DEBUG, logging.INFO, NOTICE, logging.WARNING,
                                            logging.ERROR, logging.CRITICAL)] == [
        "DEBUG", "INFO", "NOTICE", "WARNING", "ERR", "CRIT"]
    assert level_name(logging.INFO + 1) == "NOTICE"  # (between two: the more severe)
    assert [syslog_to_logging(n) for n in (3, 4, 5, 6, 7, 9, -1)] == [
        logging.ERROR, logging.WARNING, NOTICE, logging.INFO, logging.DEBUG, logging.DEBUG,
        logging.CRITICAL]
    assert subsystem_of("rtpengined.cli") == "control" and subsystem_of("rtpengined.ws") == "http"
    assert subsystem_of("rtpengined.anything") == "core"


def test_the_calls_prefix_and_the_marks():
    context = Context()
    assert context.prefix(None) == "" and context.prefix("abc") == "[abc]: "
    context.configure(mark_prefix="{", mark_suffix="}")
    assert context.prefix("abc") == "[{abc}]: " and context.mark("x") == "{x}"
    context.configure(parsable=True, mark_prefix="{", mark_suffix="}")
    assert context.prefix("abc") == '[ID="abc"]: '  # (10.5 marks nothing there)


def test_a_line_names_the_call_being_worked_on_or_the_one_it_gives():
    log = logging.getLogger("rtpengined.control")
    with captured() as out:
        log.info("outside")
        CONTEXT.call_id = "c1"
        try:
            log.info("inside")
            log.info("another", extra={"call_id": "c2"})
        finally:
            CONTEXT.call_id = None
    assert out.getvalue().splitlines() == [
        "INFO: [control] outside", "INFO: [c1]: [control] inside", "INFO: [c2]: [control] another"]


def test_broken_lines_keep_the_call_but_break_the_subsystem_with_the_text():
    with captured(max_length=20) as out:
        logging.getLogger("rtpengined").warning("%s", "a" * 30, extra={"call_id": "c"})
    assert out.getvalue().splitlines() == [
        "WARNING: [c]: [core] aaaaaaaaaaaaa ...", "WARNING: [c]: ... aaaaaaaaaaaaaaaaa"]


def test_subsystem_levels_are_their_own():
    levels = {name: logging.getLogger(name).level for name in _LOGGERS}
    try:
        set_subsystem_levels(6, {"control": 7})
        assert logging.getLogger("rtpengined.control").level == logging.DEBUG
        assert logging.getLogger("rtpengined.cli").level == logging.DEBUG
        assert logging.getLogger("rtpengined").level == logging.INFO
        assert set_subsystem_level("core", 5)
        assert logging.getLogger("rtpengined.calls").level == NOTICE
        assert logging.getLogger("rtpengined.control").level == logging.DEBUG  # (untouched)
        assert not set_subsystem_level("dtx", 7)  # (a subsystem none of ours writes as)
    finally:
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)


def test_the_dump_of_a_message_as_10_5_writes_it():
    message = {"command": "ping", "flags": ["a", b"b"], "empty": [], "dd": {}, "n": -42,
               "x": {"y": ["z"]}, "sdp": "v=0\r\nline\n"}
    assert ngdump.dump(message) == (
        '{ "command": "ping", "flags": [ "a", "b" ], "empty": [  ], "dd": {  }, "n": -42, '
        '"x": { "y": [ "z" ] }, "sdp": "v=0\r\nline\n" }')


def test_a_dump_takes_any_depth_the_decoder_takes():
    deep = bencode.decode(b"d7:command4:ping1:x" + b"l" * 20000 + b"e" * 20000 + b"e")
    text = ngdump.dump(deep)
    assert text.startswith('{ "command": "ping", "x": [ [ [ ') and text.endswith(" ] ] ] }")
    assert text.count("[") == 20000
    core = Core(Config(port_min=45100, port_max=45199))
    with captured(logging.DEBUG) as out:
        reply = core.handle_ng(b"deep d7:command4:ping1:x" + b"l" * 20000 + b"e" * 20000 + b"e",
                               ("127.0.0.1", 5060))
    assert reply == b"deep d6:result4:ponge"
    assert "DEBUG: [control] Dump for 'ping' from 127.0.0.1:5060: { \"command\"" in out.getvalue()


def _sdp(port: int) -> str:
    return (f"v=0\no=- 1 1 IN IP4 127.0.0.1\ns=t\nt=0 0\nm=audio {port} RTP/AVP 0\n"
            "c=IN IP4 127.0.0.1\na=sendrecv\n")


def _ng(core: Core, cookie: str, message: dict) -> dict:
    reply = core.handle_ng(f"{cookie} ".encode() + bencode.encode(message), ("127.0.0.1", 5060))
    assert reply is not None
    return bencode.decode(reply.split(b" ", 1)[1])


def test_a_core_logs_each_command_and_the_call_it_ends():
    core = Core(Config(port_min=45000, port_max=45099, delete_delay=0))
    try:
        with captured(logging.INFO) as out:
            _ng(core, "1", {"command": "offer", "call-id": "lc", "from-tag": "ft",
                            "sdp": _sdp(2000)})
            _ng(core, "2", {"command": "answer", "call-id": "lc", "from-tag": "ft",
                            "to-tag": "tt", "sdp": _sdp(3000)})
            _ng(core, "2", {"command": "answer", "call-id": "lc"})  # (a retransmission)
            _ng(core, "3", {"command": "delete", "call-id": "lc", "from-tag": "ft"})
            _ng(core, "4", {"command": "query", "call-id": "lc"})
        lines = [line.split(" (elapsed time")[0] for line in out.getvalue().splitlines()]
    finally:
        for call in list(core.calls.calls.values()):
            core.calls.destroy(call, "regular")
    assert CONTEXT.call_id is None  # (back to none after each command)
    assert lines[:7] == [
        "INFO: [lc]: [control] Received command 'offer' from 127.0.0.1:5060",
        "NOTICE: [lc]: [core] Creating new call",
        "INFO: [lc]: [control] Replying to 'offer' from 127.0.0.1:5060",
        "INFO: [lc]: [control] Received command 'answer' from 127.0.0.1:5060",
        "INFO: [lc]: [control] Replying to 'answer' from 127.0.0.1:5060",
        "INFO: [control] Detected command from 127.0.0.1:5060 as a duplicate",
        "INFO: [lc]: [control] Received command 'delete' from 127.0.0.1:5060"]
    assert "INFO: [lc]: [core] Call branch 'ft' (via-branch '') deleted, no more branches " \
        "remaining" in lines
    stats = lines.index("INFO: [lc]: [core] Final packet stats:")
    assert lines[stats + 1:stats + 5] == [
        "INFO: [lc]: [core] --- Tag 'ft', created 0:00 ago for branch ''",
        "INFO: [lc]: [core] ---     subscribed to 'tt'",
        "INFO: [lc]: [core] ---     subscription for 'tt'",
        "INFO: [lc]: [core] ------ Media #1 (audio over RTP/AVP) using unknown codec"]
    assert lines[stats + 5].startswith("INFO: [lc]: [core] --------- Port       127.0.0.1:45")
    assert lines[stats + 5].endswith(" <>       127.0.0.1:2000 , SSRC 0, 0 p, 0 b, 0 e, 0 ts")
    assert lines[-1] == ("WARNING: [lc]: [control] Protocol error in packet from "
                         "127.0.0.1:5060: Unknown call-id [d7:command5:query7:call-id2:lce]")


def test_a_lean_record_serves_any_formatter():
    """The records the daemon makes (``LineRecord``) carry what a stock format reads."""
    record = LineRecord("rtpengined.calls", logging.WARNING, "(unknown file)", 0,
                        "%(what)s went %(how)s", ({"what": "it", "how": "well"},), None)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s:%(filename)s:"
                                  "%(lineno)d %(funcName)s %(thread)s %(message)s")
    assert formatter.format(record).endswith(
        " WARNING rtpengined.calls:(unknown file):0 None None it went well")


def test_a_record_of_several_lines_is_one_write():
    writes: list[str] = []

    class Stream(io.StringIO):
        write_through = True

        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    handler = LineStreamHandler(Stream())
    handler.setFormatter(LineFormatter(stamped=False))
    record = logging.LogRecord("rtpengined", logging.INFO, "", 0, "", None, None)
    record.rtpe_lines = ["Final packet stats:", "--- Tag 'a'"]
    handler.emit(record)
    assert writes == ["INFO: [core] Final packet stats:\nINFO: [core] --- Tag 'a'\n"]
    assert not handler.flushes and LineStreamHandler(io.StringIO()).flushes


def test_a_limited_line_once_in_15_seconds_per_call():
    limiter = Limiter()
    assert limiter.allows("c1", "line", 100.0)
    assert not limiter.allows("c1", "line", 114.9)
    assert limiter.allows("c2", "line", 114.9) and limiter.allows("c1", "other", 114.9)
    assert limiter.allows("c1", "line", 115.0)


def test_the_dtls_certificate_is_made_once_and_said_so():
    """10.5 says so at start; here the first offer that needs it makes it."""
    core = Core(Config(port_min=45100, port_max=45199, delete_delay=0))
    try:
        with captured(logging.INFO) as out:
            for tag in ("a", "b"):
                _ng(core, tag, {"command": "offer", "call-id": f"dtls-{tag}", "from-tag": "ft",
                                "sdp": _sdp(2000), "transport-protocol": "UDP/TLS/RTP/SAVP"})
        lines = out.getvalue().splitlines()
    finally:
        for call in list(core.calls.calls.values()):
            core.calls.destroy(call, "regular")
    assert lines.count("INFO: [dtls-a]: [crypto] Generating new DTLS certificate") == 1
    assert not any("dtls-b" in line and "certificate" in line for line in lines)
