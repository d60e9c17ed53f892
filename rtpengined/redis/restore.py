"""Turn a stored call back into a live one: model objects, its old ports bound again.

Synchronous and trio-free: the stored description comes from ``layout.decode_call``; the
sockets go through the call manager's port pools (their binder), and the media plane is
told to relay every stream, exactly as after an offer/answer. A call whose ports cannot
all be bound is not added at all (its bound ports are given back) and ``RestoreError``
says why, so the caller can drop the stored copy.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from .. import codec_negotiation as negotiation
from .. import dtmf_block, dtmf_log
from ..media.reception import clock_rates
from ..media.rtcp_feedback import known_mask
from ..model import Call, CallMedia, Interface, Monologue, Stream, StreamStats, media_by_stream
from ..ng_extended import apply_media_blocks
from ..offer_answer import feedback
from ..offer_answer.sdes import NO_KEY, report_keys, rtcp_keys, set_keys
from ..offer_answer.session import report_spec
from ..ports import set_tos
from .layout import (
    MEDIA_ASYMMETRIC,
    MEDIA_ICE,
    MEDIA_ICE_CONTROLLING,
    MEDIA_INITIALIZED,
    MEDIA_PASSTHRU,
    MEDIA_PTIME_OVERRIDE,
    MEDIA_RECV,
    MEDIA_RTCP_GEN,
    MEDIA_RTCP_MUX,
    MEDIA_SDES,
    MEDIA_SEND,
    MEDIA_TRANSCODE,
    MEDIA_UNIDIRECTIONAL,
    StoredCall,
)

if TYPE_CHECKING:
    from ..calls import CallManager
    from ..ports import PortPool


class RestoreError(Exception):
    """A stored call that cannot be brought back on this node.

    ``busy``: a port was still in use (the relay workers of a daemon that just died may
    hold it for a moment); trying again shortly may succeed.
    """

    def __init__(self, message: str, busy: bool = False) -> None:
        super().__init__(message)
        self.busy = busy


def interface_index(manager: CallManager) -> dict[tuple[str, str], int]:
    """(address, name) → position among the name's addresses of one family (``local_intf_uid``)."""
    index: dict[tuple[str, str], int] = {}
    seen: dict[tuple[str, str], int] = {}
    for pool in manager.port_pools:
        intf = pool.interface
        key = (intf.name, intf.family)
        index[(intf.address, intf.name)] = seen.get(key, 0)
        seen[key] = seen.get(key, 0) + 1
    return index


def _pool(manager: CallManager, name: str, family: str, uid: int) -> PortPool:
    fam = "IPv6" if family == "IP6" else "IPv4"
    pools = [p for p in manager.port_pools
             if p.interface.name == name and p.interface.family == fam]
    if not pools:
        raise RestoreError(f"no interface {name!r} of family {fam}")
    if not 0 <= uid < len(pools):
        raise RestoreError(f"interface {name!r} has no address number {uid}")
    return pools[uid]


