"""The CLI command table, sans-I/O: parser quirks, call commands and setters of 10.5.

Expected texts come from the fixtures or from probing rtpengine 10.5 directly.
"""

from __future__ import annotations

import math

import pytest
from cli_helpers import fixture, fixture_calls, mask, model_core

from rtpengined.ctl import handle_cli
from rtpengined.ctl.numbers import c_atoi, c_strtod, c_strtol, c_strtoul

MORE = "More parameters required.\n"


@pytest.mark.parametrize("text, expected", [
    ("12abc", (12, 0)), ("  -5", (-5, 0)), ("+7", (7, 0)), ("abc", (None, 0)), ("", (None, 0)),
    ("0x10", (0, 0)), ("99999999999999999999", (2**63 - 1, 34)), ("- 5", (None, 0)),
])
def test_strtol(text, expected):
    assert c_strtol(text) == expected


def test_strtoul_wraps_negatives_and_reports_overflow():
    assert c_strtoul("-3") == (2**64 - 3, 0)
    assert c_strtoul("99999999999999999999") == (2**64 - 1, 34)
    assert c_strtoul(" x") == (None, 0)


def test_strtod_like_c():
    assert c_strtod("2.555") == (2.555, 0)
    assert c_strtod("0x10") == (16.0, 0)
    assert c_strtod("1e400") == (math.inf, 34)
    assert c_strtod("1e") == (1.0, 0)
    assert math.isnan(c_strtod("nan")[0]) and c_strtod("-inf") == (-math.inf, 0)
    assert c_strtod(".") == (None, 0)
    assert c_atoi("7x") == 7 and c_atoi("x") == 0 and c_atoi("2147483648") == -(2**31)


@pytest.mark.parametrize("command, expected", [
    ("", "Unknown or incomplete command::\n"),
    ("list sessionsall", "\nCall ID not found (ll).\n\n"),
    ("list sessions ownx", "\nCall ID not found (ownx).\n\n"),
    ("list sessions  all", "\nCall ID not found ( all).\n\n"),
    ("terminate  all", "\nCall Id not found ( all).\n\n"),
    ("terminate own ", "\nCall Id not found (own ).\n\n"),
    ("params  start", "Unknown or incomplete command:: start\n"),
    ("get", MORE),
    ("get ", "Unknown or incomplete command::\n"),
    ("call  x", "No call ID specified\n"),
    ("call x tag", "No such call 'x'\n"),
    ("debug  x", "No call ID specified\n"),
    ("debug x y", "Invalid on/off flag ('y') specified\n"),
    ("set maxsessions ", "Fail setting maxsessions to ; no digists found\n"),
    ("set maxsessions  12", "Success setting maxsessions to 12\n"),
    ("set maxbw -5", "Success setting maxbw to 18446744073709551611\n"),
    ("set maxbw 99999999999999999999", "Fail setting maxbw to 99999999999999999999; errno=34\n"),
    ("set maxcpu inf", "Fail setting maxcpu to inf; errno=0\n"),
    ("set maxcpu 1e400", "Fail setting maxcpu to 1e400; errno=34\n"),
    ("set maxcpu -2", "Success setting maxcpu to -2.0\n"),
    ("set maxcpu 0x10", "Success setting maxcpu to 16.0\n"),
    ("set maxload 0.125", "Success setting maxload to 0.12\n"),
    ("set timeout 2147483647", "Fail setting timeout to 2147483647; errno=0\n"),
    ("set timeout 2147483646", "Success setting timeout to 2147483646\n"),
    ("set timeout 0x10", "Success setting timeout to 0\n"),
    ("set deletedelay 99999999999", "Invalid delete-delay value\n"),
    ("set deletedelay -5", "Success setting delete-delay to -5\n"),
    ("set deletedelay ", "Invalid delete-delay value\n"),
    ("set redisallowederrors x", "Success setting redis-allowed-errors to 0\n"),
    ("set redisconnecttimeout x", "Invalid redis-connect-timeout value 0, must be > 0\n"),
    ("set controltos 256", "Invalid control-tos value 256, must be between 0 and 255\n"),
    ("set controltos -1", "Invalid control-tos value -1, must be between 0 and 255\n"),
    ("set maxopenfiles 99999999999999999999",
     "Fail setting open_files to 99999999999999999999; errno=34\n"),
    ("set loglevel -1", MORE),
    ("set loglevel  ", MORE),
    ("set loglevel core ", MORE),
    ("set loglevel co 3", "Success setting loglevel to 3\n"),
    ("ksadd  x", "Fail adding keyspace  x to redis notifications; no digists found\n"),
    ("ksrm 99999999999999999999",
     "Fail removing keyspace 99999999999999999999 to redis notifications; errono=34\n"),
    ("ksrm -3", "Keyspace 18446744073709551613 is not among redis notifications.\n"),
    ("ksrm 3x", "Keyspace 3 is not among redis notifications.\n"),
    ("kslist x", "\nSubscribed-on keyspaces:\n\n"),
    ("active x", "Ok, all calls set to 'owned (active)'\n"),
])
def test_probed_replies(command, expected):
    assert handle_cli(model_core(), command) == expected


