"""One offer/answer transaction: find or create the parties, then plan, bind, commit.

Every port is bound (``_bind``) before the model changes (``_commit``), so an error
leaves the call as it was. Over 400 lines because plan/bind/commit and the rtcp-mux
rules they apply are one transaction that reads best in one place; SDP output and ICE
are in ``output`` and ``ice``.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from .. import codec_negotiation as negotiation
from .. import sdp as sdpmod
from ..media import rtcp_feedback
from ..media.channel import RTCP_CONSUMED, RTCP_GENERATED, RTCP_ON_RTP, RTCP_SECURE_LEG
from ..media.reception import clock_rates
from ..model import Call, CallMedia, Endpoint, Interface, Monologue, Stream
from ..ngoptions import Options
from ..ports import give_back
from ..protocol.ngcodec import NgError
from ..request import Request
from ..sdp import SessionDescription
from ..shared_values import SharedValues
from . import endpoint_maps, sdes, t38, webrtc
from .output import SdpOutput
from .work import (
    _direction,
    _MediaWork,
    _needs_ports,
    _never_bound,
    _source_medias,
    _uses_source,
    parsed_text,
)

if TYPE_CHECKING:
    from ..calls import CallManager
    from ..ports import PortPool

log = logging.getLogger("rtpengined")


# -- one offer/answer transaction ------------------------------------------------------


_EMPTIED = ("Usage error: List of codecs empty. Restoring original list of codecs. "
            "Results may be unexpected.")


def _warn_emptied(section: sdpmod.MediaSection, opts: Options, added: bool) -> None:
    """10.5's warning for each of an offer's two codec lists its options empty (both then
    keep every codec offered): the one sent on (``strip`` and ``mask``; a codec
    ``transcode`` adds keeps it from being empty) and the offerer's own (``strip`` alone)."""
    def left(names: list[str] | tuple[()]) -> list[str]:
        names = ["all" if name == "full" else name for name in names]  # (both: everything)
        return sdpmod.filter_codecs(section, names, opts.except_, keep_all=False,
                                    offer=opts.offer, orphans=True)

    if not added and not left(opts.strip):
        log.warning(_EMPTIED)
    own = opts.strip_only if opts.mask else opts.strip  # (``strip`` holds the mask too)
    if own and not left(own):
        log.warning(_EMPTIED)


_OFFER_OR_REQUIRE = frozenset({"offer", "require"})
# Direction names 10.5 takes without a logical interface of that name (no warning).
_LEGACY_NAMES = frozenset({"internal", "external"})


# The offer's rtcp-mux options as kept on the answering party's media: one frozenset per
# distinct set (a fresh empty one per call cost 216 bytes of every open call).
_mux_flags: SharedValues[frozenset[str]] = SharedValues(64)


def _speaks_ice(media: CallMedia, opts: Options, is_offer: bool, sdp_ice: bool) -> bool:
    """ICE will be spoken on this (existing) leg after the request (10.5 settles that before
    it looks for ports). An offer decides as ice.py does: as the leg last did without an ICE
    option, else forced by it (``optional`` too), removed, or (``default``, or a leg never
    negotiated or ``reset``) as the offerer's SDP (``sdp_ice``) has it. Otherwise: forced by
    the ICE option (``optional`` and ``force-relay`` only where the answer has ICE or the
    leg an agent of ours: 10.5 drops ICE on it else), or as before unless the option
    removes it."""
    if is_offer:
        if not opts.ice_given and media.initialized and "reset" not in opts.flags:
            return media.ice_out
        return opts.ice in ("force", "optional", "force-relay") or (
            opts.ice == "default" and sdp_ice)
    if opts.ice == "force":
        return True
    if opts.ice in ("optional", "force-relay") and (sdp_ice or media.ice_agent):
        return True  # (a passthrough, or the leg's agent spoken to again: ice.py)
    return media.ice_out and opts.ice != "remove"


def _reset(sender: Monologue, receiver: Monologue, count: int) -> None:
    """An offer with the ``reset`` flag: both parties' medias it names are taken as never
    negotiated (10.5 clears their "initialized" flag: ICE towards the party offered to
    follows the offerer's SDP again, the ICE roles are settled anew, and the party offered
    to shows "initialized" again once it answers) and both ICE agents restart (new
    credentials of ours)."""
    for party in (sender, receiver):
        for media in party.medias[:count]:
            media.initialized = False
        party.ice_credentials = None


def _link(a: Monologue, b: Monologue) -> None:
    """Offer/answer association: each party receives the other's media."""
    a.link(b)
    b.link(a)


def _fork_to(sender: Monologue, branch: Monologue) -> None:
    """An offer to a fork: the earlier forks stop receiving the sender (10.5), and the fork
    offered last comes first among the sender's subscriptions."""
    for other in sender.subscribers:
        if other is not branch:
            other.unlink(sender)
    sender.put_first(branch)