def restore_call(manager: CallManager, stored: StoredCall, now: float, foreign: bool,
                 reuse: dict[tuple[str, int], object] | None = None) -> Call:
    """Rebuild ``stored`` in ``manager`` with its stored ports; relaying starts at once.

    Every stream's last-packet time is ``now``, so restored calls do not time out before
    their media had a chance to flow again. ``reuse`` holds sockets of a replaced copy
    of the call by (address, port): taken instead of binding (a relay worker may still
    hold the old socket open for a moment, so binding again could fail).
    """
    reuse = reuse if reuse is not None else {}
    call = Call(call_id=stored.call_id, created=stored.created,
                last_signal=stored.last_signal, proxy=stored.proxy,
                foreign=foreign, tos=stored.tos)
    bound: list[tuple[PortPool, int, object]] = []
    streams: list[Stream | None] = []
    try:
        for s in stored.streams:
            if not s.port:
                # (10.5 lists a one-port rtcp-mux leg's RTCP without a socket: the call has
                # no such stream, query shows it from the RTP stream)
                streams.append(None)
                continue
            pool = _pool(manager, s.interface_name, s.family, s.intf_uid)
            sock = reuse.pop((pool.interface.address, s.port), None)
            if sock is None:
                if s.port in pool.in_use:
                    raise RestoreError(f"port {s.port} is already in use")
                try:
                    sock = pool.binder(pool.interface, s.port)
                except OSError as exc:
                    raise RestoreError(f"cannot bind port {s.port}: {exc.strerror}",
                                       busy=exc.errno == errno.EADDRINUSE) from None
            pool.in_use.add(s.port)
            bound.append((pool, s.port, sock))
            interface: Interface = pool.interface
            endpoint = s.endpoint if s.endpoint != s.advertised or s.confirmed else None
            streams.append(Stream(
                interface=interface, port=s.port, rtcp=s.rtcp, sock=sock,
                advertised=s.advertised, endpoint=endpoint, confirmed=s.confirmed,
                strict_source=s.strict_source, media_handover=s.media_handover,
                learning=manager.config.endpoint_learning, group=stored.call_id,
                created=now,
                stats=StreamStats(packets=s.packets, bytes=s.bytes, errors=s.errors,
                                  last_packet=now)))
    except Exception:
        for pool, port, sock in bound:
            sock.close()  # type: ignore[attr-defined]
            pool.release(port)
        raise
    own_tos = call.tos != manager.config.tos
    for s, stream in zip(stored.streams, streams, strict=True):
        if stream is None:
            continue
        if call.tos:  # (the stored call's TOS on its sockets, as 10.5 sets it)
            set_tos(stream.sock, call.tos)
            stream.tos_own = own_tos
        if s.sink is not None:
            stream.sink = streams[s.sink]
        if s.rtcp_sibling is not None and not s.rtcp:
            stream.rtcp_peer = streams[s.rtcp_sibling]
        if s.extra_sinks:
            stream.extra_sinks = tuple(x for x in (streams[j] for j in s.extra_sinks)
                                       if x is not None)
    monos = [Monologue(tag=t.tag, created=t.created or stored.created, label=t.label,
                       via_branch=t.via_branch) for t in stored.tags]
    for i, (t, mono) in enumerate(zip(stored.tags, monos, strict=True)):
        mono.tag_type = "FROM_TAG" if i == 0 else ("TO_TAG" if t.tag else "UNKNOWN")
        if t.block_media:
            mono.block_media = True
        if t.block_dtmf:
            mono.block_dtmf, mono.dtmf_security = dtmf_block.from_stored(t.block_dtmf)
        mono.delete_at = t.deleted or None  # a branch deleted with a delay still goes
        for j in t.subscriptions:
            mono.link(monos[j])
    for m in stored.medias:
        own = [x for x in (streams[i] for i in m.streams) if x is not None]
        media = CallMedia(index=m.index, type=m.type, protocol=m.protocol, streams=own,
                      formats=list(m.formats), rtpmaps=dict(m.rtpmaps))
        media.initialized = bool(m.flags & MEDIA_INITIALIZED)
        sends, receives = bool(m.flags & MEDIA_SEND), bool(m.flags & MEDIA_RECV)
        media.dir_flags = (sends, receives)
        # The party's own SDP direction: it sends what we receive, receives what we send.
        media.direction = {(True, True): "sendrecv", (False, True): "sendonly",
                           (True, False): "recvonly"}.get((sends, receives), "inactive")
        media.ice_out = bool(m.flags & MEDIA_ICE)
        media.ice_controlling = bool(m.flags & MEDIA_ICE_CONTROLLING)
        media.ice_passthrough = bool(m.flags & MEDIA_PASSTHRU)
        media.unidirectional = bool(m.flags & MEDIA_UNIDIRECTIONAL)
        media.transcoding = bool(m.flags & MEDIA_TRANSCODE)
        media.ice_roles_settled = True  # (the roles stored are the roles)
        media.mux_shown = bool(m.flags & MEDIA_RTCP_MUX)
        if m.mid is not None:
            media.mid = m.mid
        # (10.5 stores the a=ptime shown but reads it back as 0: a re-offer after its
        # restore shows no a=ptime. Ours goes on as before the restart.)
        if m.ptime:
            media.ptime_shown = m.ptime
        if m.flags & MEDIA_PTIME_OVERRIDE:
            media.ptime_fixed = True
        if m.flags & MEDIA_RTCP_GEN:
            media.rtcp_gen = True
            rates = clock_rates(media.rtpmaps)
            for stream in own:
                stream.rtcp_gen = report_spec(media, stream, manager.instance_id, rates)
        if m.flags & MEDIA_ASYMMETRIC:
            for stream in own:
                stream.asymmetric = True
                stream.learning = "off"
        if media.mux_shown and media.rtp is not None:
            media.rtp.rtcp_mux = True
        if len(own) == 1 and not own[0].rtcp:
            own[0].rtcp_mux = True
        if own and own[0].advertised is not None:
            media.bound_endpoint = own[0].advertised
        _restore_payload_types(media, m)
        _restore_sdes(media, m, stored)
        monos[m.tag].medias.append(media)
    for mono in monos:
        mono.medias.sort(key=lambda media: media.index)
    _restore_pubsub(stored, monos)
    _restore_rtcp_keys(monos)
    call.monologues = monos
    if sum(1 for m in monos if m.tag) > 1:
        call.answered = True
    if stored.deleted:
        call.delete_at = stored.deleted
    _restore_offer_state(monos)
    if call.answered:
        _unsupported_suites_stay_dropped(monos)
        _restore_conversions(manager, monos)
    _restore_blocks(call, stored)
    if dtmf_log.wanted(manager.config):  # (the relay reads the parties' keys again)
        dtmf_log.apply(call, _not_yet_relayed)
    feedback.apply(call, _not_yet_relayed)  # (derived from the protocols: not stored)
    old = manager.calls.get(stored.call_id)
    if old is not None:
        manager.destroy(old, "forced")
    manager.add(call)
    manager.families.refile(call)
    media_plane = manager.media
    for stream in streams:
        if stream is not None:
            media_plane.open_stream(stream)
    return call