def test_maxsessions_is_stored_as_a_c_int():
    core = model_core()
    assert handle_cli(core, "set maxsessions 2147483648") == "Success setting maxsessions to 2147483648\n"
    assert handle_cli(core, "list maxsessions") == "Maximum sessions configured on rtpengine: -2147483648\n"
    assert handle_cli(core, "set redisdisabletime 99999999999") == (
        "Success setting redis-disable-time to 99999999999\n")
    assert handle_cli(core, "list redisdisabletime") == "1215752191\n"


def test_loglevel_quirks():
    core = model_core()
    assert handle_cli(core, "set loglevel corex 2") == "Success setting loglevel to 2\n"
    assert handle_cli(core, "list loglevel core") == "6\n"  # names match exactly
    assert handle_cli(core, "set loglevel core  3") == "Success setting loglevel to 3\n"
    assert handle_cli(core, "list loglevel core") == "3\n"
    assert handle_cli(core, "set loglevel  4") == "Success setting loglevel to 4\n"  # empty name: all
    assert handle_cli(core, "list loglevel") == "".join(
        f"{name} = 4\n" for name in ("core", "spandsp", "ffmpeg", "transcoding", "codec", "rtcp",
                                    "ice", "crypto", "srtp", "internals", "http", "control", "dtx"))
    assert handle_cli(core, "set loglevel 7 core") == "Success setting loglevel to 7\n"
    assert handle_cli(core, "list loglevel ") == handle_cli(core, "list loglevel")
    assert handle_cli(core, "list loglevel internals") == "7\n"
    assert core.config.log_levels["http"] == 7


def test_params_diff_and_revert():
    core = model_core()
    handle_cli(core, "set maxsessions 0x10")
    handle_cli(core, "set maxcpu 0.05")
    handle_cli(core, "set maxload 2.675")
    handle_cli(core, "set maxbw 5")
    handle_cli(core, "set timeout 0")
    handle_cli(core, "set offertimeout 5")
    assert handle_cli(core, "list maxcpu") == "Maximum CPU usage configured on rtpengine: 0.1\n"
    assert handle_cli(core, "params diff") == (
        "max-sessions: -1 => 0\nmax-cpu: 0 => 5\nmax-load: 0 => 267\nmax-bw: 0 => 500\n"
        "timeout: 60 => 0\n")
    assert handle_cli(core, "params revert") == ""
    assert handle_cli(core, "params diff") == ""
    assert (core.config.max_sessions, core.config.timeout, core.config.max_load) == (-1, 60, 0.0)
    assert core.config.offer_timeout == 5  # revert skips offer-timeout, as 10.5 does
    start = handle_cli(core, "params start")
    assert "max-bandwidth = 0\n" in start and "redis = :0/-1\n" in start


def test_rediscmdtimeout_warns_only_when_changing_to_zero():
    core = model_core()
    assert handle_cli(core, "set rediscmdtimeout 0") == "Success setting redis-cmd-timeout to 0\n"
    handle_cli(core, "set rediscmdtimeout 5")
    assert handle_cli(core, "set rediscmdtimeout 0") == (
        "Warning: Setting redis-cmd-timeout to 0 (no timeout) will require a redis reconnect\n"
        "Success setting redis-cmd-timeout to 0\n")


def test_keyspaces_without_redis_do_not_crash():
    """10.5 segfaults on a valid ksadd without redis (D2); we keep the list."""
    core = model_core()
    assert handle_cli(core, "ksadd 3") == "Success adding keyspace 3 to redis notifications.\n"
    assert handle_cli(core, "ksadd 3") == "Keyspace 3 is already among redis notifications.\n"
    assert handle_cli(core, "ksadd 12") == "Success adding keyspace 12 to redis notifications.\n"
    assert handle_cli(core, "kslist") == "\nSubscribed-on keyspaces:\n3 12 \n"
    assert "keyspace[1] = 12 \n" in handle_cli(core, "params current")
    assert handle_cli(core, "ksrm 3") == (
        "Successfully unsubscribed from keyspace 3.\n"
        "Successfully removed all foreign calls for keyspace 3.\n")
    assert handle_cli(core, "kslist") == "\nSubscribed-on keyspaces:\n12 \n"


