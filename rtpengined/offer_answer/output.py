"""The SDP an offer/answer sends on: media plans from the committed model, rendered.

A mixin of the session (``session._Session``) so the plan/bind/commit steps and the
output they feed stay in separate modules; it only reads what ``_commit`` decided
(ports, rtcp-mux, ICE, codecs) and the o=/s=/version state kept on the party.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from .. import codec_negotiation as negotiation
from .. import sdp as sdpmod
from ..config import silence_threshold
from ..model import CallMedia, Monologue
from ..ngoptions import Options
from ..sdp import Connection, MediaPlan, SessionDescription, SessionPlan
from ..secure import dtls
from . import sdes, webrtc
from .ice import IceCandidates, ice_alternates, settle_roles
from .work import _held, _MediaWork

if TYPE_CHECKING:
    from ..calls import CallManager
    from ..model import Call


def _zero(conn: Connection | None) -> bool:
    return conn is not None and conn.is_zero


_LITE_OPTIONS = ("off", "forward", "backward", "both")


def _sealed(media: CallMedia) -> bool:
    """SRTP on the media's leg that the relay passes through without keys of its own."""
    stream = media.rtp
    return (sdes.is_srtp(media.protocol or "") and stream is not None
            and stream.srtp_in is None and stream.srtp_out is None and stream.dtls is None)


def _encoded_fmtps(plan: MediaPlan, to_offerer: tuple, offer: negotiation.Offered,
                   injected: bool = False, event_rates: Iterable[str] = (),
                   answered: Sequence[str] = ()) -> None:
    """The codecs the relay encodes into for the offerer are answered with the offerer's own
    format parameters where it gave any, else the answerer's (10.5 writes them from the
    offerer's codec, which took the answerer's parameters only when it had none, and
    whose encoder makes what the offerer gets: opus keeps its ``useinbandfec=1``). An offer
    that changed the packet time has 10.5 frame every codec anew (``repacketized``), so does
    an offerer's ``inject DTMF`` (``injected``: its DTMF goes into what it gets), and a
    telephone-event it made that the answer took (``event_rates``) turns into tones in the
    codecs of its clock rate. A codec converted into that the answer (``answered``, its
    formats in order) also lists itself, passed through, ahead of every codec converted
    into it keeps the answerer's parameters: 10.5 builds the answer in the answer's order
    and adds a payload type once."""
    # (telephone-event and CN keep theirs: ``Offered.supp_touched`` decides on them)
    codecs = plan.codecs
    assert codecs is not None  # (the answer's, made before)
    position = {pt: index for index, pt in enumerate(answered)}
    passed = {pt for pt, source, _, fmtps in codecs if pt == source and fmtps is None}
    first_source: dict[str, int] = {}
    for entry in to_offerer:
        if not str(entry[3]).lower().startswith(("telephone-event", "tones", "cn")):
            at = position.get(str(entry[0]), len(answered))
            target = str(entry[1])
            first_source[target] = min(at, first_source.get(target, at))
    targets = {pt for pt, at in first_source.items()
               if not (pt in passed and position.get(pt, len(answered)) < at)}
    rates = frozenset(event_rates)
    for pt, _, rtpmap, _ in codecs:
        encoding = negotiation.encoding_of(rtpmap or "")
        if (encoding in negotiation.FULLY_SUPPORTED
                and encoding not in negotiation.SUPPLEMENTARY
                and (offer.repacketized or injected
                     or sdpmod.clock_rate(rtpmap or "") in rates)):
            targets.add(pt)
    if not targets:
        return
    plan.codecs = [(pt, source, rtpmap, list(offer.fmtps[pt])
                    if pt in targets and fmtps is None and offer.fmtps.get(pt) else fmtps)
                   for pt, source, rtpmap, fmtps in codecs]


def _rare(media: CallMedia) -> bool:
    """The media's RTP stream has rare fields set (``model.rare``): it may hold conversions."""
    stream = media.rtp
    return stream is not None and stream.rare is not None


def _ptime_ms(ptime: str | None) -> int:
    """Milliseconds per packet for an a=ptime value; 20 without one (or a bad one)."""
    try:
        millis = int(ptime) if ptime is not None else 20
    except ValueError:
        millis = 20
    return millis if 0 < millis <= 1000 else 20


def _add_transcoded(plan: MediaPlan, section: sdpmod.MediaSection, work: _MediaWork) -> None:
    """``codec: {transcode}`` in an offer: the codecs the relay would convert to, added to
    what the answerer is offered (``_commit`` worked them out: ``negotiation.offer_formats``)."""
    rtpmaps = section.rtpmaps()
    plan.formats = work.sent_formats
    texts = dict(work.added)
    plan.codecs = [(pt, "", texts[pt], negotiation.made_fmtps(texts[pt])) if pt in texts
                   else (pt, pt, rtpmaps.get(pt), None) for pt in work.sent_formats]


def _rejected_restart(parsed: SessionDescription, index: int, out_media: CallMedia,
                      sender_media: CallMedia, is_offer: bool) -> None:
    """A media refused (port 0) with new ICE credentials: 10.5 settles the legs' ICE roles
    anew all the same, as for an ICE restart (it sets roles before it looks at the port),
    though it neither restarts its agent nor keeps the party's credentials."""
    section = parsed.medias[index]
    if not section.is_rtp or sender_media.ice_passthrough:
        return
    remote = webrtc.remote_params(parsed, index)
    if remote is None or not webrtc.ice_restarted(sender_media.remote_webrtc, remote):
        return
    _settle_roles_anew(out_media, sender_media, is_offer)