def _restore_blocks(call: Call, stored: StoredCall) -> None:
    """``block media`` and ``block DTMF`` of the call and its parties, as stored: their
    streams drop what they dropped before (set before the streams reach the relay)."""
    call.block_media = stored.block_media
    call.block_dtmf, call.dtmf_security = dtmf_block.from_stored(stored.block_dtmf)
    apply_media_blocks(call, _not_yet_relayed)
    if dtmf_block.any_block(call):
        dtmf_block.apply(call, _not_yet_relayed)


def _not_yet_relayed(stream: Stream) -> None:
    """(A restored call's streams reach the relay once it is built: nothing to update.)"""


def _restore_conversions(manager: CallManager, monos: list[Monologue]) -> None:
    """A call that transcoded before the restart converts again: each way between two
    parties' medias of which one is flagged (10.5's ``MEDIA_FLAG_TRANSCODE``), from their
    stored codecs (``negotiation.conversions``; 20 ms frames, the packet time not being
    stored). What an offerer offered and was not answered is not stored either: its own
    codecs stand for what it was answered."""
    owner = media_by_stream(monos)
    for mono in monos:
        for media in mono.medias:
            rtp = media.rtp
            sink = rtp.sink if rtp is not None else None
            peer = owner.get(sink.id) if sink is not None else None
            if peer is None or not (media.transcoding or peer.transcoding):
                continue
            sent = [(pt, media.rtpmaps.get(pt, "")) for pt in media.formats]
            received = [(pt, peer.rtpmaps.get(pt, "")) for pt in peer.formats]
            sink.transcode = negotiation.conversions(sent, received)
            manager.set_converting(rtp, sink)


def _restore_pubsub(stored: StoredCall, monos: list[Monologue]) -> None:
    """Publish/subscribe links, and each subscriber media's publisher media (the media
    whose streams copy to it)."""
    for t, mono in zip(stored.tags, monos, strict=True):
        for j, rtcp_only, egress in t.pubsub:
            other = monos[j]
            if rtcp_only:  # a publisher's link back to its mirror-RTCP subscriber
                other.mirror_rtcp = True
            if egress:
                mono.egress = True
                for media in mono.medias:
                    for stream in media.streams:
                        stream.egress = True
            mono.pubsub_link(other)
    for mono in monos:
        if mono.pubsub_subscriptions and not mono.subscriptions:
            mono.tag_type = "UNKNOWN"  # a subscriber, as 10.5 types it
    owner = media_by_stream(monos)
    for mono in monos:
        for media in mono.medias:
            for stream in media.streams:
                for extra in stream.extra_sinks:
                    target = owner.get(extra.id)
                    if target is not None:
                        target.source = media


