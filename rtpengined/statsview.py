"""The one statistics view: ``list totals``, ``list jsonstats``, ``list counters``,
``list numsessions``, ``list interfaces``, ng ``statistics`` and ``/metrics`` all read it.

``json_statistics(core)`` builds rtpengine's statistics model (cli.md §4) as an ordered
dict of Python ints and floats; every text rendering below starts from that dict, so a
number is computed in exactly one place. Two value types carry rtpengine's formatting
quirks without changing arithmetic: ``Fixed2`` (a float printed with two decimals,
``used_pct``) and ``TextInt`` (an int that ng ``statistics`` sends as a bencode string,
e.g. ``uptime``). Sans-I/O: reads the call model and ``core.stats`` only. Over 400 lines
because every rendering lives next to the one model it reads (one source of truth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .media import codecs as media_codecs
from .stats import NG_COMMANDS, Shown

if TYPE_CHECKING:
    from .core import Core
    from .model import Stream

# Rates are re-sampled at most this often (rtpengine's timer: at most every 0.9 s).
RATE_MIN_INTERVAL = 0.9


class Fixed2(float):
    """A float rtpengine prints with two decimals (``used_pct``)."""


class TextInt(int):
    """An int rtpengine's ng ``statistics`` reply carries as a string (``uptime``, rates)."""


# -- the model ---------------------------------------------------------------------------

CURRENT = [
    ("sessionsown", "Owned sessions"),
    ("sessionsforeign", "Foreign sessions"),
    ("sessionstotal", "Total sessions"),
    ("transcodedmedia", "Transcoded media"),
    ("packetrate_user", "Packets per second (userspace)"),
    ("byterate_user", "Bytes per second (userspace)"),
    ("errorrate_user", "Errors per second (userspace)"),
    ("packetrate_kernel", "Packets per second (kernel)"),
    ("byterate_kernel", "Bytes per second (kernel)"),
    ("errorrate_kernel", "Errors per second (kernel)"),
    ("packetrate", "Packets per second (total)"),
    ("byterate", "Bytes per second (total)"),
    ("errorrate", "Errors per second (total)"),
    ("media_userspace", "Userspace-only media streams"),
    ("media_kernel", "Kernel-only media streams"),
    ("media_mixed", "Mixed kernel/userspace media streams"),
]
TOTAL = [
    ("uptime", "Uptime of rtpengine", " seconds"),
    ("managedsessions", "Total managed sessions", ""),
    ("rejectedsessions", "Total rejected sessions", ""),
    ("timeoutsessions", "Total timed-out sessions via TIMEOUT", ""),
    ("silenttimeoutsessions", "Total timed-out sessions via SILENT_TIMEOUT", ""),
    ("finaltimeoutsessions", "Total timed-out sessions via FINAL_TIMEOUT", ""),
    ("offertimeoutsessions", "Total timed-out sessions via OFFER_TIMEOUT", ""),
    ("regularterminatedsessions", "Total regular terminated sessions", ""),
    ("forcedterminatedsessions", "Total forced terminated sessions", ""),
    ("relayedpackets_user", "Total relayed packets (userspace)", ""),
    ("relayedpacketerrors_user", "Total relayed packet errors (userspace)", ""),
    ("relayedbytes_user", "Total relayed bytes (userspace)", ""),
    ("relayedpackets_kernel", "Total relayed packets (kernel)", ""),
    ("relayedpacketerrors_kernel", "Total relayed packet errors (kernel)", ""),
    ("relayedbytes_kernel", "Total relayed bytes (kernel)", ""),
    ("relayedpackets", "Total relayed packets", ""),
    ("relayedpacketerrors", "Total relayed packet errors", ""),
    ("relayedbytes", "Total relayed bytes", ""),
    ("zerowaystreams", "Total number of streams with no relayed packets", ""),
    ("onewaystreams", "Total number of 1-way streams", ""),
    ("avgcallduration", "Average call duration", " seconds"),
    ("totalcallsduration", "Total calls duration", " seconds"),
    ("totalcallsduration2", "Total calls duration squared", " seconds squared"),
    ("totalcallsduration_stddev", "Total calls duration standard deviation", " seconds"),
]
MOS = [
    ("mos_total", "Sum of all MOS values sampled"),
    ("mos2_total", "Sum of all MOS square values sampled"),
    ("mos_samples_total", "Total number of MOS samples"),
    ("mos_average", "Average MOS"),
    ("mos_stddev", "MOS standard deviation"),
]
COUNTERS = CURRENT[4:13]


