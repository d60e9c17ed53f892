"""SDES-SRTP between an SRTP leg and a plain RTP leg: the `a=crypto` an offer/answer writes,
and the keys the relay gets (``Stream.srtp_in``/``srtp_out``).

As rtpengine 10.5: a plain offer sent on as RTP/SAVP(F) (``transport-protocol``) offers every
suite it knows plus ``a=setup:actpass`` and our fingerprint; the SRTP answer's `a=crypto`
picks our key and brings the answerer's, and the plain offerer gets a plain answer. An SDES
offer sent on as RTP/AVP loses its `a=crypto`; the plain answer goes back as the offerer's
protocol with one `a=crypto` (first offered suite, same tag, our new key). SDES on both legs
passes through untouched (its SRTP too; its SRTCP is decrypted and encrypted again with the
same keys, ``rtcp_keys``) when the answer picks one of the offerer's own lines, and is
re-keyed (the relay decrypts and encrypts) when it picks one we added. An
RTP/AVP offer with `a=crypto` (OSRTP, RFC 8643) is taken as an SDES offerer keeping its
protocol; the `OSRTP` list offers SDES on RTP/AVP (`offer`) or accepts it in a plain
answer (`accept`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import NamedTuple, cast

from ..model import CallMedia, Monologue
from ..ngoptions import Options
from ..sdp import MediaPlan, MediaSection
from ..secure import dtls, sdes
from ..secure.attributes import security_attributes
from ..secure.mki import mki_bytes
from .webrtc import is_dtls


def is_srtp(protocol: str | None) -> bool:
    return protocol is not None and "SAVP" in protocol


def is_osrtp(section: MediaSection) -> bool:
    """An opportunistic SRTP media (RFC 8643): RTP/AVP(F) with a=crypto lines we can read."""
    return section.is_rtp and not is_srtp(section.protocol) and bool(received_crypto(section))


def received_crypto(section: MediaSection) -> list[sdes.Crypto]:
    """The a=crypto lines of a media section, parsed (unparsable ones skipped)."""
    out = []
    for value in section.attributes("crypto"):
        try:
            out.append(sdes.parse_value(value))
        except sdes.SdesError:
            continue  # 10.5 skips a line it cannot parse
    return out


def relay_keys(crypto: sdes.Crypto) -> tuple:
    """The relay's (suite, key||salt, session parameters[, MKI bytes]); the MKI only for a
    line that has one (secure/mki.py frames it). A suite or parameter libsrtp cannot do
    here gets a profile no context is built for (as a restore from Redis marks it): the
    relay then drops (and counts) those packets rather than pass SRTP on to a plain party
    or plain RTP to an SRTP one."""
    if crypto.suite.name not in SUPPORTED or (crypto.flags and crypto.suite.aead):
        return (f"unsupported {crypto.suite.name}", b"")
    keys: tuple = (crypto.suite.name, crypto.key_salt, tuple(sorted(crypto.flags)))
    if crypto.mki is not None:
        keys += (mki_bytes(*crypto.mki),)
    return keys


def end_to_end(party: Monologue, media: CallMedia) -> tuple[CallMedia, sdes.Crypto, sdes.Crypto] | None:
    """A leg whose SDES keys pass end to end (an SDES answer that chose one of the
    offerer's own lines: the relay has no context of its own for it): the peer's media,
    the line the party sends with and the line it is sent with. None for every other leg
    (plain, DTLS, or keyed by the relay)."""
    stream = media.rtp
    if (stream is None or stream.srtp_out is not None or "SAVP" not in media.protocol
            or "TLS" in media.protocol):
        return None
    for peer in party.subscriptions:
        for other in peer.medias:
            if other.index != media.index:
                continue
            if media.crypto_answered is not None:  # the party offered; the answer's line
                given = media.crypto_answered
                sends = next((c for c in media.crypto_received if c.tag == given.tag), None)
            elif other.crypto_answered is not None:  # the party answered with that line
                sends = other.crypto_answered
                given = next((c for c in media.crypto_offered if c.tag == sends.tag), None)
            else:
                continue
            if sends is not None and given is not None:
                return other, sends, given
    return None


def report_keys(party: Monologue, media: CallMedia) -> list:
    """``generate RTCP`` on a leg whose SDES keys pass end to end (the relay passes the
    SRTP through untouched, as 10.5 does with the same keys both ways): each party's
    reports go out as SRTCP in the keys its SDP gave it, as 10.5 sends them; the relay
    gets those keys for its reports only (``Stream.rtcp_gen``). The streams that changed."""
    found = end_to_end(party, media)
    if found is None:
        return []
    peer_media, sends, given = found
    changed = []
    for leg, crypto in ((media, given), (peer_media, sends)):
        keys = relay_keys(crypto)
        for stream in leg.streams:
            if stream.rtcp_gen is not None and stream.rtcp_gen[3] != keys:
                stream.rtcp_gen = (*stream.rtcp_gen[:3], keys)
                changed.append(stream)
    return changed


def rtcp_keys(party: Monologue, media: CallMedia, peer_media: CallMedia) -> list:
    """After an answer: the RTCP keys (``Stream.srtcp``) of an end-to-end SDES leg, both its
    directions, or none on a leg that is not one (any more); the streams that changed.
    10.5 passes such a leg's SRTP through but decrypts and encrypts again each party's
    SRTCP (its savp2savp_rtcp_only handler): the reports count decrypted and feed the
    call's quality figures. (A suite the relay cannot do: its SRTCP passes as it came.)"""
    found = end_to_end(party, media)
    if found is None:
        return drop_rtcp_keys(media, peer_media)
    other, sends, given = found
    inbound, outbound = relay_keys(sends), relay_keys(given)
    if inbound[0] not in SUPPORTED or outbound[0] not in SUPPORTED:
        return drop_rtcp_keys(media, other)
    return (_set_rtcp_keys(media, (inbound, outbound))
            + _set_rtcp_keys(other, (outbound, inbound)))


def drop_rtcp_keys(*medias: CallMedia) -> list:
    """No RTCP keys of their own on these medias' streams (``rtcp_keys``): a leg keyed by
    the relay, plain, or passed through (ICE passthrough); the streams that changed."""
    return [s for media in medias for s in _set_rtcp_keys(media, None)]


def _set_rtcp_keys(media: CallMedia, keys: tuple | None) -> list:
    changed = []
    for stream in media.streams:
        if stream.srtcp != keys:
            stream.srtcp = keys
            changed.append(stream)
    return changed


def terminate_end_to_end(party: Monologue, media: CallMedia) -> list:
    """Give an end-to-end SDES leg (both its directions) relay contexts with the keys the
    parties already use, so the relay reads the media (a subscriber gets it decrypted)
    while each party still gets the bytes it would have had (SRTP with the same key,
    SSRC and index encrypts alike); the streams that changed. 10.5 decrypts and encrypts
    all of a leg with more than one sink (its must_recrypt), so nothing that shows changes."""
    found = end_to_end(party, media)
    if found is None:
        return []
    peer_media, sends, given = found
    return (set_keys(media, sends, given, keep_suite=True)
            + set_keys(peer_media, given, sends, keep_suite=True))


# What the relay's libsrtp contexts do (secure/srtp.py; not imported here, so that only
# relay workers load libsrtp): every suite 10.5 offers but F8 (not in libsrtp 2) and AES-192
# (libsrtp's does not interoperate); the session parameters (UNENCRYPTED_SRTP,
# UNENCRYPTED_SRTCP, UNAUTHENTICATED_SRTP) on the counter-mode and NULL suites; an MKI on any.
def _kept_key(media: CallMedia, ours: sdes.Crypto | None) -> sdes.Crypto | None:
    """Our answer to an SDES offerer keeps the key it had when the suite (and the session
    parameters) did not change, as 10.5 does on a re-offer (whatever key the offerer now
    sends): the relay's context goes on, and so does its rollover counter."""
    rtp = media.rtp
    kept = rtp.srtp_out if rtp is not None else None
    if (ours is None or kept is None or len(kept) < 3 or kept[0] != ours.suite.name
            or tuple(kept[2]) != tuple(sorted(ours.flags))):
        return ours
    return replace(ours, key=kept[1][:ours.suite.key_len], salt=kept[1][ours.suite.key_len:])


SUPPORTED = frozenset(s.name for s in sdes.SUITES
                      if not s.name.startswith(("F8_", "AES_192_")))


# Relay keys that name no suite (``Stream.srtp_in``/``srtp_out``): the relay builds no
# context for them, so it refuses every packet the party sends (or that is to be sent to
# it) and counts each as an error of the party's stream, as 10.5 counts a packet it has
# no crypto parameters to decrypt or encrypt. For an SRTP answerer whose answer gave no
# key we can read (nothing to decrypt it with), and one whose answer named none of the
# lines offered to it by tag and suite, or was offered none (nothing to encrypt with:
# 10.5 keeps of the lines it offered only the one an answer names). Compared with ``==``,
# not ``is``: a compiled build (mypyc) makes a new tuple where a constant tuple is used.
NO_KEY = ("no key", b"")


def set_keys(media: CallMedia, inbound: sdes.Crypto | tuple | None,
             outbound: sdes.Crypto | tuple | None, show_suite: bool = False,
             keep_suite: bool = False) -> list:
    """Give the media's streams their SRTP keys; the streams that changed. ``show_suite``:
    query names the suite on these streams (10.5 does for an SDES offerer's leg).
    Either may be ``NO_KEY``: what the party sends, or what is sent to it, is refused
    (and query names no suite for it)."""
    suite = (outbound.suite.name if show_suite and isinstance(outbound, sdes.Crypto)
             else None)
    key_in, key_out = (keys if isinstance(keys, tuple)
                       else relay_keys(keys) if keys is not None else None
                       for keys in (inbound, outbound))
    if key_in is None or key_out is None:
        key_in = key_out = None  # half a context relays nothing useful: stay plain
    changed = []
    for stream in media.streams:
        if stream.rare is None and key_in is None and suite is None:
            continue  # plain, and stays so (no suite to show)
        if not keep_suite:
            stream.crypto_suite = suite
        if stream.srtp_in != key_in or stream.srtp_out != key_out:
            stream.srtp_in, stream.srtp_out = key_in, key_out
            changed.append(stream)
        if key_in is not None and stream.srtcp is not None:
            stream.srtcp = None  # (the relay's keys decrypt all of it now: ``rtcp_keys``)
            if stream not in changed:
                changed.append(stream)
    return changed


def _leg_sdes_options(out_media: CallMedia, opts: Options) -> list[str]:
    """The `SDES` list as a leg offered to reads it. `SDES: off` chooses for a leg that has
    neither SDES nor DTLS yet: one that has SDES (ours offered to it, or its own lines)
    keeps it, one with DTLS alone gets no SDES (10.5 reads the option only for a leg with
    neither)."""
    options = list(opts.sdes)
    if out_media.sdes or out_media.sdes_offered:
        return [option for option in options if option != "off"]
    if out_media.has_dtls and "off" not in options:
        options.append("off")
    return options


def _sdes_list(opts: Options, sdes_options: list[str] | None = None) -> list[str]:
    """The `SDES` list (``sdes_options``: as the leg reads it, default all of it), with
    the `pad crypto` flag as its `pad` (10.5 takes either)."""
    listed = list(opts.sdes if sdes_options is None else sdes_options)
    return [*listed, "pad"] if "pad-crypto" in opts.flags else listed


def offer_security(plan: MediaPlan, section: MediaSection, sender_media: CallMedia,
                   out_media: CallMedia, opts: Options, protocol: str | None,
                   fingerprint: str, kept: bool = False, new_ports: bool = False,
                   dtls_restart: bool = False) -> None:
    """An offer: record what the offerer sent and write what we offer on (``protocol``: the
    transport-protocol it is sent on as, None: its own). ``kept``: a re-offer that keeps
    the protocol the receiving party had (its peer's own unchanged, OSRTP or not, and no
    transport-protocol given), which then also keeps whether its leg is OSRTP (10.5).
    ``new_ports``: the receiving party's leg got new local ports with this offer;
    ``dtls_restart``: the offer names another fingerprint than the party had."""
    in_proto = section.protocol
    out_proto = protocol or in_proto
    sender_media.offer_protocol = in_proto
    # An RTP/AVP(F) offer with a=crypto is opportunistic SRTP (RFC 8643): 10.5 takes its
    # keys like an SDES offerer's and keeps its protocol.
    osrtp_in = is_osrtp(section)
    sender_media.osrtp = osrtp_in
    sdes_in = is_srtp(in_proto) or osrtp_in
    # (a DTLS connection on the leg before this offer: a role settled, or the party's own
    # DTLS offer pending; DTLS we only offered it, which it did not take, leaves none, and
    # a new fingerprint shuts it down)
    had_dtls = not dtls_restart and (sender_media.dtls_role is not None
                                     or bool(sender_media.dtls_pending))
    # A receiver whose leg stays plain (kept) is not sent an opportunistic offerer's keys:
    # 10.5 sends it the offer as plain RTP, as it does an SDES offer sent on as RTP/AVP.
    # So is it with a plain transport-protocol named (10.5: `transport-protocol: RTP/AVP`
    # sends an opportunistic offer on without keys and DTLS lines, as proxies use it).
    named = opts.transport_protocol
    plain_named = named is not None and not is_srtp(named) and not is_srtp(out_proto)
    to_plain = osrtp_in and not is_srtp(out_proto) and (
        (kept and not out_media.osrtp) or plain_named)
    # An SDES offerer's lines of a suite the `SDES` list excludes are neither sent on nor
    # answered (10.5: `no-<suite>` applies to both).
    excluded = sdes.excluded_suites(opts.sdes)
    sender_media.crypto_received = [
        c for c in (received_crypto(section) if sdes_in else [])
        if c.suite.name not in excluded] or ()
    if sender_media.crypto_received and not had_dtls and section.port != 0:
        # An SDES offerer's leg without a DTLS connection: 10.5 sets its SRTP context up
        # again from our lines for it with each offer that has keys.
        suite = context_suite(sender_media, sender_media.crypto_received)
        for stream in sender_media.streams:
            stream.crypto_suite = suite
    sender_media.dtls_reverse = opts.dtls_reverse
    if sender_media.dtls_only and sender_media.crypto_received:
        sender_media.dtls_only = False
    # (rare fields: written only when they change, a plain offer writes neither)
    roles = _open_roles(sender_media.remote_webrtc)
    if roles or sender_media.dtls_pending:
        sender_media.dtls_pending = roles
    if sender_media.dtls_role_left is not None:
        sender_media.dtls_role_left = None
    # (the party's own offer settles what we offered it, as its answer would: after an
    # answer that refused the media, query shows our DTLS roles until then, 10.5)
    if sender_media.dtls_offered or sender_media.srtp_offered:
        sender_media.dtls_offered = sender_media.srtp_offered = False
    # (a party whose DTLS was settled that re-offers without it has none from now on:
    # 10.5 clears it with that offer, SDES or plain)
    if sender_media.dtls_role is not None and not is_dtls(sender_media.remote_webrtc):
        sender_media.dtls_role = None
    # (the lines the party has from us: what its SDES answer left of those we offered it,
    # our answer to its own SDES offer, or all we offered it; 10.5's sdes_out)
    ours_before = (out_media.crypto_accepted if out_media.crypto_accepted is not None
                   else out_media.crypto_offered)
    # (also a party that took one of the offerer's own lines we passed on: SDES end to
    # end until a plain re-offer is sent on to it as SRTP, which starts with that line)
    # (and any party we offered lines that it did not answer with SDES: it answered DTLS,
    # or refused the media; 10.5 keeps those lines, keys and all, and offers them again)
    previous = (out_media.crypto_offered
                if (out_media.srtp_bridged or out_media.crypto_accepted
                    or out_media.crypto_offered)
                else None)
    sdes_options = _leg_sdes_options(out_media, opts)
    # (``DTLS: off`` only decides for a leg that has neither DTLS nor SDES yet: 10.5 keeps
    # the DTLS of a leg that answered or was offered it, whatever a re-offer says)
    dtls_kept = out_media.dtls_role is not None or out_media.dtls_offered
    # (and a leg with SDES alone, its party's own or ours, is offered no DTLS: 10.5 sets
    # a leg's DTLS and SDES from the options only while it has neither)
    leg_dtls_off = not out_media.has_dtls and (
        out_media.sdes or out_media.sdes_offered or opts.dtls == "off")
    out_media.crypto_offered = ()
    out_media.srtp_bridged = False
    out_media.srtp_offered = out_media.sdes_offered = False
    if not section.is_rtp:
        return
    if out_media.dtls_only and not is_srtp(out_proto):
        out_media.dtls_only = False
    # (an SRTP offerer without keys we could take: a DTLS offerer, or one whose a=crypto
    # lines are missing or unusable, which 10.5 offers on as it offers a plain one)
    keyless_srtp = is_srtp(in_proto) and not sender_media.crypto_received
    # `OSRTP: offer`: a plain offer sent on as RTP/AVP with our SDES keys (and DTLS); so is
    # one to a party whose OSRTP leg the offer keeps (10.5, with or without that option).
    osrtp_out = (("offer" in opts.osrtp or (kept and out_media.osrtp))
                 and not is_srtp(out_proto) and not sdes_in)
    # (an SDES offer to a party whose opportunistic leg the offer keeps: it stays one, and
    # is offered the SDES it has, 10.5)
    osrtp_kept = kept and out_media.osrtp and bool(sender_media.crypto_received)
    out_media.osrtp = osrtp_out or osrtp_kept or (
        osrtp_in and not to_plain and not is_srtp(out_proto))
    if (is_srtp(out_proto) or osrtp_out) and (not sdes_in or keyless_srtp):
        # A plain offerer sent on as SRTP, or an SRTP offerer without keys (a browser's
        # DTLS, or no a=crypto we can use) sent on as SRTP: we offer our own keys and
        # DTLS (10.5), and terminate whatever the answer picks.
        if out_media.dtls_only:
            # (a party whose DTLS offer we answered: DTLS alone, 10.5)
            offered: Sequence[sdes.Crypto] = []
        elif previous is not None and "off" not in sdes_options:
            # A re-offer keeps the keys (and SDES off) it had; once the party answered SDES,
            # what is left of them comes first and fresh lines for the other suites follow
            # (10.5 keeps our line of the answer's tag and suite, if any).
            # (a party with SDES end to end before, which has no line of ours but the one
            # its answer passed on, starts with that one too: 10.5's sdes_out)
            accepted = out_media.crypto_accepted
            kept_lines = (accepted if accepted is not None and (previous or accepted)
                          else previous)
            if sdes_options:
                # (``SDES`` options shape the fresh lines only, `no-` leaves the kept ones
                # alone: 10.5 re-adds our earlier lines as they were)
                offered = sdes.offer([], _sdes_list(opts, sdes_options), kept=kept_lines)
            else:
                offered = (sdes.reoffer(kept_lines) if kept_lines is accepted
                           else kept_lines)
        else:
            offered = ([] if "off" in sdes_options
                       else sdes.offer([], _sdes_list(opts, sdes_options)))
        out_media.crypto_offered = offered
        out_media.srtp_bridged = True
        out_media.sdes = bool(offered)
        # SDES only: no setup, no fingerprint (10.5); nor once the party answered SDES.
        dtls_off = leg_dtls_off or out_media.crypto_accepted is not None
        out_media.dtls_offered = not dtls_off
        out_media.srtp_offered = True
        # Until answered, query names our first suite on the leg's streams (10.5); a leg
        # offered DTLS alone keeps what it showed.
        if not out_media.dtls_only:
            for stream in out_media.streams:
                stream.crypto_suite = offered[0].suite.name if offered else None
        plan.security = (security_attributes(offered) if dtls_off
                         else security_attributes(offered, "actpass", fingerprint))
    elif ((is_srtp(in_proto) or to_plain or plain_named) and not is_srtp(out_proto)
          and not osrtp_kept):
        # (plain_named: also a plain offer's own DTLS lines go, as in 10.5; a plain offerer
        # keeps the SDES it had until the answer, as 10.5 clears it only then)
        if sender_media.crypto_received:
            sender_media.sdes = True
        plan.security = []
        if to_plain:
            out_media.sdes = False  # (10.5 clears SDES on a leg offered plain)
    elif sender_media.crypto_received:
        # SDES on both legs: the offerer's lines (as 10.5 prints them) and the suites it
        # did not offer (none with SDES off), with DTLS; media passes through untouched.
        # A party that only ever spoke DTLS to us (its own SDPs without a=crypto) and was
        # never offered SDES is offered DTLS alone (10.5 keeps a leg's DTLS-only choice).
        dtls_party = (not ours_before and not out_media.crypto_received
                      and is_dtls(out_media.remote_webrtc))
        offered = ([] if "off" in sdes_options or dtls_party
                   else sdes.offer(sender_media.crypto_received,
                                   _sdes_list(opts, sdes_options), ours_before))
        out_media.crypto_offered = offered  # (none with SDES off: see the answer)
        # A re-offer to a party that answered SDES before offers no DTLS again (10.5); one
        # whose DTLS we terminate, or that was offered it and never answered (refused the
        # media), is offered it again.
        dtls_off = not dtls_kept and (opts.dtls == "off" or out_media.sdes)
        plan.security = (security_attributes(offered) if dtls_off
                         else security_attributes(offered, "actpass", fingerprint))
        # What query shows until the answer: SDES on both legs, the first line's suite on
        # the leg offered to, DTLS with its two roles (10.5).
        sender_media.sdes = True
        out_media.sdes_offered = bool(offered)
        out_media.srtp_offered = is_srtp(out_proto) or out_media.osrtp
        # (DTLS shows where its lines went: an opportunistic leg's too, 10.5)
        out_media.dtls_offered = not dtls_off and (is_srtp(out_proto) or out_media.osrtp)
        # (a leg whose DTLS is settled keeps the suite its context has: 10.5 re-keys it
        # only with the answer; but 10.5's DTLS connection off ICE belongs to the local
        # port, so on new ports it starts anew and the context is set up from our first
        # line, as on a leg without DTLS)
        if out_media.dtls_role is None or (offered and new_ports and not out_media.ice_out):
            for stream in out_media.streams:
                stream.crypto_suite = offered[0].suite.name if offered else None
        elif offered and out_media.muxed:
            # (the fallback RTCP stream of a leg on rtcp-mux never has a DTLS connection
            # in 10.5: its context is set up again from our first line with every offer)
            for stream in out_media.streams:
                if stream.rtcp:
                    stream.crypto_suite = offered[0].suite.name
    if not is_srtp(out_proto) and not out_media.osrtp:
        # (offered plain RTP: 10.5 clears SDES and DTLS on that leg, the roles its party's
        # own DTLS offer left open and a handshake it had settled: it shuts that down)
        if out_media.sdes:
            out_media.sdes = False
        if out_media.dtls_pending:
            out_media.dtls_pending = ()
        if out_media.dtls_role is not None:
            out_media.dtls_role = None


def context_suite(media: CallMedia, received: Sequence[sdes.Crypto]) -> str | None:
    """The suite 10.5 sets a leg's SRTP context up with when it does (what query names as
    its streams' crypto suite): our first line for the party, from what we last sent it
    (an offer still unanswered, else what its answer left); a party's SDP with a=crypto
    (``received``) keeps only our lines of its first line's tag and suite."""
    lines = (media.crypto_accepted if media.crypto_accepted is not None
             and not media.sdes_offered else media.crypto_offered)
    if received:
        first = received[0]
        lines = [c for c in lines if c.tag == first.tag and c.suite is first.suite]
    return lines[0].suite.name if lines else None


class PassthroughKeys(NamedTuple):
    """What query shows of the keys of a leg an offer makes an ICE passthrough."""

    suite: str | None  # (None: the suite its streams show stays)
    sdes: bool
    dtls: bool


def new_passthrough_keys(section: MediaSection, out_media: CallMedia, opts: Options,
                         protocol: str | None) -> PassthroughKeys | None:
    """What query shows of a leg an offer makes an ICE passthrough, until the next offer or
    the answer: 10.5 keys the leg as any SRTP leg offered to before it sees both legs
    speak ICE, so it shows the SDES (and the first suite, kept while the passthrough lasts)
    and DTLS it would have offered, though the SDP keeps the parties' own lines and the
    media passes untouched. None for a leg not offered SRTP or whose DTLS is settled."""
    if not is_srtp(protocol or section.protocol) or out_media.dtls_role is not None:
        return None
    options = _leg_sdes_options(out_media, opts)
    offered = []
    if "off" not in options:
        excluded = sdes.excluded_suites(options)
        received = [c for c in received_crypto(section) if c.suite.name not in excluded]
        offered = sdes.offer(received, _sdes_list(opts, options))
    return PassthroughKeys(offered[0].suite.name if offered else None, bool(offered),
                           not (opts.dtls == "off" or out_media.crypto_accepted is not None))


def passthrough_security(plan: MediaPlan, section: MediaSection, sender_media: CallMedia,
                         out_media: CallMedia, is_offer: bool, accept: bool,
                         shown: PassthroughKeys | None = None) -> list:
    """An ICE passthrough leg (10.5): neither party's SDES or DTLS is ours to answer or
    terminate, so both legs drop whatever we keyed or offered; the streams that changed.
    An answer goes back in the protocol offered unless told otherwise (``accept``: the
    answerer's), as any answer does. ``shown``: what the leg offered to shows now
    (:func:`new_passthrough_keys`); a suite the streams show stays (10.5 never resets it).
    """
    if is_offer:
        sender_media.offer_protocol = section.protocol
    elif plan.protocol is None and not accept and out_media.offer_protocol is not None:
        # (the offerer's leg keeps its own protocol: a re-offer with it unchanged keeps
        # the one the answerer's leg has, as 10.5 does)
        plan.protocol = out_media.protocol = out_media.offer_protocol
    for media in (sender_media, out_media):
        media.crypto_received, media.crypto_offered = (), ()
        media.srtp_bridged = media.sdes = media.dtls_offered = False
        media.srtp_offered = media.sdes_offered = False
        media.dtls_role = None
        if media.dtls_shown:
            media.dtls_shown = ()
    if shown is not None:
        out_media.srtp_offered = True
        out_media.sdes_offered, out_media.dtls_offered = shown.sdes, shown.dtls
        if shown.suite is not None:
            for stream in out_media.streams:
                stream.crypto_suite = shown.suite
    return (set_keys(sender_media, None, None, keep_suite=True)
            + set_keys(out_media, None, None, keep_suite=True))


def answer_fingerprint(certificate: dtls.Certificate, remote) -> str:
    """Our ``a=fingerprint`` answering a DTLS offerer: in the hash of the offerer's own
    fingerprint (10.5; ``DTLS-fingerprint`` does not change it), sha-256 for one we do not
    know."""
    hash_name = remote.fingerprint.split()[0] if remote.fingerprint else ""
    if hash_name in dtls.FINGERPRINT_HASHES:
        return certificate.fingerprint(hash_name)
    return certificate.fingerprint()


def _answer_terminated_offerer(plan: MediaPlan, offer_media: CallMedia, protocol: str,
                               certificate: Callable[[], dtls.Certificate] | None,
                               dtls_option: str | None, previous_role: str | None,
                               kept_lines: Sequence[sdes.Crypto]) -> None:
    """The answer to a DTLS offerer whose SRTP we terminate: our DTLS
    (``_answer_dtls_offerer``); or, where the answer says ``DTLS: off`` and the leg still
    has SDES (``kept_lines``, from ``_sdes_kept_over_dtls``), those a=crypto lines, in its
    own protocol (query keeps showing the DTLS role its offer left us)."""
    if not kept_lines:
        _answer_dtls_offerer(plan, offer_media, protocol, certificate, dtls_option,
                             previous_role)
        return
    plan.protocol = offer_media.protocol = protocol
    plan.security = [line.format() for line in kept_lines]
    offer_media.sdes = True


def _answer_dtls_offerer(plan: MediaPlan, offer_media: CallMedia, protocol: str,
                         certificate: Callable[[], dtls.Certificate] | None,
                         dtls_option: str | None = None,
                         previous_role: str | None = None) -> None:
    """The answer to a DTLS offerer (a browser) that we terminate: its own protocol, our
    a=setup (10.5: active for actpass, passive with the answer's ``DTLS: passive``) and our
    fingerprint in the offerer's hash. A re-offer (actpass) on a leg where we were passive
    keeps us passive, as 10.5 keeps it: a browser refuses an answer that swaps the roles of
    its running DTLS association. (Its streams keep the suite their SRTP context has: with
    SDES off on the leg, 10.5 sets nothing up again, so callers keep the suite.)"""
    plan.protocol = offer_media.protocol = protocol
    prefer = "passive" if dtls_option == "passive" else offer_media.dtls_reverse
    if previous_role == "passive":
        prefer = "passive"
    role = dtls.answer_setup(offer_media.remote_webrtc.setup, prefer)
    assert certificate is not None
    plan.security = security_attributes(
        [], role, answer_fingerprint(certificate(), offer_media.remote_webrtc))
    offer_media.sdes = False
    offer_media.dtls_role = role
    offer_media.dtls_only = True


_OPEN_ROLES = {"actpass": ("active", "passive"), "active": ("passive",), "passive": ("active",)}


def _open_roles(params) -> tuple:
    """The DTLS roles a party's offer leaves us (by its a=setup), until its answer."""
    if params is None or params.fingerprint is None:  # (no SDP of its own yet, or plain)
        return ()
    return _OPEN_ROLES.get(params.setup, ())  # (none for holdconn or no a=setup)


def _sdes_kept_over_dtls(offer_media: CallMedia, dtls_off: bool) -> Sequence[sdes.Crypto]:
    """An answer with ``DTLS: off`` to a party whose offer had DTLS and no a=crypto, while
    its leg still has SDES from before: 10.5 clears the leg's DTLS and answers with the
    lines the leg has, as its SDES is all that is left: the line of ours it answered
    SDES with, or all we offered it if it answered DTLS (none: answered DTLS as before)."""
    if (not dtls_off or offer_media.crypto_received or not offer_media.sdes
            or not is_dtls(offer_media.remote_webrtc)):
        return ()
    accepted = offer_media.crypto_accepted
    return (accepted[:1] if accepted is not None else offer_media.crypto_offered)


def _answers_dtls(offer_media: CallMedia, dtls_off: bool) -> bool:
    """An offerer whose DTLS we answer (when its answerer is plain): one that offered DTLS
    alone, or DTLS beside a=crypto lines with an explicit a=setup (actpass, active or
    passive). 10.5 prefers DTLS over SDES then, unless the answer says ``DTLS: off``; an
    offer's own ``DTLS``/``SDES`` flags do not change that, and without an a=setup (or with
    holdconn) its keys are answered instead."""
    params = offer_media.remote_webrtc
    if not is_dtls(params):
        return False
    if not offer_media.crypto_received:
        return True
    return not dtls_off and params.setup in _OPEN_ROLES


def _answerer_keys(answer_media: CallMedia, section: MediaSection) -> tuple:
    """An answerer we offered SRTP to (keyed by us): ``(its a=crypto line, our line it
    chose)``; a DTLS answer (a browser) instead leaves the role the relay terminates it
    with in ``dtls_role`` (and ``(None, None)``), as does a plain answer without a=crypto.
    As 10.5 keys such a leg: our line is the one the answer names by tag and suite, else
    none (``NO_KEY``: what goes to it is refused; 10.5 keeps only that line of those it
    offered); an RTP/SAVP(F) answer with neither keys we can read nor DTLS is sent with
    the first line offered to it, and what it sends is refused (10.5 has no key for it)."""
    answer_media.dtls_offered = False
    answered = received_crypto(section)
    if answered:
        first = answered[0]
        answer_media.crypto_accepted = [c for c in answer_media.crypto_offered
                                        if c.tag == first.tag and c.suite is first.suite]
    if not answered:
        if is_dtls(answer_media.remote_webrtc):
            answer_media.dtls_role = dtls.answer_setup(answer_media.remote_webrtc.setup)
        elif is_srtp(section.protocol):
            offered = answer_media.crypto_offered
            return NO_KEY, (offered[0] if offered else NO_KEY)
        return None, None
    return answered[0], (answer_media.crypto_accepted or [NO_KEY])[0]


def answer_security(plan: MediaPlan, section: MediaSection, answer_media: CallMedia,
                    offer_media: CallMedia,
                    certificate: Callable[[], dtls.Certificate] | None = None,
                    osrtp_accept: bool = False, protocol: str | None = None,
                    static: bool = False, dtls_off: bool = False,
                    dtls_option: str | None = None) -> list:
    """See ``_answer_security``; an offerer whose DTLS the answer did not take (SDES
    chosen) keeps the role 10.5 had started it with, for ``query`` to show."""
    pending = offer_media.dtls_pending
    if pending:  # (rare fields: a plain call's answer writes none)
        offer_media.dtls_pending = ()
    if answer_media.dtls_pending:  # (its own offer's roles, which its answer settles)
        answer_media.dtls_pending = ()
    changed = _answer_security(plan, section, answer_media, offer_media, certificate,
                               osrtp_accept, protocol, static, dtls_off, dtls_option)
    if pending and offer_media.dtls_role is None:
        offer_media.dtls_role_left = dtls.answer_setup(offer_media.remote_webrtc.setup)
    # (answered plain RTP: 10.5 clears SDES on a leg whenever it sends it a protocol
    # without SRTP, an offerer that re-offers plain RTP at its answer, not before)
    if (offer_media.sdes and section.is_rtp and not is_srtp(plan.protocol or section.protocol)
            and not offer_media.osrtp):
        offer_media.sdes = False
    return changed


def _unset_roles(*medias: CallMedia) -> None:
    """No DTLS role on these legs until the answer sets one. (A function, not an
    assignment in ``_answer_security``: there mypy would take the role for None all the
    way down, past the calls that set it, and a compiled build checks that at run time.)"""
    for media in medias:
        media.dtls_role = None


def _answer_security(plan: MediaPlan, section: MediaSection, answer_media: CallMedia,
                     offer_media: CallMedia,
                     certificate: Callable[[], dtls.Certificate] | None = None,
                     osrtp_accept: bool = False, protocol: str | None = None,
                     static: bool = False, dtls_off: bool = False,
                     dtls_option: str | None = None) -> list:
    """An answer: pick keys, write the offerer's side; the streams whose keys changed.

    Sets ``dtls_role`` on the leg where the relay terminates DTLS-SRTP (None elsewhere).
    ``osrtp_accept`` (`OSRTP: accept`): a plain answer to an opportunistic SRTP offerer
    accepts its SRTP (answered with our key, bridged) instead of leaving the call plain.
    ``protocol``: the answer's ``transport-protocol`` (the answerer's own for ``accept``),
    which a plain offerer is sent instead of its own protocol when its answerer speaks SRTP
    (10.5). ``static`` (`SDES: static`): an answer on SDES legs with keys end to end keeps
    the line answered before while the offer still carries it (10.5), whatever the
    answerer chose now. ``certificate`` gives the daemon's DTLS certificate; it is called
    only when the answer terminates DTLS (a plain call never makes one). ``dtls_off``: the
    answer's ``DTLS: off``, which makes an offerer of both SDES and DTLS get SDES."""
    previous_role = offer_media.dtls_role
    _unset_roles(offer_media, answer_media)
    # Answered now: whatever we offered this party is settled.
    answer_media.srtp_offered = answer_media.sdes_offered = answer_media.dtls_offered = False
    if not section.is_rtp or offer_media.offer_protocol is None:
        return []
    if answer_media.dtls_only and received_crypto(section):
        answer_media.dtls_only = False
    offered_proto = offer_media.offer_protocol
    kept_lines = _sdes_kept_over_dtls(offer_media, dtls_off)
    if (is_srtp(offered_proto) and not is_srtp(section.protocol)
            and _answers_dtls(offer_media, dtls_off)):
        # DTLS offerer (a browser), plain answerer: we answer the offerer's DTLS (10.5:
        # a=setup:active for actpass, then our fingerprint) and terminate it.
        _answer_terminated_offerer(plan, offer_media, offered_proto, certificate,
                                   dtls_option, previous_role, kept_lines)
        # (the offerer's leg keeps showing the suite it had: none for a browser's first
        # offer, its DTLS's or the SDES it spoke before, 10.5. The plain answerer's leg
        # keeps showing the suite we offered it, as after any plain answer to our SDES)
        return (set_keys(offer_media, None, None, keep_suite=True)
                + set_keys(answer_media, None, None, keep_suite=True))
    if (answer_media.srtp_bridged and is_srtp(offered_proto) and is_srtp(section.protocol)
            and not offer_media.crypto_received and is_dtls(offer_media.remote_webrtc)):
        # DTLS offerer, SRTP answerer, each leg keyed by us: the offerer gets our DTLS
        # answer; the answerer's leg is DTLS-SRTP (its a=setup/fingerprint) or SDES (its
        # a=crypto chose one of our keys); the relay re-encrypts between them.
        _answer_terminated_offerer(plan, offer_media, offered_proto, certificate,
                                   dtls_option, previous_role, kept_lines)
        theirs, ours = _answerer_keys(answer_media, section)
        # (A DTLS answerer's streams keep naming our first offered suite until the
        # handshake tells the real one, as 10.5 shows them; an SDES answerer's name the
        # line it took.)
        return (set_keys(answer_media, theirs, ours,
                         show_suite=ours is not None and (
                             theirs == NO_KEY or bool(answer_media.crypto_accepted)),
                         keep_suite=answer_media.dtls_role is not None)
                + set_keys(offer_media, None, None, keep_suite=True))
    osrtp_offerer = not is_srtp(offered_proto) and bool(offer_media.crypto_received)
    # (an RTP/AVP answer with DTLS lines is no plain one: 10.5 takes its DTLS whatever the
    # protocol, so an opportunistic offerer gets our SDES key and its DTLS is terminated)
    plain_answer = (not is_srtp(section.protocol) and not received_crypto(section)
                    and not is_dtls(answer_media.remote_webrtc))
    # A plain answer from a party whose leg was plain already (a re-offer that kept it so)
    # changes no protocol: the OSRTP offerer keeps its SRTP, as `OSRTP: accept` would (10.5).
    kept_plain = osrtp_offerer and plain_answer and not answer_media.osrtp
    if kept_plain:
        osrtp_accept = True
    answer_media.osrtp = is_osrtp(section)
    if ((is_srtp(offered_proto) and not is_srtp(section.protocol))
            or (osrtp_offerer and plain_answer and osrtp_accept)):
        # SDES offerer, plain answerer: we answer the offerer's a=crypto.
        plan.protocol = offer_media.protocol = offered_proto
        offered = offer_media.crypto_received
        ours = _kept_key(offer_media, sdes.answer(offered))
        plan.security = [ours.format()] if ours is not None else []
        offer_media.sdes = ours is not None
        if ours is not None:
            # Our line for this party is now the one we answered: a re-offer to it (its
            # answerer re-INVITEs) starts with it, tag and key unchanged (10.5's sdes_out),
            # an OSRTP offerer's too.
            offer_media.crypto_offered = offer_media.crypto_accepted = [ours]
            offer_media.srtp_bridged = True
        theirs = next((c for c in offered if ours is not None and c.tag == ours.tag), None)
        if osrtp_offerer and not kept_plain:
            _osrtp_shown(answer_media, offer_media)
        # A plain answer to the SDES lines we passed on: query still shows SDES and the
        # first line's suite on the answerer's leg (10.5).
        passed_on = bool(answer_media.crypto_offered) and not osrtp_offerer
        if passed_on:
            answer_media.sdes = True
        # (the answerer's streams keep the suite they named: 10.5 touches a stream's SRTP
        # context only when it moves or its leg has SDES)
        return (set_keys(offer_media, theirs, ours, show_suite=True)
                + set_keys(answer_media, None, None, keep_suite=True))
    if answer_media.srtp_bridged and not is_srtp(offered_proto):
        # Plain offerer, SRTP answerer: its a=crypto chose one of ours, or it answered DTLS
        # (the relay terminates it: dtls_role).
        plan.protocol = offer_media.protocol = protocol or offered_proto
        plan.security = []
        theirs, ours = _answerer_keys(answer_media, section)
        return (set_keys(answer_media, theirs, ours,
                         # (an OSRTP answer or none: query keeps naming the suite
                         # offered, or shows the one chosen, as 10.5; an SRTP answer:
                         # the line it kept of ours, by its tag and suite, or without
                         # keys the first line offered, which it is sent with)
                         show_suite=ours is not None and (
                             not is_srtp(section.protocol) or theirs == NO_KEY
                             or bool(answer_media.crypto_accepted)),
                         keep_suite=(answer_media.dtls_role is not None
                                     or not is_srtp(section.protocol) and ours is None))
                # (the plain offerer's streams keep the suite they showed: 10.5's keep their
                # crypto parameters, e.g. an OSRTP answerer's that re-INVITEs it)
                + set_keys(offer_media, None, None, keep_suite=True))
    if offer_media.crypto_received and not plain_answer:
        if osrtp_offerer:
            # An opportunistic offerer is answered in its own protocol (RFC 8643, 10.5),
            # unless the answer's transport-protocol names another.
            plan.protocol = offer_media.protocol = protocol or offered_proto
        answered_sdes = received_crypto(section)
        if (answered_sdes and not osrtp_offerer and not is_dtls(answer_media.remote_webrtc)
                and _answers_dtls(offer_media, dtls_off)):
            # An offerer of DTLS beside its keys, answered SDES: 10.5 still answers it DTLS
            # (it prefers DTLS), terminates that, and keys the answerer's leg with the line
            # it chose (ours, or the offerer's own we passed on) and its own.
            chosen = next((c for c in answer_media.crypto_offered
                           if c.tag == answered_sdes[0].tag
                           and c.suite is answered_sdes[0].suite), None)
            _answer_dtls_offerer(plan, offer_media, offered_proto, certificate, dtls_option,
                                 previous_role)
            answer_media.crypto_accepted = [chosen] if chosen is not None else []
            answer_media.sdes = True
            return (set_keys(answer_media, answered_sdes[0], chosen or NO_KEY,
                             show_suite=True)
                    + set_keys(offer_media, None, None, keep_suite=True))
        # SDES on both legs: an answer choosing one of the offerer's own lines goes back
        # as 10.5 prints it (keys end to end, media passes through).
        answered = chosen_now = answered_sdes
        previous = offer_media.crypto_answered
        if static and previous is not None and any(
                c.tag == previous.tag and c.suite is previous.suite
                for c in offer_media.crypto_received):
            answered = [previous]
        if answered and any(c.tag == answered[0].tag and c.suite is answered[0].suite
                            for c in offer_media.crypto_received):
            plan.security = [answered[0].format()]
            offer_media.crypto_answered = answered[0]
            # (each party's line from now on, what a re-offer to it carries on: the one the
            # answer chose, the answerer's fresh lines of other suites dropped; 10.5)
            now = (chosen_now or answered)[0]
            answer_media.crypto_accepted = [c for c in answer_media.crypto_offered
                                            if c.tag == now.tag and c.suite is now.suite]
            offer_media.crypto_accepted = [answered[0]]
            if not answer_media.crypto_offered:
                # SDES off in the offer: none of its lines went on, so the answer's line is
                # printed as 10.5 prints it but names no suite on the call (10.5).
                return (set_keys(answer_media, None, None)
                        + set_keys(offer_media, None, None))
            # (query names, on each leg, the suite its party was told or chose)
            for media, line in ((offer_media, answered[0]),
                                (answer_media, (chosen_now or answered)[0])):
                media.sdes = True
                for stream in media.streams:
                    stream.crypto_suite = line.suite.name
            return (set_keys(answer_media, None, None, keep_suite=True)
                    + set_keys(offer_media, None, None, keep_suite=True))
        if answered:
            # The answer chose one of the suites we added, or a line that is none of ours:
            # the legs have different keys, so the offerer is answered with its first suite
            # and a key of ours (10.5), and the relay decrypts and encrypts between the two
            # SDES legs. The answerer is sent with our line its answer names by tag and
            # suite; an answer naming none (another suite under a tag of ours, a suite not
            # offered) leaves nothing to encrypt for it with (``NO_KEY``: 10.5 keeps no line
            # of those it offered), and what goes to it is refused.
            chosen = next((c for c in answer_media.crypto_offered
                           if c.tag == answered[0].tag and c.suite is answered[0].suite),
                          None)
            ours = _kept_key(offer_media, sdes.answer(offer_media.crypto_received))
            # (each party's line of ours from now on: what a re-offer to it carries on)
            answer_media.crypto_accepted = [chosen] if chosen is not None else []
            if ours is not None:
                theirs = _answer_with_ours(plan, offer_media, ours)
                offer_media.sdes = answer_media.sdes = True
                return (set_keys(offer_media, theirs, ours, show_suite=True)
                        + set_keys(answer_media, answered[0], chosen or NO_KEY,
                                   show_suite=True))
        elif is_dtls(answer_media.remote_webrtc):
            # SDES offerer, DTLS answerer (a browser answering an SDES phone sent on as
            # UDP/TLS/RTP/SAVPF, SDES and DTLS offered): the relay terminates the
            # answerer's DTLS and answers the offerer with a key of ours (10.5; ``DTLS:
            # off`` in the answer is about the offerer's leg only).
            answer_media.dtls_role = dtls.answer_setup(answer_media.remote_webrtc.setup)
            if _answers_dtls(offer_media, dtls_off):
                # (an offerer of DTLS beside its keys, with an a=setup, gets DTLS back: 10.5
                # prefers it; the relay terminates both handshakes)
                _answer_dtls_offerer(plan, offer_media, offered_proto, certificate,
                                     dtls_option, previous_role)
                # (SDES shows on the answerer's leg only if it was offered a=crypto beside
                # DTLS: none with ``SDES: off``, 10.5)
                answer_media.sdes = bool(answer_media.crypto_offered)
                return (set_keys(answer_media, None, None, keep_suite=True)
                        + set_keys(offer_media, None, None, keep_suite=True))
            ours = _kept_key(offer_media, sdes.answer(offer_media.crypto_received))
            if ours is not None:
                theirs = _answer_with_ours(plan, offer_media, ours)
                offer_media.sdes = True
                # (SDES shows on the answerer's leg if it was offered our a=crypto beside
                # DTLS, not if it was offered DTLS alone: 10.5)
                answer_media.sdes = bool(answer_media.crypto_offered)
                return (set_keys(offer_media, theirs, ours, show_suite=True)
                        + set_keys(answer_media, None, None, keep_suite=True))
            return _answer_keyless(plan, answer_media, offer_media)
        elif is_srtp(section.protocol):
            if not osrtp_offerer and _answers_dtls(offer_media, dtls_off):
                # (an offerer of DTLS beside its keys: answered DTLS all the same, 10.5;
                # the keyless answerer's leg as ``_answer_keyless`` keys it)
                sent_with = keyless_answer(list(offer_media.crypto_received),
                                           list(answer_media.crypto_offered), None)[2]
                _answer_dtls_offerer(plan, offer_media, offered_proto, certificate,
                                     dtls_option, previous_role)
                answer_media.sdes = sent_with is not None
                return (set_keys(answer_media, NO_KEY, sent_with or NO_KEY, show_suite=True)
                        + set_keys(offer_media, None, None, keep_suite=True))
            return _answer_keyless(plan, answer_media, offer_media)
    if answer_media.osrtp and not offer_media.crypto_received:
        # An opportunistic answer to a plain offer: nothing is keyed (its a=crypto answers
        # nothing of ours), but its leg is OSRTP from now on and query shows SDES (10.5).
        answer_media.sdes = True
    if osrtp_offerer and plain_answer:
        # An opportunistic offer answered plain: the call stays plain.
        offer_media.sdes = offer_media.osrtp = False
        _osrtp_shown(answer_media, offer_media)
        return (set_keys(answer_media, None, None, keep_suite=True)
                + set_keys(offer_media, None, None))
    # (both plain now: an offerer whose SRTP leg we keyed before still shows that suite in
    # query, as 10.5's streams keep their crypto parameters; nothing is encrypted. Its
    # leg is plain: 10.5 clears the SDES it showed until this answer)
    if not is_srtp(offered_proto) and not offer_media.osrtp:
        if offer_media.sdes or offer_media.sdes_offered:
            offer_media.sdes = offer_media.sdes_offered = False
    return (set_keys(answer_media, None, None, keep_suite=True)
            + set_keys(offer_media, None, None, keep_suite=True))


def _answer_with_ours(plan: MediaPlan, offer_media: CallMedia,
                      ours: sdes.Crypto) -> sdes.Crypto:
    """An SDES offerer answered with our line ``ours`` (its legs keyed apart); its own line
    of that tag, which we decrypt it with. A re-offer to it (its answerer re-INVITEing)
    starts with this line, tag and key unchanged: 10.5's sdes_out, as for an OSRTP offerer."""
    offer_media.crypto_offered = offer_media.crypto_accepted = [ours]
    offer_media.srtp_bridged = True
    plan.security = [ours.format()]
    return next(c for c in offer_media.crypto_received if c.tag == ours.tag)


def keyless_answer(offered: list[sdes.Crypto], offered_on: list[sdes.Crypto],
                   kept: sdes.Crypto | None = None
                   ) -> tuple[sdes.Crypto | None, sdes.Crypto | None, sdes.Crypto | None]:
    """An SDES (or opportunistic SRTP) offer answered RTP/SAVP(F) with no a=crypto line we
    can read (none, or none that parses: a key too short, an unknown suite), as 10.5
    settles it: ``(our line for the offerer, its line we decrypt it with, our line the
    answerer is sent with)``. The offerer is answered as when the answer had chosen a suite
    we added (its first suite we do, its tag, a key of ours; ``kept``: the one answered
    before, kept while the suite is the same); the answerer, whose answer took none of the
    lines offered to it, is still sent with the first of them (10.5 prunes the lines it
    offered only by an answer's line, and this answer has none), which may be the
    offerer's own key. None for the first two when no offered suite is one we do."""
    ours = sdes.answer(offered)
    if ours is not None and kept is not None and kept.suite is ours.suite:
        ours = kept
    theirs = next((c for c in offered if ours is not None and c.tag == ours.tag), None)
    return ours, theirs, (offered_on[0] if offered_on else None)


def _answer_keyless(plan: MediaPlan, answer_media: CallMedia,
                    offer_media: CallMedia) -> list:
    """``keyless_answer`` on the call: the offerer gets our a=crypto in its own protocol
    (RTP/AVP for an opportunistic offerer, as 10.5 answers it) and the relay decrypts what
    it sends and encrypts it for the answerer; what the answerer sends is refused, each
    packet an error of its stream (10.5 has no key to decrypt it with). Query shows SDES
    and a suite on both legs (10.5); the streams whose keys changed."""
    kept = _kept_key(offer_media, sdes.answer(offer_media.crypto_received))
    ours, theirs, sent_with = keyless_answer(list(offer_media.crypto_received),
                                             list(answer_media.crypto_offered), kept)
    if ours is None:
        return (set_keys(answer_media, None, None, keep_suite=True)
                + set_keys(offer_media, None, None, keep_suite=True))
    plan.protocol = offer_media.protocol = cast(str, offer_media.offer_protocol)  # (offered)
    plan.security = [ours.format()]
    offer_media.sdes = True
    # (a re-offer to the offerer starts with this line, tag and key unchanged: 10.5)
    offer_media.crypto_offered = offer_media.crypto_accepted = [ours]
    offer_media.srtp_bridged = True
    # (SDES off in the offer: no line went on, so nothing is sent to the answerer either,
    # and query shows no SDES on its leg: 10.5)
    answer_media.sdes = sent_with is not None
    return (set_keys(offer_media, theirs, ours, show_suite=True)
            + set_keys(answer_media, NO_KEY, sent_with or NO_KEY, show_suite=True))


def _osrtp_shown(answer_media: CallMedia, offer_media: CallMedia) -> None:
    """An opportunistic SRTP offer answered plain: query still names the first suite sent
    on, and SDES, on the answerer's leg (10.5); not where none was sent on (`SDES: off`)."""
    if not answer_media.crypto_offered:
        return
    answer_media.sdes = True
    for stream in answer_media.streams:
        stream.crypto_suite = offer_media.crypto_received[0].suite.name