def _restore_payload_types(media: CallMedia, m) -> None:
    """The payload types the media's RTP stream knows (``Stream.payload_types``): those of
    its stored codecs (``payload_types-N``), as 10.5 fills a restored stream's RTP stats
    from the codecs it restores for the media; RTP of another type is an error of the
    stream again. (Not what the stream had gathered over its offers: the document holds
    the media's codecs only, and 10.5 restoring it knows no more; probed.) Not checked on
    a media that is not RTP, as after an offer."""
    rtp = media.rtp
    if rtp is not None and "RTP" in media.protocol:
        rtp.payload_types = known_mask(m.rtpmaps)


def _restore_sdes(media: CallMedia, m, stored: StoredCall) -> None:
    """SDES keys: the relay's from the RTP stream's socket (inbound) and stream (outbound)
    parameters, as 10.5 keeps them; the media's a=crypto lines from ``sdes_in``/``sdes_out``.
    Set before the streams open, so the relay decrypts from the first packet on.

    Query names the suite where the answer named it: on the offerer's keyed leg, on an
    opportunistic (RTP/AVP) one, on both legs of a re-keyed SDES-to-SDES call, and on an
    SRTP answerer bridged to a plain offerer whose answer kept one of our lines."""
    media.sdes = bool(m.flags & MEDIA_SDES)
    media.crypto_received = list(m.sdes_in)
    media.crypto_offered = list(m.sdes_out)
    peer = _end_to_end_peer(stored, m)
    if peer is not None:
        _restore_end_to_end(media, m, offerer=m.tag < peer.tag)
        return
    rtp = _stored_rtp(stored, m)
    if rtp is None:
        return
    if rtp.crypto_in is None and rtp.crypto_out is None:
        _restore_unkeyed(media, m, stored)
        return
    if rtp.crypto_in is None or rtp.crypto_out is None:
        _restore_half_keyed(media, rtp)
        return
    peers = [p for p in stored.medias if p.tag != m.tag and p.index == m.index]
    peer_keyed = any((r := _stored_rtp(stored, p)) is not None and r.crypto_in is not None
                     for p in peers)
    out = rtp.crypto_out  # our line the party's answer chose: a re-offer offers it first
    media.crypto_accepted = [c for c in media.crypto_offered if c.same_keys(out)] or None
    show = media.sdes and (m.tag == 0 or not _srtp(media.protocol) or peer_keyed
                           or media.crypto_accepted is not None)
    set_keys(media, rtp.crypto_in, rtp.crypto_out, show_suite=show)


def _restore_half_keyed(media: CallMedia, rtp) -> None:
    """An SDES-SRTP leg stored with a key one way only: an answerer that gave no key we can
    use (its socket has none: what it sends is refused) or that named none of our lines
    (its stream has none: nothing to send it with). 10.5 stores it so and, restoring it,
    still refuses that way (probed: a restored keyless answerer's packets stay errors and
    the offerer's SRTP still goes to it in the line offered), so the missing key is
    ``NO_KEY`` again, as the answer left it; without it the leg would relay plain."""
    if not media.sdes or not _srtp(media.protocol):
        return
    if rtp.crypto_in is None and rtp.crypto_out is None:
        return
    set_keys(media, rtp.crypto_in or NO_KEY, rtp.crypto_out or NO_KEY, show_suite=True)


def _restore_unkeyed(media: CallMedia, m, stored: StoredCall) -> None:
    """An RTP/SAVP(F) leg with no key at all (no lines either) beside a leg we key both
    ways: an SDES offer sent on with ``SDES: off`` and answered without a key, so nothing
    can be decrypted from or encrypted to that answerer. Before the restart both ways are
    ``NO_KEY``; 10.5 restoring the document refuses both ways too (probed), where we
    relayed it plain. (A DTLS leg, UDP/TLS, is not restored keyed at all: README.)"""
    if m.sdes_in or m.sdes_out or not media.protocol.startswith("RTP/SAVP"):
        return
    for p in stored.medias:
        if p.tag != m.tag and p.index == m.index:
            peer = _stored_rtp(stored, p)
            if peer is not None and peer.crypto_in is not None and peer.crypto_out is not None:
                set_keys(media, NO_KEY, NO_KEY)
                return


