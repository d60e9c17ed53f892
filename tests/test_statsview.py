"""The stats view and the call views over hand-built call models in the fixtures' states."""

from __future__ import annotations

import json
import os

from cli_helpers import fixture, fixture_calls, mask, model_core, sorted_lines

from rtpengined import commands, statsview
from rtpengined.ctl import handle_cli
from rtpengined.protocol import bencode

NG_CAPTURES = os.path.join(os.path.dirname(__file__), "fixtures", "ng-captures.jsonl")

# Commands whose output depends only on the call model (captured in calls/ and media/).
CALL_VIEWS = [
    "list_numsessions", "get_numsessions", "list_sessions_foreign",
    "list_counters", "list_interfaces", "list_transcoders",
    "list_sessions_fixture-call-1", "list_sessions_fixture-call-2",
]
CALL_COMMANDS = {
    "call_fixture-call-1_info": "call fixture-call-1 info",
    "call_fixture-call-1_tag_caller1_info": "call fixture-call-1 tag caller1 info",
    "call_fixture-call-1_tag_callee1_info": "call fixture-call-1 tag callee1 info",
}


def _commands():
    for name in CALL_VIEWS:
        yield name, name.replace("_", " ")
    yield from CALL_COMMANDS.items()


def _with_ng_history(core, offers=2, answers=2, deletes=0):
    # The fixtures' proxy table: the ng client's offers and answers (durations masked).
    for command, count in (("offer", offers), ("answer", answers), ("delete", deletes)):
        for _ in range(count):
            core.stats.record_command("127.0.0.1", command, 0.000245, False)
    return core


def _check_state(core, directory: str) -> None:
    for name, command in _commands():
        assert mask(handle_cli(core, command)) == mask(fixture(f"{directory}/{name}.txt")), name
    for name in ("list_sessions_all", "list_sessions_own"):
        ours = handle_cli(core, name.replace("_", " "))
        assert sorted_lines(mask(ours)) == sorted_lines(mask(fixture(f"{directory}/{name}.txt")))
    assert mask(handle_cli(core, "list totals")) == mask(fixture(f"{directory}/list_totals.txt"))
    assert mask(handle_cli(core, "list jsonstats")) == mask(fixture(f"{directory}/list_jsonstats.txt"))


def test_two_calls_without_media():
    core = _with_ng_history(model_core(fixture_calls(), used=8, last=40050))
    _check_state(core, "calls")


def test_two_calls_after_media():
    core = _with_ng_history(model_core(fixture_calls(media=True), used=8, last=40050))
    _check_state(core, "media")


def test_standby_views():
    core = model_core(fixture_calls())
    assert handle_cli(core, "standby") == fixture("standby/standby.txt")
    assert handle_cli(core, "list numsessions") == fixture("standby/list_numsessions.txt")
    assert handle_cli(core, "list sessions own") == fixture("standby/list_sessions_own.txt")
    for name in ("list_sessions_all", "list_sessions_foreign"):
        ours = handle_cli(core, name.replace("_", " "))
        assert sorted_lines(mask(ours)) == sorted_lines(mask(fixture(f"standby/{name}.txt")))
    assert handle_cli(core, "active") == fixture("standby/active.txt")
    ours = handle_cli(core, "list sessions all")
    expected = fixture("standby/list_sessions_all_after_active.txt")
    assert sorted_lines(mask(ours)) == sorted_lines(mask(expected))


def test_teardown_totals_and_duration_formulas():
    """Final teardown state: 3 managed calls, 1 regular, 1 forced, 15 packets relayed."""
    core = _with_ng_history(model_core(last=40078), offers=3, deletes=1)
    stats = core.stats
    stats.managed_sessions, stats.regular_terminated_sessions = 3, 1
    stats.forced_terminated_sessions, stats.zeroway_streams = 1, 2
    stats.closed_packets, stats.closed_bytes = 15, 2580
    stats.total_calls_duration_us = 39_522_995
    stats.total_calls_duration2_ms = 771_560_689
    # Durations are exactly the fixture's, so only uptime and ng timings are masked.
    assert mask(handle_cli(core, "list totals")) == mask(fixture("teardown/list_totals_final.txt"))
    assert mask(handle_cli(core, "list jsonstats")) == mask(fixture("teardown/list_jsonstats_final.txt"))
    assert mask(handle_cli(core, "list interfaces")) == mask(fixture("teardown/list_interfaces_final.txt"))
    assert handle_cli(core, "list numsessions") == fixture("teardown/list_numsessions_final.txt")
    assert handle_cli(core, "list sessions all") == fixture("teardown/list_sessions_all_final.txt")


