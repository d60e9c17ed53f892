"""What one media section of a request needs between plan, bind and commit, and the
small SDP reads the steps share (hold, trickle ICE, direction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import sdp as sdpmod
from ..model import CallMedia, Endpoint
from ..ngoptions import Options
from ..sdp import Connection, SessionDescription


@dataclass(init=False)
class _MediaWork:
    index: int
    section: sdpmod.MediaSection
    sender_media: CallMedia | None = None
    receiver_media: CallMedia | None = None
    endpoint: Endpoint | None = None
    sender_pool: Any = None
    receiver_pool: Any = None
    sender_count: int = 0
    receiver_count: int = 0
    sender_ports: list[tuple[int, Any]] = field(default_factory=list)
    receiver_ports: list[tuple[int, Any]] = field(default_factory=list)
    # The far side is back at an address the receiver had ports for: that earlier set
    # (``endpoint_maps.EarlierMap``), taken again instead of new ports; its key once taken.
    receiver_earlier: tuple | None = None
    receiver_key: Endpoint | None = None
    # A re-offer whose sender kept its protocol, to a party that has spoken: the party's
    # own protocol, which it keeps (10.5); None otherwise.
    kept_protocol: str | None = None
    # SDP facts of an accepted media (port not 0) that plan, commit and output all read,
    # worked out once: whether its party offers rtcp-mux (``_plan_media``) and the
    # direction it states (``_commit``).
    offers_mux: bool = False
    # rtcp-mux required of this media by an earlier one of the same offer whose leg uses
    # it already (10.5: that media sets the message's `require`, which the media after
    # it in the loop then see too)
    mux_forced: bool = False
    direction: str = "sendrecv"
    # An offer's ``codec: {transcode}`` (``_commit``): the format list sent on with the
    # codecs it added, and those codecs as (payload type, rtpmap text); empty: none added.
    sent_formats: list[str] = field(default_factory=list)
    added: list[tuple[str, str]] = field(default_factory=list)
    # A T.38 gateway (``t38``): the sender's own section (``section`` is what the other
    # party is shown) and each party's side of the gateway after this request.
    real_section: sdpmod.MediaSection | None = None
    gateways: tuple | None = None

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, index: int, section: sdpmod.MediaSection,
                 sender_media: CallMedia | None = None, receiver_media: CallMedia | None = None,
                 endpoint: Endpoint | None = None, sender_pool: Any = None,
                 receiver_pool: Any = None, sender_count: int = 0, receiver_count: int = 0,
                 sender_ports: list[tuple[int, Any]] | None = None,
                 receiver_ports: list[tuple[int, Any]] | None = None,
                 receiver_earlier: tuple | None = None, receiver_key: Endpoint | None = None,
                 kept_protocol: str | None = None, offers_mux: bool = False,
                 mux_forced: bool = False, direction: str = "sendrecv",
                 sent_formats: list[str] | None = None, added: list[tuple[str, str]] | None = None,
                 real_section: sdpmod.MediaSection | None = None, gateways: tuple | None = None) -> None:
        self.index = index
        self.section = section
        self.sender_media = sender_media
        self.receiver_media = receiver_media
        self.endpoint = endpoint
        self.sender_pool = sender_pool
        self.receiver_pool = receiver_pool
        self.sender_count = sender_count
        self.receiver_count = receiver_count
        self.sender_ports = [] if sender_ports is None else sender_ports
        self.receiver_ports = [] if receiver_ports is None else receiver_ports
        self.receiver_earlier = receiver_earlier
        self.receiver_key = receiver_key
        self.kept_protocol = kept_protocol
        self.offers_mux = offers_mux
        self.mux_forced = mux_forced
        self.direction = direction
        self.sent_formats = [] if sent_formats is None else sent_formats
        self.added = [] if added is None else added
        self.real_section = real_section
        self.gateways = gateways


def _held(parsed: SessionDescription, index: int, conn: Connection) -> bool:
    """c=0.0.0.0 is a hold, except with ICE (trickle ICE offers: candidates give the address)."""
    return conn.is_zero and not parsed.has_ice(index)


def _trickles(parsed: SessionDescription, index: int) -> bool:
    options = [*parsed.session_attributes("ice-options"),
               *parsed.medias[index].attributes("ice-options")]
    return any("trickle" in value.split() for value in options)


def _direction(parsed: SessionDescription, index: int, conn: Connection) -> str:
    """The media's direction; c=0.0.0.0 (old-style hold) means the party receives nothing."""
    direction = parsed.direction(index) or "sendrecv"
    # 10.5 reads c=0.0.0.0 as a hold even with ICE, unless the party trickles its
    # candidates (a=ice-options:trickle: the address comes later).
    if conn.is_zero and not _trickles(parsed, index):
        return {"sendrecv": "sendonly", "recvonly": "inactive"}.get(direction, direction)
    return direction


def parsed_text(parsed: SessionDescription) -> str:
    return "".join(line.text for line in parsed.session)


def _needs_ports(media: CallMedia | None) -> bool:
    if media is None or not media.streams:
        return True
    for stream in media.streams:  # (a loop, not any(): asked for every media twice a request)
        if stream.closed:
            return True
    return False


def _never_bound(media: CallMedia) -> bool:
    """``media`` has streams that never had ports (refused from its first offer)."""
    return bool(media.streams) and all(stream.closed and not stream.port
                                       for stream in media.streams)


def _uses_source(config: Any, opts: Options) -> bool:
    """Whether media addresses come from ``received from`` (not the SDP)."""
    return bool(config.sip_source) if opts.sip_source is None else opts.sip_source


def _source_medias(parsed: SessionDescription) -> int:
    """How many of the SDP's medias, from the first, take their address from ``received
    from`` when the signalling source is used: 10.5 trusts the SDP from the first media
    with ICE on, for it and every later one."""
    return next((index for index in range(len(parsed.medias)) if parsed.has_ice(index)),
                len(parsed.medias))
