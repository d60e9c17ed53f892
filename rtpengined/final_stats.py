"""The "Final packet stats" block 10.5 logs at info level as a call ends; sans-I/O.

Per party its tag, how long ago it was created and its via-branch, the tags it is
subscribed to and those subscribed to it; per media its index, type, protocol and the
codec its RTP came with; per stream our socket, the party's address, the SSRC received,
the packets, bytes and errors received and the seconds since the last packet::

    Final packet stats:
    --- Tag 'ft', created 0:01 ago for branch ''
    ---     subscribed to 'tt'
    ---     subscription for 'tt'
    ------ Media #1 (audio over RTP/AVP) using PCMU/8000
    --------- Port       127.0.0.1:30018 <>       127.0.0.1:43758, SSRC 1234abcd, 5 p, 860 b, 0 e, 1 ts

What 10.5 deems private (tags, branches, the party's address, the SSRC) goes between the
log marks (``log_context.Context.mark``). The counters are the ones ``query`` shows, read
from the relay just before (``CallManager.destroy``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Call, Endpoint, Monologue, Stream

HEADING = "Final packet stats:"


def note_codecs(call: Call) -> None:
    """Each media's codec as the payload type of its last RTP packet names it (what
    ``query`` and the CLI show once media flowed); counters refreshed before."""
    for mono in call.monologues:
        for media in mono.medias:
            rtp = media.rtp
            if rtp is None or rtp.stats.packets == 0:
                continue
            received = rtp.stats.payload_type
            if received is not None:
                # A type the party's SDP does not name gives no codec (10.5).
                if str(received) in media.rtpmaps:
                    media.codec = media.rtpmaps[str(received)]
            elif media.codec is None:  # the relay does not tell: the party's first codec
                pt = media.formats[0] if media.formats else None
                if pt is not None and pt in media.rtpmaps:
                    media.codec = media.rtpmaps[pt]


def endpoint_text(endpoint: Endpoint | None) -> str:
    """An address as 10.5 pads it in these blocks (none: blanks and port 0)."""
    if endpoint is None or not endpoint.address:
        return f"{'':>15}:{0:<5}"
    return f"{endpoint.address:>15}:{endpoint.port:<5}"


def lines(call: Call, now: float, mark: Callable[[str], str] = str) -> list[str]:
    """The block's lines for ``call`` ending at ``now``."""
    out = [HEADING]
    for mono in call.monologues:
        _party(mono, now, mark, out, call.created)
    return out


def _mos_lines(mono: Monologue, created: float, mark: Callable[[str], str]) -> list[str]:
    """The party's SSRCs with MOS figures from its RTCP (``quality``), as 10.5 adds them:
    the average, lowest and highest MOS (when, from the call's start) and the loss."""
    out = []
    for ssrc, entry in (mono.quality or {}).items():
        lowest, highest = entry.lowest, entry.highest
        if not entry.blocks or lowest is None or highest is None:
            continue
        average = entry.sums[0] // entry.samples()
        out.append(f"--- SSRC {mark(format(ssrc, 'x'))}")
        out.append(f"------ Average MOS {average // 10}.{average % 10}, lowest MOS "
                   f"{lowest.mos // 10}.{lowest.mos % 10} (at "
                   f"{_minutes(lowest.reported - created)}), highest MOS "
                   f"{highest.mos // 10}.{highest.mos % 10} (at "
                   f"{_minutes(highest.reported - created)}) lost:{entry.lost}")
    return out


def _minutes(seconds: float) -> str:
    """``M:SS`` of a span, as 10.5 writes ages and times in the block (none below 0)."""
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def _party(mono: Monologue, now: float, mark: Callable[[str], str], out: list[str],
           created: float) -> None:
    out.append(f"--- Tag '{mark(mono.tag)}', created {_minutes(now - mono.created)} ago for "
               f"branch '{mark(mono.via_branch)}'")
    out += [f"---     subscribed to '{mark(other.tag)}'"
            for other in (*mono.subscriptions, *mono.pubsub_subscriptions)]
    out += [f"---     subscription for '{mark(other.tag)}'"
            for other in (*mono.subscribers, *mono.pubsub_subscribers)]
    for media in mono.medias:
        out.append(f"------ Media #{media.index} ({media.type} over {media.protocol}) using "
                   f"{media.codec or 'unknown codec'}")
        for stream in sorted(media.streams, key=lambda s: s.rtcp):
            age = max(0, int(now - last_seen(stream, mono)))
            out.append(port_line("---------", stream, age, mark))
    if mono.quality:
        out += _mos_lines(mono, created, mark)


def last_seen(stream: Stream, mono: Monologue) -> float:
    """When the stream last carried a packet (else when it, or its party, was made)."""
    return stream.stats.last_packet or stream.created or mono.created


def port_line(dashes: str, stream: Stream, ts: int, mark: Callable[[str], str] = str) -> str:
    """One stream's line (``list sessions`` gives ``ts`` as a time, the final stats as an age)."""
    stats = stream.stats
    remote = stream.endpoint if stream.endpoint is not None else stream.advertised
    return (f"{dashes} Port {stream.interface.address:>15}:{stream.port:<5} <> "
            f"{mark(endpoint_text(remote))}{' (RTCP)' if stream.rtcp else ''}, "
            f"SSRC {mark(format(stats.ssrc, 'x'))}, {stats.packets} p, {stats.bytes} b, "
            f"{stats.errors} e, {ts} ts")