class _Session(SdpOutput):
    """Collects model changes of one request; nothing is visible until ``apply`` succeeds."""

    def __init__(self, manager: CallManager, call: Call, now: float) -> None:
        self.manager = manager
        self.call = call
        self.now = now
        self.new_monologues: list[Monologue] = []
        self.links: list[tuple[Monologue, Monologue]] = []
        self.tag_updates: list[tuple[Monologue, str]] = []
        self.exclusive: tuple[Monologue, Monologue] | None = None
        # An offer to another fork (via-branch): the sender's media goes to that fork only.
        self.fork: tuple[Monologue, Monologue] | None = None
        # An answer from a new to-tag to an offer that went to a party that had answered
        # before (a call revived by a re-offer after its delete): (new party, that party).
        self.answers_for: tuple[Monologue, Monologue] | None = None
        self.request: Request | None = None

    # -- party lookup ---------------------------------------------------------------------

    def find(self, tag: str) -> Monologue | None:
        for mono in [*self.call.monologues, *self.new_monologues]:
            if mono.tag == tag and not mono.destroyed:
                return mono
        for mono, new_tag in self.tag_updates:
            if new_tag == tag:
                return mono
        return None

    def _create(self, tag: str, tag_type: str) -> Monologue:
        # Offered to, tag not known yet: 10.5 lists such a party as UNKNOWN.
        mono = Monologue(tag=tag, created=self.now, tag_type=tag_type if tag else "UNKNOWN")
        self.new_monologues.append(mono)
        return mono

    def new_party(self, tag: str) -> Monologue:
        """A callee-side party created by this request (it controls ICE, as in rtpengine)."""
        mono = self._create(tag, "TO_TAG")
        mono.ice_controlling = True
        return mono

    def monologue(self, tag: str, tag_type: str) -> Monologue:
        return self.find(tag) or self._create(tag, tag_type)

    def offer_peer(self, sender: Monologue, to_tag: str | None, via: str | None) -> Monologue:
        """The party the offer goes to: by to-tag, by via-branch fork, or the existing peer."""
        if to_tag:
            peer = self.find(to_tag)
            if peer is None:
                peer = self._create(to_tag, "TO_TAG")
                peer.ice_controlling = True
            self.links.append((sender, peer))
            return peer
        peers = [m for m in sender.subscribers if m is not sender]
        chosen: Monologue | None = None
        if via:
            # SIP forking: a new via-branch gets its own peer unless an unbranched one waits.
            chosen = next((m for m in peers if m.via_branch == via), None)
            if chosen is None:
                chosen = next((m for m in peers if not m.tag and not m.via_branch), None)
            if chosen is None:  # a branch offered before another one: it is back (10.5)
                chosen = next((m for m in self.call.monologues
                               if m.via_branch == via and not m.destroyed), None)
                if chosen is not None:
                    self.fork = (sender, chosen)
        elif peers:
            chosen = peers[-1]
        if chosen is None:
            chosen = self._create("", "TO_TAG")
            chosen.ice_controlling = True
            if via:
                self.fork = (sender, chosen)
        if via:
            chosen.new_via_branch = via
        self.links.append((sender, chosen))
        return chosen

    def answer_party(self, offerer: Monologue, to_tag: str, via: str | None) -> Monologue:
        """The answering party: tagged by to-tag, else the offerer's untagged peer (fork)."""
        party = self.find(to_tag)
        if party is None:
            # Every fork the offerer's offers went to, answered or not.
            peers = [m for m in offerer.subscriptions if not m.tag]
            if via:
                party = next((m for m in peers if m.via_branch == via), None)
                if party is None:
                    # The party that answered on this via-branch before, answering under a
                    # new to-tag (a call revived by a re-offer): the same party, retagged,
                    # as 10.5 does.
                    party = next((m for m in offerer.subscriptions
                                  if m.tag and m.via_branch == via and not m.destroyed), None)
            head = offerer.subscriptions[0] if offerer.subscriptions else None
            if party is None and head is not None and head.tag:
                # The offerer's latest peer has answered (or was deleted): an answer with
                # another to-tag is a new party, not one of the other forks (10.5).
                peers = []
            if party is None and peers:
                party = next((m for m in peers if not m.via_branch), peers[0])
            if party is None:
                party = self._create(to_tag, "TO_TAG")
                party.ice_controlling = True
                if head is not None and head.tag and head.medias:
                    self.answers_for = (party, head)
            else:
                self.tag_updates.append((party, to_tag))
        self.links.append((party, offerer))
        self.exclusive = (offerer, party)
        return party

    # -- the transaction --------------------------------------------------------------------

    def apply(self, parsed: SessionDescription, sender: Monologue, receiver: Monologue,
              opts: Options, request: Request, is_offer: bool) -> str | None:
        """Bind ports, update both parties from ``parsed`` and return the produced SDP.

        An SDP without media sections still associates the parties (rtpengine 10.5 keeps
        the call); it comes back unchanged if the sender already has media (an offer only
        with a c=), else ``None`` (rtpengine's "Error rewriting SDP").
        """
        self.request = request
        gateways = None
        fax = opts.t38 or any(media.t38 is not None for media in sender.medias)
        if fax:  # (a T.38 gateway asked for or in place: nearly no call)
            gateways = self._t38_sections(parsed, sender, receiver, opts)
        plans = []
        mux_forced = False  # (10.5's quirk, ``_MediaWork.mux_forced``)
        for index in range(len(parsed.medias)):
            work = self._plan_media(parsed, index, sender, receiver, opts, is_offer, mux_forced)
            plans.append(work)
            rmedia = work.receiver_media
            if (is_offer and work.section.port != 0 and rmedia is not None
                    and rmedia.mux_in_use):
                mux_forced = True
        # (10.5 keeps that "require" for the whole request: the SDP offers every media on
        # rtcp-mux on its RTP port alone, the ones before too, whatever they have bound)
        self.mux_required = mux_forced
        if is_offer and "reset" in opts.flags:  # (the plan read what the parties had)
            _reset(sender, receiver, len(parsed.medias))
        if gateways:
            for index, (real, sides) in gateways.items():
                plans[index].real_section, plans[index].gateways = real, sides
        self._bind(plans, opts)  # may raise "Ran out of ports": nothing changed yet
        self._commit(plans, parsed, sender, receiver, opts, request, is_offer)
        if fax:
            self._t38_commit(plans, sender, receiver)
        if not plans:
            if not parsed.session:
                return ""  # empty SDP
            # It comes back as it is if its party has media (10.5: else "Error rewriting
            # SDP"), an answer with or without c=; an offer needs one (neither c= nor m= in
            # an offer to a party with media crashes 10.5: an error here).
            usable = sender.medias and (not is_offer or parsed.connection is not None)
            return parsed_text(parsed) if usable else None
        return self._render(plans, parsed, sender, receiver, opts, is_offer)

    def _t38_sections(self, parsed: SessionDescription, sender: Monologue,
                      receiver: Monologue, opts: Options) -> dict[int, tuple]:
        """Put in ``parsed`` the section each T.38 gateway shows the receiver instead of
        the sender's (``t38``); returns {index: (sender's own section, the two sides)}."""
        found = {}
        for index, section in enumerate(parsed.medias):
            smedia = sender.medias[index] if index < len(sender.medias) else None
            rmedia = receiver.medias[index] if index < len(receiver.medias) else None
            kind = t38.conversion(section, smedia, opts)
            if kind is None:
                continue
            ours, theirs = t38.start(opts.t38, kind, section, smedia)
            parsed.medias[index] = t38.converted(section, kind, theirs, rmedia, opts)
            found[index] = (section, (ours, theirs))
        return found

    def _t38_commit(self, plans: list[_MediaWork], sender: Monologue,
                    receiver: Monologue) -> None:
        """Each party's side of its gateways, and the relay told which streams feed one;
        a gateway of a media this request did not convert ends (``stop`` among others)."""
        update = self.manager.media.update_stream
        for work in plans:
            if work.index >= len(sender.medias) or work.index >= len(receiver.medias):
                continue
            smedia, rmedia = sender.medias[work.index], receiver.medias[work.index]
            if work.gateways is not None:
                smedia.t38, rmedia.t38 = work.gateways
            elif smedia.t38 is not None or rmedia.t38 is not None:
                # ``stop``, or a party on a gateway that now sends what the other side
                # speaks (audio from the T.38 party): media passes as it is again
                smedia.t38 = rmedia.t38 = None
            else:
                continue
            for media in (smedia, rmedia):
                spec = t38.relay_spec(media.t38)
                for stream in media.streams:
                    # (RTCP has nowhere to go across a gateway: 10.5 sends none on)
                    wanted, blocked = (None, spec is not None) if stream.rtcp else (spec, False)
                    if stream.t38 != wanted or (stream.rtcp and stream.blocked != blocked):
                        stream.t38 = wanted
                        if stream.rtcp:
                            stream.blocked = blocked
                        if not stream.closed:
                            update(stream)

    def _plan_media(self, parsed: SessionDescription, index: int, sender: Monologue,
                    receiver: Monologue, opts: Options, is_offer: bool,
                    mux_forced: bool = False) -> _MediaWork:
        section = parsed.medias[index]
        work = _MediaWork(index=index, section=section)
        work.sender_media = sender.medias[index] if index < len(sender.medias) else None
        work.receiver_media = receiver.medias[index] if index < len(receiver.medias) else None
        smedia, rmedia = work.sender_media, work.receiver_media
        if (is_offer and opts.transport_protocol is None and smedia is not None
                and smedia.initialized and smedia.protocol == section.protocol
                and smedia.osrtp == sdes.is_osrtp(section)  # (10.5: OSRTP is a protocol)
                and rmedia is not None and rmedia.initialized and rmedia.protocol_sent is None):
            work.kept_protocol = rmedia.protocol
            if rmedia.t38 is not None and "stop" in opts.t38:
                work.kept_protocol = None  # the T.38 gateway ends: the sender's own protocol
        if section.port == 0:
            return work
        conn = parsed.media_connection(index)
        assert conn is not None
        work.endpoint = Endpoint(conn.address, section.port)
        names = opts.direction
        sender_if = names[0] if len(names) > 0 and self.manager.has_interface(names[0]) else None
        receiver_if = names[1] if len(names) > 1 and self.manager.has_interface(names[1]) else None
        for name, known in ((names[1:2], receiver_if), (names[:1], sender_if)):
            if name and known is None and name[0] not in _LEGACY_NAMES:  # (10.5's order)
                log.warning("Interface '%s' not found, using default", name[0])
        if not names:
            # No direction given: each party stays on the logical interface it has (10.5
            # keeps one per party), a media section it adds included.
            sender_if = _interface_of(sender, work.sender_media)
            receiver_if = _interface_of(receiver, work.receiver_media)
        # The sender's side speaks its own SDP's family; the other side the requested one.
        own_family = "IPv6" if conn.family == "IP6" else "IPv4"
        if _uses_source(self.manager.config, opts) and index < _source_medias(parsed):
            # The party is reached at its SIP source / received-from address instead.
            source = opts.received_from or (self.request.source_ip if self.request else None)
            if source:
                own_family = "IPv6" if ":" in source else "IPv4"
        work.sender_pool = self.manager.pool_for(sender_if, own_family)
        work.receiver_pool = self.manager.pool_for(receiver_if, opts.address_family or own_family)
        work.mux_forced = mux_forced and section.is_rtp
        rmedia = work.receiver_media
        # (a leg already using rtcp-mux is offered it on one port: 10.5 requires it then)
        sticky = is_offer and rmedia is not None and rmedia.mux_in_use
        require = is_offer and ("require" in opts.rtcp_mux or work.mux_forced
                                or sticky) and section.is_rtp
        # (an answer leaving the offerer on rtcp-mux: one port if it needs new ones, 10.5)
        if (not is_offer and section.is_rtp and rmedia is not None
                and work.sender_media is not None):
            require = _answered_mux(work.sender_media, rmedia, parsed.rtcp_mux(index), opts)
        # rtpengine binds an even/odd pair for every protocol (udptl and BFCP too).
        receiver_count = 1 if require else 2
        # A caller whose rtcp-mux is settled at offer time (not passed on to the other
        # side, or "accept"ed) gets one port on its side (as 10.5).
        mux_flags = opts.rtcp_mux
        offers_mux = work.offers_mux = parsed.rtcp_mux(index)
        to_peer = (not _OFFER_OR_REQUIRE.isdisjoint(mux_flags) or work.mux_forced
                   or (rmedia is not None and rmedia.mux_in_use)
                   or ("demux" not in mux_flags and offers_mux))
        smedia = work.sender_media
        # (so does a re-offerer whose leg an answer left on rtcp-mux: 10.5 keeps its one
        # port; not one whose offer is still unanswered)
        keeps_mux = (offers_mux and "reject" not in mux_flags
                     and (not to_peer or "accept" in mux_flags
                          or (smedia is not None and smedia.mux_in_use
                              and smedia.mux_answer)))
        sender_count = 1 if is_offer and keeps_mux and section.is_rtp else 2
        if (smedia is not None and smedia.earlier_maps and smedia.streams
                and smedia.streams[0].closed and endpoint_maps.refused_ports(
                    smedia, None, sender_count, work.sender_pool.interface, self.call,
                    True) is not None):
            # Accepted again after a refusal, with the ports it was refused with still
            # bound: none now; the answer takes those again if they serve (10.5 gives the
            # offerer no ports before the answer then).
            pass
        elif is_offer and smedia is not None and _never_bound(smedia):
            # Refused from its first offer and now offered: the party's streams exist but
            # never had ports; 10.5 makes ports at an offer only for streams it creates, so
            # these come with the answer (one port if the answer leaves it on rtcp-mux).
            pass
        elif _needs_ports(smedia) or (is_offer and section.is_rtp and smedia is not None
                                      and len(smedia.streams) < sender_count):
            # A re-offer that needs a pair where one port was enough: fresh ports (10.5).
            work.sender_count = sender_count
        # Ports the receiver has are kept when they are enough: a leg on rtcp-mux (sticky,
        # or required now) needs only the first of its pair, the other stays bound beside
        # it (10.5 reuses a set with at least as many ports as needed, and binds anew only
        # for more ports or, below, another far address). An answer too: one that leaves
        # the offerer off the rtcp-mux its one port served needs a pair, ICE or not.
        if _needs_ports(rmedia) or (rmedia is not None
                                    and len(rmedia.streams) < receiver_count):
            work.receiver_count = receiver_count
            if rmedia is not None and rmedia.earlier_maps and rmedia.streams:
                # (refused before: its ports, if they serve; see endpoint_maps)
                work.receiver_earlier = endpoint_maps.refused_ports(
                    rmedia, work.endpoint, receiver_count, work.receiver_pool.interface,
                    self.call, "port-latching" in opts.flags or (
                        "no-port-latching" not in opts.flags
                        and _speaks_ice(rmedia, opts, is_offer, parsed.has_ice(index))))
        elif (is_offer or receiver_if is not None) and rmedia is not None and (
                rmedia.rtp is not None
                and rmedia.rtp.interface.name != work.receiver_pool.interface.name):
            # A re-offer towards another interface, or an answer naming another interface
            # for the offerer's side: the ports it had there for that address, else fresh
            # ones (10.5).
            work.receiver_count = receiver_count
            work.receiver_earlier = endpoint_maps.earlier_ports(
                rmedia, work.endpoint, receiver_count, work.receiver_pool.interface, self.call)
        elif rmedia is not None and "port-latching" not in opts.flags and (
                "no-port-latching" in opts.flags
                or not _speaks_ice(rmedia, opts, is_offer, parsed.has_ice(index))):
            # The far side moved: the ports the receiver had for its new address before,
            # else fresh ones; unless ICE is spoken on the leg (its checks find the party
            # wherever it went; 10.5 keeps the ports then, except with no-port-latching).
            bound = rmedia.bound_endpoint
            if bound is not None and not endpoint_maps.same_far_end(bound, work.endpoint):
                work.receiver_count = receiver_count
                work.receiver_earlier = endpoint_maps.earlier_ports(
                    rmedia, work.endpoint, receiver_count, work.receiver_pool.interface,
                    self.call)
        return work

    def _bind(self, plans: list[_MediaWork], opts: Options) -> None:
        bound: list[tuple[PortPool, list[tuple[int, Any]]]] = []
        pool: PortPool | None = None  # (what is being allocated: named in the log if it fails)
        count = 0
        try:
            # Per media, as 10.5: first the ports the message's output names (those
            # its recipient sends to), then the sender's.
            for work in plans:
                if work.receiver_count and work.receiver_earlier is None:
                    pool, count = work.receiver_pool, work.receiver_count
                    work.receiver_ports = pool.allocate(count, self.call.tos)
                    bound.append((pool, work.receiver_ports))
                if work.sender_count:
                    pool, count = work.sender_pool, work.sender_count
                    work.sender_ports = pool.allocate(count, self.call.tos)
                    bound.append((pool, work.sender_ports))
            # Earlier ports taken again once every new one is bound (out of ports above:
            # the call is as it was).
            for work in plans:
                if work.receiver_earlier is not None:
                    pool, count = work.receiver_pool, work.receiver_count
                    self._take_again(work, bound)
        except NgError:
            give_back(bound)
            if pool is not None:
                log.error("Failed to get %d consecutive ports on all locals of logical '%s'",
                          count, pool.interface.name)
            log.error("Error allocating media ports")
            raise

    def _take_again(self, work: _MediaWork,
                    bound: list[tuple[PortPool, list[tuple[int, Any]]]]) -> None:
        """The receiver's earlier ports for the far address (``endpoint_maps``) become its
        ports in use; should their sockets be gone, fresh ports instead."""
        earlier = work.receiver_earlier
        assert earlier is not None and work.receiver_media is not None
        key, streams = earlier
        endpoint_maps.forget(work.receiver_media, earlier)
        ports = self.manager.reclaim(self.call, streams)
        if ports is None:
            ports = work.receiver_pool.allocate(work.receiver_count, self.call.tos)
        else:
            work.receiver_key = key
        work.receiver_ports = ports
        bound.append((work.receiver_pool, ports))

    def _commit(self, plans: list[_MediaWork], parsed: SessionDescription, sender: Monologue,
                receiver: Monologue, opts: Options, request: Request, is_offer: bool) -> None:
        call = self.call
        for mono in self.new_monologues:
            call.monologues.append(mono)
        for mono, tag in self.tag_updates:
            mono.tag = tag
            mono.tag_type = "TO_TAG"
        for a, b in self.links:
            _link(a, b)
        if self.exclusive is not None:
            offerer, party = self.exclusive
            offerer.put_first(party)  # the latest answer comes first
            for other in offerer.subscribers:
                if other is not party:
                    other.unlink(offerer)
        if self.fork is not None:
            _fork_to(*self.fork)
        if opts.label is not None:
            sender.label = opts.label
        receiver.destroyed = False  # a deleted branch offered again lives again (10.5)
        via, receiver.new_via_branch = receiver.new_via_branch, None
        if via:
            receiver.via_branch = via
        config = self.manager.config
        learning = opts.learning or config.endpoint_learning
        source_ip = opts.received_from or request.source_ip
        source_medias = _source_medias(parsed) if _uses_source(config, opts) else 0
        changed: list[Stream] = []
        opened: list[Stream] = []
        flags = opts.flags
        asymmetric = "asymmetric" in flags
        strict_source = "strict-source" in flags
        media_handover = "media-handover" in flags
        unidirectional = "unidirectional" in flags
        reject_ice = "reject-ICE" in flags
        for work in plans:
            smedia = self._ensure_media(sender, work, parsed,
                                        controlling=False if is_offer else None)
            rmedia = self._ensure_media(receiver, work, parsed, mirror=True,
                                        protocol=opts.transport_protocol, kept=is_offer,
                                        controlling=True if is_offer else None)
            # New local ports on a leg that speaks ICE are an ICE restart of ours (RFC 8445
            # 9; 10.5 restarts the leg's agent when its sockets change): new credentials.
            if work.sender_ports:
                if smedia.streams and smedia.ice_out:
                    sender.ice_credentials = None
                opened += self._replace_streams(smedia, work.sender_pool, work.sender_ports)
            if work.receiver_ports:
                if rmedia.streams and rmedia.ice_out:
                    receiver.ice_credentials = None
                opened += self._replace_streams(rmedia, work.receiver_pool, work.receiver_ports)
            section = work.section
            # (a T.38 gateway shows the receiver another section: the sender keeps its own)
            own = work.real_section or section
            # The parsed section's list and table themselves (nothing changes them in
            # place): a copy of each per party cost ~0.3 kB of every open call.
            previous = smedia.formats  # (what the party's last SDP listed)
            smedia.formats = own.formats
            smedia.rtpmaps = own.rtpmaps()
            smedia.type = own.type
            smedia.protocol = own.protocol
            smedia.last_formats = None
            # (an answer goes to the offerer in the protocol it offered, whatever the
            # mirrored media says until the answer's security settles it)
            received_in = (rmedia.offer_protocol if not is_offer and rmedia.offer_protocol
                           else rmedia.protocol)
            if received_in == own.protocol:
                rmedia.last_formats = own.formats
            if smedia.protocol_sent is not None:
                # (its own SDP's protocol is its media's now: a later re-offer without a
                # transport-protocol keeps that one, not the one we last offered it; 10.5)
                smedia.protocol_sent = None
            smedia.initialized = True
            if not is_offer and smedia.transcoding_pts:
                smedia.transcoding_pts = negotiation.answered_for_transcoding(
                    own, smedia.transcoding_pts)
            _update_ptime(smedia, rmedia, own, opts if is_offer else None)
            has_ice = parsed.has_ice(work.index)
            # ICE in use on the sender's leg: its own SDP decides (but for ``reject ICE``:
            # its ICE is declined, our answer to an offerer has none, as ``ICE: remove``
            # in that answer would; 10.5).
            # (a refused media's SDP says nothing of it: what the leg had stays, 10.5)
            smedia.ice_out = ((has_ice if section.port != 0 else smedia.ice_out)
                              and not reject_ice)
            if section.port == 0:
                self._reject_media(smedia, rmedia, parsed, work.index, is_offer)
                # (query's send/recv flags still follow its direction, no hold read from
                # c=0.0.0.0: 10.5 sets them before it looks at the port)
                _set_dir_flags(smedia, rmedia, parsed.direction(work.index) or "sendrecv")
                for stream in smedia.streams:  # (query shows them on a refused media too: 10.5)
                    stream.strict_source = strict_source
                    stream.media_handover = media_handover
                continue
            smedia.unidirectional = unidirectional
            conn = parsed.media_connection(work.index)
            assert conn is not None
            smedia.direction = work.direction = _direction(parsed, work.index, conn)
            _set_dir_flags(smedia, rmedia, smedia.direction)
            offers_mux = work.offers_mux
            if (smedia.rtcp is None and smedia.rtp is not None and section.is_rtp
                    and not smedia.rtcp_unbound
                    and not (offers_mux and (not is_offer or "demux" in opts.rtcp_mux
                                             or "accept" in opts.rtcp_mux))):
                # A party on one port whose SDP takes two (no rtcp-mux, or an offer that
                # does not settle it): 10.5 gives its media an RTCP stream, without a socket
                smedia.rtcp_unbound = True
            if is_offer:
                smedia.mux_offered = offers_mux
                smedia.mux_in_use = offers_mux and "reject" not in opts.rtcp_mux
                # (query shows what this offer says until its answer settles it, as on a
                # first offer: 10.5 sets both legs' rtcp-mux flag from the offer)
                smedia.mux_shown = None
                rmedia.mux_flags = _mux_flags(frozenset(
                    (*opts.rtcp_mux, "require") if work.mux_forced else opts.rtcp_mux))
                formats = sdpmod.filter_codecs(section, opts.strip, opts.except_,
                                               offer=opts.offer)
                # (what 10.5's codec store for the receiver holds for transcoding now: the
                # codecs made for it, and those the offer gave the numbers of such again;
                # the offerer's own store is built anew, ours knows none of it)
                if work.gateways is None:
                    sent, work.added, rmedia.transcoding_pts = (
                        negotiation.offered_format_list(
                            section, formats, opts.strip, opts.except_, opts.mask, opts.transcode,
                            opts.offer, rmedia.transcoding_pts))
                    if work.added or sent != formats:
                        work.sent_formats = sent
                    if opts.strip and section.is_rtp:
                        _warn_emptied(section, opts, bool(work.added))
                else:  # (a T.38 gateway: the codec options are its, the list goes as it is)
                    sent = formats
                    rmedia.transcoding_pts = negotiation.offered_for_transcoding(
                        section, sent, work.added, rmedia.transcoding_pts)
                smedia.transcoding_pts = frozenset()
                # (codecs added by ``transcode`` or by the tracker after a strip: the relay
                # may convert into them, 10.5 sets up its codec handlers for them)
                converts = bool(opts.transcode or work.added)
                # (a T.38 gateway shows the receiver another section: the sender's own codecs)
                gather_types(smedia, own.protocol, formats if own is section else own.formats)
                gather_types(rmedia, rmedia.protocol, sent)
                # (a packet time an earlier ``ptime`` fixed stays the receiver's: 10.5
                # keeps framing its media anew for it)
                ptime = opts.ptime
                if not (ptime and ptime > 0) and rmedia.ptime_fixed and rmedia.ptime_shown:
                    ptime = rmedia.ptime_shown
                rmedia.offered = negotiation.offered(
                    section, formats, ptime, opts.ptime_reverse,
                    # (a consumed codec the strip took comes back on the offerer's own side)
                    sdpmod.filter_codecs(section, opts.strip_only, opts.except_,
                                         offer=[*opts.offer, *opts.accept])
                    if opts.mask else None,
                    # (``always transcode`` for audio: 10.5 has no video codec handlers)
                    opts.accept, "always-transcode" in opts.flags and section.type == "audio",
                    sent,
                    touched=[*opts.strip, *opts.transcode] if converts else (),
                    added=work.added if converts else (),
                    prefer=(negotiation.kept_conversion(smedia.offered, previous, own)
                            or negotiation.kept_always(rmedia.offered, rmedia.transcoding,
                                                       own, opts.accept)),
                    previous_ptime=smedia.ptime_shown,
                    removed_all=any(name.lower() in ("all", "full") for name in opts.strip),
                    previous=rmedia.offered,
                    converted_rates=negotiation.kept_conversion_rates(smedia.offered,
                                                                      previous, own))
            if work.endpoint is not None:
                rmedia.bound_endpoint = endpoint_maps.key_after(
                    work.receiver_key or rmedia.bound_endpoint, work.endpoint)
            address = conn.address
            if work.index < source_medias and source_ip:
                address = source_ip
            rtp_ep = None if conn.is_zero else Endpoint(address, section.port)
            if rtp_ep is not None and rtp_ep == work.endpoint:
                rtp_ep = work.endpoint  # one object for both (kept per call)
            held = Endpoint(conn.address, section.port) if conn.is_zero else None
            rtcp_attr = parsed.rtcp_attribute(work.index)
            # (a browser's placeholder, a=rtcp:9 with c=0.0.0.0, is no such a=rtcp: query
            # shows that RTCP endpoint, as 10.5 does)
            smedia.rtcp_on_rtp = (rtcp_attr is not None and rtcp_attr[0] == section.port
                                  and offers_mux and not (section.port == 9 and conn.is_zero))
            previous_rtcp_port = smedia.rtcp_port
            smedia.rtcp_port = rtcp_attr[0] if rtcp_attr is not None else None
            rtcp_ep = None
            if rtp_ep is not None:
                if rtcp_attr is not None:
                    rtcp_addr = rtcp_attr[1].address if rtcp_attr[1] is not None else address
                    rtcp_ep = Endpoint(rtcp_addr, rtcp_attr[0])
                else:
                    rtcp_ep = Endpoint(address, section.port + 1)
            # (an answer's a=rtcp-mux is in use though we did not offer it: 10.5)
            accepted_mux = not is_offer
            single_port = smedia.rtcp is None
            ice_leg = smedia.ice_out
            for stream in smedia.streams:
                target = rtcp_ep if stream.rtcp else rtp_ep
                # (a held party's RTCP shows its a=rtcp port, else the next one, as 10.5)
                held_rtcp = rtcp_attr[0] if rtcp_attr is not None else None
                if held is not None:
                    stream.shown_endpoint = held.rtcp_of(held_rtcp) if stream.rtcp else held
                elif stream.rare is not None:  # (else it has none already)
                    stream.shown_endpoint = None
                if stream.advertised != target:
                    if not _fill_endpoint(stream, smedia, target, ice_leg, previous_rtcp_port):
                        if stream.advertised is not None and stream.crypto_suite is not None:
                            _renew_suite(stream, smedia, parsed, work.index)
                        stream.endpoint = None
                        stream.confirmed = False
                    stream.advertised = target
                stream.asymmetric = asymmetric
                stream.strict_source = strict_source
                stream.media_handover = media_handover
                stream.learning = "off" if asymmetric else learning
                if not stream.rtcp:
                    # An answerer that accepted the rtcp-mux we offered sends and expects
                    # RTCP on its RTP port, although it has an RTCP port too.
                    stream.rtcp_mux = offers_mux and (single_port or accepted_mux)
                changed.append(stream)
            if not is_offer:
                self._answer_mux(smedia, rmedia, offers_mux, opts)
            s_rtp, s_rtcp, r_rtp, r_rtcp = smedia.rtp, smedia.rtcp, rmedia.rtp, rmedia.rtcp
            # Relay both ways, RTP to RTP and RTCP to RTCP.
            for mine, theirs in ((s_rtp, r_rtp), (s_rtcp, r_rtcp)):
                if mine is not None and theirs is not None:
                    mine.sink, theirs.sink = theirs, mine
                    changed += [mine, theirs]
            if r_rtp is not None and r_rtcp is None:
                # rtcp-mux only: RTCP from the other side arrives on its RTCP socket and
                # goes out through our single port.
                if s_rtcp is not None:
                    s_rtcp.sink = r_rtp
                    changed.append(s_rtcp)
            if s_rtp is not None and s_rtcp is None and r_rtcp is not None:
                r_rtcp.sink = s_rtp  # the same, the other way round
                changed.append(r_rtcp)
            if (not is_offer and s_rtp is not None and s_rtp.rtcp_mux and s_rtcp is not None
                    and r_rtcp is not None and r_rtp is not None and not r_rtp.rtcp_mux):
                # An answerer that accepted rtcp-mux expects RTCP on its RTP port (a browser
                # has no other: its RTCP port is only our offer's fallback).
                r_rtcp.sink = s_rtp
            _apply_echo(opts.media_echo, smedia, rmedia, changed)
            _apply_rtcp_gen(opts.generate_rtcp, smedia, rmedia, self.manager.instance_id,
                            changed)
        for stream in call.streams():
            if stream.sink is not None and stream.sink.closed and not stream.closed:
                stream.sink = None  # its peer's ports were replaced
                changed.append(stream)
        media_plane = self.manager.media
        opened_ids = {s.id for s in opened}
        for stream in opened:
            media_plane.open_stream(stream)
        done: set[int] = set()
        for stream in changed:
            if stream.id in opened_ids or stream.id in done or stream.closed:
                continue
            done.add(stream.id)
            media_plane.update_stream(stream)

    def _reject_media(self, sender_media: CallMedia, peer_media: CallMedia,
                      parsed: SessionDescription, index: int, is_offer: bool) -> None:
        """Port 0: an offer or answer refusing a media stops both sides' streams (10.5);
        either way the sender's streams show its address with ports 0 and 1."""
        # (a re-offer refusing a media it had, e.g. video dropped by a re-INVITE, stops
        # them at once too. Their ports stay bound for the call, for the media accepted
        # again from the same address: 10.5 keeps them in its endpoint maps.)
        for media in (sender_media, peer_media):
            streams = tuple(media.streams)
            if not streams or any(stream.closed or stream.alternates for stream in streams):
                for stream in streams:
                    self.manager.release_stream(stream)
                continue
            held = [self.manager.hold_stream(self.call, stream) for stream in streams]
            if all(held):
                endpoint_maps.hold_refused(media, streams)
        for media in (sender_media, peer_media):
            if not media.streams:
                # Refused from its first offer: no ports, but RTP and RTCP streams all the
                # same, which query lists (10.5), the sender's with its address below.
                interface = self.manager.pool_for().interface
                media.streams = [Stream(interface=interface, port=0, rtcp=rtcp, closed=True,
                                        group=self.call.call_id, created=self.now)
                                 for rtcp in (False, True)]
        conn = parsed.media_connection(index)
        if conn is not None:
            rtcp_port_before = sender_media.rtcp_port
            # (10.5 fills the refusing party's streams all the same: off ICE and DTLS
            # that resets their SRTP context, set up again only where its leg has SDES;
            # on ICE or DTLS it is set up again where the leg has SDES lines of ours all
            # the same, as the refusal took the streams' sockets and with them their DTLS
            # connection; a passthrough's show the suite they had)
            renews = (not (sender_media.ice_out or sender_media.has_dtls)
                      or ((sender_media.sdes or sender_media.sdes_offered)
                          and bool(sender_media.crypto_offered
                                   or sender_media.crypto_accepted)))
            # (RTCP at the refusing SDP's a=rtcp, else at port 1; 10.5)
            rtcp_attr = parsed.rtcp_attribute(index)
            rtcp_target = Endpoint(conn.address, 1)
            if rtcp_attr is not None:
                rtcp_target = Endpoint(rtcp_attr[1].address if rtcp_attr[1] is not None
                                       else conn.address, rtcp_attr[0])
            sender_media.rtcp_port = rtcp_attr[0] if rtcp_attr is not None else None
            for stream in sender_media.streams:
                target = rtcp_target if stream.rtcp else Endpoint(conn.address, 0)
                if renews and stream.advertised is not None and stream.crypto_suite:
                    _renew_suite(stream, sender_media, parsed, index, refused=True)
                if not _fill_endpoint(stream, sender_media, target, sender_media.ice_out,
                                      rtcp_port_before):
                    stream.endpoint = None
                stream.advertised = target
                stream.shown_endpoint = None
                if not stream.closed:
                    self.manager.media.update_stream(stream)

    def _answer_mux(self, answer_media: CallMedia, offer_media: CallMedia, accepted: bool,
                    opts: Options) -> None:
        """Whether the offerer gets rtcp-mux back (RFC 5761 as rtpengine negotiates it)."""
        use = _answered_mux(answer_media, offer_media, accepted, opts)
        offer_media.mux_answer = use
        offer_media.mux_in_use = use
        answer_media.mux_in_use = accepted
        # What query shows: rtcp-mux in use on each party's leg.
        offer_media.mux_shown = use
        answer_media.mux_shown = accepted
        rtp = offer_media.rtp
        if rtp is not None and rtp.rtcp_mux != use:
            rtp.rtcp_mux = use

    def _ensure_media(self, mono: Monologue, work: _MediaWork, parsed: SessionDescription,
                      mirror: bool = False, protocol: str | None = None,
                      kept: bool = False, controlling: bool | None = None) -> CallMedia:
        """``mono``'s media of ``work`` (made if new). ``mirror``: it is the receiving side,
        shown with ``protocol`` (else, with ``kept``, for an offer, the protocol the party
        was offered before, as output.py sends it on; else the section's own)."""
        added = bool(mono.medias)  # (a media added to a party that had others)
        while len(mono.medias) <= work.index:
            section = parsed.medias[len(mono.medias)]
            media = CallMedia(index=len(mono.medias) + 1, type=section.type,
                          protocol=section.protocol)
            if added and controlling is not None:
                # An offer adds it: we control ICE towards the party offered to, whichever
                # party that is now (10.5 sets the role per media as it offers it).
                media.ice_role_own = True
                media.ice_controlling = controlling
            if self.answers_for is not None and self.answers_for[0] is mono:
                # It answers the offer that party was sent: what the offer said (its codecs
                # and ptime, its rtcp-mux) is that party's (10.5 answers it so).
                offered_to = self.answers_for[1].medias
                if len(offered_to) > len(mono.medias):
                    source = offered_to[len(mono.medias)]
                    media.offered = source.offered
                    media.mux_flags = source.mux_flags
                    media.mux_sent = source.mux_sent
            mono.medias.append(media)
        media = mono.medias[work.index]
        if (mono.ice_controlling and not (media.lite_self or media.lite_controlled)
                and not media.ice_role_own):
            media.ice_controlling = True
        if mirror:
            media.type = work.section.type
            if protocol is None and kept:
                protocol = media.protocol_sent or work.kept_protocol
            media.protocol = protocol or work.section.protocol
        return media

    def _replace_streams(self, media: CallMedia, pool: PortPool,
                         ports: list[tuple[int, Any]]) -> list[Stream]:
        old_streams = list(media.streams)
        interface: Interface = pool.interface
        streams: list[Stream] = []
        own_tos = self.call.tos != self.manager.config.tos
        kept: Stream | None = None
        if len(ports) == 1 and len(old_streams) == 2 and media.protocol in sdpmod.RTP_PROTOCOLS:
            # One new port for a leg on rtcp-mux: its RTCP stream keeps the socket it had
            # (10.5 only swaps the sockets the new set has).
            kept = next((o for o in old_streams if o.rtcp and not o.closed
                         and o.interface is interface), None)
            if not media.rtcp_unbound:
                media.rtcp_unbound = True
            if kept is None:
                # (one without a socket stays without one, where it was filled: query's
                # unbound RTCP stream)
                old_rtcp = next((o for o in old_streams if o.rtcp), None)
                if old_rtcp is not None and old_rtcp.endpoint is not None:
                    media.rtcp_kept = old_rtcp.endpoint
        for n, (port, sock) in enumerate(ports):
            stream = Stream(interface=interface, port=port, rtcp=n == 1, sock=sock,
                            group=self.call.call_id, created=self.now)
            if own_tos:
                stream.tos_own = True
            old = (next((o for o in old_streams if o.rtcp == stream.rtcp), None)
                   if old_streams else None)
            if old is not None:  # new local ports, same remote party
                # (what is known of the party stays: 10.5 swaps a stream's sockets, its
                # endpoint and confirmation are kept, e.g. one ICE or a NAT gave it)
                stream.advertised, stream.endpoint = old.advertised, old.endpoint
                stream.confirmed = old.confirmed
                stream.asymmetric, stream.strict_source = old.asymmetric, old.strict_source
                stream.media_handover, stream.learning = old.media_handover, old.learning
                stream.blocked = old.blocked
                stream.extra_sinks = old.extra_sinks  # its subscribers (pubsub) stay
                stream.payload_types = old.payload_types
                if old.crypto_suite is not None:  # (10.5's stream keeps its SRTP context)
                    stream.crypto_suite = old.crypto_suite
            elif stream.rtcp and not media.rtcp_on_rtp:
                # A leg on one port (rtcp-mux) given an RTCP port again: 10.5 had an RTCP
                # stream all along, filled with the party's RTCP address (query's unbound
                # one), which a leg on ICE keeps whatever the SDP now says.
                rtp_old = next((o for o in old_streams if not o.rtcp), None)
                if rtp_old is not None and rtp_old.advertised is not None:
                    stream.advertised = rtp_old.advertised.rtcp_of(media.rtcp_port)
                    stream.endpoint = media.rtcp_kept
                if rtp_old is not None and rtp_old.crypto_suite is not None:
                    # (and its SRTP context, keyed with the RTP stream's: the same suite)
                    stream.crypto_suite = rtp_old.crypto_suite
            streams.append(stream)
        if len(streams) == 1 and media.protocol in sdpmod.RTP_PROTOCOLS:
            streams[0].rtcp_mux = True
        if kept is not None:
            streams.append(kept)
            old_streams.remove(kept)
        if len(streams) == 2:
            streams[0].rtcp_peer = streams[1]
        endpoint_maps.remember(media, old_streams, streams)
        for old in old_streams:  # bound and relayed as the new stream until the call ends (10.5)
            successor = next((s for s in streams if s.rtcp == old.rtcp), None)
            self.manager.retire_stream(self.call, old, successor)
        media.streams = streams
        media.bound_endpoint = None
        return streams


