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
    # --graphite's interval figures; None without the option (nothing to gather then).
    graphite: IntervalTally | None = None

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
            tally = self.graphite
            if tally is not None and not error:  # (10.5's interval counts only successes)
                tally.command(index, int(duration * 1_000_000))
        if error:
            entry.errors += 1

    def call_added(self, call_id: str, created: float, count: int) -> None:
        """A call came: ``count`` calls now (``--graphite``'s session gauge and call time)."""
        tally = self.graphite
        if tally is not None:
            tally.sessions(count)
            tally.recent[call_id] = created

    def call_removed(self, call_id: str, count: int) -> None:
        """A call went: ``count`` calls now."""
        tally = self.graphite
        if tally is not None:
            tally.sessions(count)
            tally.recent.pop(call_id, None)

    def record_call_end(self, duration_s: float) -> None:
        """Add one finished own call's duration (rtpengine sums these for the averages)."""
        self.managed_sessions += 1
        duration_us = int(duration_s * 1_000_000)
        self.total_calls_duration_us += duration_us
        self.total_calls_duration2_ms += (duration_us // 1000) ** 2


# -- --graphite's interval figures (see rtpengined.graphite) ------------------------------

def lower_min(current: int, value: int) -> int:
    """10.5's running minimum, where 0 stands for "none yet"."""
    return current if current and current <= value else value


@dataclass
class Shown:
    """The figures of the last report that the statistics views show (µs for times)."""

    calls_duration_us: int = 0
    sessions_min: int = 0
    sessions_max: int = 0
    time_min: list[int] = field(default_factory=lambda: [0] * len(NG_COMMANDS))
    time_max: list[int] = field(default_factory=lambda: [0] * len(NG_COMMANDS))
    time_avg: list[int] = field(default_factory=lambda: [0] * len(NG_COMMANDS))
    rate_min: list[int] = field(default_factory=lambda: [0] * len(NG_COMMANDS))
    rate_max: list[int] = field(default_factory=lambda: [0] * len(NG_COMMANDS))
    rate_avg: list[int] = field(default_factory=lambda: [0] * len(NG_COMMANDS))


class IntervalTally:
    """What one interval gathers, and what the last report showed (``shown``)."""

    def __init__(self, started: float, interval: int) -> None:
        count = len(NG_COMMANDS)
        self.interval = interval  # (seconds, as configured: call_dur counts it per call)
        self.started = started  # the start of this interval (the daemon's clock)
        self.succeeded = [0] * count  # since the start (the ``_count`` lines)
        # each command's processing time (µs) this interval: min, max, sum, number
        self.time_min = [0] * count
        self.time_max = [0] * count
        self.time_sum = [0] * count
        self.time_count = [0] * count
        # each command's per-second rate at the once-a-second samples this interval
        self.rate_min = [0] * count
        self.rate_max = [0] * count
        self.rate_sum = [0] * count
        self.samples = 0
        self.sampled = [0] * count  # ``succeeded`` at the last sample
        self.managed_at_sample = 0
        self.sessions_min = 0
        self.sessions_max = 0
        # the calls that came this interval and are still there: call-id -> created
        self.recent: dict[str, float] = {}
        # the counters at the last report (``graphite.report``: its lines show the change)
        self.base: dict[str, int] = {}
        self.base_managed = 0
        self.base_duration_us = 0
        self.shown = Shown()

    def command(self, index: int, micros: int) -> None:
        """A command that succeeded, and its processing time."""
        self.succeeded[index] += 1
        self.time_min[index] = lower_min(self.time_min[index], micros)
        if micros > self.time_max[index]:
            self.time_max[index] = micros
        self.time_sum[index] += micros
        self.time_count[index] += 1

    def sessions(self, count: int) -> None:
        """The number of sessions changed to ``count``."""
        self.sessions_min = lower_min(self.sessions_min, count)
        if count > self.sessions_max:
            self.sessions_max = count

    def sample(self, elapsed_us: int | None, managed: int) -> None:
        """The once-a-second sample: each command's rate since the last one (``elapsed_us``
        ago; None at the first, which only sets the base)."""
        if elapsed_us is not None and elapsed_us > 0:
            for index, total in enumerate(self.succeeded):
                rate = (total - self.sampled[index]) * 1_000_000 // elapsed_us
                self.rate_min[index] = lower_min(self.rate_min[index], rate)
                if rate > self.rate_max[index]:
                    self.rate_max[index] = rate
                self.rate_sum[index] += rate
            self.samples += 1
        self.sampled = list(self.succeeded)
        self.managed_at_sample = managed

    def close_interval(self, sessions_now: int, calls_duration_us: int) -> Shown:
        """End the interval: what it showed, and the next one's starting values (10.5
        starts the session gauge at the current count, everything else at 0)."""
        samples = self.samples
        shown = Shown(
            calls_duration_us, self.sessions_min, self.sessions_max,
            self.time_min, self.time_max,
            [total // number if number else 0
             for total, number in zip(self.time_sum, self.time_count, strict=True)],
            self.rate_min, self.rate_max,
            [total // samples if samples else 0 for total in self.rate_sum])
        count = len(NG_COMMANDS)
        self.time_min, self.time_max = [0] * count, [0] * count
        self.time_sum, self.time_count = [0] * count, [0] * count
        self.rate_min, self.rate_max, self.rate_sum = [0] * count, [0] * count, [0] * count
        self.samples = 0
        self.sessions_min = self.sessions_max = sessions_now
        self.shown = shown
        return shown
