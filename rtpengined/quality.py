"""Call quality from the parties' RTCP (MOS, jitter, loss, round-trip times), as rtpengine
10.5 reckons and reports it; sans-I/O.

The relay passes the parties' RTCP on untouched, but reads what it says
(``media.rtcp_report.parse``, in the relay workers): a
sender report's NTP time is remembered with the time it arrived; a receiver report block
(in an SR or RR) about another party's SSRC gives, as 10.5 computes them:

- the round-trip time of the reporting party's leg: the report's arrival less the arrival
  of the sender report it names (LSR) less the delay it states (DLSR); kept only between 0
  and 10 s;
- the whole path's: that leg's plus the other leg's (the last one the other party's own
  reports about the reporter's SSRC gave), 0 until both are known;
- jitter in ms (the reported units over the reported stream's clock rate: a report about
  an SSRC whose payload type is not known is dropped, as 10.5 drops it), packet loss in
  per cent of the fraction lost;
- nothing at all from a block that names no sender report (LSR or DLSR 0): 10.5 drops it;
- a MOS (x 10) from those, PingPlotter's formula (10.5's ``mos_calc``, MOS-CQ: none without
  the whole path's round-trip time).

The figures go to the reporter's own SSRC (at most one block a second is kept): ``query``,
``delete`` and ``list``-style replies show them under ``SSRC`` (average, lowest, highest
MOS and about ten entries of its progression), and the daemon's MOS totals count each MOS.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_TIMES = 10  # sender reports remembered per SSRC (10.5)
MAX_BLOCKS = 1_000  # stats blocks kept per SSRC (a long call's progression stays bounded)
MAX_SSRCS = 32  # SSRCs kept per party (RTCP naming ever new ones cannot grow it: the
# oldest go, as 10.5's SSRC table drops its least recently used)


def mos(rtt_us: int, jitter_ms: int, loss_pct: int, listening: bool = False) -> int:
    """MOS x 10 (10 to 50; 0: no MOS), 10.5's arithmetic. Conversational quality (CQ, the
    default): none without a round-trip time; ``listening`` (``--mos=LQ``): worked out
    without one too, as if it were 0 (10.5 still counts one it has: the two differ only
    where there is none)."""
    if not rtt_us and not listening:
        return 0
    effective = rtt_us // 1000 + jitter_ms * 2 + 10
    r = 93.2 - effective / 40.0 if effective < 160 else 93.2 - (effective - 120) / 10.0
    r -= loss_pct * 2.5
    if r < 0:
        return 10
    value = int((1.0 + 0.035 * r + 0.000007 * r * (r - 60) * (100 - r)) * 10.0)
    return value if value >= 10 else 0


@dataclass(slots=True)
class Block:
    """One receiver report's figures (10.5's stats block)."""

    mos: int
    rtt: int  # the whole path, µs (0: not known)
    rtt_leg: int  # the reporter's leg, µs
    jitter: int  # ms
    loss: int  # per cent
    reported: float  # wall clock

    def as_dict(self, with_time: bool = True) -> dict:
        """As a query shows it (``with_time``: with ``reported at``, not for an average)."""
        out = {"MOS": self.mos, "round-trip time": self.rtt, "round-trip time leg":
               self.rtt_leg, "jitter": self.jitter, "packet loss": self.loss}
        if with_time:
            out["reported at"] = int(self.reported)
        return out


@dataclass(slots=True)
class SsrcQuality:
    """What is known about one SSRC: its sender reports' times, the last round-trip time
    measured for it, and the figures its own receiver reports gave."""

    times: deque = field(default_factory=lambda: deque(maxlen=MAX_TIMES))
    xr_times: deque = field(default_factory=lambda: deque(maxlen=MAX_TIMES))  # (XR)
    last_rtt: int = 0
    last_rtt_xr: int = 0  # ms, from XR VoIP metrics: stands for the whole path's
    lost: int = 0  # cumulative loss, as last reported by it
    blocks: deque = field(default_factory=lambda: deque(maxlen=MAX_BLOCKS))
    no_mos: int = 0
    sums: list = field(default_factory=lambda: [0, 0, 0, 0, 0])  # mos, rtt, leg, jitter, loss
    lowest: Block | None = None
    highest: Block | None = None

    def samples(self) -> int:
        """The blocks the average MOS is over (those with a MOS; at least one, as 10.5)."""
        return max(len(self.blocks) - self.no_mos, 1)

    def as_dict(self) -> dict | None:
        """The ``SSRC`` entry of a query reply (None: nothing to show yet)."""
        if not self.blocks or self.lowest is None or self.highest is None:
            return None
        samples = self.samples()
        average = Block(*(value // samples for value in self.sums), 0.0).as_dict(False)
        average["samples"] = samples
        first = self.blocks[0]
        interval = int(self.blocks[-1].reported) - int(first.reported)
        interval //= 10
        entries, next_step = [], int(first.reported)
        for block in self.blocks:
            if int(block.reported) < next_step:
                continue
            next_step += interval
            entries.append(block.as_dict())
        return {
            "cumulative loss": self.lost,
            "average MOS": average,
            "lowest MOS": self.lowest.as_dict(),
            "highest MOS": self.highest.as_dict(),
            "MOS progression": {"interval": interval, "entries": entries},
        }


class Totals:
    """The daemon's MOS totals (``statistics``, ``list totals``, ``/metrics``)."""

    __slots__ = ("mos", "mos2", "samples")

    def __init__(self) -> None:
        self.mos = self.mos2 = self.samples = 0