def _answered_mux(answer_media: CallMedia, offer_media: CallMedia, accepted: bool,
                  opts: Options) -> bool:
    """Whether an answer leaves the offerer on rtcp-mux (``accepted``: the answer's own
    a=rtcp-mux). "reject" and "accept" only mean something in an offer (10.5 ignores them
    in answers): the offer's own options (``mux_flags``) decide."""
    flags = answer_media.mux_flags | (opts.rtcp_mux - {"reject", "accept"})
    # The offerer keeps what it offered when we did not pass rtcp-mux on (demux) or were
    # told to accept it; otherwise it gets the answerer's choice.
    keeps = not answer_media.mux_sent or "accept" in flags
    return offer_media.mux_offered and "reject" not in flags and (accepted or keeps)


def _renew_suite(stream: Stream, media: CallMedia, parsed: SessionDescription,
                 index: int, refused: bool = False) -> None:
    """A party's SDP moved a stream it had filled (no ICE on the leg, 10.5's
    ``__fill_stream``): 10.5 resets the stream's SRTP context, unless the SDP speaks DTLS,
    and sets it up again only while the leg has SDES (what query names as the stream's
    crypto suite): from our first line for the party, whatever the protocol it moved to.
    An SDP with a=crypto keeps only our lines of its first line's tag and suite; one that
    refuses the media (``refused``) changes no lines (10.5 reads its keys only for media
    it accepts)."""
    if webrtc.is_dtls(webrtc.remote_params(parsed, index)):
        return
    stream.crypto_suite = None
    received = () if refused else sdes.received_crypto(parsed.medias[index])
    if not (media.sdes or media.sdes_offered or received):
        return
    stream.crypto_suite = sdes.context_suite(media, received)


