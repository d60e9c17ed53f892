"""rtpctl's sans-I/O parts: target resolution, ng message building, CLI text parsing."""

from __future__ import annotations

import json
import os
import re

import pytest

from rtpctl import argv, cliparse, ng, render
from rtpctl.complete import CALL_ID, TAG_OF, cli_candidates
from rtpctl.target import CLI, NG, Target, TargetError, read_listen_config, resolve, split_host_port

from conftest import FIXTURES


def fixture_text(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


# -- targets ------------------------------------------------------------------------------


def test_defaults_match_the_daemon():
    assert resolve(CLI) == Target("cli", "127.0.0.1", 9900)
    assert resolve(NG) == Target("udp", "127.0.0.1", 22222)
    assert resolve(NG, transport="tcp") == Target("tcp", "127.0.0.1", 22222)
    assert resolve(CLI, transport="http").url == "http://127.0.0.1:8080"
    assert resolve(NG, transport="ws").url == "ws://127.0.0.1:8080"


def test_url_wins_and_sets_the_transport():
    assert resolve(CLI, url="ws://[::1]:9000", transport="cli", port=1) == Target("ws", "::1", 9000)
    assert resolve(NG, url="tcp://10.0.0.1") == Target("tcp", "10.0.0.1", 22222)


@pytest.mark.parametrize("kind,transport", [(CLI, "udp"), (CLI, "tcp"), (NG, "cli")])
def test_kind_mismatch_is_a_usage_error(kind, transport):
    with pytest.raises(TargetError, match="cannot go over " + transport):
        resolve(kind, transport=transport)


def test_host_with_port_like_rtpengine_ctl_ip_option():
    assert resolve(CLI, host="10.1.2.3:9901") == Target("cli", "10.1.2.3", 9901)
    assert resolve(CLI, host="10.1.2.3:9901", port=5) == Target("cli", "10.1.2.3", 5)
    assert split_host_port("::1") == ("::1", None)
    assert split_host_port("[::1]:7") == ("::1", 7)


def test_config_file_listen_keys(tmp_path):
    conf = tmp_path / "rtpengine.conf"
    conf.write_text("[rtpengine]\nlisten-cli = 127.0.0.2:9911\nlisten-ng = 2223\n"
                    "listen-http = 0.0.0.0:8088\n[other]\nlisten-cli = 1\n")
    listen = read_listen_config(str(conf))
    assert resolve(CLI, listen=listen) == Target("cli", "127.0.0.2", 9911)
    assert resolve(NG, listen=listen) == Target("udp", "127.0.0.1", 2223)
    assert resolve(NG, transport="tcp", listen=listen) == Target("tcp", "127.0.0.1", 2223)
    assert resolve(CLI, transport="http", listen=listen) == Target("http", "127.0.0.1", 8088)
    assert resolve(CLI, port=5, listen=listen) == Target("cli", "127.0.0.2", 5)
    assert read_listen_config(str(conf), "other") == {"listen-cli": "1"}


def test_unreadable_config_file_is_a_usage_error(tmp_path):
    with pytest.raises(TargetError, match="cannot read config file"):
        read_listen_config(str(tmp_path / "missing.conf"))


# -- ng -----------------------------------------------------------------------------------


def test_message_key_order_and_typed_options():
    message = ng.build_message("offer", call_id="c", from_tag="f", sdp="v=0\r\n", flags=("trust-address",),
                               replace=("origin",), direction=("a", "b"),
                               options=("ICE=remove", "rtcp-mux=[\"demux\"]", "delay-buffer=20"))
    assert list(message) == ["command", "call-id", "from-tag", "sdp", "flags", "replace", "direction",
                             "ICE", "rtcp-mux", "delay-buffer"]
    assert message["rtcp-mux"] == ["demux"] and message["delay-buffer"] == 20


def test_t38_list():
    message = ng.build_message("offer", call_id="c", from_tag="f", sdp="v=0\r\n",
                               t38=("force", "FEC"))
    assert message["T.38"] == ["force", "FEC"]
    assert "T.38" not in ng.build_message("offer", call_id="c", from_tag="f", sdp="v=0\r\n")


def test_bad_option_is_rejected():
    with pytest.raises(ng.MessageError):
        ng.parse_option("novalue")
    with pytest.raises(ng.MessageError):
        ng.parse_option("x=[broken")


def test_cookie_round_trip_and_mismatch():
    cookie, data = ng.encode_request({"command": "ping"})
    assert data == cookie + b" d7:command4:pinge"
    assert cookie.startswith(f"{os.getpid()}_".encode())
    assert ng.decode_reply(cookie + b" d6:result4:ponge", cookie) == {"result": "pong"}
    assert ng.decode_reply(cookie + b' {"result":"pong"}', cookie) == {"result": "pong"}
    with pytest.raises(ng.ReplyError):
        ng.decode_reply(b"other d6:result4:ponge", cookie)


def test_raw_messages():
    assert ng.parse_raw('{"command": "ping", "x": true}') == ({"command": "ping", "x": 1}, None)
    assert ng.parse_raw("d7:command4:pinge") == (None, b"d7:command4:pinge")
    with pytest.raises(ng.MessageError):
        ng.parse_raw("ping")


def test_plain_ng_is_readable_and_keeps_the_sdp():
    text = render.plain_ng({"result": "ok", "sdp": "v=0\r\ns=x\r\n", "flags": ["a"], "tags": {"t": {"n": 1}}})
    assert text == "result: ok\nsdp: |\n  v=0\n  s=x\nflags:\n  - a\ntags:\n  t:\n    n: 1\n"


# -- CLI text -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["errors/bogus.txt", "errors/list_sessions_nosuch.txt", "errors/list.txt",
                                  "errors/set_maxcpu_abc.txt", "errors/debug.txt", "errors/call_help.txt"])