@dataclass
class LiveTotals:
    """Packets/bytes/errors received on media ports since start (closed + live streams),
    and how many live streams have received anything (``media_userspace``)."""

    packets: int = 0
    bytes: int = 0
    errors: int = 0
    flowing: int = 0


def live_streams(core: Core) -> list[Stream]:
    """Every stream of every call, with counters refreshed from the media plane."""
    streams = [
        stream
        for call in core.calls.calls.values()
        for stream in call.streams()
        if not stream.closed  # closed ones are in stats.closed_*
    ]
    core.media.refresh(streams)
    return streams


def relayed_totals(core: Core, streams: list[Stream] | None = None,
                   count_flowing: bool = True) -> LiveTotals:
    """Closed streams' totals plus the live streams' counters.

    A media plane that keeps the live sums itself (``live_totals``, the relay plane)
    answers without a pass over the calls; otherwise every live stream is read.
    ``count_flowing=False``: ``flowing`` is not needed (rates), the plane may skip it.
    """
    stats = core.stats
    totals = LiveTotals(stats.closed_packets, stats.closed_bytes, stats.closed_errors)
    live_totals = getattr(core.media, "live_totals", None)
    if streams is None and live_totals is not None:
        packets, nbytes, errors, flowing = live_totals(count_flowing)
        totals.packets += packets
        totals.bytes += nbytes
        totals.errors += errors
        totals.flowing = flowing
        return totals
    if streams is None:
        streams = live_streams(core)
    for stream in streams:
        totals.packets += stream.stats.packets
        totals.bytes += stream.stats.bytes
        totals.errors += stream.stats.errors
        # 10.5 counts RTP components that have received packets (RTCP ones never count).
        totals.flowing += not stream.rtcp and stream.stats.packets > 0
    return totals


def sample_rates(core: Core, now: float | None = None, streams: list[Stream] | None = None,
                 totals: LiveTotals | None = None) -> None:
    """Once a second: turn the counts since the previous sample into per-second rates.

    Called from the daemon's tick; views call it too, so rates exist even without one
    (it does nothing if the last sample is younger than ``RATE_MIN_INTERVAL``).
    """
    stats = core.stats
    now = core.clock() if now is None else now
    previous = stats.rate_sampled_at
    if previous and now - previous < RATE_MIN_INTERVAL:
        return
    if totals is None:
        totals = relayed_totals(core, streams, count_flowing=False)
    if previous:
        elapsed_us = max(1, int((now - previous) * 1_000_000))
        base_packets, base_bytes, base_errors = stats.rate_base
        stats.rate_packets = max(0, totals.packets - base_packets) * 1_000_000 // elapsed_us
        stats.rate_bytes = max(0, totals.bytes - base_bytes) * 1_000_000 // elapsed_us
        stats.rate_errors = max(0, totals.errors - base_errors) * 1_000_000 // elapsed_us
    stats.rate_sampled_at = now
    stats.rate_base = (totals.packets, totals.bytes, totals.errors)
    if stats.graphite is not None:  # (--graphite: each command's rate, as 10.5 samples it)
        stats.graphite.sample(elapsed_us if previous else None, stats.managed_sessions)
    if core.calls.converting or core.media.transcoded or stats.transcoder_base:
        chains = transcoder_chains(core)
        if previous:
            stats.transcoder_rates = {
                chain: tuple(max(0, value - base) * 1_000_000 // elapsed_us
                             for value, base in zip(counts[1:], stats.transcoder_base.get(
                                 chain, (0, 0, 0)), strict=True))
                for chain, counts in chains.items()}
        stats.transcoder_base = {chain: tuple(counts[1:]) for chain, counts in chains.items()}


def transcoder_chains(core: Core) -> dict[str, list[int]]:
    """The relay's conversions by chain (``PCMU/8000 -> PCMA/8000``, as 10.5 names them):
    [transcoders, packets, bytes, samples]. Transcoders are the conversions of the calls
    now; the counts are what went into each since the start, as the relay workers count
    them (``transcoding.Tally``: packets and payload bytes on their way in, samples as
    decoded and resampled). As 10.5's, a chain stays listed once its calls have ended,
    with no transcoders (``/metrics`` exports its counts as counters)."""
    pairs = [(source, sink) for source, sink in core.calls.converting.values()
             if not sink.closed]
    # the workers report their tallies with their counters: fetch their news first
    core.media.refresh([source for source, _ in pairs if not source.closed])
    chains: dict[str, list[int]] = {}
    for _, sink in pairs:
        for entry in sink.transcode:
            chain = _chain(entry[2], entry[3])
            if chain is not None:
                chains.setdefault(chain, [0, 0, 0, 0])[0] += 1
    for (codec_in, codec_out), counts in core.media.transcoded.items():
        chain = _chain(codec_in, codec_out)
        if chain is not None:
            found = chains.setdefault(chain, [0, 0, 0, 0])
            found[1] += counts[0]
            found[2] += counts[1]
            found[3] += counts[2]
    return chains