def _settle_roles_anew(out_media: CallMedia, sender_media: CallMedia, is_offer: bool) -> None:
    """Set the legs' ICE roles as on a first offer or answer (an ICE restart, a refusal with
    new credentials, the ``reset`` flag): we control ICE towards the party we send the offer
    to (10.5). Not where either side is ICE-lite: a lite agent's roles stay fixed."""
    if any(m.lite_self or m.lite_controlled or m.ice_lite for m in (out_media, sender_media)):
        return
    out_media.ice_controlling = is_offer
    sender_media.ice_controlling = not is_offer
    out_media.ice_role_own = sender_media.ice_role_own = True


class SdpOutput(IceCandidates):
    """SDP output of one offer/answer transaction (a base of ``_Session``; its ICE plan is
    ``IceCandidates``', one chain of single inheritance, as a compiled build needs)."""

    manager: CallManager  # (``_Session`` sets both)
    call: Call

    # An offer found a leg already on rtcp-mux (``_Session.apply``): 10.5 then requires
    # rtcp-mux for the rest of the request, and its SDP shows it on every media.
    mux_required = False

    # -- output -----------------------------------------------------------------------------

    def _render(self, plans: list[_MediaWork], parsed: SessionDescription, sender: Monologue,
                receiver: Monologue, opts: Options, is_offer: bool) -> str:
        media_plans: list[MediaPlan] = []
        lite = False  # a=ice-lite in what we send (with ICE in it)
        first_address: Connection | None = None
        for work in plans:
            section = work.section
            # The produced SDP shows the ports of the party it is sent to.
            out_media = receiver.medias[work.index]
            if is_offer and section.is_rtp and section.type == "audio":
                # 10.5 sets up the codec handlers towards the party offered to anew, an
                # accepted media's or a refused one's: its "transcoding" flag is what they
                # do now (those its offerer's ``inject DTMF`` sets up, and what the codec
                # options add, below); the offerer's stays until the answer.
                out_media.transcoding = sender.inject_dtmf
            if is_offer and opts.ice_lite in _LITE_OPTIONS:
                # ICE-lite (offers only, as 10.5): which parties we are lite towards from now
                # on; without the option, the sides stay as they were (even after a hold).
                out_media.lite_self = opts.ice_lite in ("forward", "both")
                sender.medias[work.index].lite_self = opts.ice_lite in ("backward", "both")
                if out_media.lite_self and not out_media.initialized:
                    out_media.ice_controlling = False  # (a lite agent is controlled: 10.5)
                    out_media.lite_controlled = True
            lite = lite or out_media.lite_self
            if section.type == "message":
                header = parsed.header_of(work.index)  # its own session's c=
                lines = parsed.session if header is None else header.lines
                session_c = next((ln.value for ln in lines if ln.kind == "c"), None)
                media_plans.append(MediaPlan(port=section.port, address=Connection("IP4", ""),
                                             passthrough=True, connection_text=session_c))
                continue
            if section.port == 0 or out_media.rtp is None:
                if section.port == 0:
                    _rejected_restart(parsed, work.index, out_media,
                                      sender.medias[work.index], is_offer)
                media_plans.append(self._rejected_plan(parsed, work, sender, receiver, opts,
                                                       is_offer))
                _handlers_shown(out_media, section, opts, is_offer)
                continue
            rtp = out_media.rtp
            conversion = None  # (an answer's conversions to set, once its keys are)
            address = opts.media_address or rtp.interface.advertised
            addr = Connection("IP6" if ":" in address else "IP4", address)
            first_address = first_address or addr
            conn = parsed.media_connection(work.index)
            assert conn is not None
            if "original-sendrecv" in opts.flags:
                direction = None
            else:
                direction = work.direction  # (_commit read it from the SDP)
            mux, rtcp_port = self._mux_out(out_media, parsed, work, opts, is_offer)
            protocol = opts.transport_protocol
            # (a re-offer that keeps the protocol the receiving party had: sdes.offer_security)
            kept = (is_offer and protocol is None and out_media.protocol_sent is None
                    and work.kept_protocol is not None)
            if is_offer:
                if protocol is None:
                    protocol = out_media.protocol_sent
                if protocol is None:
                    protocol = work.kept_protocol
                out_media.protocol_sent = protocol
            if is_offer:
                out_media.mux_sent = out_media.mux_in_use = mux
                out_media.mux_shown = None  # (as the sender's: session.apply)
            plan = MediaPlan(
                port=rtp.port, address=addr,
                formats=sdpmod.filter_codecs(section, opts.strip, opts.except_, offer=opts.offer),
                protocol=protocol,
                direction=direction,
                keep_zero_address=("zero-address" not in opts.replace
                                   and _held(parsed, work.index, conn)),
                rtcp_port=None if "no-rtcp-attribute" in opts.flags else rtcp_port,
                rtcp_full="full-rtcp-attribute" in opts.flags,
                rtcp_mux=mux)
            # (also when the codecs named only bring back some a mask hid)
            if is_offer and (work.added or (work.sent_formats
                                            and work.sent_formats != plan.formats)):
                _add_transcoded(plan, section, work)
            offer_sent = sender.medias[work.index].offered
            if not is_offer and section.is_rtp and offer_sent is not None:
                formats = plan.formats
                assert formats is not None  # (the answer's, filter_codecs' list)
                codecs, left_supplements = negotiation.answer_plan(section, formats,
                                                                   offer_sent)
                offer_sent = negotiation.reframed_by_answer(offer_sent, section, codecs)
                narrowed = False  # (``single codec`` left out codecs the answerer may send)
                if "single-codec" in opts.flags:
                    answered = len(codecs)
                    codecs = negotiation.single_codec(codecs)
                    narrowed = len(codecs) < answered
                plan.codecs = [(c.pt, c.source_pt, c.rtpmap, c.fmtps) for c in codecs]
                plan.hide_formats = negotiation.hides_formats(section, codecs, offer_sent,
                                                              left_supplements)
                # (the answer took a telephone-event we made: its DTMF crosses between
                # tones and events, ``_set_conversions``, and query shows "transcoding")
                made_event = negotiation.takes_made_event(formats, section, offer_sent)
                # (framed anew only where 10.5 has codec handlers: audio)
                renumbered = (any(c.renumbered for c in codecs)
                              or (offer_sent.repacketized and section.type == "audio")
                              or made_event or negotiation.takes_made_event(
                                  formats, section, offer_sent, "cn"))
                for media in (out_media, sender.medias[work.index]):
                    media.transcoding = renumbered
                if not renumbered and negotiation.drops_strays(section, formats, codecs,
                                                               offer_sent):
                    sender.medias[work.index].transcoding = True
                # Conversions only where 10.5 transcodes: the offer's codec options asked
                # for it, the packet time changes, or the answer has nothing in common with
                # the offer (its first codec is then the offerer's, from no answer codec).
                # ``single codec``: what the answerer sends in the codecs the offerer was
                # not answered is converted into the one it was (10.5).
                converts = section.type == "audio" and bool(
                    narrowed or offer_sent.sent or offer_sent.repacketized
                    or receiver.inject_dtmf
                    or (codecs and not codecs[0].source_pt) or sender.inject_dtmf
                    or offer_sent.prefer is not None)
                answerer_media = sender.medias[work.index]
                if converts or _rare(out_media) or _rare(answerer_media):
                    # (or conversions set before, maybe to undo: only on streams with rare
                    # fields, so a plain call's answer skips this. Set once the legs' keys
                    # are, below: SRTP passed through untouched is not converted.)
                    conversion = (out_media, answerer_media, codecs if converts else None,
                                  section, plan, offer_sent,
                                  (receiver.inject_dtmf, sender.inject_dtmf),
                                  made_event, narrowed)
            # The party's media's a=ptime (``session._update_ptime``); without one the
            # SDP's own a=ptime lines stay where they are (10.5).
            if out_media.ptime_shown:
                plan.ptime = str(out_media.ptime_shown)
            else:
                plan.keep_ptime = True
            sender_media = sender.medias[work.index]
            was_passthrough = out_media.ice_passthrough
            # An ICE restart by the sender resets the roles where it has an agent of ours
            # (none on a passthrough leg: 10.5 then takes new credentials for no restart).
            remote = webrtc.remote_params(parsed, work.index) if section.is_rtp else None
            restarted = remote is not None and webrtc.ice_restarted(
                sender_media.remote_webrtc, remote)
            roles_restart = restarted and not sender_media.ice_passthrough
            # (a fingerprint other than the one the party had restarts its DTLS: 10.5)
            dtls_restart = (remote is not None and sender_media.remote_webrtc is not None
                            and sender_media.remote_webrtc.fingerprint is not None
                            and remote.fingerprint != sender_media.remote_webrtc.fingerprint)
            # (a re-offer to a leg that has answered sets its ICE roles only on a restart)
            roles_kept = (is_offer and out_media.initialized and section.is_rtp
                          and not roles_restart)
            passthrough = self._plan_ice(plan, parsed, work.index, sender_media, out_media,
                                         receiver, opts, is_offer, rtcp_port, roles_kept)
            if passthrough:
                # (nor on a leg this request makes a passthrough: 10.5 sets that up before it
                # looks for a restart)
                roles_restart = False
            if plan.address is not addr and first_address is addr:
                first_address = plan.address  # ICE selected our socket on another address
            if plan.keep_zero_address and plan.ice is not None:
                # A party we speak ICE with gets our address for a c=0.0.0.0 hold (10.5
                # keeps the null address only towards a leg without ICE): the hold is in
                # the direction attribute, its ICE and DTLS go on.
                plan.keep_zero_address = False
            if opts.strip and section.is_rtp and not plan.hide_formats:
                plan.hide_formats = sdpmod.only_dtmf_left(
                    section, section.formats,
                    [c[0] for c in plan.codecs] if plan.codecs is not None
                    else plan.formats or [])
            if remote is not None:
                if is_offer and restarted:
                    # The party restarted ICE (RFC 8445 9): our answer to it restarts too,
                    # with credentials of its own (10.5); the ports stay.
                    sender.ice_credentials = None
                if roles_restart or (is_offer and "reset" in opts.flags):
                    _settle_roles_anew(out_media, sender_media, is_offer)  # (... and roles)
                sender_media.remote_webrtc = remote
                if sender_media.trickle_flagged:  # (its own SDP says now: 10.5)
                    sender_media.trickle_flagged = False
                if is_offer and "trickle-ICE" in opts.flags:
                    out_media.trickle_flagged = True
                if is_offer:
                    _offer_mid(section, sender_media, out_media, "generate-mid" in opts.flags)
                plan.write_mid, plan.mid = True, out_media.mid
            if passthrough:
                # ICE passthrough (10.5): the parties' own DTLS/SDES attributes stay and we
                # add none; the relay forwards what comes (STUN, DTLS, SRTP) untouched.
                shown = (sdes.new_passthrough_keys(section, out_media, opts, protocol)
                         if is_offer and not was_passthrough else None)
                sdes_shown = (self._passthrough_start_sdes(section, sender_media, out_media,
                                                           opts, is_offer)
                              if not was_passthrough else None)
                changed = sdes.passthrough_security(plan, section, sender_media, out_media,
                                                    is_offer, opts.transport_accept, shown)
                if sdes_shown is not None:
                    for media, (shown_sdes, role) in zip((sender_media, out_media),
                                                         sdes_shown, strict=True):
                        if shown_sdes is not None:
                            media.sdes = shown_sdes
                        if role is not None:
                            media.dtls_shown = (role,)
                changed += self._webrtc_legs(((out_media, receiver), (sender_media, sender)))
                changed += sdes.drop_rtcp_keys(sender_media, out_media)
                for stream in changed:
                    if not stream.closed:
                        self.manager.media.update_stream(stream)
            elif is_offer:
                secure = (sdes.is_srtp(protocol or section.protocol) or opts.osrtp
                          or (kept and out_media.osrtp)
                          or section.has_attribute("crypto"))
                sdes.offer_security(plan, section, sender_media, out_media, opts, protocol,
                                    self._offer_fingerprint(opts, out_media) if secure else "",
                                    kept, new_ports=bool(work.receiver_ports),
                                    dtls_restart=dtls_restart)
                # checks the party sends before its answer are answered, not relayed
                early = webrtc.await_answer(out_media, receiver)
                if section.is_rtp:  # a DTLS offerer's handshake starts now (10.5)
                    early += webrtc.early_dtls(sender_media, self.manager.certificate)
                    # and an ICE offerer's agent checks its candidates from now on (10.5)
                    early += webrtc.offerer_ice(
                        sender_media, sender, self.manager.certificate,
                        partial(ice_alternates, self.manager, self.call, sender_media))
                for stream in early:
                    if not stream.closed:
                        self.manager.media.update_stream(stream)
            else:
                offered_proto = out_media.offer_protocol
                if (plan.protocol is None and section.is_rtp and not opts.transport_accept
                        and offered_proto in sdpmod.RTP_PROTOCOLS  # (not a T.38 gateway's)
                        and offered_proto != section.protocol and work.real_section is None
                        and (sdes.is_srtp(offered_proto) == sdes.is_srtp(section.protocol)
                             or not (sdes.is_srtp(offered_proto) or sender_media.srtp_bridged
                                     or out_media.crypto_received))):
                    # An answer goes to the offerer in the protocol it offered (as 10.5
                    # answers), e.g. RTP/AVPF offered on as RTP/AVP
                    # (``transport-protocol``): answered RTP/AVPF; a plain offerer offered
                    # on plain gets its own protocol back from an SRTP answerer too (its
                    # keys are not ours to pass on). (Where SRTP differs between the two
                    # otherwise, answer_security picks it.)
                    plan.protocol = out_media.protocol = offered_proto  # (query shows it)
                changed = sdes.answer_security(plan, section, sender_media, out_media,
                                               self.manager.certificate,
                                               osrtp_accept="accept" in opts.osrtp,
                                               protocol=(section.protocol if opts.transport_accept
                                                         else opts.transport_protocol),
                                               static="static" in opts.sdes,
                                               dtls_off=opts.dtls == "off",
                                               dtls_option=opts.dtls)
                if (plan.security is None and section.has_attribute("crypto")
                        and not section.has_attribute("fingerprint")):
                    # An a=crypto of the answer that no key of ours answers (an OSRTP answer
                    # to a plain re-offer, a line that does not parse): 10.5 strips a=crypto
                    # from every SDP it writes but a passthrough's, never copies it on.
                    plan.security = []
                changed += self._webrtc_legs(((out_media, receiver), (sender_media, sender)))
                changed += sdes.rtcp_keys(sender, sender_media, out_media)
                if sender_media.rtcp_gen:
                    changed += sdes.report_keys(sender, sender_media)
                for stream in changed:
                    if not stream.closed:
                        self.manager.media.update_stream(stream)
            if conversion is not None:
                self._set_conversions(*conversion)
            elif is_offer and work.added:
                self._early_conversions(sender_media, out_media, work)
                if not opts.transcode:  # (the tracker's CN or telephone-event: 10.5 shows
                    out_media.transcoding = True  # its handlers on the party offered to)
            _handlers_shown(out_media, section, opts, is_offer)
            media_plans.append(plan)
        session_plan = SessionPlan(media_plans)
        if first_address is None:  # every media refused: the address the first would have
            # used (its own family: an IPv6 body keeps an IPv6 c=, as in 10.5)
            first_address = next(
                (p.address for p in media_plans if p.port == 0 and not p.passthrough),
                None) or Connection("IP4", self.manager.pool_for().interface.advertised)
        # A session-level c=0.0.0.0 stays a hold unless a media using it speaks ICE (a
        # trickle ICE offer: its candidates give the address), as for the medias' own c=.
        keep_zero = "zero-address" not in opts.replace
        if keep_zero and (parsed.more_sessions or _zero(parsed.connection)):
            # (Only a session c= that is null can be held: with one session and its c= not
            # null, no media qualifies and the plain case skips the walk.)
            keep_zero = all(
                plan.keep_zero_address for work, plan in zip(plans, media_plans, strict=True)
                if plan.port and not plan.passthrough
                and parsed.medias[work.index].connection is None
                and _zero(parsed.media_connection(work.index)))
        session_plan.keep_zero_address = keep_zero
        session_plan.strip_extmap = "strip-extmap" in opts.flags
        for media_plan in media_plans:
            if media_plan.security is not None:
                session_plan.strip_security = True
                break
        medias = parsed.medias
        first_session = (parsed.session_medias(None) if parsed.more_sessions
                         else range(len(medias)))
        lacking = False  # a media of the first session without a c= of its own
        for i in first_session:
            if medias[i].connection is None:
                lacking = True
                break
        session_plan.replace_session_connection = "session-connection" in opts.replace
        # `ICE: force-relay` leaves the session's c= and o= lines alone (10.5).
        relay = opts.ice == "force-relay"
        if (lacking or "session-connection" in opts.replace) and not relay:
            session_plan.session_connection = first_address
        if "origin" in opts.replace and not relay:
            session_plan.origin_address = first_address
        session_plan.keep_ice = opts.ice in ("optional", "force-relay")
        session_plan.strip_relay_candidates = relay
        session_plan.keep_attributes = bool(receiver.medias) and receiver.medias[0].ice_passthrough
        if "loop-protect" in opts.flags:
            session_plan.extra_attributes.append(f"rtpengine:{self.manager.instance_id}")
        if lite and any(p.ice is not None for p in media_plans):
            session_plan.extra_attributes.append("ice-lite")
        origin = parsed.origin
        if origin is not None:
            if "username" in opts.replace:
                if sender.sdp_username is None:
                    sender.sdp_username = origin[0]
                session_plan.origin_username = sender.sdp_username
            if "session-name" in opts.replace:
                name = next((ln.value for ln in parsed.session if ln.kind == "s"), None)
                if name is not None:
                    if sender.sdp_session_name is None:
                        sender.sdp_session_name = name
                    session_plan.session_name = sender.sdp_session_name
            if "SDP-version" in opts.replace:
                return self._versioned(parsed, session_plan, sender, origin)
        return sdpmod.render(parsed, session_plan)

    def _offer_fingerprint(self, opts: Options, out_media: CallMedia) -> str:
        """Our ``a=fingerprint`` in an offer: the hash ``DTLS-fingerprint`` names (any case),
        sha-256 when it names none we know; a re-offer without the option keeps the hash
        (10.5)."""
        wanted = (opts.dtls_fingerprint or "").lower()
        if wanted not in dtls.FINGERPRINT_HASHES:
            wanted = (out_media.fingerprint_hash if opts.dtls_fingerprint is None
                      else None) or dtls.DEFAULT_FINGERPRINT_HASH
        out_media.fingerprint_hash = wanted
        return self.manager.certificate().fingerprint(wanted)

    def _passthrough_start_sdes(self, section: sdpmod.MediaSection, sender_media: CallMedia,
                                out_media: CallMedia, opts: Options,
                                is_offer: bool) -> tuple[tuple, tuple] | None:
        """The request that makes a media an ICE passthrough: 10.5 reads its SDES as on any
        leg before it sees both legs speak ICE, so query shows SDES (and an answer's
        suites) where that would, though the SDP keeps the parties' own lines and no key
        of ours is used. For the sender's and the receiver's leg: (SDES flag, DTLS role)
        to show, None for either: as the passthrough leaves it. An offer: its sender's own
        a=crypto (the receiver's shows what ``new_passthrough_keys`` says); an answer: as
        ``sdes.answer_security`` keys it, its other state put back."""
        if is_offer:
            return ((True, None), (None, None)) if sdes.received_crypto(section) else None
        kept = [(media.crypto_accepted, media.crypto_answered, media.dtls_role_left,
                 media.osrtp, media.dtls_only) for media in (sender_media, out_media)]
        scratch = MediaPlan(port=0, address=Connection("IP4", ""))
        sdes.answer_security(scratch, section, sender_media, out_media,
                             self.manager.certificate,
                             osrtp_accept="accept" in opts.osrtp,
                             protocol=(section.protocol if opts.transport_accept
                                       else opts.transport_protocol),
                             static="static" in opts.sdes, dtls_off=opts.dtls == "off",
                             dtls_option=opts.dtls)
        for media, (accepted, answered, role_left, osrtp, dtls_only) in zip(
                (sender_media, out_media), kept, strict=True):
            if (media.crypto_accepted, media.crypto_answered, media.dtls_role_left,
                    media.osrtp, media.dtls_only) != (accepted, answered, role_left, osrtp,
                                                       dtls_only):
                media.crypto_accepted, media.crypto_answered = accepted, answered
                media.dtls_role_left, media.osrtp, media.dtls_only = (role_left, osrtp,
                                                                      dtls_only)
        return ((sender_media.sdes, sender_media.dtls_role),
                (out_media.sdes, out_media.dtls_role))

    def _webrtc_legs(self, legs) -> list:
        """After an answer: the legs where the relay terminates DTLS-SRTP get their spec
        (ICE too when spoken there), the others lose it; the streams that changed."""
        changed = []
        for media, mono in legs:
            changed += webrtc.refresh_leg(media, mono, self.manager.certificate)
        return changed

    def _silence(self) -> tuple[int, bytes] | None:
        """``--silence-detect``'s threshold and ``--cn-payload``, for the relay; None: off."""
        config = self.manager.config
        threshold = silence_threshold(config)
        return (threshold, bytes(config.cn_payload)) if threshold else None

    def _set_conversions(self, offerer: CallMedia, answerer: CallMedia,
                         codecs: list[negotiation.AnswerCodec] | None,
                         section: sdpmod.MediaSection, plan: MediaPlan,
                         offer_sent: negotiation.Offered,
                         inject: tuple[bool, bool] = (False, False),
                         made_event: bool = False, narrowed: bool = False) -> None:
        """What the relay converts each way once an answer is made: to the offerer (its
        streams send to it) what the answerer may send that the offerer was not answered,
        and to the answerer the other way round, in frames of the packet time our SDP told
        each (``negotiation.conversions``); nothing when ``codecs`` is None (a call that
        converted before and no longer does). Streams whose conversions change get a new
        spec."""
        to_offerer: tuple = ()
        to_answerer: tuple = ()
        passes = False  # (towards the offerer: ``Stream.transcode_passes``)
        # (SRTP passed end to end: the relay cannot read the packets, it converts nothing;
        # the answer's format parameters still follow 10.5's codec handlers)
        sealed = codecs is not None and (_sealed(offerer) or _sealed(answerer))
        formats = plan.formats
        if codecs is not None:
            assert formats is not None  # (the answer's)
            told = plan.ptime
            if told is None and plan.keep_ptime:
                own = section.attributes("ptime")
                told = own[0] if own else None
            rtpmaps = section.rtpmaps()
            offerer_codecs = [(c.pt, c.rtpmap or "") for c in codecs]
            answerer_codecs = [(pt, rtpmaps.get(pt, "")) for pt in formats]
            # (a changed ptime, or DTMF to inject: what passes is framed anew too; DTMF
            # goes in towards a party that asked for ``inject DTMF``, as 10.5)
            to_offerer_framed = offer_sent.repacketized or inject[0]
            to_answerer_framed = offer_sent.repacketized or inject[1]
            to_offerer_cn, to_answerer_cn = negotiation.made_noise(offer_sent, answerer_codecs)
            silence = self._silence()
            # (DTMF between tones and events: the answerer took a telephone-event we made,
            # or always transcode)
            dtmf = offer_sent.always or made_event
            to_offerer = negotiation.conversions(
                answerer_codecs, offerer_codecs, _ptime_ms(told), to_offerer_framed,
                to_offerer_cn, silence, dtmf=dtmf)
            unanswered = negotiation.unanswered_added(offer_sent, answerer_codecs)
            if unanswered:
                converted = {entry[0] for entry in to_offerer}
                more = tuple(entry for entry in negotiation.conversions(
                    unanswered, offerer_codecs, _ptime_ms(told), to_offerer_framed)
                    if entry[0] not in converted)
                # (in a direction that converted nothing else, 10.5 passes the rest as
                # it came and shows no "transcoding": ``Stream.transcode_passes``)
                passes = not to_offerer and bool(more)
                to_offerer += more
            to_answerer = negotiation.conversions(
                offerer_codecs, answerer_codecs, _ptime_ms(offer_sent.sent_ptime),
                to_answerer_framed,
                to_answerer_cn, silence, dtmf=dtmf,
                into_first=negotiation.added_first(offer_sent, answerer_codecs))
        # (``single codec`` narrowed only what the offerer was told: 10.5 writes the
        # answerer's parameters then)
        if codecs is not None and not passes and not narrowed and plan.codecs is not None:
            _encoded_fmtps(plan, to_offerer, offer_sent, inject[0],
                           negotiation.made_event_rates(answerer_codecs, offer_sent)
                           if made_event else (), formats or ())
        # (query's "transcoding" flag, as 10.5's: on the media whose packets are converted,
        # and on one whose packets go to a party injecting DTMF, whatever the relay can do
        # with them: SRTP passed end to end too, where 10.5 sets its codec handlers up
        # all the same)
        for media, conversions, source, passing, injected in (
                (answerer, to_answerer, offerer, False, inject[1]),
                (offerer, to_offerer, answerer, passes, inject[0])):
            if (conversions and not passing) or injected:
                source.transcoding = True
            if sealed:
                conversions, passing = (), False
            stream = media.rtp
            if stream is None or stream.closed:
                continue
            changed = stream.transcode != conversions or stream.transcode_passes != passing
            if changed:
                stream.transcode = conversions
                stream.transcode_passes = passing
                self.manager.media.update_stream(stream)
            # (also unchanged, as the offer set it for early media: listed in this order)
            if source.rtp is not None and (changed or conversions):
                self.manager.set_converting(source.rtp, stream)

    def _early_conversions(self, offerer: CallMedia, answerer: CallMedia,
                           work: _MediaWork) -> None:
        """Early media, as 10.5: from the offer that added codecs (``transcode``) on, what
        the answerer sends in a codec it was offered that the offerer does not have goes
        to the offerer converted into the offerer's first codec, before any answer says
        which codec the answerer chose (10.5 sets up its codec handlers at the offer);
        the offerer's own codecs pass. The answer then sets what the call converts
        (``_set_conversions``). Only while the offerer's stream converts nothing: a
        re-offer keeps what the last answer set until its own answer."""
        offer = answerer.offered
        stream = offerer.rtp
        section = work.section
        if (offer is None or stream is None or stream.closed or stream.transcode
                or section.type != "audio"):
            return
        rtpmaps = section.rtpmaps()
        texts = dict(work.added)
        answerer_codecs = [(pt, texts.get(pt) or rtpmaps.get(pt, "")) for pt in work.sent_formats]
        conversions = negotiation.conversions(
            answerer_codecs, list(offer.own or offer.codecs),
            _ptime_ms(offer.reverse_ptime or offer.ptime))
        if conversions:
            answerer.transcoding = True  # (query shows it on the media sending, as 10.5)
            if _sealed(offerer) or _sealed(answerer):
                return  # (SRTP passed end to end: nothing the relay can convert)
            stream.transcode = conversions
            self.manager.media.update_stream(stream)
            if answerer.rtp is not None:
                self.manager.set_converting(answerer.rtp, stream)

    def _rejected_plan(self, parsed: SessionDescription, work: _MediaWork, sender: Monologue,
                       receiver: Monologue, opts: Options, is_offer: bool) -> MediaPlan:
        """A refused media (port 0) binds nothing, but its ``c=`` still names the interface it
        would have used (the family asked for, else its own) and an answer's format list is
        narrowed to the offer's codecs like an accepted one's (10.5). Its keys and DTLS
        lines are not passed on (``sdp._render_media``): they are the sender's, for a media
        nobody will key."""
        conn = parsed.media_connection(work.index)
        own_family = "IPv6" if conn is not None and conn.family == "IP6" else "IPv4"
        names = opts.direction
        name = names[1] if len(names) > 1 and self.manager.has_interface(names[1]) else None
        interface = self.manager.pool_for(name, opts.address_family or own_family).interface
        address = opts.media_address or interface.advertised
        plan = MediaPlan(port=0, address=Connection("IP6" if ":" in address else "IP4", address),
                         keep_zero_address="zero-address" not in opts.replace)
        section = work.section
        if section.is_rtp:
            # In the protocol its receiver uses, as 10.5 writes it: an offer's
            # ``transport-protocol``, an answer's the offerer's own.
            # (a re-offer's with none named: the protocol the receiver had, when the
            # sender's is unchanged, as an accepted media's: 10.5's ``kept``)
            protocol = ((opts.transport_protocol
                         or receiver.medias[work.index].protocol_sent or work.kept_protocol)
                        if is_offer else receiver.medias[work.index].offer_protocol)
            if protocol is not None and protocol in sdpmod.RTP_PROTOCOLS:
                plan.protocol = protocol
                if not is_offer:  # (query shows it, as an accepted answer's)
                    receiver.medias[work.index].protocol = protocol
            # Its a=mid as an accepted one's: the one its receiver has (an offer's the
            # offerer's, or generated; an answer's the one the offerer gave it: a browser
            # needs it on a refused m= line too; 10.5 writes it).
            own, peer = sender.medias[work.index], receiver.medias[work.index]
            # Its ICE roles are set as an accepted one's (10.5 does so whatever the port):
            # not with the passthrough flags, nor towards a leg that had them before.
            settle_roles(peer, own, opts.passthrough is None and not (
                is_offer and peer.initialized) and (is_offer or opts.ice != "remove"
                                                    or peer.ice_agent), is_offer)
            # Whether its receiver's leg speaks ICE is settled as for an accepted media, by
            # an offer's or an answer's ICE option (10.5): a later re-offer that accepts
            # the media goes on from there.
            if is_offer and not peer.initialized:  # (the offerer's leg: its SDP's, if any)
                peer.ice_out = own.ice_out
            if opts.ice == "remove":
                peer.ice_out = False
            elif opts.ice != "default":
                # (``optional``/``force-relay`` in an answer whose party has no ICE leave
                # none towards the offerer either: nothing of ours runs there, 10.5)
                peer.ice_out = opts.ice == "force" or is_offer or own.ice_out
            if opts.passthrough is not None:  # (both legs, whatever the port: 10.5)
                own.ice_passthrough = peer.ice_passthrough = opts.passthrough
            if peer.ice_passthrough:
                # (an ICE passthrough leg: its parties' ICE and DTLS/SDES lines go end to
                # end, a refused media's too, as 10.5 passes them)
                plan.keep_ice = plan.keep_security = True
            # Whether its sender's protocol is opportunistic SRTP, as an accepted one's
            # (10.5 reads a refused media's protocol too; a re-offer keeps the receiver's
            # protocol only if it is unchanged). Changed, an offer's is its receiver's too
            # (but for a ``transport-protocol``); an answer's, to plain RTP, declines an
            # offerer's (unless ``OSRTP: accept``).
            if own.osrtp != sdes.is_osrtp(section):
                own.osrtp = not own.osrtp
                if is_offer:
                    peer.osrtp = own.osrtp and opts.transport_protocol is None
                elif (peer.osrtp and not own.osrtp and not sdes.is_srtp(section.protocol)
                        and "accept" not in opts.osrtp):
                    peer.osrtp = False
            if is_offer:
                _offer_mid(section, own, peer, "generate-mid" in opts.flags)
                # (what an answer refusing it too goes by: this offer's protocol, and no
                # codecs offered to narrow its format list by, as in 10.5)
                own.offer_protocol = section.protocol
                # (``always transcode``: the answer gets the offerer's DTMF and comfort
                # noise added, as an accepted one's, 10.5)
                # (and a ``ptime`` that frames it anew: what the refusing answer frames)
                refused_offer = negotiation.offered(
                    section, section.formats, opts.ptime, opts.ptime_reverse,
                    always="always-transcode" in opts.flags)
                # (and a ``mask``'s: an answer with nothing in common is answered the
                # offerer's first codec, the one its handlers convert into, as 10.5)
                peer.offered = (refused_offer
                                if refused_offer.always or refused_offer.repacketized
                                or opts.mask else None)
                # (its format list as an accepted one's would be: strip, mask, except,
                # offer, transcode and the tracker apply; 10.5)
                plan.formats, _, peer.transcoding_pts = negotiation.offered_format_list(
                    section, sdpmod.filter_codecs(section, opts.strip, opts.except_,
                                                  offer=opts.offer),
                    opts.strip, opts.except_, opts.mask, opts.transcode, opts.offer,
                    peer.transcoding_pts)
                own.transcoding_pts = frozenset()
                if opts.strip:  # (and one left with telephone-event/CN alone: an empty list)
                    plan.hide_formats = sdpmod.only_dtmf_left(section, section.formats,
                                                              plan.formats)
            plan.write_mid, plan.mid = True, peer.mid
        offer_sent = sender.medias[work.index].offered
        if not is_offer and section.is_rtp and section.type == "audio":
            # (Only audio: 10.5 passes the codecs of media it cannot transcode through.)
            renumbered = False  # (no codecs offered to narrow by: nothing converts, 10.5)
            if offer_sent is not None:
                formats = sdpmod.filter_codecs(section, opts.strip, opts.except_,
                                               offer=opts.offer)
                codecs = negotiation.answer_codecs(section, formats, offer_sent)
                offer_sent = negotiation.reframed_by_answer(offer_sent, section, codecs)
                plan.formats = [c.pt for c in codecs]
                renumbered = any(c.renumbered for c in codecs) or offer_sent.repacketized
            # (the handlers a party's ``inject DTMF`` set up stay on the media whose
            # packets they take towards that party, the refused media's too: 10.5)
            for media, injected in ((receiver.medias[work.index], sender.inject_dtmf),
                                    (sender.medias[work.index], receiver.inject_dtmf)):
                media.transcoding = renumbered or injected
        return plan

    def _versioned(self, parsed: SessionDescription, plan: SessionPlan, sender: Monologue,
                   origin: list[str]) -> str:
        """Keep the first SDP version; bump it only when the produced SDP changed."""
        version = sender.sdp_version
        plan.origin_version = "0"
        body = sdpmod.render(parsed, plan)
        if version is None:
            try:
                version = int(origin[2])
            except ValueError:
                version = 0
        elif body != sender.sdp_last_body:
            version += 1
        sender.sdp_version = version
        sender.sdp_last_body = body
        plan.origin_version = str(version)
        return sdpmod.render(parsed, plan)

    def _mux_out(self, out_media: CallMedia, parsed: SessionDescription, work: _MediaWork,
                 opts: Options, is_offer: bool) -> tuple[bool, int]:
        rtp = out_media.rtp
        assert rtp is not None
        rtcp = out_media.rtcp
        if rtcp is None:  # single port (rtcp-mux require)
            return True, rtp.port
        if is_offer:
            flags = opts.rtcp_mux
            # A leg already using rtcp-mux keeps it, without a fallback port (10.5: the
            # fallback may be closed already), whatever the options.
            sticky = out_media.mux_in_use
            if "offer" in flags or "require" in flags or sticky or work.mux_forced:
                mux = True
            elif "demux" in flags:
                mux = False
            else:
                mux = work.offers_mux
            # (rtcp-mux required: offered on the RTP port alone, whatever port the leg's
            # RTCP still has bound beside it; 10.5)
            required = (sticky or "require" in flags or work.mux_forced
                        or (mux and self.mux_required))
            return mux, rtp.port if required else rtcp.port
        if out_media.mux_answer:
            return True, rtp.port
        return False, rtcp.port