def _fill_endpoint(stream: Stream, media: CallMedia, target: Endpoint | None, ice_leg: bool,
                   rtcp_port_before: int | None) -> bool:
    """An SDP names ``target`` for ``stream``: whether its endpoint stays where it was
    (:func:`_endpoint_stays`; filled with the address it had if it was not yet). So does
    the fallback RTCP address of a leg on one port (``CallMedia.rtcp_kept``: the party's
    a=rtcp port before, else the one after its RTP port); an endpoint that follows the
    SDP takes that one along."""
    if not _endpoint_stays(stream, target, ice_leg):
        if media.rtcp_kept is not None:
            media.rtcp_kept = None
        return False
    if stream.endpoint is None:
        stream.endpoint = stream.advertised
    advertised = stream.advertised
    if (not stream.rtcp and media.rtcp is None and media.rtcp_kept is None
            and not media.rtcp_on_rtp and advertised is not None):
        media.rtcp_kept = advertised.rtcp_of(rtcp_port_before)
    return True


def _endpoint_stays(stream: Stream, target: Endpoint | None, ice_leg: bool) -> bool:
    """Whether an SDP's new address for ``stream`` leaves its endpoint where it was (10.5's
    ``__fill_stream``): once filled, ICE on the leg moves it, not the SDP (the address it
    had stays until then); nor does an address of another family than the local port's
    (10.5 ignores it with a warning). Either way the SDP's shows as advertised."""
    if stream.advertised is None or target is None:
        return False
    return ice_leg or (not stream.closed and target.family != stream.interface.family)


