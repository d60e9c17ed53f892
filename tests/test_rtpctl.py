"""rtpctl as a subprocess against ``rtpengined run`` in a subprocess, over every transport."""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import subprocess
import sys

import pytest
from rtpctl_helpers import (
    SDP_DIR,
    clean_env,
    complete,
    normalise,
    port_for,
    raw_cli,
    rtpctl,
    running_daemon,
    running_rtpengine,
    target_args,
)

from rtpengined.media import dtmf, dtmf_guard, g711

from conftest import free_port

NG_TRANSPORTS = ["udp", "tcp", "http", "ws"]
CLI_TRANSPORTS = ["cli", "http", "ws"]
REPO = os.path.join(os.path.dirname(__file__), "..")


@pytest.fixture(scope="module")
def daemon():
    # Deleted calls go at once: with rtpengine's 30 s delete delay, the calls a test
    # deletes would leave the session counts some later test compares, at a moment of
    # their own (two reads of "list numsessions" then differ).
    with running_daemon("--delete-delay=0") as proc:
        yield proc


@pytest.fixture(scope="module")
def call(daemon) -> str:
    """One established call (tags caller1/callee1) shared by the read-only tests."""
    offer_answer(daemon, "udp", "shared-call")
    return "shared-call"


def ok(result) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout.decode()


def offer_answer(daemon, transport: str, call_id: str, *extra: str) -> tuple[dict, dict]:
    args = [*target_args(daemon, transport), "--json", *extra, "ng"]
    offer = json.loads(ok(rtpctl(*args, "offer", "--call-id", call_id, "--from-tag", "caller1",
                                 os.path.join(SDP_DIR, "offer1.sdp"))))
    with open(os.path.join(SDP_DIR, "answer1.sdp"), "rb") as sdp:
        answer = json.loads(ok(rtpctl(*args, "answer", "--call-id", call_id, "--from-tag", "caller1",
                                      "--to-tag", "callee1", stdin=sdp.read())))
    return offer, answer


# -- every transport ------------------------------------------------------------------------


@pytest.mark.parametrize("transport", NG_TRANSPORTS)
def test_ng_ping_over_every_transport(daemon, transport):
    assert ok(rtpctl(*target_args(daemon, transport), "ng", "ping")) == "result: pong\n"
    assert json.loads(ok(rtpctl(*target_args(daemon, transport), "--json", "ng", "ping"))) == {"result": "pong"}


@pytest.mark.parametrize("transport", CLI_TRANSPORTS)
def test_list_numsessions_over_every_transport_is_the_daemons_text(daemon, transport):
    out = rtpctl(*target_args(daemon, transport), "list", "numsessions")
    assert out.returncode == 0, out.stderr
    assert out.stdout == raw_cli(daemon.cli_port, "list numsessions")
    assert out.stdout.startswith(b"Current sessions own: ")


def test_url_form_of_every_transport(daemon):
    for scheme in NG_TRANSPORTS:
        assert ok(rtpctl("--url", f"{scheme}://127.0.0.1:{port_for(daemon, scheme)}", "ng", "ping")) == \
            "result: pong\n"
    for scheme in CLI_TRANSPORTS:
        out = rtpctl("--url", f"{scheme}://127.0.0.1:{port_for(daemon, scheme)}", "list", "maxsessions")
        assert out.stdout == raw_cli(daemon.cli_port, "list maxsessions")


def test_offer_answer_delete_give_the_same_reply_over_each_ng_transport(daemon):
    replies = {}
    for transport in NG_TRANSPORTS:
        call_id = f"same-reply-{transport}"
        offer, answer = offer_answer(daemon, transport, call_id)
        delete = json.loads(ok(rtpctl(*target_args(daemon, transport), "--json", "ng", "delete",
                                      "--call-id", call_id, "--from-tag", "caller1")))
        assert offer["result"] == answer["result"] == delete["result"] == "ok"
        replies[transport] = normalise([offer, answer, delete])
    first = replies["udp"]
    for transport in NG_TRANSPORTS[1:]:
        assert replies[transport] == first, transport