def _chain(codec_in: str, codec_out: str) -> str | None:
    """A conversion's chain as 10.5 names it; None for one that is no transcoder there
    (telephone-event carried between clock rates, tones)."""
    known_in, known_out = media_codecs.codec(codec_in), media_codecs.codec(codec_out)
    if known_in is None or known_out is None:
        return None
    return f"{known_in.rtpmap} -> {known_out.rtpmap}"


def transcoders(core: Core) -> list[dict[str, Any]]:
    """``statistics``' transcoders, as 10.5 lists them (rates once a chain has packets)."""
    if not (core.calls.converting or core.media.transcoded):
        return []
    rates = core.stats.transcoder_rates
    out = []
    for chain, (num, packets, nbytes, samples) in transcoder_chains(core).items():
        entry: dict[str, Any] = {"chain": chain, "num": num}
        rate = rates.get(chain, (0, 0, 0))
        # (10.5 shows the rates of a chain that had packets in the last second)
        if packets and (num or rate[0]):
            entry.update(packetrate=rate[0], byterate=rate[1], samplerate=rate[2])
        entry.update(packets=packets, bytes=nbytes, samples=samples)
        out.append(entry)
    return out


def _rates(core: Core, totals: LiveTotals) -> tuple[int, int, int]:
    stats = core.stats
    sampled = stats.rate_sampled_at
    if not sampled or core.clock() - sampled > 2.5:
        sample_rates(core, totals=totals)  # no tick drives us: sample on demand
    return stats.rate_packets, stats.rate_bytes, stats.rate_errors


def address_family_gauges(core: Core) -> tuple[int, int, int]:
    """(ipv4, ipv6, mixed) over established calls, by the families of offer and answer
    (kept as calls change: ``family_gauges``)."""
    return core.calls.families.gauges()


@dataclass
class PortPoolView:
    name: str
    address: str
    family: str
    port_min: int
    port_max: int
    used: int
    last: int

    @property
    def total(self) -> int:
        return self.port_max - self.port_min + 1


def port_pools(core: Core) -> list[PortPoolView]:
    """The media port pools, or the configured interfaces before any pool exists."""
    pools = core.calls.port_pools
    views = []
    if pools:
        for pool in pools:
            interface = pool.interface
            views.append(PortPoolView(interface.name, interface.address, interface.family,
                                      pool.port_min, pool.port_max, pool.used, pool.last))
        return views
    config = core.config
    for interface in config.interfaces:
        views.append(PortPoolView(interface.name, interface.address, interface.family,
                                  config.port_min, config.port_max, 0, 0))
    return views


def _seconds(value: float) -> float:
    """Truncate to whole microseconds, as rtpengine prints ``sec.usec``."""
    return int(value * 1_000_000) / 1_000_000


