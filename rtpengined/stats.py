"""Raw counters of the daemon, the one source every view reads.

``list totals``, ``list jsonstats``, ng ``statistics`` and ``/metrics`` all render from
``Stats`` plus the live call model; nothing else keeps numbers. Counters here are only
ever incremented by the command core and the call lifecycle.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .quality import Totals

# ng commands in rtpengine's order: (long name used in texts, short name used in keys
# of controlstatistics, column title of the `list totals` proxy table).
NG_COMMANDS: list[tuple[str, str, str]] = [
    ("ping", "ping", "Ping"),
    ("offer", "offer", "Offer"),
    ("answer", "answer", "Answer"),
    ("delete", "delete", "Delete"),
    ("query", "query", "Query"),
    ("list", "list", "List"),
    ("start recording", "startrec", "StartRec"),
    ("stop recording", "stoprec", "StopRec"),
    ("start forwarding", "startfwd", "StartFwd"),
    ("stop forwarding", "stopfwd", "StopFwd"),
    ("block DTMF", "blkdtmf", "BlkDTMF"),
    ("unblock DTMF", "unblkdtmf", "UnblkDTMF"),
    ("block media", "blkmedia", "BlkMedia"),
    ("unblock media", "unblkmedia", "UnblkMedia"),
    ("play media", "playmedia", "PlayMedia"),
    ("stop media", "stopmedia", "StopMedia"),
    ("play DTMF", "playdtmf", "PlayDTMF"),
    ("statistics", "stats", "Stats"),
    ("silence media", "slnmedia", "SlnMedia"),
    ("unsilence media", "unslnmedia", "UnslnMedia"),
    ("publish", "pub", "Pub"),
    ("subscribe request", "subreq", "SubReq"),
    ("subscribe answer", "subans", "SubAns"),
    ("unsubscribe", "unsub", "Unsub"),
]
NG_COMMAND_INDEX = {long: i for i, (long, _, _) in enumerate(NG_COMMANDS)}


@dataclass
class ProxyStats:
    """Per ng client IP: how often and how long each command ran, and errors."""

    counts: list[int] = field(default_factory=lambda: [0] * len(NG_COMMANDS))
    durations: list[float] = field(default_factory=lambda: [0.0] * len(NG_COMMANDS))
    errors: int = 0


@dataclass
class Stats:
    """Totals since start. Live per-stream counters stay on the streams themselves."""

    clock: Callable[[], float] = time.time
    started: float = 0.0
    managed_sessions: int = 0
    rejected_sessions: int = 0
    timeout_sessions: int = 0
    silent_timeout_sessions: int = 0
    final_timeout_sessions: int = 0
    offer_timeout_sessions: int = 0
    regular_terminated_sessions: int = 0
    forced_terminated_sessions: int = 0
    # Packets/bytes/errors of streams that are already closed; live streams add theirs.
    closed_packets: int = 0
    closed_bytes: int = 0
    closed_errors: int = 0
    zeroway_streams: int = 0
    # MOS (x 10) from the parties' RTCP (``quality``): sum, sum of squares, samples.
    mos: Totals = field(default_factory=Totals)
    oneway_streams: int = 0
    total_calls_duration_us: int = 0
    total_calls_duration2_ms: int = 0
    proxies: dict[str, ProxyStats] = field(default_factory=dict)
    # Per-second rates of the last once-a-second sample (statsview.sample_rates) and the
    # totals they were measured from.
    rate_packets: int = 0
    rate_bytes: int = 0
    rate_errors: int = 0
    rate_sampled_at: float = 0.0
    rate_base: tuple[int, int, int] = (0, 0, 0)
    # The same for each transcoder chain ("PCMU/8000 -> PCMA/8000"): (packets, bytes,
    # samples) at the last sample, and their per-second rates since the one before.
    transcoder_base: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    transcoder_rates: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.started:
            self.started = self.clock()

    @property
    def uptime(self) -> int:
        return int(self.clock() - self.started)

    def register_proxy(self, proxy: str) -> ProxyStats:
        """The entry of ng client ``proxy`` (its IP text), created when it first sends
        anything: 10.5 lists a proxy from its first message on, so a ``statistics`` request
        already shows the proxy asking (before its own count is added)."""
        entry = self.proxies.get(proxy)
        if entry is None:
            entry = self.proxies[proxy] = ProxyStats()
        return entry

    def record_command(self, proxy: str, command: str, duration: float, error: bool) -> None:
        """Count one ng command from client ``proxy`` (its IP text)."""
        entry = self.register_proxy(proxy)
        index = NG_COMMAND_INDEX.get(command)
        if index is not None:
            entry.counts[index] += 1
            entry.durations[index] += duration
        if error:
            entry.errors += 1

    def record_call_end(self, duration_s: float) -> None:
        """Add one finished own call's duration (rtpengine sums these for the averages)."""
        self.managed_sessions += 1
        duration_us = int(duration_s * 1_000_000)
        self.total_calls_duration_us += duration_us
        self.total_calls_duration2_ms += (duration_us // 1000) ** 2