def _set_dir_flags(smedia: CallMedia, rmedia: CallMedia, direction: str) -> None:
    """query's "send"/"recv" media flags, from the proxy's point of view (as rtpengine's):
    the sender's SDP ``direction`` read for both parties."""
    sends = direction in ("sendrecv", "sendonly")
    receives = direction in ("sendrecv", "recvonly")
    smedia.dir_flags = (receives, sends)
    rmedia.dir_flags = (sends, receives)


def _interface_of(mono: Monologue, media: CallMedia | None) -> str | None:
    """The logical interface ``mono`` is on: its ``media``'s, else its other media's."""
    for candidate in ([media] if media is not None else []) + list(mono.medias):
        if candidate is not None and candidate.rtp is not None and not candidate.rtp.closed:
            return candidate.rtp.interface.name
    return None


# media-echo as 10.5 sets it per message: (the sender's media, the receiver's media).
_ECHO_MODES = {
    "forward": ("drop", "echo"),
    "backward": ("echo", "drop"),
    "both": ("echo", "echo"),
    "blackhole": ("drop", "drop"),
}


def _apply_rtcp_gen(given: bool | None, smedia: CallMedia, rmedia: CallMedia, cname: str,
                    changed: list[Stream]) -> None:
    """``generate RTCP``: both media of the message get it (or lose it with "off"), and
    keep it through later messages that do not say (10.5's RTCP_GEN media flag). Their
    streams consume the parties' RTCP; their RTP streams send reports of their own."""
    if given is not None:
        smedia.rtcp_gen = rmedia.rtcp_gen = given
    elif not (smedia.rtcp_gen or rmedia.rtcp_gen):
        return  # (the usual case: their streams were cleared when it went off)
    for media in (smedia, rmedia):
        on = media.rtcp_gen
        rates = clock_rates(media.rtpmaps) if on else ()
        for stream in media.streams:
            if stream.closed:
                continue
            # (keys for the reports on an end-to-end SDES leg stay: ``sdes.report_keys``)
            keys = stream.rtcp_gen[3] if stream.rtcp_gen is not None else None
            want = report_spec(media, stream, cname, rates, keys) if on else None
            if stream.rtcp_gen != want:
                stream.rtcp_gen = want
                changed.append(stream)


