"""``--split-logs`` and ``--max-log-line-length``: messages broken into lines as 10.5 breaks
them, each line with our whole prefix."""

from __future__ import annotations

import logging
import re
import subprocess
import sys

from rtpengined.log_lines import LineFormatter, effective_max, pieces


def test_long_messages_break_at_the_maximum_as_10_5s_do():
    # (10.5.3.5 with --max-log-line-length=20 writes its start-up line so)
    assert pieces("[core] Startup complete, version 10.5.3.5-1+deb12u1", 20) == [
        "[core] Startup compl ...", "... ete, version 10.5.3. ...", "... 5-1+deb12u1"]
    assert pieces("short\n\n", 20) == ["short"]
    assert pieces("x" * 20, 20) == ["x" * 20]
    assert pieces("a\nb", 0) == ["a\nb"]


def test_split_logs_breaks_at_newlines_and_still_at_the_maximum():
    assert pieces("one\r\ntwo\nthree", 0, split=True) == ["one ...", "... two ...", "... three"]
    # (a newline right where a piece begins stops the breaking: 10.5 writes the rest as it
    # is, newline and all)
    assert pieces("abcdefgh\nij", 4, split=True) == ["abcd ...", "... efgh ...", "... \nij"]
    assert pieces("a\n\nb", 0, split=True) == ["a ...", "... \nb"]


def test_the_default_maximum_is_500_for_syslog_only():
    assert effective_max(0, to_syslog_only=True) == 500
    assert effective_max(0, to_syslog_only=False) == 0
    assert effective_max(-1, to_syslog_only=True) == 0
    assert effective_max(80, to_syslog_only=False) == 80


def test_each_line_gets_the_head_and_a_traceback_is_part_of_the_message():
    formatter = LineFormatter(stamped=False, split=True)
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("rtpengined.x", logging.ERROR, __file__, 1, "failed %s",
                                   ("here",), sys.exc_info())
    lines = formatter.format_lines(record)
    assert lines[0] == "ERR: [core] failed here ..."
    assert lines[1] == "ERR: ... Traceback (most recent call last): ..."
    assert lines[-1] == "ERR: ... ValueError: boom"
    assert all(line.startswith("ERR: ") for line in lines)
    plain = LineFormatter(stamped=False)
    assert plain.format(record).startswith("ERR: [core] failed here\nTraceback")
    stamped = LineFormatter().format(record)
    assert re.match(r"\[\d+\.\d{6}\] ERR: \[core\] failed here\n", stamped), stamped


def test_a_block_is_one_record_of_several_lines():
    record = logging.LogRecord("rtpengined.control", logging.INFO, __file__, 1, "a\nbb", (),
                               None)
    record.rtpe_lines = ["a", "bb"]
    record.call_id = "c"
    assert LineFormatter(stamped=False).format_lines(record) == [
        "INFO: [c]: [control] a", "INFO: [c]: [control] bb"]
    assert LineFormatter(stamped=False, max_length=11).format_lines(record) == [
        "INFO: [c]: [control] a", "INFO: [c]: [control] b ...", "INFO: [c]: ... b"]


def test_the_daemon_breaks_its_log_lines():
    # (it stops at once: the ng address is not on this host; its warnings came first)
    result = subprocess.run(
        [sys.executable, "-m", "rtpengined", "run", "--config-file=none", "--mqtt-host=x",
         "--max-log-line-length=30", "--no-log-timestamps", "--listen-ng=192.0.2.99:2223",
         "--listen-cli=127.0.0.1:0", "--listen-http=127.0.0.1:0"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    # (as 10.5: the subsystem is part of the text broken, the level starts every line)
    assert result.stderr.splitlines()[:3] == [
        "WARNING: [core] option --mqtt-host is a ...",
        "WARNING: ... n rtpengine option that rtpeng ...",
        "WARNING: ... ined does not support; ignored"]