def _handlers_shown(out_media: CallMedia, section: sdpmod.MediaSection, opts: Options,
                    is_offer: bool) -> None:
    """``inject DTMF`` in an offer or answer, or an offer that frames the media anew
    (``ptime`` other than the party's own, ``ptime-reverse``): 10.5 sets up codec handlers
    for the party it goes to at once, so query shows "transcoding" on its media before any
    answer, a refused one's too."""
    if not (section.is_rtp and section.type == "audio"):
        return
    offered = out_media.offered if is_offer else None
    if "inject-DTMF" in opts.flags or (offered is not None and offered.repacketized):
        out_media.transcoding = True


def _offer_mid(section: sdpmod.MediaSection, sender_media: CallMedia, out_media: CallMedia,
               generate: bool) -> None:
    """Each party's media keeps one ``a=mid`` (10.5's media ID): the offerer's is what its
    offer wrote (a re-offer may change it, RFC 5888 9.1; one without keeps it), the other
    party's is taken from the offerer's the first time (or made from the media's number with
    ``generate mid``) and kept from then on. Every SDP sent to a party shows its own, so a
    browser's re-offered or answered BUNDLE keeps its mids whatever the SIP side writes."""
    mids = section.attributes("mid")
    if mids:
        sender_media.mid = mids[0]
    if out_media.mid is None:
        if sender_media.mid is not None:
            out_media.mid = sender_media.mid
        elif generate:
            out_media.mid = str(sender_media.index)