def report_spec(media: CallMedia, stream: Stream, cname: str, rates: tuple,
                keys: tuple | None = None) -> tuple:
    """``Stream.rtcp_gen`` of a stream of a media with ``generate RTCP`` (offers, answers
    and calls restored from Redis): every stream consumes its party's RTCP, the RTP
    stream reports (from its own port with rtcp-mux in use)."""
    bits = RTCP_CONSUMED | (RTCP_SECURE_LEG if "SAVP" in media.protocol else 0)
    if stream is media.rtp:
        bits |= RTCP_GENERATED | (RTCP_ON_RTP if media.mux_shown else 0)
    return (bits, cname, rates, keys)


def _apply_echo(mode: str | None, smedia: CallMedia, rmedia: CallMedia,
                changed: list[Stream]) -> None:
    """media-echo: ``forward`` sends what the receiver of this message sends back to it and
    discards what the sender sends, ``backward`` the other way round, ``both`` echoes both,
    ``blackhole`` discards both (10.5); the mode stays with the media until another one
    is given. An echoing stream is its own sink; a discarding one has none."""
    if mode is not None:
        smedia.echo, rmedia.echo = _ECHO_MODES[mode]
    for media in (smedia, rmedia):
        if media.echo is None:
            continue
        for stream in media.streams:
            if stream.closed:
                continue
            stream.sink = stream if media.echo == "echo" else None
            changed.append(stream)