def test_error_replies_are_detected(name):
    assert cliparse.error_line(fixture_text(name))


@pytest.mark.parametrize("name", ["idle/list_totals.txt", "calls/list_sessions_all.txt",
                                  "idle/list_sessions_all.txt", "calls/list_numsessions.txt",
                                  "media/list_sessions_fixture-call-1.txt", "idle/params_current.txt"])
def test_normal_replies_are_not_errors(name):
    assert cliparse.error_line(fixture_text(name)) is None


def test_list_totals_parses_into_sections():
    shape, data = cliparse.parse("list totals", fixture_text("media/list_totals.txt"))
    assert shape == "totals"
    assert data["Statistics over currently running sessions"]["Owned sessions"] == 2
    assert data["Total statistics (does not include current running sessions)"]["Total relayed bytes"] == 2580
    assert data["Control statistics"][0]["Proxy"] == "127.0.0.1"
    assert data["Control statistics"][0]["Offer"] == 2
    json.dumps(data)


def test_sessions_and_call_blocks_parse():
    rows = cliparse.parse_session_rows(fixture_text("calls/list_sessions_all.txt"))
    assert {row["callid"] for row in rows} == {"fixture-call-1", "fixture-call-2"}
    call = cliparse.parse_call(fixture_text("media/list_sessions_fixture-call-1.txt"))
    assert call["callid"] == "fixture-call-1"
    assert [tag["tag"] for tag in call["tags"]] == ["caller1", "callee1"]
    assert call["tags"][0]["media"][0]["ports"][0]["packets"] == 10
    assert call["tags"][0]["media"][0]["ports"][1]["rtcp"] is True
    assert cliparse.tags_from_call(fixture_text("media/list_sessions_fixture-call-1.txt")) == ["caller1", "callee1"]


def test_completion_tree():
    assert "list" in cli_candidates([])[0]
    assert cli_candidates(["list"])[0][:3] == ("numsessions", "sessions", "totals")
    assert cli_candidates(["list", "sessions"]) == (("all", "own", "foreign"), CALL_ID)
    assert cli_candidates(["terminate"])[1] is CALL_ID
    assert cli_candidates(["call", "c1", "tag"])[1] == (TAG_OF, "c1")
    assert "info" in cli_candidates(["call", "c1"])[0]


# -- where rtpctl's own options may go ------------------------------------------------------

ROOT = argv.OptionTable.build([(("--json",), False), (("--port", "-port"), True), (("-n", "--count"), True),
                               (("-h", "--help"), False)])
WORDS = argv.Leaf(argv.OptionTable.build([(("-h", "--help"), False)]), words=True)
WATCH = argv.Leaf(argv.OptionTable.build([(("-n", "--count"), True), (("-h", "--help"), False)]), words=True)
NG_QUERY = argv.Leaf(argv.OptionTable.build([(("-c", "--call-id"), True), (("-h", "--help"), False)]), words=False)


def _resolve(words):
    if words[0] == "watch":
        return 1, WATCH
    if words[0] == "ng":
        return (2, NG_QUERY) if words[1:2] == ["query"] else None
    return 1, WORDS