def test_query_list_statistics_and_raw(daemon, call):
    query = json.loads(ok(rtpctl(*target_args(daemon, "udp"), "--json", "ng", "query", "-c", call)))
    assert set(query["tags"]) >= {"caller1", "callee1"}
    listed = json.loads(ok(rtpctl(*target_args(daemon, "tcp"), "--json", "ng", "list")))
    assert call in listed["calls"]
    stats = json.loads(ok(rtpctl(*target_args(daemon, "http"), "--json", "ng", "statistics")))
    assert "currentstatistics" in stats["statistics"]
    plain = ok(rtpctl(*target_args(daemon, "udp"), "ng", "query", "-c", call))
    assert "tags:\n" in plain and "  caller1:\n" in plain
    assert ok(rtpctl(*target_args(daemon, "udp"), "ng", "raw", '{"command": "ping"}')) == "result: pong\n"
    assert ok(rtpctl(*target_args(daemon, "tcp"), "ng", "raw", "d7:command4:pinge")) == "result: pong\n"
    assert ok(rtpctl(*target_args(daemon, "udp"), "--encoding", "json", "ng", "raw", stdin=b'{"command":"ping"}')) \
        == "result: pong\n"


def test_sdp_only_prints_the_rewritten_sdp(daemon):
    out = ok(rtpctl(*target_args(daemon, "udp"), "ng", "offer", "--sdp-only", "-c", "sdp-only", "-f", "a",
                    "--flag", "trust-address", "--replace", "origin", "--option", "ICE=remove",
                    os.path.join(SDP_DIR, "offer1.sdp")))
    assert out.startswith("v=0\r\n") and "m=audio 46" in out


# -- the daemon's text, byte for byte ---------------------------------------------------------


BYTE_FOR_BYTE = [("cli", command) for command in (
    "list numsessions", "list sessions all", "list sessions shared-call", "list totals", "list jsonstats",
    "list counters", "list maxsessions", "list timeout", "list interfaces", "params current", "list help",
    "help", "call shared-call tag caller1 info")]
BYTE_FOR_BYTE += [(transport, command) for transport in ("http", "ws")
                  for command in ("list sessions all", "list totals", "list sessions shared-call")]


@pytest.mark.parametrize("transport,command", BYTE_FOR_BYTE)
def test_plain_output_is_the_daemons_text_byte_for_byte(daemon, call, transport, command):
    # Two requests cannot be made at the same instant: a call's duration always moves and the
    # uptime ticks each second, so those two numbers are masked; any other counter that moved
    # in between is given up to three tries.
    def mask(raw: bytes) -> bytes:
        raw = re.sub(rb"callduration \d+\.\d+", b"callduration *", raw)
        raw = re.sub(rb"(Uptime of rtpengine +:)\d+", rb"\1*", raw)
        return re.sub(rb'("uptime":)"?\d+"?', rb"\1*", raw)

    for _ in range(3):
        out = rtpctl(*target_args(daemon, transport), *command.split())
        assert out.returncode == 0, out.stderr
        expected = raw_cli(daemon.cli_port, command)
        if mask(out.stdout) == mask(expected):
            break
    assert mask(out.stdout) == mask(expected)
    assert out.stderr == b""


def test_words_are_joined_and_trimmed_like_rtpengine_ctl(daemon):
    out = rtpctl("--port", str(daemon.cli_port), "list", " sessions", "all ")
    assert out.stdout == raw_cli(daemon.cli_port, "list  sessions all")


def test_set_and_get_any_cli_word(daemon):
    assert ok(rtpctl("--port", str(daemon.cli_port), "set", "maxsessions", "100")) == \
        "Success setting maxsessions to 100\n"
    assert ok(rtpctl("--port", str(daemon.cli_port), "get", "maxsessions")) == \
        "Maximum sessions configured on rtpengine: 100\n"
    ok(rtpctl("--port", str(daemon.cli_port), "set", "maxsessions", "-1"))
    # words after the command may start with '-' (rtpengine-ctl's require_order)
    assert ok(rtpctl("--port", str(daemon.cli_port), "set", "loglevel", "internals", "-1")).startswith("Success")