def _end_to_end_peer(stored: StoredCall, m):
    """The other party's stored media when ``m``'s SDES keys pass end to end (an SDES
    answer that took the offerer's own line), else None. Such a call's document (10.5's,
    and ours) holds one line each way per media, each the other's the other way round,
    and the same keys on the sockets and streams: restoring them as relay keys would
    decrypt and re-encrypt the SRTP, which the call passed through untouched (10.5
    restores it passed through, probed). A leg whose media also goes to a subscriber is
    keyed by the relay with those same keys (``terminate_end_to_end``): not one."""
    if len(m.sdes_in) != 1 or len(m.sdes_out) != 1 or _copied(stored, m):
        return None
    for p in stored.medias:
        if (p.tag != m.tag and p.index == m.index and len(p.sdes_in) == 1
                and len(p.sdes_out) == 1 and not _copied(stored, p)
                and m.sdes_in[0].same_keys(p.sdes_out[0])
                and m.sdes_out[0].same_keys(p.sdes_in[0])):
            return p
    return None


def _copied(stored: StoredCall, m) -> bool:
    return any(stored.streams[i].extra_sinks for i in m.streams)


def _restore_end_to_end(media: CallMedia, m, offerer: bool) -> None:
    """An end-to-end SDES leg as its answer left it: no relay keys; the offerer's media
    has the line answered (``crypto_answered``, what ``sdes.end_to_end`` finds the leg
    by, for ``_restore_rtcp_keys`` and any later answer); query names the line's suite
    on both legs. (The first party stands for the offerer: either way round, the keys
    found are the same.)"""
    if offerer:
        media.crypto_answered = m.sdes_out[0]
    for stream in media.streams:
        stream.crypto_suite = m.sdes_out[0].suite.name


def _restore_rtcp_keys(monos: list[Monologue]) -> None:
    """An end-to-end SDES leg gets its RTCP keys back (``sdes.rtcp_keys``; its reports
    those of ``generate RTCP`` too), as after its answer: the relay decrypts and encrypts
    its SRTCP again, so the reports count decrypted and feed the quality figures (10.5
    does so after a restore, probed). Set before the streams open."""
    for mono in monos:
        for media in mono.medias:
            if media.crypto_answered is not None:
                rtcp_keys(mono, media, media)
                report_keys(mono, media)


def _stored_rtp(stored: StoredCall, m):
    return next((stored.streams[i] for i in m.streams if not stored.streams[i].rtcp), None)


def _restore_offer_state(monos: list[Monologue]) -> None:
    """What an answer to a call restored between offer and answer needs: the protocol of
    the offerer's own offer (the first party's), and whether we offered the other party
    SRTP of our own for a plain offerer (our keys are its ``sdes_out``)."""
    if not monos:
        return
    offerer = monos[0]
    for media in offerer.medias:
        media.offer_protocol = media.protocol
        for other in monos[1:]:
            for peer in other.medias:
                if peer.index == media.index and peer.crypto_offered and not _srtp(
                        media.protocol) and not media.crypto_received:
                    peer.srtp_bridged = True


def _srtp(protocol: str) -> bool:
    return "SAVP" in protocol


def _unsupported_suites_stay_dropped(monos: list[Monologue]) -> None:
    """An answered SDES leg bridged to a plain one, without relay keys: its suite is one the
    relay cannot do (no keys to store), so its packets stay dropped rather than pass SRTP
    to the plain party or plain RTP to it (as before the restart)."""
    for mono in monos:
        for media in mono.medias:
            rtp = media.rtp
            lines = media.crypto_received or media.crypto_offered
            if (not media.sdes or not lines or not _srtp(media.protocol) or rtp is None
                    or rtp.srtp_in is not None):
                continue
            peers = [p for other in monos if other is not mono for p in other.medias
                     if p.index == media.index]
            if peers and all(not p.sdes and not _srtp(p.protocol) for p in peers):
                keys = (f"unsupported {lines[0].suite.name}", b"")
                for stream in media.streams:
                    stream.srtp_in = stream.srtp_out = keys
