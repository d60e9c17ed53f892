"""The call detail record of ``--log-facility-cdr``: one line per call as it ends; sans-I/O.

10.5 writes it to syslog as the call is destroyed (own calls only: a call another node
owns through Redis has no CDR here). The line is ``key=value, `` pairs, trailing
separator included: the call (its id, the ng client's address that created it, the last
signalling time, the TOS), then each party in the call's order (``ml0_``, ``ml1_``…):
start, end and duration with microseconds, why it ended, its tag and tag type and the
tags it receives from; then per media the payload type most of the party's packets came
with, and per stream (``ml0_midx1_rtp_``, ``…_rtcp_``; a fallback RTCP stream beside
rtcp-mux is left out) the party's address, our socket (``0.0.0.0:0`` once the party's
ports are closed, as after a delete that named its tag), the counters, the last packet's
time and the TOS received (always 0 here: the relay does not read it). The streams are
what ``query`` lists, so both read the same endpoints and counters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .query import party_dict

if TYPE_CHECKING:
    from .model import Call, CallMedia, Monologue

# Our reasons for ending a call (``calls.REASON_COUNTERS``) as 10.5 names them.
TERMINATIONS = {
    "regular": "REGULAR",
    "forced": "FORCED",
    "timeout": "TIMEOUT",
    "silent_timeout": "SILENT_TIMEOUT",
    "final_timeout": "FINAL_TIMEOUT",
    "offer_timeout": "OFFER_TIMEOUT",
}


def _time(seconds: float) -> str:
    micros = max(0, round(seconds * 1_000_000))
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _payload_type(media: CallMedia) -> str:
    """The payload type the party's RTP came with, if its SDP names it (10.5: "unknown"
    before any packet, or for a type the SDP does not list)."""
    rtp = media.rtp
    if rtp is None or rtp.stats.packets == 0:
        return "unknown"
    received = rtp.stats.payload_type
    return str(received) if received is not None and str(received) in media.rtpmaps \
        else "unknown"


def ending(call: Call, reason: str | None, now: float) -> tuple[float, str]:
    """When and why the call's parties ended. A delete (with a delay, or of the last branch
    on a delay) ended them when it came, as 10.5 notes it then; a timeout or an operator's
    ``terminate`` now. ``call <id> terminate`` gives no reason (None): 10.5 has none for
    it, but a delete before it still counts as the regular end."""
    deleted = call.terminated or max((m.terminated for m in call.monologues if m.terminated),
                                     default=None)
    if reason in ("regular", None) and deleted is not None:
        return deleted, "REGULAR"
    if reason is None:
        return now, "UNKNOWN"
    return now, TERMINATIONS.get(reason, "UNKNOWN")


def _party(index: int, mono: Monologue, end: float, termination: str, out: list[str]) -> None:
    prefix = f"ml{index}_"
    out += [f"{prefix}start_time={_time(mono.created)}",
            f"{prefix}end_time={_time(end)}",
            f"{prefix}duration={_time(end - mono.created)}",
            f"{prefix}termination={termination}",
            f"{prefix}local_tag={mono.tag or '(null)'}",
            f"{prefix}local_tag_type={mono.tag_type if mono.tag else 'UNKNOWN'}"]
    out += [f"{prefix}remote_tag={other.tag or '(null)'}"
            for other in (*mono.subscriptions, *mono.pubsub_subscriptions)]
    shown = party_dict(mono)["medias"]
    for media, entry in zip(mono.medias, shown, strict=True):
        out.append(f"payload_type={_payload_type(media)}")
        for stream in entry["streams"]:
            flags = stream["flags"]
            if "fallback RTCP" in flags:
                continue
            name = f"{prefix}midx{media.index}_{'rtcp' if flags[0] == 'RTCP' else 'rtp'}_"
            endpoint = stream["endpoint"]
            stats = stream["stats"]
            out += [f"{name}endpoint_ip={endpoint.get('address', '')}",
                    f"{name}endpoint_port={endpoint.get('port', 0)}",
                    f"{name}local_relay_ip={stream.get('local address', '0.0.0.0')}",
                    f"{name}local_relay_port={stream.get('local port', 0)}",
                    f"{name}relayed_packets={stats['packets']}",
                    f"{name}relayed_bytes={stats['bytes']}",
                    f"{name}relayed_errors={stats['errors']}",
                    f"{name}last_packet={stream['last packet']}",
                    f"{name}in_tos_tclass=0"]


def line(call: Call, reason: str | None, now: float) -> bytes:
    """The CDR of ``call`` ending now for ``reason`` (``CallManager.destroy``'s), its
    streams' counters read just before."""
    end, termination = ending(call, reason, now)
    out: list[Any] = [f"ci={call.call_id}", f"created_from={call.proxy}",
                      f"last_signal={int(call.last_signal)}", f"tos={call.tos}"]
    for index, mono in enumerate(call.monologues):
        _party(index, mono, end, termination, out)
    return ("".join(f"{item}, " for item in out)).encode()
