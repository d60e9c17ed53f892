"""``--graphite`` without the network: what an interval gathers and what a report says, on
a core with a clock of the test's (the wire and the comparison with 10.5 are in
``test_diff_graphite.py``)."""

from __future__ import annotations

from test_calls_model import Clock, FakeBinder, ng, sdp_body

from rtpengined import graphite, statsview
from rtpengined.config import Config, ListenAddress
from rtpengined.core import Core
from rtpengined.ctl import handle_cli
from rtpengined.media import NullMediaPlane
from rtpengined.stats import NG_COMMAND_INDEX, IntervalTally, lower_min


def _core(interval: int = 10) -> tuple[Core, Clock]:
    clock = Clock()
    config = Config(port_min=41000, port_max=41099, graphite=ListenAddress("127.0.0.1", 2003),
                    graphite_interval=interval, delete_delay=0)
    return Core(config, media=NullMediaPlane(), clock=clock, binder=FakeBinder()), clock


def _lines(text: str, prefix: str = "") -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        assert line.startswith(prefix)
        name, value, timestamp = line[len(prefix):].rsplit(" ", 2)
        assert timestamp == "1800000000" or timestamp.isdigit()
        out[name] = value
    return out


def _call(core: Core, call_id: str, answered: bool = True) -> None:
    ng(core, command="offer", **{"call-id": call_id, "from-tag": "a"}, sdp=sdp_body(2000))
    if answered:
        ng(core, command="answer", **{"call-id": call_id, "from-tag": "a", "to-tag": "b"},
           sdp=sdp_body(3000, "192.0.2.20"))


def _seconds(core: Core, clock: Clock, count: int) -> None:
    """``count`` seconds, the daemon's once-a-second rate sample at the end of each."""
    for _ in range(count):
        clock.now += 1
        statsview.sample_rates(core)


def test_zero_is_no_minimum_yet_as_in_10_5():
    assert lower_min(0, 7) == 7 and lower_min(7, 3) == 3 and lower_min(3, 7) == 3
    assert lower_min(3, 0) == 0 and lower_min(0, 5) == 5  # (a 0 is forgotten at once)


def test_the_command_rates_of_the_once_a_second_samples():
    tally = IntervalTally(0.0, 5)
    offer = NG_COMMAND_INDEX["offer"]
    tally.sample(None, 0)
    for count in (4, 0, 2, 6):
        for _ in range(count):
            tally.command(offer, 100)
        tally.sample(1_000_000, 0)
    shown = tally.close_interval(0, 0)
    # the minimum forgets its 0 at the next sample (4, 0 -> 2 -> 2): 10.5's
    assert (shown.rate_min[offer], shown.rate_max[offer], shown.rate_avg[offer]) == (2, 6, 3)
    assert tally.samples == 0 and tally.rate_max[offer] == 0
    tally.sample(2_000_000, 0)  # (12 requests at the last sample: none since)
    assert tally.close_interval(0, 0).rate_avg[offer] == 0


def test_processing_times_and_the_session_gauge_start_each_interval_anew():
    tally = IntervalTally(0.0, 5)
    for micros in (300, 100, 200):
        tally.command(NG_COMMAND_INDEX["delete"], micros)
    for count in (1, 2, 3, 2):
        tally.sessions(count)
    shown = tally.close_interval(2, 0)
    delete = NG_COMMAND_INDEX["delete"]
    assert (shown.time_min[delete], shown.time_max[delete], shown.time_avg[delete]) == (100, 300, 200)
    assert (shown.sessions_min, shown.sessions_max) == (1, 3)
    # the next interval's session gauge starts at the sessions there are, times at nothing
    shown = tally.close_interval(2, 0)
    assert (shown.sessions_min, shown.sessions_max, shown.time_max[delete]) == (2, 2, 0)
    assert tally.succeeded[delete] == 3


def test_a_report_in_10_5s_lines_and_the_interval_it_ends():
    core, clock = _core(interval=10)
    tally = core.stats.graphite
    statsview.sample_rates(core)
    _call(core, "c1")
    _call(core, "c2", answered=False)
    assert ng(core, command="query", **{"call-id": "unknown"})["result"] == "error"
    _seconds(core, clock, 4)
    ng(core, command="delete", **{"call-id": "c1"})
    _seconds(core, clock, 2)
    text = graphite.report(core, tally, int(clock.now), "rtp.")
    lines = _lines(text, "rtp.")
    names = list(lines)
    assert names[:7] == ["ping_time_min", "ping_time_max", "ping_time_avg", "pings_ps_min",
                         "pings_ps_max", "pings_ps_avg", "ping_count"]
    assert "start recording_time_min" in names and "subscribe answers_ps_max" in names
    assert names[-2:] == ["ports_free_default_127.0.0.1", "ports_used_default_127.0.0.1"]
    assert len(names) == 24 * 7 + 30 + 2  # (as 10.5 sends them: 200 lines)
    # only the commands that succeeded count: two offers, one answer, one delete
    assert (lines["offer_count"], lines["answer_count"], lines["delete_count"]) == ("2", "1", "1")
    assert float(lines["offer_time_max"]) >= float(lines["offer_time_min"]) > 0
    # the rate samples a second after them: 2 offers, 1 delete per second, 0 at the other
    # five (a minimum of 0 is "none": the sample after it is the minimum)
    assert (lines["offers_ps_max"], lines["offers_ps_min"], lines["offers_ps_avg"]) == ("2", "0", "0")
    assert (lines["deletes_ps_max"], lines["deletes_ps_min"]) == ("1", "0")
    assert lines["querys_ps_max"] == "0"  # (the query failed)
    assert lines["regular_term_sess"] == "1" and lines["nopacket_relayed_sess"] == "1"
    assert lines["average_call_dur"] == "4.000000"
    # ended at the last sample's second: not "since the sample" any more
    assert lines["managed_sess"] == "0"
    assert (lines["managed_sess_min"], lines["managed_sess_max"]) == ("1", "2")
    assert lines["current_sessions_total"] == lines["current_sessions_own"] == "1"
    assert lines["current_sessions_ipv4"] == "0"  # (c2 has no answer yet)
    # c2, created after the interval began, has been alive 6 s of it
    assert lines["call_dur"] == "6.000000"
    assert lines["ports_used_default_127.0.0.1"] == "4"  # (both sides of c2, RTP and RTCP)
    assert lines["ports_free_default_127.0.0.1"] == "96"
    # the statistics views show what was reported
    totals = handle_cli(core, "list totals")
    assert " Total calls duration                            :6.000000 seconds\n" in totals
    assert " Max managed sessions                            :2\n" in totals
    assert " Min/Max/Avg offer requests per second           :0/2/0 per sec\n" in totals
    interval = statsview.json_statistics(core)["intervalstatistics"]
    assert interval["maxofferdelay"] == float(lines["offer_time_max"])

    # the next interval: c2 is older than it, so it counts the configured 10 s
    clock.now += 3
    lines = _lines(graphite.report(core, tally, int(clock.now)))
    assert lines["call_dur"] == "10.000000"
    assert (lines["regular_term_sess"], lines["offer_count"], lines["offers_ps_max"]) == ("0", "2", "0")
    assert (lines["managed_sess_min"], lines["managed_sess_max"]) == ("1", "1")
    assert lines["average_call_dur"] == "0.000000"
    assert lines["offer_time_max"] == "0.000000"


