"""rtpctl on a terminal (a pty via pexpect): rich tables, coloured SDP, a live watch view."""

from __future__ import annotations

import os
import re
import sys

import pexpect
import pytest
from rtpctl_helpers import SDP_DIR, clean_env, raw_cli, rtpctl, running_daemon

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def daemon():
    with running_daemon() as proc:
        args = ["--port", str(proc.ng_port), "ng"]
        assert rtpctl(*args, "offer", "-c", "tty-call", "-f", "caller1", os.path.join(SDP_DIR, "offer1.sdp")
                      ).returncode == 0
        assert rtpctl(*args, "answer", "-c", "tty-call", "-f", "caller1", "--to-tag", "callee1",
                      os.path.join(SDP_DIR, "answer1.sdp")).returncode == 0
        yield proc


LONG_CALL = "call-abc@1234567890.example.com"


def on_terminal(*args: str, columns: int = 120) -> tuple[str, int]:
    """Run rtpctl on a pty; return what the terminal received and the exit status."""
    env = clean_env(TERM="xterm-256color", COLUMNS=str(columns), LINES="50")
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(sys.executable, ["-m", "rtpctl", *args], env=env, dimensions=(50, columns),
                          encoding="utf-8", timeout=60)
    child.expect(pexpect.EOF)
    child.close()
    return child.before, child.exitstatus


def test_list_totals_is_a_table_on_a_terminal_and_text_when_piped(daemon):
    screen, status = on_terminal("--port", str(daemon.cli_port), "list", "totals")
    assert status == 0
    assert ANSI.search(screen), "no colour/styling on a terminal"
    text = ANSI.sub("", screen)
    assert "Statistics over currently running sessions" in text
    assert "─" in text  # table rules
    assert re.search(r"Owned sessions +1\b", text)
    # the plain ` %-48s:` layout is the piped form, not the terminal one
    assert " Owned sessions                                  :1" not in text
    assert b" Owned sessions                                  :1" in raw_cli(daemon.cli_port, "list totals")


def test_sessions_and_call_info_render_as_tables(daemon):
    screen, status = on_terminal("--port", str(daemon.cli_port), "list", "sessions", "all")
    text = ANSI.sub("", screen)
    assert status == 0 and "tty-call" in text and "deletionmark" in text and "─" in text
    screen, status = on_terminal("--port", str(daemon.cli_port), "list", "sessions", "tty-call")
    text = ANSI.sub("", screen)
    assert status == 0 and "Tag 'caller1'" in text and "Tag 'callee1'" in text and "RTCP" in text


def test_ng_query_and_statistics_render_as_tables(daemon):
    screen, status = on_terminal("--port", str(daemon.ng_port), "ng", "query", "-c", "tty-call")
    text = ANSI.sub("", screen)
    assert status == 0 and "Tag 'caller1'" in text and "packets" in text and "Totals" in text
    screen, status = on_terminal("--port", str(daemon.ng_port), "ng", "statistics")
    text = ANSI.sub("", screen)
    assert status == 0 and "currentstatistics" in text and "sessionstotal" in text


def test_offer_sdp_is_syntax_coloured(daemon):
    screen, status = on_terminal("--port", str(daemon.ng_port), "ng", "offer", "-c", "tty-offer", "-f", "x",
                                 os.path.join(SDP_DIR, "offer1.sdp"))
    assert status == 0
    text = ANSI.sub("", screen)
    assert "SDP" in text and "m=audio 46" in text and "a=rtpmap:0 PCMU/8000" in text
    # the attribute name and the media line carry their own styles
    assert re.search(r"\x1b\[[0-9;]*m[a]\x1b\[[0-9;]*m", screen) or re.search(r"\x1b\[[0-9;]*mrtpmap", screen)


def test_errors_on_a_terminal_still_exit_1(daemon):
    screen, status = on_terminal("--port", str(daemon.cli_port), "bogus")
    assert status == 1
    assert "Unknown or incomplete command" in ANSI.sub("", screen)


def test_a_daemon_error_on_a_terminal_is_said_once(daemon):
    for args, said in ((["--port", str(daemon.cli_port), "list", "sessions", "nope"], "Call ID not found (nope)"),
                       (["--port", str(daemon.ng_port), "ng", "query", "-c", "nope"], "Unknown call-id")):
        screen, status = on_terminal(*args)
        text = ANSI.sub("", screen)
        assert status == 1
        assert text.strip().count("\n") == 0, text  # one line, on stderr
        assert text.count(said) == 1, text
    screen, status = on_terminal("--port", str(daemon.cli_port), "watch", "-i", "0.1", "-n", "2", "list",
                                 "sessions", "nope")
    text = ANSI.sub("", screen)
    assert status == 1 and "refresh 2/2" in text
    assert "rtpctl: daemon error" not in text  # the live view already shows it


@pytest.fixture
def long_call(daemon):
    ng = ["--port", str(daemon.ng_port), "ng"]
    assert rtpctl(*ng, "offer", "-c", LONG_CALL, "-f", "caller1", os.path.join(SDP_DIR, "offer1.sdp")).returncode == 0
    try:
        yield LONG_CALL
    finally:
        rtpctl(*ng, "delete", "-c", LONG_CALL)


def test_call_ids_are_never_cut_at_80_columns(daemon, long_call):
    for columns in (80, 60):
        screen, status = on_terminal("--port", str(daemon.cli_port), "list", "sessions", "all", columns=columns)
        text = ANSI.sub("", screen)
        assert status == 0
        assert "…" not in text
        assert any(line.strip() == LONG_CALL or f" {LONG_CALL} " in f" {line} " for line in text.splitlines()), text
    screen, status = on_terminal("--port", str(daemon.cli_port), "list", "sessions", "all", columns=200)
    text = ANSI.sub("", screen)
    assert "deletionmark" in text and "─" in text and LONG_CALL in text  # wide enough: a table
    screen, status = on_terminal("--port", str(daemon.cli_port), "list", "sessions", LONG_CALL, columns=80)
    text = ANSI.sub("", screen)
    assert status == 0 and "…" not in text and re.search(r"127\.0\.0\.1:\d{5}\b", text)


def test_connection_refused_on_a_terminal(daemon):
    from conftest import free_port

    port = free_port()
    screen, status = on_terminal("--port", str(port), "list", "totals")
    assert status == 3
    assert ANSI.sub("", screen).strip() == (f"rtpctl: cannot connect to the CLI port 127.0.0.1:{port}: connection "
                                            "refused — is rtpengined (or rtpengine) running? `rtpengined run` "
                                            "starts one")


def test_watch_refreshes_in_place_and_ends_after_count(daemon):
    screen, status = on_terminal("--port", str(daemon.cli_port), "watch", "--interval", "0.2", "--count", "3",
                                 "list", "numsessions")
    assert status == 0
    text = ANSI.sub("", screen)
    for refresh in ("refresh 1/3", "refresh 2/3", "refresh 3/3"):
        assert refresh in text
    assert "Current sessions total" in text
    # in place: the cursor goes back up over the previous frame instead of scrolling
    assert "\x1b[1A" in screen or "\x1b[2K" in screen
    screen, status = on_terminal("--port", str(daemon.ng_port), "--watch", "0.2", "--count", "2", "ng",
                                 "statistics")
    assert status == 0 and "refresh 2/2" in ANSI.sub("", screen)