def test_offer_only_call_shows_the_unknown_party():
    from cli_helpers import _party, build_call

    created = 1795698109.5
    call = build_call("fixture-call-3", "127.0.0.1:35454", [
        _party("caller3", "FROM_TAG", created, 40076, 52520),
        _party("", "UNKNOWN", created, 40060, None),
    ], created=created)
    core = model_core([call])
    expected = fixture("teardown/list_sessions_fixture-call-3_offer_only.txt")
    assert mask(handle_cli(core, "list sessions fixture-call-3")) == mask(expected)
    assert handle_cli(core, "call fixture-call-3 terminate") == fixture(
        "teardown/call_fixture-call-3_terminate.txt")
    assert core.calls.destroyed == [("fixture-call-3", None)]


def test_jsonstats_is_the_json_statistics_dict():
    core = _with_ng_history(model_core(fixture_calls(media=True), used=8, last=40050))
    model = statsview.json_statistics(core)
    parsed = json.loads(handle_cli(core, "list jsonstats"))
    assert list(parsed) == list(model)
    assert parsed["totalstatistics"]["relayedbytes"] == model["totalstatistics"]["relayedbytes"] == 2580
    assert model["interfaces"][0]["ports"]["used_pct"] == 0.8
    assert isinstance(model["totalstatistics"]["avgcallduration"], float)
    assert not handle_cli(core, "list jsonstats").endswith("\n")


def _shape(value):
    """Keys in order and bencode types, with lists reduced to their first element."""
    if isinstance(value, dict):
        return [(key, _shape(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_ng_statistics_types_match_the_capture():
    """Same keys, same order, same bencode types (uptime and rates are strings) as 10.5."""
    with open(NG_CAPTURES) as handle:
        for line in handle:
            capture = json.loads(line)
            if "command10:statistics" in capture["request"]:
                break
    payload = capture["response"].split(" ", 1)[1].encode("latin-1")
    captured = bencode.decode(payload)
    core = _with_ng_history(model_core(fixture_calls(media=True), used=8, last=40050))
    ours = statsview.ng_statistics(core)
    assert _shape(ours) == _shape(captured["statistics"])
    reply = commands.statistics(core, {"command": "statistics"}, None)
    assert list(reply) == ["statistics", "result"] and reply["result"] == "ok"
    assert bencode.decode(bencode.encode(reply))["statistics"]["totalstatistics"]["uptime"].isdigit()


def test_rates_are_counts_since_the_previous_sample_scaled_to_a_second():
    now = [1000.0]
    calls = fixture_calls()
    core = model_core(calls, clock=lambda: now[0])
    statsview.sample_rates(core)
    stream = calls[0].monologues[0].medias[0].streams[0]
    stream.stats.packets, stream.stats.bytes = 6, 1032
    now[0] += 0.5
    statsview.sample_rates(core)  # too early: nothing changes
    assert core.stats.rate_packets == 0
    now[0] += 0.5
    statsview.sample_rates(core)
    assert (core.stats.rate_packets, core.stats.rate_bytes) == (6, 1032)
    assert " Bytes per second (userspace)                    :1032\n" in handle_cli(core, "list counters")
    now[0] += 1.0
    statsview.sample_rates(core)
    assert core.stats.rate_packets == 0


def test_address_family_gauges():
    from rtpengined.model import Endpoint

    calls = fixture_calls()
    for stream in calls[1].monologues[1].medias[0].streams:
        stream.advertised = Endpoint("::1", stream.port)
    core = model_core(calls)
    assert statsview.address_family_gauges(core) == (1, 0, 1)
    calls[1].monologues[0].medias[0].streams[0].advertised = Endpoint("::1", 5000)
    core.calls.families.refile(calls[1])  # (as after the command that changed it)
    assert statsview.address_family_gauges(core) == (1, 1, 0)
    core.calls.destroy(calls[0], "regular")
    assert statsview.address_family_gauges(core) == (0, 1, 0)