def _update_ptime(sender: CallMedia, receiver: CallMedia, section: sdpmod.MediaSection,
                  opts: Options | None) -> None:
    """The a=ptime each party is shown (``CallMedia.ptime_shown``), as 10.5 keeps it: the
    sender's own a=ptime goes to both medias, an offer's ``ptime`` option to the
    receiver's and its ``ptime-reverse`` to the sender's (``opts``: an offer's options,
    None in an answer, where 10.5 takes neither), and once an option was given the SDPs no
    longer change either. It stays until something changes it: a re-offer from the other
    side shows a party the packet time it was last given."""
    own = section.attributes("ptime")
    ptime = _leading_int(own[0]) if own else 0
    if ptime > 0:
        if not receiver.ptime_fixed:
            receiver.ptime_shown = ptime
        if not sender.ptime_fixed:
            sender.ptime_shown = ptime
    if opts is None:
        return
    if opts.ptime is not None and opts.ptime > 0:
        receiver.ptime_shown = opts.ptime
        receiver.ptime_fixed = sender.ptime_fixed = True
    if opts.ptime_reverse is not None and opts.ptime_reverse > 0:
        sender.ptime_shown = opts.ptime_reverse
        receiver.ptime_fixed = sender.ptime_fixed = True


def _leading_int(text: str) -> int:
    """An attribute value as 10.5 reads a number: its leading digits (0 without any)."""
    digits = len(text) - len(text.lstrip("0123456789"))
    return int(text[:digits]) if digits else 0


@functools.lru_cache(maxsize=256)
def _shared(mask: int) -> int:
    """One int per mask (the calls of a daemon offer few codec lists): not one per media."""
    return mask


def gather_types(media: CallMedia, protocol: str, formats: list[str]) -> None:
    """An offer with ``formats`` on ``media``: its RTP stream's ``payload_types`` gathered
    with them; -1 (none checked) when the media is not RTP (10.5 checks RTP only)."""
    stream = media.rtp
    if stream is None:
        return
    if "RTP" not in protocol:
        stream.payload_types = -1
        return
    mask = rtcp_feedback.known_mask(formats)
    if stream.payload_types != -1:
        mask |= stream.payload_types
    stream.payload_types = _shared(mask)