def test_terminate_a_call(daemon):
    offer_answer(daemon, "udp", "terminate-me")
    assert ok(rtpctl("--port", str(daemon.cli_port), "terminate", "terminate-me")) == \
        "\nCall Id (terminate-me) successfully terminated by operator.\n\n"


# -- rtpctl's own options after the command words ----------------------------------------------


def test_own_options_work_after_the_command_words(daemon, call):
    port = ["--port", str(daemon.cli_port)]
    totals = json.loads(ok(rtpctl(*port, "list", "totals", "--json")))
    assert totals["current_sessions"]["total_sessions"] >= 1
    sessions = json.loads(ok(rtpctl(*port, "list", "sessions", "all", "--json")))
    assert call in {row["callid"] for row in sessions}
    assert ok(rtpctl("list", "timeout", *port)) == raw_cli(daemon.cli_port, "list timeout").decode()
    assert json.loads(ok(rtpctl("list", "sessions", *port, call, "-o", "json")))["callid"] == call
    query = json.loads(ok(rtpctl("ng", "query", "-c", call, "--port", str(daemon.ng_port), "--json")))
    assert set(query["tags"]) >= {"caller1", "callee1"}
    assert "Usage: rtpctl list" in ok(rtpctl("list", "sessions", "--help"))


def test_watch_count_after_the_words_ends_the_watch(daemon):
    # --count 2 once went to the daemon as two more words: the watch never ended
    out = ok(rtpctl("--port", str(daemon.cli_port), "watch", "list", "timeout", "--count", "2", "--interval", "0.1"))
    assert out == raw_cli(daemon.cli_port, "list timeout").decode() * 2
    out = ok(rtpctl("list", "timeout", "--port", str(daemon.cli_port), "-w", "0.1", "-n", "3"))
    assert out == raw_cli(daemon.cli_port, "list timeout").decode() * 3


@pytest.mark.parametrize("args,message", [
    (["list", "sessions", "all", "--bogus"], "no such option: --bogus"),
    (["list", "totals", "--count"], "option --count needs a value"),
    (["watch", "list", "totals", "--interval"], "option --interval needs a value"),
])
def test_unknown_options_among_the_words_are_usage_errors(daemon, args, message):
    out = rtpctl("--port", str(daemon.cli_port), *args)
    assert out.returncode == 2 and out.stdout == b"", out
    assert message in out.stderr.decode()


def test_words_after_a_double_dash_all_go_to_the_daemon(daemon):
    out = rtpctl("--port", str(daemon.cli_port), "list", "sessions", "--", "--json")
    assert out.returncode == 1
    assert out.stdout == raw_cli(daemon.cli_port, "list sessions --json")
    assert b"(--json)" in out.stdout


# -- JSON -----------------------------------------------------------------------------------


def test_json_of_cli_tables(daemon, call):
    totals = json.loads(ok(rtpctl("--port", str(daemon.cli_port), "--json", "list", "totals")))
    assert list(totals) == ["current_sessions", "total_statistics", "graphite_interval_statistics",
                            "mos_statistics", "control_statistics"]
    current = totals["current_sessions"]
    assert isinstance(current["total_sessions"], int) and current["total_sessions"] >= 1
    assert current["owned_sessions"] == current["total_sessions"]
    assert "packets_per_second_userspace" in current and "mixed_kernel_userspace_media_streams" in current
    assert totals["total_statistics"]["total_timed_out_sessions_via_silent_timeout"] == 0
    proxy = totals["control_statistics"][0]
    assert proxy["proxy"] == "127.0.0.1" and proxy["offer"] >= 1 and "blk_dtmf" in proxy
    counters = json.loads(ok(rtpctl("--port", str(daemon.cli_port), "--json", "list", "counters")))
    assert "bytes_per_second_total" in counters["current_per_second_counters"]
    numsessions = json.loads(ok(rtpctl("--port", str(daemon.cli_port), "--json", "list", "numsessions")))
    assert numsessions["current_sessions_total"] >= 1 and "current_sessions_ip_mixed_media" in numsessions
    maxsessions = json.loads(ok(rtpctl("--port", str(daemon.cli_port), "--json", "list", "maxsessions")))
    assert list(maxsessions) == ["maximum_sessions_configured_on_rtpengine"]
    params = json.loads(ok(rtpctl("--port", str(daemon.cli_port), "--json", "params", "current")))
    assert "max-sessions" in params  # rtpengine's option names are kept as they are
    sessions = json.loads(ok(rtpctl("--port", str(daemon.cli_port), "--json", "list", "sessions", "all")))
    assert call in {row["callid"] for row in sessions}
    call = json.loads(ok(rtpctl("--port", str(daemon.cli_port), "--json", "list", "sessions", call)))
    assert [tag["tag"] for tag in call["tags"]][:2] == ["caller1", "callee1"]
    assert {"subscribed_to", "subscription_of", "media"} <= set(call["tags"][0])
    jsonstats = json.loads(ok(rtpctl("--port", str(daemon.cli_port), "--json", "list", "jsonstats")))
    assert "currentstatistics" in jsonstats


