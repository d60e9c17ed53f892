"""``--graphite``: the figures rtpengine sends a Graphite server every ``--graphite-interval``
seconds, one plaintext-protocol line each (``[prefix]name value timestamp``), and the
interval figures ``list totals`` and ng ``statistics`` show as "last reported to graphite".

Sans-I/O. ``IntervalTally`` gathers what an interval needs while the daemon runs: each
command that succeeds and how long it took, each change of the number of sessions, and the
per-second command rates of the once-a-second sample (``statsview.sample_rates``).
``report`` turns it and the statistics view into the lines and starts the next interval;
``graphite_sender`` connects and sends them. Without ``--graphite`` there is no tally and
the interval figures stay 0, as in 10.5.

10.5's ways are kept, since dashboards read them:

* a running minimum of 0 means "none yet", so the next value replaces it: a command rate's
  minimum is the lowest since the last second without such requests;
* the lines name commands as 10.5 does, spaces included (``start recording_time_min``),
  and the rate lines add an ``s`` (``offers_ps_max``);
* only commands that succeed count; ``managed_sess`` is the calls ended since the last
  once-a-second sample, not since the last report; the other ``*_sess`` and ``relayed_*``
  lines are what happened since the last report;
* ``call_dur`` is the time the calls alive now spent in the interval (a call older than it
  counts the configured interval, whatever the time since the last report was).

Nothing in a report walks every call: the counts and gauges are kept as calls change (the
foreign sessions aside, counted as for ``list numsessions``: ~1 ms per 20,000 calls).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .stats import NG_COMMANDS, IntervalTally
from .statsview import address_family_gauges, json_statistics, port_pools

if TYPE_CHECKING:
    from .core import Core

# The counters a report shows as their change since the previous report:
# (line name, key in the statistics model's totalstatistics).
_DELTAS = {
    "forced_term_sess": "forcedterminatedsessions",
    "nopacket_relayed_sess": "zerowaystreams",
    "oneway_stream_sess": "onewaystreams",
    "regular_term_sess": "regularterminatedsessions",
    "relayed_errors_user": "relayedpacketerrors_user",
    "relayed_packets_user": "relayedpackets_user",
    "relayed_bytes_user": "relayedbytes_user",
    "silent_timeout_sess": "silenttimeoutsessions",
    "final_timeout_sess": "finaltimeoutsessions",
    "offer_timeout_sess": "offertimeoutsessions",
    "timeout_sess": "timeoutsessions",
    "reject_sess": "rejectedsessions",
}


def calls_time_us(core: Core, tally: IntervalTally, now: float, own: int) -> int:
    """The time the ``own`` calls alive now spent in this interval, as 10.5 sums it: the
    whole (configured) interval for each call older than it, the time since it came for
    the others. Only the calls that came this interval are looked at (``tally.recent``);
    unlike 10.5, an older call without parties (a Janus room nobody joined) counts too."""
    start = tally.started
    calls = core.calls.calls
    older, recent_us = own, 0
    for call_id, created in tally.recent.items():
        call = calls.get(call_id)
        if call is None or call.foreign or created < start:
            continue  # (gone, another node's, or restored from Redis: an older call)
        older -= 1
        if call.monologues:
            recent_us += int((now - created) * 1_000_000)
    return older * tally.interval * 1_000_000 + recent_us


def report(core: Core, tally: IntervalTally, timestamp: int, prefix: str = "") -> str:
    """The lines of one report (the interval ends with it)."""
    now = core.clock()
    model = json_statistics(core)
    current, totals = model["currentstatistics"], model["totalstatistics"]
    stats = core.stats
    calls_us = calls_time_us(core, tally, now, current["sessionsown"])
    shown = tally.close_interval(current["sessionstotal"], calls_us)
    tally.started = now
    tally.recent = {}
    lines: list[str] = []
    suffix = f" {timestamp}\n"

    def put(name: str, value: object) -> None:
        lines.append(f"{prefix}{name} {value}{suffix}")

    for index, (name, _, _) in enumerate(NG_COMMANDS):
        put(f"{name}_time_min", "%.6f" % (shown.time_min[index] / 1e6))
        put(f"{name}_time_max", "%.6f" % (shown.time_max[index] / 1e6))
        put(f"{name}_time_avg", "%.6f" % (shown.time_avg[index] / 1e6))
        put(f"{name}s_ps_min", shown.rate_min[index])
        put(f"{name}s_ps_max", shown.rate_max[index])
        put(f"{name}s_ps_avg", shown.rate_avg[index])
        put(f"{name}_count", tally.succeeded[index])
    put("call_dur", "%.6f" % (shown.calls_duration_us / 1e6))
    ended = stats.managed_sessions - tally.base_managed
    duration_us = stats.total_calls_duration_us - tally.base_duration_us
    average_us = duration_us // ended if ended else 0
    put("average_call_dur", "%d.%06d" % divmod(average_us, 1_000_000))
    deltas = {name: totals[key] - tally.base.get(key, 0) for name, key in _DELTAS.items()}
    put("forced_term_sess", deltas["forced_term_sess"])
    put("managed_sess", stats.managed_sessions - tally.managed_at_sample)
    put("managed_sess_min", shown.sessions_min)
    put("managed_sess_max", shown.sessions_max)
    put("current_sessions_total", current["sessionstotal"])
    put("current_sessions_own", current["sessionsown"])
    put("current_sessions_foreign", current["sessionsforeign"])
    put("current_transcoded_media", current["transcodedmedia"])
    ipv4, ipv6, mixed = address_family_gauges(core)
    put("current_sessions_ipv4", ipv4)
    put("current_sessions_ipv6", ipv6)
    put("current_sessions_mixed", mixed)
    for name in ("nopacket_relayed_sess", "oneway_stream_sess", "regular_term_sess"):
        put(name, deltas[name])
    for kind in ("errors", "packets", "bytes"):
        put(f"relayed_{kind}_user", deltas[f"relayed_{kind}_user"])
    for kind in ("errors", "packets", "bytes"):
        put(f"relayed_{kind}_kernel", 0)  # (userspace relaying only: see README)
    for kind in ("errors", "packets", "bytes"):
        put(f"relayed_{kind}", deltas[f"relayed_{kind}_user"])
    for name in ("silent_timeout_sess", "final_timeout_sess", "offer_timeout_sess",
                 "timeout_sess", "reject_sess"):
        put(name, deltas[name])
    preferred: dict[str, str] = {}  # (10.5: an interface's first address sets its family)
    for pool in port_pools(core):
        if preferred.setdefault(pool.name, pool.family) != pool.family:
            continue
        put(f"ports_free_{pool.name}_{pool.address}", pool.total - pool.used)
        put(f"ports_used_{pool.name}_{pool.address}", pool.used)
    for entry in model["transcoders"]:
        brief = entry["chain"].replace(" -> ", "_")
        put(f"transcoder_{brief}", entry["num"])
        if "packetrate" in entry:  # (a chain that had packets in the last second)
            put(f"transcoder_{brief}_packets", entry["packetrate"])
            put(f"transcoder_{brief}_bytes", entry["byterate"])
            put(f"transcoder_{brief}_samples", entry["samplerate"])
    tally.base = {key: totals[key] for key in _DELTAS.values()}
    tally.base_managed = stats.managed_sessions
    tally.base_duration_us = stats.total_calls_duration_us
    return "".join(lines)