def sender_report(party: dict, ssrc: int, middle: int, wall: float) -> None:
    """A sender report from the party (``party``: its SSRCs' ``SsrcQuality``)."""
    _entry(party, ssrc).times.append((middle, wall))


def receiver_report(reporter: dict, others: list, block: tuple, wall: float,
                    clock_rate: int | None, totals: Totals, listening: bool = False) -> None:
    """A report block the party (``reporter``: its SSRCs) sent about an SSRC of one of
    ``others`` (the parties it receives from); ``clock_rate``: the reported stream's."""
    source, ssrc, fraction, cumulative, jitter, lsr, dlsr = block
    rtt = _round_trip(others, ssrc, lsr, dlsr, wall)
    own = _entry(reporter, source)
    if clock_rate is None or not lsr or not dlsr:
        # (10.5: no payload type known for the reported SSRC, the report is dropped; a
        # block naming no sender report, LSR or DLSR 0, never gets as far as looking the
        # payload type up, so it is dropped too: a callee reporting before the caller's
        # first SR opens no MOS-less entry)
        return
    jitter_ms = jitter * 1000 // clock_rate if clock_rate else jitter
    whole = rtt + own.last_rtt if own.last_rtt else 0
    if own.last_rtt_xr > 0:  # (XR VoIP metrics' round-trip delay, as 10.5 prefers it)
        whole = own.last_rtt_xr * 1000
    entry = Block(0, whole, rtt, jitter_ms, fraction * 100 // 256, wall)
    entry.mos = mos(whole, jitter_ms, entry.loss, listening)
    own.lost = cumulative
    if entry.mos:
        totals.mos += entry.mos
        totals.mos2 += entry.mos * entry.mos
        totals.samples += 1
    if own.blocks and wall - own.blocks[-1].reported < 1.0:
        return  # (at most one a second is kept)
    own.blocks.append(entry)
    if entry.mos and (own.lowest is None or entry.mos < own.lowest.mos):
        own.lowest = entry
    if own.highest is None or entry.mos > own.highest.mos:
        own.highest = entry
    if not entry.mos:
        own.no_mos += 1
    else:
        for index, value in enumerate((entry.mos, entry.rtt, entry.rtt_leg, entry.jitter,
                                       entry.loss)):
            own.sums[index] += value


def _entry(party: dict, ssrc: int) -> SsrcQuality:
    entry = party.get(ssrc)
    if entry is None:
        entry = party[ssrc] = SsrcQuality()
        while len(party) > MAX_SSRCS:
            del party[next(iter(party))]
    return entry


def extended_report(reporter: dict, others: list, item: tuple, wall: float) -> None:
    """One XR item (``rtcp_report.parse``): a receiver reference time is kept like a
    sender report's; a DLRR names one, giving the reporter's leg's round-trip time; VoIP
    metrics' round-trip delay stands for the whole path's in the reporter's figures."""
    kind = item[0]
    if kind == "time":
        _entry(reporter, item[1]).xr_times.append((item[2], wall))
    elif kind == "dlrr":
        _round_trip(others, item[2], item[3], item[4], wall, xr=True)
    elif kind == "rtt":
        _entry(reporter, item[2]).last_rtt_xr = item[3]


def _round_trip(others: list, ssrc: int, lsr: int, dlsr: int, wall: float,
                xr: bool = False) -> int:
    """The reporter's leg's round-trip time (µs) from the sender report (``xr``: the XR
    receiver reference time) of ``ssrc`` it names, noted on that SSRC for the other
    side's whole-path figure; 0: none."""
    if not lsr or not dlsr:
        return 0
    for party in others:
        entry = party.get(ssrc)
        if entry is None:
            continue
        for middle, arrived in reversed(entry.xr_times if xr else entry.times):
            if middle == lsr:
                rtt = round((wall - arrived) * 1_000_000) - dlsr * 1_000_000 // 65536
                if not 0 < rtt <= 10_000_000:
                    return 0
                entry.last_rtt = rtt
                return rtt
        return 0
    return 0


def note(monologues: list, stream, wall: float, senders: list, blocks: list,
         totals: Totals, extended: Sequence = (), listening: bool = False) -> None:
    """RTCP the relay read on ``stream`` (one of these parties'): its sender reports and
    report blocks go to the party that sent them (``Monologue.quality``); ``listening``:
    MOS as listening quality (``--mos=LQ``)."""
    party = media = None
    for monologue in monologues:
        for each in monologue.medias:
            if stream in each.streams:
                party, media = monologue, each
                break
        if party is not None:
            break
    if party is None:
        return
    own = party.quality
    if own is None:
        own = party.quality = {}
    for ssrc, middle in senders:
        sender_report(own, ssrc, middle, wall)
    if not (blocks or extended):
        return
    others = [m.quality for m in monologues if m is not party and m.quality is not None]
    for item in extended:
        extended_report(own, others, item, wall)
    for block in blocks:
        receiver_report(own, others, block, wall, _clock_rate(monologues, party, media, block[1]),
                        totals, listening)


def _clock_rate(monologues: list, party, media, ssrc: int) -> int | None:
    """The clock rate of the payload type the reported SSRC last came in with, on the way
    to ``party``'s ``media`` (None: not known, as 10.5 then has no payload type)."""
    ours = set(map(id, media.streams))
    for monologue in monologues:
        if monologue is party:
            continue
        for each in monologue.medias:
            for stream in each.streams:
                sink = stream.sink
                if (sink is not None and id(sink) in ours and stream.stats.ssrc == ssrc
                        and stream.stats.payload_type is not None):
                    text = each.rtpmaps.get(str(stream.stats.payload_type), "")
                    parts = text.split("/")
                    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    return None


def ssrc_entries(monologues: list) -> dict:
    """The ``SSRC`` part of a query/delete reply: each SSRC with figures, by its number."""
    out: dict = {}
    for monologue in monologues:
        for ssrc, entry in (monologue.quality or {}).items():
            key = str(ssrc)
            if key in out:
                continue
            shown = entry.as_dict()
            if shown is not None:
                out[key] = shown
    return out