def test_calls_ended_since_the_last_sample_are_managed_sess():
    core, clock = _core()
    statsview.sample_rates(core)
    _call(core, "c1")
    ng(core, command="delete", **{"call-id": "c1"})
    lines = _lines(graphite.report(core, core.stats.graphite, int(clock.now)))
    assert lines["managed_sess"] == "1"


def test_an_interface_reports_the_family_of_its_first_address_only():
    from rtpengined.model import Interface

    clock = Clock()
    config = Config(port_min=41000, port_max=41009, graphite=ListenAddress("127.0.0.1", 2003),
                    interfaces=[Interface("pub", "127.0.0.1", "127.0.0.1"),
                                Interface("pub", "::1", "::1"),
                                Interface("v6", "::1", "::1")])
    core = Core(config, media=NullMediaPlane(), clock=clock, binder=FakeBinder())
    names = [name for name in _lines(graphite.report(core, core.stats.graphite, 1))
             if name.startswith("ports_")]
    assert names == ["ports_free_pub_127.0.0.1", "ports_used_pub_127.0.0.1",
                     "ports_free_v6_::1", "ports_used_v6_::1"]


def test_without_graphite_nothing_is_gathered_and_the_interval_figures_stay_0():
    clock = Clock()
    core = Core(Config(port_min=41000, port_max=41099), media=NullMediaPlane(), clock=clock,
                binder=FakeBinder())
    assert core.stats.graphite is None
    _call(core, "c1")
    interval = statsview.json_statistics(core)["intervalstatistics"]
    assert interval["maxmanagedsessions"] == 0 and interval["maxofferdelay"] == 0.0


def test_the_interval_defaults_to_a_second():
    assert Config(graphite_interval=0).graphite_seconds == 1
    assert Config(graphite_interval=-3).graphite_seconds == 1
    assert Config(graphite_interval=30).graphite_seconds == 30


def _swept_calls_time_us(core: Core, start: float, interval: int, now: float) -> int:
    """10.5's sum, over every call (what ``calls_time_us`` gets without the sweep)."""
    total = 0
    for call in core.calls.calls.values():
        if call.foreign or not call.monologues:
            continue
        total += interval * 1_000_000 if start > call.created else int((now - call.created) * 1e6)
    return total


def test_the_call_time_without_a_sweep_is_10_5s_sum():
    import random

    rng = random.Random(5)
    core, clock = _core(interval=3)
    tally = core.stats.graphite
    for _ in range(300):
        call_id = f"c{rng.randrange(20)}"
        if rng.random() < 0.5:
            _call(core, call_id, answered=rng.random() < 0.5)
        else:
            ng(core, command="delete", **{"call-id": call_id})
        clock.now += rng.choice([0.0, 0.25, 1.0])
        if rng.random() < 0.1:
            clock.now += 0.001  # (a report in the same µs as a call came: either is right)
            want = _swept_calls_time_us(core, tally.started, 3, clock.now)
            lines = _lines(graphite.report(core, tally, int(clock.now)))
            assert lines["call_dur"] == "%.6f" % (want / 1e6)


async def test_a_server_that_stops_reading_is_dropped_and_connected_again():
    """A write that does not finish in time drops the connection; the next interval
    connects again (small socket buffers on both ends, so it stalls in a moment)."""
    import functools
    import socket

    import trio

    from rtpengined import graphite_sender

    accepted: list[trio.SocketStream] = []

    async def never_reads(stream: trio.SocketStream) -> None:
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        accepted.append(stream)
        await trio.sleep_forever()

    async def small_buffer(destination, timeout: int) -> trio.SocketStream:
        stream = await graphite_sender._connect(destination, timeout)
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        return stream

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(
            trio.serve_tcp, never_reads, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        core, _ = _core(interval=1)
        core.config.graphite = ListenAddress("127.0.0.1", port)
        nursery.start_soon(functools.partial(graphite_sender.run, core, core.config,
                                             connect=small_buffer, send_deadline=0.3))
        with trio.fail_after(30):
            while len(accepted) < 2:
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