# -- exit statuses --------------------------------------------------------------------------


def test_exit_1_when_the_cli_answers_an_error_with_its_text_unchanged(daemon):
    out = rtpctl("--port", str(daemon.cli_port), "bogus")
    assert out.returncode == 1
    assert out.stdout == raw_cli(daemon.cli_port, "bogus")
    assert out.stderr.decode().count("\n") == 1 and out.stderr.startswith(b"rtpctl: ")


def test_exit_1_when_ng_answers_an_error(daemon):
    for transport in NG_TRANSPORTS:
        out = rtpctl(*target_args(daemon, transport), "ng", "query", "--call-id", "no-such-call")
        assert out.returncode == 1, transport
        assert out.stdout == b""
        assert out.stderr.decode().count("\n") == 1 and b"Unknown call-id" in out.stderr
    out = rtpctl(*target_args(daemon, "udp"), "--json", "ng", "query", "--call-id", "no-such-call")
    assert out.returncode == 1 and json.loads(out.stdout)["result"] == "error"


@pytest.mark.parametrize("args", [
    ["--transport", "udp", "list", "totals"],
    ["--transport", "tcp", "list", "totals"],
    ["--transport", "cli", "ng", "ping"],
    ["--url", "bogus://127.0.0.1:1", "ng", "ping"],
    ["--option-that-does-not-exist"],
    ["ng", "offer", "--from-tag", "x"],
    ["ng", "offer", "--call-id", "x", "--from-tag", "y"],  # no SDP on stdin
    ["ng", "offer", "-c", "x", "-f", "y", "--option", "novalue", os.path.join(SDP_DIR, "offer1.sdp")],
    ["ng", "raw", "not a message"],
])
def test_exit_2_on_usage_errors(daemon, args):
    out = rtpctl(*args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stderr


def test_mismatch_message_is_one_clear_line():
    out = rtpctl("--transport", "udp", "list", "totals")
    assert out.stderr.decode() == \
        "rtpctl: CLI commands cannot go over udp: use --transport cli, http, https, ws, wss\n"


@pytest.mark.parametrize("transport", ["cli", "tcp", "http", "ws", "udp"])
def test_exit_3_when_nothing_listens(transport):
    port = free_port(socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)
    words = ["list", "totals"] if transport == "cli" else ["ng", "ping"]
    out = rtpctl("--transport", transport, "--port", str(port), "--timeout", "0.5", *words)
    assert out.returncode == 3, (out.stdout, out.stderr)
    assert out.stdout == b""
    assert out.stderr.decode().count("\n") == 1 and f":{port}" in out.stderr.decode()
    assert "('127.0.0.1'" not in out.stderr.decode()  # no Python tuple
    if transport != "udp":  # a UDP port may also just not answer (timed out)
        where = {"cli": "the CLI port", "tcp": "the TCP ng port", "http": "the HTTP port",
                 "ws": "the HTTP (WebSocket) port"}[transport]
        assert out.stderr.decode() == (
            f"rtpctl: cannot connect to {where} 127.0.0.1:{port}: connection refused — "
            "is rtpengined (or rtpengine) running? `rtpengined run` starts one\n")


def test_udp_timeout_retransmits_with_the_same_cookie_then_exits_3():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        out = rtpctl("--port", str(port), "--timeout", "0.2", "--retries", "2", "ng", "ping")
        assert out.returncode == 3
        assert b"timed out" in out.stderr
        silent.setblocking(False)
        received = []
        while True:
            try:
                received.append(silent.recv(65535))
            except BlockingIOError:
                break
    assert len(received) == 3
    assert len(set(received)) == 1
    cookie = received[0].split(b" ", 1)[0]
    assert received[0] == cookie + b" d7:command4:pinge"


# -- settings from the environment, the config file and rtpengine-ctl's options -------------------


def test_environment_variables(daemon):
    env = clean_env(RTPCTL_URL=f"cli://127.0.0.1:{daemon.cli_port}")
    assert rtpctl("list", "numsessions", env=env).stdout == raw_cli(daemon.cli_port, "list numsessions")
    env = clean_env(RTPCTL_TRANSPORT="tcp", RTPCTL_PORT=str(daemon.ng_port), RTPCTL_HOST="127.0.0.1",
                    RTPCTL_TIMEOUT="2")
    assert ok(rtpctl("ng", "ping", env=env)) == "result: pong\n"
    env = clean_env(RTPCTL_OUTPUT="json", RTPCTL_PORT=str(daemon.ng_port))
    assert json.loads(ok(rtpctl("ng", "ping", env=env))) == {"result": "pong"}


def test_config_file_listen_keys_as_rtpengine_ctl_reads_them(daemon, tmp_path):
    conf = tmp_path / "rtpengine.conf"
    conf.write_text(f"[rtpengine]\nlisten-cli = 127.0.0.1:{daemon.cli_port}\nlisten-ng = {daemon.ng_port}\n"
                    f"listen-http = 127.0.0.1:{daemon.http_port}\n")
    assert rtpctl("--config-file", str(conf), "list", "numsessions").stdout == \
        raw_cli(daemon.cli_port, "list numsessions")
    assert ok(rtpctl("-config-file", str(conf), "ng", "ping")) == "result: pong\n"
    assert ok(rtpctl("--config-file", str(conf), "-t", "ws", "ng", "ping")) == "result: pong\n"
    env = clean_env(RTPCTL_CONFIG_FILE=str(conf))
    assert ok(rtpctl("-t", "http", "list", "maxsessions", env=env)).startswith("Maximum sessions")


def test_rtpengine_ctl_style_options(daemon):
    # a setting, not the session count: calls of other tests come and go in between
    expected = raw_cli(daemon.cli_port, "list timeout")
    assert rtpctl("-ip", f"127.0.0.1:{daemon.cli_port}", "list", "timeout").stdout == expected
    assert rtpctl("-ip", "127.0.0.1", "-port", str(daemon.cli_port), "list", "timeout").stdout == expected
    # ... and after the command words too
    assert rtpctl("list", "timeout", "-ip", "127.0.0.1", "-port", str(daemon.cli_port)).stdout == expected


def test_watch_when_piped_prints_each_refresh(daemon):
    out = ok(rtpctl("--port", str(daemon.cli_port), "watch", "--interval", "0.1", "--count", "2", "list",
                    "maxsessions"))
    assert out == raw_cli(daemon.cli_port, "list maxsessions").decode() * 2
    out = ok(rtpctl("--port", str(daemon.ng_port), "--watch", "0.1", "--count", "3", "--json", "ng", "ping"))
    assert [json.loads(line) for line in out.splitlines()] == [{"result": "pong"}] * 3


# -- shell completion -----------------------------------------------------------------------


def test_completion_of_command_words():
    assert complete("li") == ["list"]
    assert complete("list", "tot") == ["totals"]
    assert "numsessions" in complete("list", "")
    assert complete("ng", "q") == ["query"]
    assert complete("--transport", "w") == ["ws", "wss"]
    assert complete("ng", "offer", "--t38", "d") == ["decode"]
    assert complete("ng", "answer", "--t38", "no-V.2") == ["no-V.27ter", "no-V.29"]


def test_completion_of_live_call_ids_and_tags(daemon, call):
    cli = ["--port", str(daemon.cli_port)]
    assert call in complete(*cli, "terminate", "shared-"), raw_cli(daemon.cli_port, "list sessions all")
    assert call in complete(*cli, "list", "sessions", "")
    assert complete(*cli, "call", call, "tag", "") == ["caller1", "callee1"]
    ngp = ["--port", str(daemon.ng_port)]
    assert complete(*ngp, "ng", "query", "--call-id", "shared-c") == [call]
    tags = complete(*ngp, "ng", "delete", "--call-id", call, "--from-tag", "")
    assert set(tags) == {"caller1", "callee1"}
    env = {"RTPCTL_URL": f"http://127.0.0.1:{daemon.http_port}"}
    assert call in complete("terminate", "shar", env=env)


def test_bash_completion_escapes_and_answers_for_bashs_own_word(daemon):
    """bash splits words at '@' and ':' and inserts replies as typed: rtpctl answers with the
    part after bash's word break, and escapes blanks and shell characters."""
    ng = ["--port", str(daemon.ng_port), "ng"]
    ok(rtpctl(*ng, "offer", "-c", "has space;x@host", "-f", "a", os.path.join(SDP_DIR, "offer1.sdp")))
    try:
        cli = ["--port", str(daemon.cli_port)]
        assert complete(*cli, "terminate", "has") == ["has\\ space\\;x@host"]
        env = clean_env(_RTPCTL_COMPLETE="bash_complete", RTPCTL_COMPLETION_TIMEOUT="20",
                        COMP_LINE=f"rtpctl --port {daemon.cli_port} terminate has\\ space\\;x@h", COMP_CUR="h")
        out = subprocess.run([sys.executable, "-m", "rtpctl"], capture_output=True, env=env, timeout=60)
        assert out.stdout.decode().splitlines() == ["plain,host"]
    finally:
        rtpctl(*ng, "delete", "-c", "has space;x@host")


def test_completion_falls_back_to_static_words_when_the_daemon_is_away():
    port = str(free_port())
    assert complete("--port", port, "terminate", "") == ["all", "own", "foreign"]
    assert complete("--port", port, "ng", "query", "--call-id", "") == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_checked_in_completion_scripts_are_current(shell):
    """The scripts come from rtpctl/shells.py (not click's templates), so whatever click release
    is installed, the checked-in ones must be exactly what rtpctl prints; that they work is
    tested by pressing TAB in each shell (test_rtpctl_shells.py)."""
    import subprocess

    fresh = subprocess.run([sys.executable, "-m", "rtpctl"], capture_output=True, stdin=subprocess.DEVNULL,
                           env=clean_env(_RTPCTL_COMPLETE=f"{shell}_source"), timeout=60).stdout
    with open(os.path.join(REPO, "completions", f"rtpctl.{shell}"), "rb") as handle:
        assert handle.read() == fresh, f"regenerate: _RTPCTL_COMPLETE={shell}_source rtpctl > completions/rtpctl.{shell}"


# -- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_daemon(tmp_path_factory):
    import subprocess

    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    port = free_port()
    with running_daemon(f"--listen-https=127.0.0.1:{port}", f"--https-cert={cert}", f"--https-key={key}") as proc:
        proc.https_port, proc.cert = port, cert
        yield proc


@pytest.mark.parametrize("scheme", ["https", "wss"])
def test_tls_transports_verify_unless_insecure(tls_daemon, scheme):
    url = f"{scheme}://127.0.0.1:{tls_daemon.https_port}"
    refused = rtpctl("--url", url, "--timeout", "2", "ng", "ping")
    assert refused.returncode == 3 and refused.stderr.count(b"\n") == 1
    assert ok(rtpctl("--url", url, "--insecure", "ng", "ping")) == "result: pong\n"
    assert ok(rtpctl("--url", url, "--cacert", tls_daemon.cert, "ng", "ping")) == "result: pong\n"
    out = rtpctl("--url", url, "--cacert", tls_daemon.cert, "list", "numsessions")
    assert out.returncode == 0 and out.stdout == raw_cli(tls_daemon.cli_port, "list numsessions")
    env = clean_env(RTPCTL_URL=url, RTPCTL_INSECURE="1")
    assert ok(rtpctl("ng", "ping", env=env)) == "result: pong\n"


# -- against rtpengine 10.5 ------------------------------------------------------------------


@pytest.fixture(scope="module")
def rtpengine():
    with running_rtpengine() as proc:
        args = ["--port", str(proc.ng_port), "ng"]
        ok(rtpctl(*args, "offer", "-c", "ref-call@example.org", "-f", "caller1", os.path.join(SDP_DIR, "offer1.sdp")))
        ok(rtpctl(*args, "answer", "-c", "ref-call@example.org", "-f", "caller1", "--to-tag", "callee1",
                  os.path.join(SDP_DIR, "answer1.sdp")))
        yield proc


def _shape(value):
    """Keys and nesting, without the values."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__ if isinstance(value, (int, float)) else "scalar"


def test_json_keys_are_the_same_against_rtpengine_and_rtpengined(rtpengine, daemon, call):
    for command in (["list", "totals"], ["list", "numsessions"], ["list", "counters"], ["list", "sessions", "all"]):
        ref = json.loads(ok(rtpctl("--port", str(rtpengine.cli_port), *command, "--json")))
        ours = json.loads(ok(rtpctl("--port", str(daemon.cli_port), *command, "--json")))
        if command[-1] == "totals":  # the uptime reads "N seconds" in both: a string
            assert _shape(ref) == _shape(ours), command
        else:
            assert set(_shape(ref)[0] if isinstance(ref, list) else _shape(ref)) == \
                set(_shape(ours)[0] if isinstance(ours, list) else _shape(ours)), command
    call_json = json.loads(ok(rtpctl("--port", str(rtpengine.cli_port), "--json", "list", "sessions",
                                     "ref-call@example.org")))
    assert {"subscribed_to", "subscription_of", "media"} <= set(call_json["tags"][0])


def test_rtpctl_options_completion_and_errors_against_rtpengine(rtpengine):
    cli = ["--port", str(rtpengine.cli_port)]
    assert "ref-call@example.org" in complete(*cli, "terminate", "ref-")
    assert complete(*cli, "call", "ref-call@example.org", "tag", "") == ["caller1", "callee1"]
    assert complete("--port", str(rtpengine.ng_port), "ng", "query", "--call-id", "ref") == ["ref-call@example.org"]
    out = ok(rtpctl("watch", "list", "timeout", "--count", "2", "--interval", "0.1", *cli))
    assert out == raw_cli(rtpengine.cli_port, "list timeout").decode() * 2
    out = rtpctl(*cli, "list", "sessions", "nope")
    assert out.returncode == 1 and out.stdout == raw_cli(rtpengine.cli_port, "list sessions nope")
    assert out.stderr.decode() == "rtpctl: daemon error: Call ID not found (nope).\n"


# -- play media / stop media ------------------------------------------------------------------


def _tone_wav(path) -> None:
    import math
    import struct
    import wave

    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(n / 3)))
                                 for n in range(800)))


@pytest.mark.parametrize("transport", ["udp", "http"])
def test_play_media_and_stop_media(daemon, transport, tmp_path):
    """A blob (its bytes inside the request: bencode over UDP, JSON over HTTP) and a file
    are played to a party listening on loopback; the reply's duration, the packets it gets,
    stop-media, and the daemon's error as rtpctl's exit status 1."""
    wav = tmp_path / "tone.wav"
    _tone_wav(wav)
    party = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    party.bind(("127.0.0.1", 0))
    party.settimeout(2)
    call_id = f"play-{transport}"
    try:
        sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               f"m=audio {party.getsockname()[1]} RTP/AVP 0\r\na=sendrecv\r\n")
        args = [*target_args(daemon, transport), "--json", "ng"]
        ok(rtpctl(*args, "offer", "--call-id", call_id, "--from-tag", "caller1", stdin=sdp.encode()))
        played = json.loads(ok(rtpctl(*args, "play-media", "--call-id", call_id,
                                      "--from-tag", "caller1", "--blob", str(wav))))
        assert played == {"result": "ok", "duration": 100}
        packets = [party.recv(2048) for _ in range(5)]
        assert [p[1] for p in packets] == [0x80, 0, 0, 0, 0]  # PCMU, marker on the first
        again = json.loads(ok(rtpctl(*args, "play-media", "--call-id", call_id, "--all",
                                     "--file", str(wav), "--repeat-times", "2")))
        assert again["duration"] == 100
        stopped = json.loads(ok(rtpctl(*args, "stop-media", "--call-id", call_id,
                                       "--from-tag", "caller1")))
        assert stopped == {"result": "ok"}
        missing = rtpctl(*target_args(daemon, transport), "ng", "play-media", "--call-id",
                         call_id, "--from-tag", "caller1", "--file", str(tmp_path / "none.wav"))
        assert missing.returncode == 1
        assert b"Failed to start media playback from file" in missing.stderr
        usage = rtpctl(*target_args(daemon, transport), "ng", "play-media", "--call-id", call_id,
                       "--from-tag", "caller1")
        assert usage.returncode == 2 and b"--file or --blob" in usage.stderr
    finally:
        party.close()


def test_block_dtmf_with_a_delay_buffer(daemon):
    """``block-dtmf`` sends the mode and the delay buffer's settings as the ng keys: the
    party's in-band key comes out as a tone, then ``unblock-dtmf --delay-buffer 0``."""
    a, b = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    call_id = "rtpctl-block-dtmf"
    try:
        for sock in (a, b):
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(2)

        def body(sock) -> bytes:
            return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                    f"m=audio {sock.getsockname()[1]} RTP/AVP 0\r\na=sendrecv\r\n").encode()

        args = [*target_args(daemon, "udp"), "--json", "ng"]
        ok(rtpctl(*args, "offer", "--call-id", call_id, "--from-tag", "A", stdin=body(a)))
        answer = json.loads(ok(rtpctl(*args, "answer", "--call-id", call_id, "--from-tag", "A",
                                      "--to-tag", "B", stdin=body(b))))
        port = int(answer["sdp"].split("m=audio ")[1].split()[0])
        blocked = json.loads(ok(rtpctl(*args, "block-dtmf", "--call-id", call_id, "--from-tag",
                                       "A", "--mode", "tone", "--frequency", "1000",
                                       "--delay-buffer", "1")))
        assert blocked == {"result": "ok"}
        key = [bytes(g711.linear_to_ulaw(s) for s in dtmf.tone(5, 10, n * 160, 160))
               for n in range(4)]
        got = []
        for seq, payload in enumerate([b"\x00" * 160] * 2 + key + [b"\x00" * 160] * 2):
            a.sendto(struct.pack("!BBHII", 0x80, 0, seq, 160 * seq, 0x1234) + payload,
                     ("127.0.0.1", port))
            got.append(b.recv(2048)[12:])
        tone = [bytes(g711.linear_to_ulaw(s) for s in dtmf_guard.tone_samples(1000, 10, n * 160,
                                                                               160))
                for n in range(8)]
        assert got[:2] == [b"\x00" * 160] * 2  # (before the key)
        assert any(payload == tone[n] for n, payload in enumerate(got))  # (the key, a tone)
        assert json.loads(ok(rtpctl(*args, "unblock-dtmf", "--call-id", call_id, "--from-tag",
                                    "A", "--delay-buffer", "0"))) == {"result": "ok"}
        bad = rtpctl(*target_args(daemon, "udp"), "ng", "block-dtmf", "--call-id", call_id,
                     "--mode", "loud")
        assert bad.returncode == 2
    finally:
        a.close()
        b.close()