def test_call_commands():
    core = model_core(fixture_calls())
    for name, command in [
        ("call_fixture-call-1_help", "call fixture-call-1 help"),
        ("call_fixture-call-1_tag_caller1_help", "call fixture-call-1 tag caller1 help"),
        ("call_fixture-call-1_no_subcommand", "call fixture-call-1"),
        ("call_fixture-call-1_tag_nosuch_info", "call fixture-call-1 tag nosuch info"),
        ("call_fixture-call-1_tag", "call fixture-call-1 tag"),
        ("debug_fixture-call-1_on", "debug fixture-call-1 on"),
        ("debug_fixture-call-1_off", "debug fixture-call-1 off"),
        ("call_fixture-call-1_debug", "call fixture-call-1 debug"),
        ("call_fixture-call-1_debug_off", "call fixture-call-1 debug off"),
    ]:
        assert handle_cli(core, command) == fixture(f"calls/{name}.txt"), name
    call = core.calls.calls["fixture-call-1"]
    assert handle_cli(core, "debug fixture-call-1") == "Enabled debugging for call 'fixture-call-1'\n"
    assert call.debug is True
    assert handle_cli(core, "call fixture-call-1 tag ") == "No tag specified\n"
    assert handle_cli(core, "call fixture-call-1 tag caller1") == "Unknown or incomplete command::\n"
    assert handle_cli(core, "call fixture-call-1 tag caller1 delay 20") == "Setting delay to 20\n"
    assert handle_cli(core, "call fixture-call-1 tag caller1 delay -2") == "Invalid delay -2\n"
    assert handle_cli(core, "call fixture-call-1 tag caller1 detect-dtmf 1") == (
        "Enabling audio DTMF detection\n")
    assert handle_cli(core, "call fixture-call-1 tag caller1 detect-dtmf 2") == "Invalid setting 2\n"
    info = handle_cli(core, "call fixture-call-1 info")
    assert mask(info) == mask(handle_cli(core, "list sessions fixture-call-1"))


def test_terminate_matches_all_own_foreign_exactly():
    """Deliberate difference (D4): 10.5 would end every call on "terminate a"."""
    calls = fixture_calls()
    calls[1].foreign = True
    core = model_core(calls)
    assert handle_cli(core, "terminate a") == "\nCall Id not found (a).\n\n"
    assert handle_cli(core, "terminate ") == MORE
    assert core.calls.destroyed == []
    assert handle_cli(core, "terminate own") == "All own calls terminated by operator.\n"
    assert core.calls.destroyed == [("fixture-call-1", "forced")]
    assert handle_cli(core, "terminate foreign") == "All foreign calls terminated by operator.\n"
    assert core.calls.destroyed[-1] == ("fixture-call-2", "forced")


def test_terminate_one_call_keeps_the_regular_reason_after_ng_delete():
    calls = fixture_calls()
    # What an ng delete with a from-tag and a pending delete delay leaves on the call.
    calls[0].deletion_mark = True
    calls[0].delete_at = calls[0].last_signal + 30
    core = model_core(calls)
    assert handle_cli(core, "terminate fixture-call-2") == fixture("teardown/terminate_fixture-call-2.txt")
    assert handle_cli(core, "terminate all") == fixture("teardown/terminate_all.txt")
    assert core.calls.destroyed == [("fixture-call-2", "forced"), ("fixture-call-1", "regular")]


def test_deleted_call_shows_deletion_mark():
    calls = fixture_calls(media=True)
    calls[0].deletion_mark = True
    calls[0].last_signal = 1795698110
    core = model_core(calls[:1])
    assert mask(handle_cli(core, "list sessions all")) == mask(
        fixture("teardown/list_sessions_all_after_ng_delete.txt"))
    assert mask(handle_cli(core, "list sessions fixture-call-1")) == mask(
        fixture("teardown/list_sessions_fixture-call-1_after_ng_delete.txt"))


def test_a_failing_command_gets_a_reply_and_the_table_keeps_working():
    core = model_core(fixture_calls())

    def broken(*args):
        raise RuntimeError("boom")

    core.calls.destroy = broken
    assert handle_cli(core, "terminate all") == "Internal error while processing the command\n"
    assert handle_cli(core, "list maxsessions") == "Maximum sessions configured on rtpengine: -1\n"


def test_help_at_every_level():
    core = model_core()
    for name in ("help", "list_help", "get_help", "set_help", "params_help"):
        assert handle_cli(core, name.replace("_", " ")) == fixture(f"idle/{name}.txt")


class RecordingHost:
    """A host that records what the CLI asks of the process instead of doing it."""

    def __init__(self) -> None:
        self.limit: int | None = 1024
        self.levels: list[tuple[str, int]] = []

    def pid(self) -> int:
        return 4242

    def cpu_count(self) -> int:
        return 3

    def open_files_limit(self) -> int | None:
        return self.limit

    def set_open_files_limit(self, value: int) -> None:
        self.limit = value

    def set_log_level(self, subsystem: str, level: int) -> None:
        self.levels.append((subsystem, level))


def test_process_wide_effects_go_through_the_host():
    """``set maxopenfiles``/``set loglevel`` change the process only through ``core.host``."""
    core = model_core()
    core.host = host = RecordingHost()
    assert handle_cli(core, "list maxopenfiles") == (
        "Maximum open-files configured on rtpengine: 1024; cat /proc/4242/limits\n")
    assert handle_cli(core, "set maxopenfiles 70000") == (
        "Success setting open_files to 70000; cat /proc/4242/limits\n")
    assert host.limit == 70000
    assert handle_cli(core, "set loglevel core 3") == "Success setting loglevel to 3\n"
    assert host.levels == [("core", 3)]
    assert core.media.log_levels == [("core", 3)]  # (the relay workers' too)
    assert "num-threads = 3\n" in handle_cli(core, "params current")
