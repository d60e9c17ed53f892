"""Prometheus view of the statistics model, shaped exactly like rtpengine's ``/metrics``.

Every number comes from the one stats view, ``rtpengined.statsview.json_statistics(core)``
(the ``list jsonstats`` dict), read at scrape time; nothing is counted here. The walk in
``metric_samples`` yields rtpengine's samples in its order; ``render_exposition`` writes
them the way rtpengine does (HELP/TYPE once per name at its first sample, interleaved
families, integers bare, floats with six decimals) so dashboards and alerts built against
rtpengine work unchanged. ``RtpengineCollector`` offers the same samples to a
prometheus-client registry for embedders that merge them with their own metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from .stats import NG_COMMANDS

# rtpengine sends the classic text format without a version parameter (metrics.md §2.5).
CONTENT_TYPE = "text/plain"
PREFIX = "rtpengine_"


@dataclass(frozen=True)
class Sample:
    """One exposition line: family name, type, HELP ('' = none), labels, value text."""

    name: str
    kind: str  # "gauge" or "counter"
    help: str
    labels: tuple[tuple[str, str], ...]
    value: str


def format_value(value: Any) -> str:
    """Integers bare, floats as ``%.6f`` (rtpengine's short value); strings pass through."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "%.6f" % value
    return str(value)


# (metric name, type, HELP, label name, [(label value, group, json key)]) for the fixed part.
_CURRENT = "currentstatistics"
_TOTAL = "totalstatistics"
_FIXED: list[tuple[str, str, str, str | None, list[tuple[str | None, str, str]]]] = [
    ("sessions", "gauge", "Owned sessions", "type",
     [("own", _CURRENT, "sessionsown"), ("foreign", _CURRENT, "sessionsforeign")]),
    ("transcoded_media", "gauge", "Transcoded media", None, [(None, _CURRENT, "transcodedmedia")]),
    ("mediastreams", "gauge", "Userspace-only media streams", "type",
     [("userspace", _CURRENT, "media_userspace"), ("kernel", _CURRENT, "media_kernel"),
      ("mixed", _CURRENT, "media_mixed")]),
    ("uptime_seconds", "gauge", "Uptime of rtpengine", None, [(None, _TOTAL, "uptime")]),
    ("sessions_total", "counter", "Total managed sessions", None, [(None, _TOTAL, "managedsessions")]),
    ("closed_sessions_total", "counter", "Total rejected sessions", "reason",
     [("rejected", _TOTAL, "rejectedsessions"), ("timeout", _TOTAL, "timeoutsessions"),
      ("silent_timeout", _TOTAL, "silenttimeoutsessions"),
      ("final_timeout", _TOTAL, "finaltimeoutsessions"),
      ("offer_timeout", _TOTAL, "offertimeoutsessions"),
      ("terminated", _TOTAL, "regularterminatedsessions"),
      ("force_terminated", _TOTAL, "forcedterminatedsessions")]),
]
_RELAYED = [
    ("packets_total", "relayedpackets", "Total relayed packets"),
    ("packet_errors_total", "relayedpacketerrors", "Total relayed packet errors"),
    ("bytes_total", "relayedbytes", "Total relayed bytes"),
]
_AFTER_RELAYED = [
    ("zero_packet_streams_total", "counter", "Total number of streams with no relayed packets",
     _TOTAL, "zerowaystreams"),
    ("one_way_sessions_total", "counter", "Total number of 1-way streams", _TOTAL, "onewaystreams"),
    ("call_duration_avg", "gauge", "Average call duration", _TOTAL, "avgcallduration"),
    ("call_duration_total", "counter", "Total calls duration", _TOTAL, "totalcallsduration"),
    ("call_duration2_total", "counter", "Total calls duration squared", _TOTAL, "totalcallsduration2"),
    ("mos_total", "counter", "Sum of all MOS values sampled", "mos", "mos_total"),
    ("mos2_total", "counter", "Sum of all MOS square values sampled", "mos", "mos2_total"),
    ("mos_samples_total", "counter", "Total number of MOS samples", "mos", "mos_samples_total"),
]


def _get(stats: Mapping[str, Any], group: str, key: str) -> Any:
    return stats.get(group, {}).get(key, 0)


def metric_samples(stats: Mapping[str, Any]) -> Iterator[Sample]:
    """Walk the ``list jsonstats`` dict in rtpengine's order, yielding every exported sample."""
    for name, kind, help_text, label, members in _FIXED:
        for label_value, group, key in members:
            labels = ((label, label_value),) if label else ()
            yield Sample(PREFIX + name, kind, help_text, labels, format_value(_get(stats, group, key)))
    for path, suffix in (("userspace", "_user"), ("kernel", "_kernel")):
        for name, key, help_text in _RELAYED:
            yield Sample(PREFIX + name, "counter", f"{help_text} ({path})", (("type", path),),
                         format_value(_get(stats, _TOTAL, key + suffix)))
    for name, kind, help_text, group, key in _AFTER_RELAYED:
        yield Sample(PREFIX + name, kind, help_text, (), format_value(_get(stats, group, key)))
    for proxy in stats.get("controlstatistics", {}).get("proxies", []):
        address = str(proxy.get("proxy", ""))
        for long_name, short, _title in NG_COMMANDS:
            labels = (("proxy", address), ("request", long_name))
            yield Sample(PREFIX + "requests_total", "counter", "", labels,
                         format_value(proxy.get(f"{short}count", 0)))
            yield Sample(PREFIX + "request_seconds_total", "counter", "", labels,
                         format_value(proxy.get(f"{short}duration", 0.0)))
        yield Sample(PREFIX + "errors_total", "counter", "", (("proxy", address),),
                     format_value(proxy.get("errorcount", 0)))
    for interface in stats.get("interfaces", []):
        labels = (("name", str(interface.get("name", ""))), ("address", str(interface.get("address", ""))))
        ports = interface.get("ports", {})
        for name, key in (("ports_used", "used"), ("ports_free", "free"), ("ports", "totals")):
            yield Sample(PREFIX + name, "gauge", "", labels, format_value(ports.get(key, 0)))
    for transcoder in stats.get("transcoders", []):
        labels = (("chain", str(transcoder.get("chain", ""))),)
        for name, kind, key in (("transcoders", "gauge", "num"),
                                ("transcode_packets_total", "counter", "packets"),
                                ("transcode_bytes_total", "counter", "bytes"),
                                ("transcode_samples_total", "counter", "samples")):
            yield Sample(PREFIX + name, kind, "", labels, format_value(transcoder.get(key, 0)))


def escape_label(value: str) -> str:
    """A label value as the exposition format wants it: backslash, double quote and line
    feed escaped (an interface may be called anything; one raw quote breaks the scrape)."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def render_exposition(samples: Iterable[Sample]) -> str:
    """rtpengine's exposition text: HELP/TYPE once per name, before its first sample."""
    announced: set[str] = set()
    lines: list[str] = []
    for sample in samples:
        if sample.name not in announced:
            announced.add(sample.name)
            if sample.help:
                lines.append(f"# HELP {sample.name} {sample.help}")
            lines.append(f"# TYPE {sample.name} {sample.kind}")
        if sample.labels:
            labels = ",".join(f'{key}="{escape_label(value)}"' for key, value in sample.labels)
            lines.append(f"{sample.name}{{{labels}}} {sample.value}")
        else:
            lines.append(f"{sample.name} {sample.value}")
    return "".join(line + "\n" for line in lines)


def json_statistics(core) -> dict[str, Any]:
    """The shared stats view (imported late: it lives in the CLI engineer's module)."""
    from .statsview import json_statistics as view

    return view(core)


def metrics_text(core) -> str:
    """Body of ``GET /metrics`` for this daemon, computed now."""
    return render_exposition(metric_samples(json_statistics(core)))


def metric_families(stats: Mapping[str, Any]) -> list[Metric]:
    """The same samples grouped into prometheus-client families (first HELP of each name)."""
    families: dict[str, Metric] = {}
    for sample in metric_samples(stats):
        family = families.get(sample.name)
        if family is None:
            # prometheus-client names counter families without ``_total``; its samples keep it.
            base = sample.name.removesuffix("_total") if sample.kind == "counter" else sample.name
            family = families[sample.name] = Metric(base, sample.help, sample.kind)
        family.add_sample(sample.name, dict(sample.labels), float(sample.value))
    return list(families.values())


class RtpengineCollector(Collector):
    """prometheus-client collector over a daemon core, evaluated on every scrape."""

    def __init__(self, core) -> None:
        self.core = core

    def collect(self) -> Iterable[Metric]:
        return metric_families(json_statistics(self.core))
