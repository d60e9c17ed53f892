"""Endpoint maps: which local ports a party's media has for which far address.

rtpengine 10.5 keeps, per media, one set of local ports for every far (RTP) address a
re-offer or re-answer moved the other party to. Ports stay bound for the whole call; a
party that comes back to an address it had gets the very ports it had there (a re-INVITE
to sendonly from another port, then back, shows the first ports again). Here the ports in
use are the media's streams, keyed by ``CallMedia.bound_endpoint``; the others are
``CallMedia.earlier_maps``, whose streams the call keeps retired (``Call.retired_streams``)
until the call ends or this module's lookup hands them out again. A refused media (port 0)
keeps its ports the same way (10.5 only unhooks them from its streams): bound for the far
address they had, or for none yet (10.5's wildcard map, taken by whatever comes first).

Plain bookkeeping: taking the sockets back is the call manager's (``CallManager.reclaim``).
"""

from __future__ import annotations

from ..model import Call, CallMedia, Endpoint, Interface, Stream

# (the far address the ports were bound for, None for ports not yet answered for; their
# retired streams)
EarlierMap = tuple[Endpoint | None, tuple[Stream, ...]]


def _unspecified(endpoint: Endpoint) -> bool:
    return endpoint.address in ("0.0.0.0", "::")


def same_far_end(key: Endpoint, endpoint: Endpoint) -> bool:
    """Whether ports bound for ``key`` serve ``endpoint``: the same address and port, or,
    when either address is a zero one (a hold), the same port (10.5)."""
    if _unspecified(key) or _unspecified(endpoint):
        return key.port == endpoint.port
    return key == endpoint


def key_after(key: Endpoint | None, endpoint: Endpoint) -> Endpoint:
    """The key of the ports in use once ``endpoint`` was given for them: ``endpoint`` for
    ports not yet answered for (10.5's wildcard map) or for a zero address of the same port
    (filled in); else the key stays (a party ICE or ``port-latching`` keeps on its ports
    wherever it goes is still looked up by the address they were bound for)."""
    if key is None or (_unspecified(key) and not _unspecified(endpoint)
                       and key.port == endpoint.port):
        return endpoint
    return key


def remember(media: CallMedia, old: list[Stream], new: list[Stream]) -> None:
    """``media``'s ports in use (``old``) were just replaced by ``new``: keep them for the far
    address they were bound for, if each has a successor to relay as (only those stay
    bound and can be taken again) and they were bound for an address at all."""
    key = media.bound_endpoint
    if key is None or len(old) != len(new) or any(stream.closed for stream in old):
        return
    media.earlier_maps = (*media.earlier_maps, (key, tuple(old)))


def hold_refused(media: CallMedia, streams: tuple[Stream, ...]) -> None:
    """``media`` was refused (port 0): its ports in use (``streams``, held bound by the
    call) are kept for the far address they were bound for, or for any (none yet)."""
    media.earlier_maps = (*media.earlier_maps, (media.bound_endpoint, streams))


def refused_ports(media: CallMedia, endpoint: Endpoint | None, count: int,
                  interface: Interface, call: Call, any_address: bool) -> EarlierMap | None:
    """A refused ``media`` (its streams closed) is accepted again: the ports it was refused
    with, if 10.5 would take that set again: the newest set on ``interface`` with at least
    ``count`` ports, bound for ``endpoint`` or for no address yet, or for any with
    ``any_address`` (ICE on the leg, port latching). All of them are taken (10.5 gives a
    media on rtcp-mux both ports of a pair it had)."""
    if not media.earlier_maps:
        return None
    retired = {id(stream) for stream in call.retired_streams}
    for entry in reversed(media.earlier_maps):
        key, streams = entry
        if streams[0].interface != interface:
            continue
        if not (key is None or any_address
                or (endpoint is not None and same_far_end(key, endpoint))):
            continue
        usable = len(streams) >= count and all(
            id(stream) in retired and stream.sock is not None and not stream.alternates
            for stream in streams)
        return entry if usable else None
    return None


def earlier_ports(media: CallMedia, endpoint: Endpoint, count: int, interface: Interface,
                  call: Call) -> EarlierMap | None:
    """The earlier ports of ``media`` for the far ``endpoint`` to take again, on
    ``interface``, ``count`` of them: the newest set bound there for an address that
    ``same_far_end`` matches (10.5 looks no further once one matches). None if there is
    none, or it cannot serve: another number of ports (10.5 would rebind it, reuse a
    bigger set for fewer; both get new ports here), ports that no longer relay (released
    since), or ICE sockets on other addresses (not tracked per set)."""
    for entry in reversed(media.earlier_maps):
        key, streams = entry
        if key is None:  # (a refused media's: taken again by ``refused_ports`` only)
            continue
        if streams[0].interface != interface or not same_far_end(key, endpoint):
            continue
        retired = {id(stream) for stream in call.retired_streams}
        usable = len(streams) == count and all(
            id(stream) in retired and stream.sock is not None and not stream.alternates
            for stream in streams)
        return entry if usable else None
    return None


def forget(media: CallMedia, entry: EarlierMap) -> None:
    """``entry``'s ports are taken again: no longer an earlier set of ``media``."""
    media.earlier_maps = tuple(e for e in media.earlier_maps if e is not entry)