def json_statistics(core: Core) -> dict[str, Any]:
    """The statistics model as an ordered dict (``list jsonstats`` / ng ``statistics``)."""
    relayed = relayed_totals(core)
    stats = core.stats
    calls = core.calls.calls
    foreign = sum(1 for call in calls.values() if call.foreign)
    packet_rate, byte_rate, error_rate = _rates(core, relayed)
    userspace_media = relayed.flowing  # RTP components that received packets, as 10.5
    kernel_streams = getattr(core.media, "kernel_streams", None)
    kernel_media, mixed_media = kernel_streams() if kernel_streams is not None else (0, 0)
    userspace_media = max(0, userspace_media - kernel_media - mixed_media)
    current = {
        "sessionsown": len(calls) - foreign,
        "sessionsforeign": foreign,
        "sessionstotal": len(calls),
        "transcodedmedia": sum(1 for _, sink in core.calls.converting.values()
                               if not sink.closed),
        "packetrate_user": packet_rate,
        "byterate_user": byte_rate,
        "errorrate_user": error_rate,
        "packetrate_kernel": 0,
        "byterate_kernel": 0,
        "errorrate_kernel": 0,
        "packetrate": packet_rate,
        "byterate": byte_rate,
        "errorrate": error_rate,
        "media_userspace": userspace_media,
        "media_kernel": kernel_media,
        "media_mixed": mixed_media,
    }
    managed = stats.managed_sessions
    total_us = stats.total_calls_duration_us
    avg_us = total_us // managed if managed else 0
    squared = stats.total_calls_duration2_ms / 1_000_000
    stddev = 0.0
    if managed:
        variance = stats.total_calls_duration2_ms / managed - (avg_us / 1000) ** 2
        stddev = math.sqrt(abs(variance)) / 1000
    total = {
        "uptime": TextInt(stats.uptime),
        "managedsessions": managed,
        "rejectedsessions": stats.rejected_sessions,
        "timeoutsessions": stats.timeout_sessions,
        "silenttimeoutsessions": stats.silent_timeout_sessions,
        "finaltimeoutsessions": stats.final_timeout_sessions,
        "offertimeoutsessions": stats.offer_timeout_sessions,
        "regularterminatedsessions": stats.regular_terminated_sessions,
        "forcedterminatedsessions": stats.forced_terminated_sessions,
        "relayedpackets_user": relayed.packets,
        "relayedpacketerrors_user": relayed.errors,
        "relayedbytes_user": relayed.bytes,
        "relayedpackets_kernel": 0,
        "relayedpacketerrors_kernel": 0,
        "relayedbytes_kernel": 0,
        "relayedpackets": relayed.packets,
        "relayedpacketerrors": relayed.errors,
        "relayedbytes": relayed.bytes,
        "zerowaystreams": stats.zeroway_streams,
        "onewaystreams": stats.oneway_streams,
        "avgcallduration": avg_us / 1_000_000,
        "totalcallsduration": total_us / 1_000_000,
        "totalcallsduration2": squared,
        "totalcallsduration_stddev": stddev,
    }
    # (what --graphite last reported; all 0 without it, as in 10.5)
    shown = stats.graphite.shown if stats.graphite is not None else Shown()
    interval: dict[str, Any] = {
        "totalcallsduration": shown.calls_duration_us / 1_000_000,
        "minmanagedsessions": shown.sessions_min,
        "maxmanagedsessions": shown.sessions_max,
    }
    for index, (long_name, _, _) in enumerate(NG_COMMANDS):
        interval[f"min{long_name}delay"] = shown.time_min[index] / 1_000_000
        interval[f"max{long_name}delay"] = shown.time_max[index] / 1_000_000
        interval[f"avg{long_name}delay"] = shown.time_avg[index] / 1_000_000
    for index, (long_name, _, _) in enumerate(NG_COMMANDS):
        interval[f"min{long_name}requestrate"] = TextInt(shown.rate_min[index])
        interval[f"max{long_name}requestrate"] = TextInt(shown.rate_max[index])
        interval[f"avg{long_name}requestrate"] = TextInt(shown.rate_avg[index])
    tally = stats.mos  # (x 10, as 10.5 sums them)
    mean = tally.mos / tally.samples if tally.samples else 0.0
    variance = abs(tally.mos2 / tally.samples - mean * mean) if tally.samples else 0.0
    mos = {
        "mos_total": tally.mos / 10.0,
        "mos2_total": tally.mos2 / 100.0,
        "mos_samples_total": tally.samples,
        "mos_average": mean / 10.0,
        "mos_stddev": math.sqrt(variance) / 10.0,
    }
    proxies = []
    totals = [0] * len(NG_COMMANDS)
    for address, entry in stats.proxies.items():
        proxy: dict[str, Any] = {"proxy": address}
        for index, (_, short, _) in enumerate(NG_COMMANDS):
            proxy[f"{short}count"] = entry.counts[index]
            proxy[f"{short}duration"] = _seconds(entry.durations[index])
            totals[index] += entry.counts[index]
        proxy["errorcount"] = entry.errors
        proxies.append(proxy)
    control: dict[str, Any] = {"proxies": proxies}
    for index, (_, short, _) in enumerate(NG_COMMANDS):
        control[f"total{short}count"] = totals[index]
    interfaces = []
    for pool in port_pools(core):
        free = pool.total - pool.used
        interfaces.append({
            "name": pool.name,
            "address": pool.address,
            "ports": {
                "min": pool.port_min,
                "max": pool.port_max,
                "used": pool.used,
                "used_pct": Fixed2(pool.used * 100 / pool.total if pool.total else 0.0),
                "free": free,
                "totals": pool.total,
                "last": pool.last,
            },
        })
    return {
        "currentstatistics": current,
        "totalstatistics": total,
        "intervalstatistics": interval,
        "mos": mos,
        "controlstatistics": control,
        "interfaces": interfaces,
        "transcoders": transcoders(core),
    }


# -- renderings ---------------------------------------------------------------------------