@pytest.mark.parametrize("args,expected", [
    (["list", "totals", "--json"], ["--json", "list", "--", "totals"]),
    (["list", "sessions", "all", "--json"], ["--json", "list", "--", "sessions", "all"]),
    (["--json", "list", "totals"], ["--json", "list", "--", "totals"]),
    (["set", "loglevel", "internals", "-1"], ["set", "--", "loglevel", "internals", "-1"]),
    (["list", "sessions", "--port", "9", "all"], ["--port", "9", "list", "--", "sessions", "all"]),
    (["list", "totals", "--port=9", "-port", "8"], ["--port=9", "-port", "8", "list", "--", "totals"]),
    (["watch", "list", "totals", "--count", "2"], ["watch", "--count", "2", "--", "list", "totals"]),
    (["watch", "list", "totals", "-n", "2", "--json"], ["--json", "watch", "-n", "2", "--", "list", "totals"]),
    (["terminate", "--", "--odd", "--json"], ["terminate", "--", "--odd", "--json"]),
    (["list", "sessions", "--help"], ["list", "--help", "--", "sessions"]),
    (["ng", "query", "-c", "--json", "--json"], ["--json", "ng", "query", "-c", "--json"]),
    (["ng", "query", "--call-id=x", "--port", "5"], ["--port", "5", "ng", "query", "--call-id=x"]),
    (["ng", "bogus", "--json"], ["ng", "bogus", "--json"]),  # no such command: click says so
    (["--port", "9"], ["--port", "9"]),
])
def test_own_options_move_to_where_click_reads_them(args, expected):
    assert argv.arrange(args, ROOT, _resolve) == expected


@pytest.mark.parametrize("args,message", [
    (["list", "sessions", "all", "--bogus"], "no such option: --bogus"),
    (["list", "totals", "--port"], "option --port needs a value"),
    (["watch", "list", "totals", "--count"], "option --count needs a value"),
])
def test_unknown_or_incomplete_options_among_the_words_are_refused(args, message):
    with pytest.raises(argv.ArgvError, match=message):
        argv.arrange(args, ROOT, _resolve)
    argv.arrange(args, ROOT, _resolve, strict=False)  # completion never raises


# -- JSON keys ------------------------------------------------------------------------------


@pytest.mark.parametrize("label,key", [
    ("Owned sessions", "owned_sessions"),
    ("Packets per second (userspace)", "packets_per_second_userspace"),
    ("Total timed-out sessions via SILENT_TIMEOUT", "total_timed_out_sessions_via_silent_timeout"),
    ("Mixed kernel/userspace media streams", "mixed_kernel_userspace_media_streams"),
    ("Min/Max/Avg offer processing delay", "min_max_avg_offer_processing_delay"),
    ("Total number of 1-way streams", "total_number_of_1_way_streams"),
    ("BlkDTMF", "blk_dtmf"), ("StartRec", "start_rec"), ("Proxy", "proxy"),
    ("Current sessions ip mixed  media", "current_sessions_ip_mixed_media"),
])
def test_json_keys_are_snake_case_of_the_labels(label, key):
    assert cliparse.json_key(label) == key


def test_list_totals_json_has_stable_keys():
    data = render.cli_json("list totals", fixture_text("calls/list_totals.txt"))
    assert list(data) == ["current_sessions", "total_statistics", "graphite_interval_statistics",
                          "mos_statistics", "control_statistics"]
    assert data["current_sessions"]["owned_sessions"] == 2
    assert data["control_statistics"] == [dict(data["control_statistics"][0], proxy="127.0.0.1", offer=2)]
    assert all(re.fullmatch(r"[a-z0-9_]+", key) for section in data.values()
               for row in (section if isinstance(section, list) else [section]) for key in row)


# -- help texts -----------------------------------------------------------------------------


def test_no_help_line_is_cut_at_80_columns():
    from click.testing import CliRunner

    from rtpctl.main import cli

    def walk(command, path):
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    runner = CliRunner()
    for path in walk(cli, []):
        result = runner.invoke(cli, [*path, "--help"], terminal_width=80, env={"COLUMNS": "80"})
        assert result.exit_code == 0, (path, result.output)
        for line in result.output.splitlines():
            assert len(line) <= 80 and not line.rstrip().endswith("...") or line.startswith("Usage:"), \
                (path, line)
        command = cli
        for name in path:
            command = command.commands[name]
        for name, sub in getattr(command, "commands", {}).items():
            whole = " ".join((sub.short_help or sub.help or "").split("\n\n")[0].split())
            listed = " ".join(result.output.split())
            assert f"{name} {whole}" in listed, (path, name)