def _short(value: Any) -> str:
    if isinstance(value, Fixed2):
        return "%.2f" % value
    if isinstance(value, float):
        return "%.6f" % value
    return str(value)


def _json(value: Any) -> str:
    """rtpengine's compact JSON: model order, ``%.6f`` floats, strings unescaped."""
    if isinstance(value, dict):
        return "{" + ",".join(f'"{key}":{_json(item)}' for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json(item) for item in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return _short(value)


def render_jsonstats(core: Core) -> str:
    """``list jsonstats``: no trailing newline."""
    return _json(json_statistics(core))


def _ng_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _ng_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_ng_value(item) for item in value]
    if isinstance(value, (float, TextInt)):
        return _short(value)
    return value


def ng_statistics(core: Core) -> dict[str, Any]:
    """The model with rtpengine's bencode types: floats and ``TextInt`` become strings."""
    return _ng_value(json_statistics(core))


def _line(description: str, value: str) -> str:
    return f" {description:<48}:{value}\n"


def render_totals(core: Core) -> str:
    """``list totals``: the human-readable dump (layout of cli.md §3.4)."""
    model = json_statistics(core)
    current, total = model["currentstatistics"], model["totalstatistics"]
    interval, mos = model["intervalstatistics"], model["mos"]
    out = ["\nStatistics over currently running sessions:\n\n"]
    out += [_line(label, _short(current[key])) for key, label in CURRENT]
    out.append("\nTotal statistics (does not include current running sessions):\n\n")
    out += [_line(label, _short(total[key]) + unit) for key, label, unit in TOTAL]
    out.append("\n\nGraphite interval statistics (last reported values to graphite):\n")
    out.append(_line("Total calls duration", _short(interval["totalcallsduration"]) + " seconds"))
    out.append("\n")
    out.append(_line("Min managed sessions", _short(interval["minmanagedsessions"])))
    out.append(_line("Max managed sessions", _short(interval["maxmanagedsessions"])))
    for long_name, _, _ in NG_COMMANDS:
        values = "/".join(_short(interval[f"{w}{long_name}delay"]) for w in ("min", "max", "avg"))
        out.append(_line(f"Min/Max/Avg {long_name} processing delay", values + " sec"))
    for long_name, _, _ in NG_COMMANDS:
        values = "/".join(_short(interval[f"{w}{long_name}requestrate"]) for w in ("min", "max", "avg"))
        out.append(_line(f"Min/Max/Avg {long_name} requests per second", values + " per sec"))
    out.append("\n\nMOS statistics:\n\n")
    out += [_line(label, _short(mos[key])) for key, label in MOS]
    out.append("\n\nControl statistics:\n\n")
    header = " %20s " % "Proxy" + "".join("| %10s " % title for _, _, title in NG_COMMANDS)
    out.append(header + "\n")
    for proxy in model["controlstatistics"]["proxies"]:
        row = " %20s " % proxy["proxy"]
        row += "".join("| %10d " % proxy[f"{short}count"] for _, short, _ in NG_COMMANDS)
        out.append(row + "\n")
    out.append("\n\n\n")
    out.append("\n\n" * len(model["transcoders"]))
    out.append("\n")
    return "".join(out)


def render_counters(core: Core) -> str:
    """``list counters``: the per-second rates."""
    current = json_statistics(core)["currentstatistics"]
    lines = "".join(_line(label, _short(current[key])) for key, label in COUNTERS)
    return "\nCurrent per-second counters:\n\n" + lines


def render_numsessions(core: Core) -> str:
    calls = list(core.calls.calls.values())
    foreign = sum(1 for call in calls if call.foreign)
    ipv4, ipv6, mixed = address_family_gauges(core)
    return (
        f"Current sessions own: {len(calls) - foreign}\n"
        f"Current sessions foreign: {foreign}\n"
        f"Current sessions total: {len(calls)}\n"
        f"Current transcoded media: 0\n"
        f"Current sessions ipv4 only media: {ipv4}\n"
        f"Current sessions ipv6 only media: {ipv6}\n"
        f"Current sessions ip mixed  media: {mixed}\n"
    )


def render_interfaces(core: Core) -> str:
    out = []
    for pool in port_pools(core):
        percent = pool.used * 100 / pool.total if pool.total else 0.0
        out.append(
            f"Interface '{pool.name}' address '{pool.address}' ({pool.family})\n"
            f" Port range: {pool.port_min:5d} - {pool.port_max:5d}\n"
            f" Ports used: {pool.used:5d} / {pool.total:5d} ({percent:5.1f}%)\n"
            f" Last port used: {pool.last:5d}\n"
        )
    return "".join(out)
