"""ng ``publish``, ``subscribe request``, ``subscribe answer`` and ``unsubscribe``: media forking.

A subscription is a party of its own (a ``Monologue`` with its own ports) that gets a copy
of what one or more parties send, e.g. a SIPREC recorder or a conference mixer. It is kept
apart from the offer/answer links (``pubsub_subscriptions``/``pubsub_subscribers``), so
a re-INVITE never mistakes a subscriber for the other side of the call.

``subscribe request`` binds the subscriber's ports and returns an offer: the publisher's
own SDP rewritten (one publisher), or one made here (several, or ``SIPREC``, with
``a=label``). ``subscribe answer`` learns where the subscriber wants the media, and only
then does the relay copy every packet of the publisher's streams to the subscriber's
(``Stream.extra_sinks``, RTP to RTP and RTCP to RTCP); what a subscriber sends is dropped,
except its RTCP with ``mirror RTCP``, which goes to the publisher. ``publish`` makes a party
that only sends, answered with a ``recvonly`` SDP of one codec.

A subscriber gets the publisher's packets as they are, except between the two G.711 laws:
one that answered PCMA to a PCMU publisher (``allow transcoding``) gets each payload
converted by the relay (``media.g711``). Other codecs are never converted, so an answer
must take the codecs the publisher uses unless ``allow transcoding`` is given. An SRTP
subscriber (``transport-protocol``) is offered our SDES keys; its answer keys its copies.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import __version__
from . import codec_negotiation as negotiation
from . import sdp as sdpmod
from .log_context import CONTEXT, NOTICE
from .log_lines import write_line
from .media import codecs as media_codecs
from .model import Call, CallMedia, Endpoint, Interface, Monologue, Stream
from .ng_extended import select_party
from .ngoptions import (
    dtls_flags,
    get_flags,
    get_list,
    get_str,
    is_off,
    require_call_id,
    require_str,
    sdes_options,
)
from .offer_answer import webrtc
from .offer_answer.ice import alternate_candidates, credentials, foundation, ice_alternates
from .offer_answer.sdes import answer_fingerprint, received_crypto, set_keys, terminate_end_to_end
from .offer_answer.session import gather_types
from .ports import give_back
from .protocol.ngcodec import NgError
from .request import Request
from .secure import dtls, sdes, trickle
from .secure.attributes import security_attributes

if TYPE_CHECKING:
    from .calls import CallManager
    from .core import Core

log = logging.getLogger("rtpengined")

CRLF = "\r\n"
# s= of an SDP made here (the offer of a multi-party subscription, a publish answer).
SESSION_NAME = "rtpengine-rtpengined-" + __version__.replace(".", "-")
# Codecs a publish answer does not pick first (not media: events, comfort noise, FEC).
# What the relay converts a subscriber's copies between (by table, ``media.g711``).
_G711 = frozenset(name.upper() for name in media_codecs.G711)
# Codecs 10.5's codec library supports (a publish answer takes the first of these the party
# offers; an unknown codec, or telephone-event/comfort noise, is not picked).
_KNOWN_CODECS = frozenset({"pcmu", "pcma", "g722", "g723", "g729", "g729a", "gsm", "opus",
                           "speex", "ilbc", "amr", "amr-wb", "evs", "l16", "mpa", "vp8",
                           "vp9", "h264"})


def _call(core: Core, message: dict[str, Any]) -> Call:
    call = core.calls.calls.get(require_call_id(message))
    if call is None:
        raise NgError("Unknown call-ID")
    return call


def _find(call: Call, tag: str) -> Monologue | None:
    return next((m for m in call.monologues if m.tag == tag), None)


def _parse(body: str, reject_invalid: bool) -> sdpmod.SessionDescription:
    parsed = sdpmod.parse(body, reject_invalid)
    sdpmod.check_complete(parsed)
    return parsed


# -- subscribe request --------------------------------------------------------------------


def _sources(call: Call, message: dict[str, Any], flags: list[str]) -> list[Monologue]:
    """The parties subscribed to: ``all`` (every party that offered or answered, as 10.5
    takes its FROM_TAG and TO_TAG parties: not a callee that has not answered yet, a
    publisher or a subscriber), the ``from-tags`` list (or ``from-tags-TAG`` flags), else
    one party as ``block DTMF`` selects it (from-tag, label, address)."""
    if "all" in flags:
        return [m for m in call.monologues if m.tag and m.tag_type in ("FROM_TAG", "TO_TAG")]
    given = message.get("from-tags")  # (a list; anything else names no party)
    tags = [t for t in given if isinstance(t, str)] if isinstance(given, list) else []
    tags += [f[len("from-tags-"):] for f in flags if f.startswith("from-tags-")]
    if tags:
        found = []
        for tag in tags:
            party = _find(call, tag)
            if party is None:
                log.warning("Given from-tag %s not found", CONTEXT.mark(tag))
            else:
                found.append(party)
        return found
    party = select_party(call, message)
    return [party] if party is not None else []


def subscribe_request(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    call = _call(core, message)
    flags = get_flags(message)
    sources = _sources(call, message, flags)
    if not sources:  # (10.5's words for an ``all`` that finds nobody, and for the rest)
        raise NgError("No call participant specified" if "all" in flags else "No monologues matched")
    manager: CallManager = core.calls
    now = core.clock()
    to_tag = get_str(message, "to-tag") or secrets.token_hex(32)
    media_plane = manager.media
    # Every port first: running out leaves the call as it was. The same to-tag again
    # keeps the subscriber's ports, media by media (10.5 reuses them).
    wanted = [(src, media) for src in sources for media in src.medias]
    sub = _find(call, to_tag)
    kept = [m.streams for m in sub.medias if m.rtp is not None and not m.rtp.closed] if sub else []
    bound: list[tuple[Any, list[tuple[int, Any]]]] = []
    try:
        for n, (_src, media) in enumerate(wanted):
            rtp = media.rtp
            if rtp is None or rtp.closed or n < len(kept):
                bound.append((None, []))
                continue
            pool = manager.pool_for(rtp.interface.name, rtp.interface.family)
            bound.append((pool, pool.allocate(2, call.tos)))
    except NgError:
        give_back(bound)
        raise
    if sub is not None:  # the same to-tag again: its old subscriptions go first (the
        # publishers' mirror links back to it stay, as with ``unsubscribe``)
        _unsubscribe(core, sub, keep_mirror=True)
        for media in sub.medias:
            for stream in media.streams:
                if not any(stream in group for group in kept[:len(wanted)]):
                    manager.release_stream(stream)
        sub.medias = []
    else:
        sub = Monologue(tag=to_tag, created=now, tag_type="UNKNOWN")  # (as 10.5's CLI shows it)
        call.monologues.append(sub)
    label = get_str(message, "set-label")
    if label is not None:
        sub.label = label
    # (a publisher still linked back to the subscriber by an earlier ``mirror RTCP`` keeps
    # getting its RTCP: 10.5's link outlives the subscription that made it)
    sub.mirror_rtcp = "mirror-RTCP" in flags or any(sub in src.pubsub_subscriptions
                                                    for src in sources)
    if "egress" in flags or sub.egress:  # (a rare field: written only when it changes)
        sub.egress = "egress" in flags
    added = _transcode_codecs(message, flags)
    stripped = _codec_option(message, flags, "strip")
    protocol = get_str(message, "transport-protocol", "transport protocol")
    srtp = protocol in sdpmod.RTP_PROTOCOLS and "SAVP" in (protocol or "")
    sdes_list = sdes_options(message, flags)
    dtls_off = is_off(get_str(message, "DTLS", "dtls"))  # (every spelling offers take)
    fingerprint = manager.certificate().fingerprint() if srtp and not dtls_off else ""
    webrtc_offer = _WebrtcOffer.of(message, flags)
    for number, ((src, source), (pool, ports)) in enumerate(zip(wanted, bound, strict=True), 1):
        media = CallMedia(index=number, type=source.type, protocol=_plain(source.protocol),
                          dir_flags=(True, False))
        media.source = source
        media.formats, media.rtpmaps = _offered_codecs(src, source, added, stripped)
        if srtp and source.protocol in sdpmod.RTP_PROTOCOLS:
            # SRTP towards the subscriber (transport-protocol): our SDES keys (the `SDES`
            # list applies) and DTLS offered, keyed by its answer.
            media.protocol = protocol or media.protocol
            media.crypto_offered = [] if "off" in sdes_list else sdes.offer([], sdes_list)
            media.dtls_offered = not dtls_off
        if number <= len(kept) and source.rtp is not None and not source.rtp.closed:
            media.streams = kept[number - 1]
            # What it may send: the codecs offered to it (its answer adds none; 10.5)
            gather_types(media, media.protocol, media.formats)
            for stream in media.streams:  # offered anew: where to send is not known yet
                stream.advertised = stream.endpoint = None
                stream.confirmed = False
                if stream.egress != sub.egress:
                    stream.egress = sub.egress
                media_plane.update_stream(stream)
            sub.medias.append(media)
            continue
        streams = [Stream(interface=pool.interface, port=port, rtcp=n == 1, sock=sock,
                          group=call.call_id, created=now,
                          learning=manager.config.endpoint_learning)
                   for n, (port, sock) in enumerate(ports)]
        if len(streams) == 2:
            streams[0].rtcp_peer = streams[1]
        if sub.egress:
            for stream in streams:
                stream.egress = True
        media.streams = streams
        gather_types(media, media.protocol, media.formats)
        sub.medias.append(media)
        webrtc_offer.prepare(manager, call, sub, media)
        for stream in streams:
            media_plane.open_stream(stream)
    for src in sources:
        for source in src.medias:  # a subscriber gets the media decrypted, or in its keys
            for stream in terminate_end_to_end(src, source):
                media_plane.update_stream(stream)
        sub.pubsub_link(src)
        if sub.mirror_rtcp:  # the publisher gets the subscriber's RTCP (10.5 links it so)
            src.pubsub_link(sub)
    call.last_signal = now
    siprec = "SIPREC" in flags
    labels = _labels(call) if siprec else {}
    # (in 10.5's key order)
    reply: dict[str, Any] = {}
    if len(sources) == 1 and sources[0].last_sdp:
        # (one publisher, SIPREC too: 10.5 rewrites its SDP, with the a=label lines)
        def idle_address(family: str) -> sdpmod.Connection:
            return _advertised(manager.pool_for(None, family).interface)

        sdp = _mirrored_offer(sub, sources[0], fingerprint, idle_address, webrtc_offer, labels)
    else:
        sdp = _made_offer(sub, sources, labels, now, fingerprint,
                          core.config.software_id)
    if sdp:
        reply["sdp"] = sdp
    if len(sources) == 1:
        reply["from-tag"] = sources[0].tag
    if siprec:
        reply["tag-medias"] = [_tag_medias(src, labels) for src in sources]
        reply["media-labels"] = {
            labels.get(id(m), ""): {"tag": src.tag, "index": m.index, "type": m.type,
                                    **({"label": src.label} if src.label else {}),
                                    "mode": _mode(m)}
            for src in sources for m in src.medias}
    reply["from-tags"] = [src.tag for src in sources]
    reply["to-tag"] = to_tag
    reply["result"] = "ok"
    return reply


def _tag_medias(src: Monologue, labels: dict[int, str]) -> dict[str, Any]:
    """One publisher in a SIPREC reply: its tag, label and medias with their labels."""
    entry: dict[str, Any] = {"tag": src.tag}
    if src.label:
        entry["label"] = src.label
    entry["medias"] = [{"index": m.index, "type": m.type, "label": labels.get(id(m), ""),
                        "mode": _mode(m)} for m in src.medias]
    return entry


def _plain(protocol: str) -> str:
    """The subscriber is offered plain RTP (no SRTP or DTLS towards it here)."""
    if "SAVP" not in protocol:
        return protocol
    return "RTP/AVPF" if protocol.endswith("SAVPF") else "RTP/AVP"


def _codec_option(message: dict[str, Any], flags: list[str], kind: str) -> list[str]:
    """A ``codec`` list of the request (``codec: {kind: [...]}`` or ``codec-KIND-X`` flags;
    ``transcode-X`` too, as 10.5 takes it), upper case."""
    codec = message.get("codec")
    names = []
    if isinstance(codec, dict) and isinstance(codec.get(kind), list):
        names += [n for n in codec[kind] if isinstance(n, str)]
    prefixes = (f"codec-{kind}-", "transcode-") if kind == "transcode" else (f"codec-{kind}-",)
    names += [f.split(f"{kind}-", 1)[1] for f in flags if f.startswith(prefixes)]
    return [n.upper() for n in names]


def _transcode_codecs(message: dict[str, Any], flags: list[str]) -> list[str]:
    """Codecs the request asks to add that the relay can make for a subscriber, spelt
    ``NAME[/RATE[/CHANNELS]]``: the G.711 laws (by table) and codecs of libavcodec's
    (G.722, G.723.1, Opus). 10.5 offers those too (and others its library has)."""
    out = []
    for name in _codec_option(message, flags, "transcode"):
        parts = name.split("/")
        known = media_codecs.codec(parts[0])
        if known is None or known.name == "CN":
            continue
        if len(parts) > 1 and parts[1] and parts[1] != str(known.clock_rate):
            continue
        out.append(name)
    return out


def _offered_codecs(party: Monologue, source: CallMedia, added: list[str],
                    stripped: list[str] = ()) -> tuple[list[str], dict[str, str]]:
    """What a subscriber is offered for ``source``: its negotiated codecs, then each codec
    asked for that it does not have and the relay can make from what it sends, in the
    order asked (a G.711 law from the other; others through libavcodec): under its static
    payload type, else the first free dynamic one, its rtpmap as 10.5 writes it (``opus``
    is ``opus/48000/2``, ``opus/48000/1`` is ``opus/48000``, another codec); ``stripped``
    codecs (names, or ``ALL``) left out after that."""
    formats = _formats(party, source)
    rtpmaps = {pt: source.rtpmaps[pt] for pt in formats if pt in source.rtpmaps}
    if stripped:
        out = _offered_codecs(party, source, added)
        kept = [pt for pt in out[0] if pt in [p for p in out[0][len(formats):]]
                or ("ALL" not in stripped
                    and out[1].get(pt, "").split("/")[0].upper() not in stripped)]
        return kept, {pt: out[1][pt] for pt in kept if pt in out[1]}
    names = {rtpmaps.get(pt, "").split("/")[0].upper() for pt in formats}
    sent = set(names)  # (what the publisher sends: what an added codec is made from)
    texts = {text.upper() for text in rtpmaps.values()}
    for name in added:
        parts = name.split("/")
        encoding = parts[0]
        if encoding in _G711:
            if encoding in names or not sent & _G711:
                continue
            pt = "0" if encoding == "PCMU" else "8"
            text = sdpmod.STATIC_PAYLOAD_TYPES[pt]
        else:
            known = media_codecs.codec(encoding)
            channels = parts[2] if len(parts) > 2 and parts[2] else str(known.channels)
            text = f"{known.name}/{known.clock_rate}" + (f"/{channels}" if channels != "1"
                                                         else "")
            if text.upper() in texts or not any(media_codecs.convertible(have, encoding)
                                                for have in sent):
                continue
            pt = known.static_pt
            if pt is None or pt in formats:
                pt = negotiation.free_pt(set(formats))
        if pt is None or pt in formats:
            continue
        formats.append(pt)
        rtpmaps[pt] = text
        names.add(encoding)
        texts.add(text.upper())
    return formats, rtpmaps


def _labels(call: Call) -> dict[int, str]:
    """Media labels as 10.5 numbers them: per media index, the callee's media before the
    caller's (the order an offer creates them in), counting across the call."""
    parties = [m for m in reversed(call.monologues) if m.subscriptions or m.published]
    out: dict[int, str] = {}
    depth = max((len(m.medias) for m in parties), default=0)
    for index in range(depth):
        for party in parties:
            if index < len(party.medias):
                out[id(party.medias[index])] = str(len(out))
    return out


def _mode(media: CallMedia) -> str:
    """The media's direction as 10.5 reports it: the proxy's point of view (``sendonly``:
    we only send to the party)."""
    to_party, from_party = media.dir_flags
    return {(True, True): "sendrecv", (True, False): "sendonly",
            (False, True): "recvonly"}.get((to_party, from_party), "inactive")


def _sub_direction(source: CallMedia) -> str:
    """A subscriber receives only: ``sendonly`` while the publisher sends, else inactive."""
    return "sendonly" if source.dir_flags[1] else "inactive"


def _formats(party: Monologue, media: CallMedia) -> list[str]:
    """The codecs in use on ``media`` as negotiated: the answer's, in the answer's order."""
    peer_media = None
    for peer in party.subscriptions:
        if len(peer.medias) >= media.index and peer.medias[media.index - 1].initialized:
            peer_media = peer.medias[media.index - 1]
            break
    if peer_media is None:
        return list(media.formats)
    answer, other = (peer_media, media) if party.tag_type == "FROM_TAG" else (media, peer_media)
    common = [pt for pt in answer.formats if pt in other.formats]
    return common or list(media.formats)


def _ptime(section: sdpmod.MediaSection | None) -> str | None:
    values = section.attributes("ptime") if section is not None else []
    return values[0] if values else None


def _security(media: CallMedia, fingerprint: str) -> list[str]:
    """The a=crypto/setup/fingerprint values of an SRTP subscriber's offer (none if plain)."""
    if not media.crypto_offered and not media.dtls_offered:
        return []
    if not media.dtls_offered:
        return security_attributes(media.crypto_offered)
    return security_attributes(media.crypto_offered, "actpass", fingerprint)


class _WebrtcOffer:
    """What a subscription offer adds for a WebRTC subscriber, from the request's options:
    ICE of ours (``ICE: force``; ``trickle ICE``), ``rtcp-mux`` (``offer``/``require``;
    with ``require`` no RTCP candidate), ``generate mid`` and ``no rtcp attribute``. The
    Janus interface asks for all of them (10.5's Janus subscriber); a plain request for none."""

    __slots__ = ("ice", "trickle", "mux", "mux_required", "mid", "rtcp_attribute")

    def __init__(self, ice: bool = False, trickle: bool = False, mux: bool = False,
                 mux_required: bool = False, mid: bool = False, rtcp_attribute: bool = True):
        self.ice, self.trickle, self.mux, self.mux_required = ice, trickle, mux, mux_required
        self.mid, self.rtcp_attribute = mid, rtcp_attribute

    @classmethod
    def of(cls, message: dict[str, Any], flags: list[str]) -> _WebrtcOffer:
        mux = get_list(message, "rtcp-mux")
        return cls(ice=get_str(message, "ICE", "ice") == "force", trickle="trickle-ICE" in flags,
                   mux="offer" in mux or "require" in mux, mux_required="require" in mux,
                   mid="generate-mid" in flags, rtcp_attribute="no-rtcp-attribute" not in flags)

    def prepare(self, manager: CallManager, call: Call, sub: Monologue, media: CallMedia) -> None:
        """The subscriber's new media: ICE spoken on its leg (our credentials; controlled,
        though we offer: 10.5's subscription leaves its agent so, and the subscriber's
        browser then nominates), candidates on the interface's other addresses as an
        offer's, and an agent on its RTP stream that answers checks before the answer."""
        if not self.ice or media.rtp is None:  # (a rejected media: no leg to speak ICE on)
            return
        ice_alternates(manager, call, media)
        credentials(sub)
        media.ice_out = True
        media.ice_controlling = False
        media.ice_roles_settled = True
        webrtc.await_answer(media, sub)

    def plan(self, plan: sdpmod.MediaPlan, sub: Monologue, media: CallMedia,
             section: sdpmod.MediaSection) -> None:
        rtp, rtcp = media.rtp, media.rtcp
        if self.mux:
            plan.rtcp_mux = True
        if self.mux_required and rtp is not None:
            plan.rtcp_port = rtp.port  # (RTCP only on the RTP port: a=rtcp names it, 10.5)
        if not self.rtcp_attribute:
            plan.rtcp_port = None
        if self.mid and not section.attributes("mid"):
            plan.write_mid, plan.mid = True, str(media.index)
        if media.ice_out and sub.ice_credentials is not None and rtp is not None:
            ufrag, pwd = sub.ice_credentials
            plan.ice = sdpmod.IceCredentials(ufrag, pwd, foundation(rtp.interface),
                                             trickle=self.trickle)
            plan.ice_rtcp_port = (rtcp.port if rtcp is not None and not self.mux_required
                                  else None)
            if media.ice_alternates is not None:  # (bound by ``prepare``)
                plan.ice.alternates = alternate_candidates(media.ice_alternates[1],
                                                           plan.ice_rtcp_port is not None)


def _mirrored_offer(sub: Monologue, source: Monologue, fingerprint: str,
                    idle_address: Callable[[str], sdpmod.Connection],
                    webrtc_offer: _WebrtcOffer | None = None,
                    labels: dict[int, str] | None = None) -> str:
    """One publisher: its own last SDP with our ports and address, its negotiated codecs,
    ``sendonly``, no ICE or keys of its own (10.5 rewrites the publisher's SDP so).
    ``idle_address(family)``: the address a refused media names (the default interface's)."""
    parsed = sdpmod.parse(source.last_sdp or "")
    plans: list[sdpmod.MediaPlan] = []
    first: sdpmod.Connection | None = None
    refused: sdpmod.Connection | None = None
    for index, section in enumerate(parsed.medias):
        media = sub.medias[index] if index < len(sub.medias) else None
        rtp = media.rtp if media is not None else None
        if media is None or rtp is None or media.source is None:
            # A refused media's c= names the interface it would have used, in the family
            # of the publisher's own c= (10.5; not the subscriber's address family).
            conn = parsed.media_connection(index)
            address = idle_address("IPv6" if conn is not None and conn.family == "IP6"
                                   else "IPv4")
            refused = refused or address
            plans.append(sdpmod.MediaPlan(port=0, address=address))
            continue
        addr = _connection(rtp)
        first = first or addr
        rtcp = media.rtcp
        plan = sdpmod.MediaPlan(
            port=rtp.port, address=addr, formats=list(media.formats), protocol=media.protocol,
            direction=_sub_direction(media.source),
            rtcp_port=rtcp.port if rtcp is not None else None, ptime=_ptime(section),
            security=_security(media, fingerprint))
        plan.codecs = [(pt, pt, media.rtpmaps.get(pt), None) for pt in media.formats]
        if labels:  # SIPREC: the media's label, after its a=mid (10.5)
            plan.label = labels.get(id(media.source))
        if webrtc_offer is not None:
            webrtc_offer.plan(plan, sub, media, section)
        plans.append(plan)
    # The session's c= is rewritten only where a media goes by it (10.5, as in offers).
    lacking = any(section.connection is None for section in parsed.medias)
    plan = sdpmod.SessionPlan(plans, session_connection=(first or refused) if lacking else None,
                              strip_security=True)
    return sdpmod.render(parsed, plan)


def _connection(stream: Stream) -> sdpmod.Connection:
    return _advertised(stream.interface)


def _advertised(interface: Interface) -> sdpmod.Connection:
    address = interface.advertised
    return sdpmod.Connection("IP6" if ":" in address else "IP4", address)


def _header(address: sdpmod.Connection, now: float, software_id: str | None) -> list[str]:
    """The session lines of an SDP we make: s= names the software (``--software-id``)."""
    session = str(int(now * 1_000_000))
    return ["v=0", f"o=- {session} {session} IN {address.family} {address.address}",
            f"s={SESSION_NAME if software_id is None else software_id}", "t=0 0"]


def _codec_lines(section: sdpmod.MediaSection | None, media: CallMedia,
                 formats: list[str], feedback: bool = False) -> list[str]:
    """a=rtpmap and a=fmtp of each payload type (and its a=rtcp-fb with ``feedback``)."""
    rtpmaps = section.rtpmaps() if section is not None else {}
    fmtps = sdpmod.by_payload_type(section, "fmtp", False) if section is not None else {}
    feedbacks = (sdpmod.by_payload_type(section, "rtcp-fb", False)
                 if feedback and section is not None else {})
    out = []
    for pt in formats:
        rtpmap = media.rtpmaps.get(pt) or rtpmaps.get(pt)
        if rtpmap:
            out.append(f"a=rtpmap:{pt} {sdpmod.rtpmap_text(rtpmap)}")
        out += [f"a=fmtp:{value}" for value in fmtps.get(pt, [])]
        out += [f"a=rtcp-fb:{value}" for value in feedbacks.get(pt, [])]
    return out


def _source_section(party: Monologue, media: CallMedia) -> sdpmod.MediaSection | None:
    if not party.last_sdp:
        return None
    try:
        parsed = sdpmod.parse(party.last_sdp)
    except NgError:
        return None
    return parsed.medias[media.index - 1] if media.index <= len(parsed.medias) else None


def _made_offer(sub: Monologue, sources: list[Monologue], labels: dict[int, str],
                now: float, fingerprint: str, software_id: str | None) -> str:
    """Several publishers (or SIPREC): an SDP of our own, one media per publisher media."""
    owner = {id(m): src for src in sources for m in src.medias}
    lines: list[str] = []
    for media in sub.medias:
        source = media.source
        rtp = media.rtp
        if source is None or rtp is None:
            continue
        addr = _connection(rtp)
        if not lines:
            lines = _header(addr, now, software_id)
        party = owner.get(id(source))
        section = _source_section(party, source) if party is not None else None
        formats = media.formats
        lines.append(f"m={media.type} {rtp.port} {media.protocol} {' '.join(formats)}")
        lines.append(f"c=IN {addr.family} {addr.address}")
        if id(source) in labels:
            lines.append(f"a=label:{labels[id(source)]}")
        lines += _codec_lines(section, media, formats)
        lines.append(f"a={_sub_direction(source)}")
        if media.rtcp is not None:
            lines.append(f"a=rtcp:{media.rtcp.port}")
        lines += [f"a={value}" for value in _security(media, fingerprint)]
        ptime = _ptime(section)
        if ptime is not None:
            lines.append(f"a=ptime:{ptime}")
    return CRLF.join(lines) + CRLF if lines else ""


# -- subscribe answer / unsubscribe ----------------------------------------------------------


def subscribe_answer(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    call = _call(core, message)
    to_tag = require_str(message, "to-tag", "No to-tag in message")
    body = require_str(message, "sdp", "No SDP body in message")
    sub = _find(call, to_tag)
    if sub is None:
        raise NgError("To-tag not found")
    parsed = _parse(body, core.config.reject_invalid_sdp)
    flags = get_flags(message)
    if len(parsed.medias) != len(sub.medias) or not sub.pubsub_subscriptions:
        raise NgError("Failed to process subscription answer")
    owner = {id(m): src for src in sub.pubsub_subscriptions for m in src.medias}
    if "allow-transcoding" not in flags:
        # No transcoder: the subscriber must take every codec it was offered.
        # (Codecs the request added for transcoding may be left out.)
        for media, section in zip(sub.medias, parsed.medias, strict=True):
            source = media.source
            party = owner.get(id(source)) if source is not None else None
            if source is None or party is None or section.port == 0:
                continue
            if not set(_formats(party, source)) <= set(section.formats):
                raise NgError("Failed to process subscription answer")
    learning = core.config.endpoint_learning
    for index, (media, section) in enumerate(zip(sub.medias, parsed.medias, strict=True)):
        media.initialized = True
        media.formats = list(section.formats)
        media.rtpmaps = section.rtpmaps()
        conn = parsed.media_connection(index)
        if section.port == 0 or conn is None:
            continue
        direction = parsed.direction(index) or "sendrecv"
        media.direction = direction
        rtp_ep = Endpoint(conn.address, section.port)
        rtcp_attr = parsed.rtcp_attribute(index)
        if rtcp_attr is not None:
            address = rtcp_attr[1].address if rtcp_attr[1] is not None else conn.address
            rtcp_ep = Endpoint(address, rtcp_attr[0])
        else:
            rtcp_ep = Endpoint(conn.address, section.port + 1)
        for stream in media.streams:
            stream.advertised = rtcp_ep if stream.rtcp else rtp_ep
            stream.endpoint = None
            stream.confirmed = False
            stream.learning = learning
        if media.crypto_offered:
            _key_subscriber(media, section)
        if section.has_attribute("rtcp-mux"):  # (its RTCP comes on the RTP port)
            media.mux_in_use = True
            if media.rtp is not None:
                media.rtp.rtcp_mux = True
        _answer_webrtc(core, sub, media, parsed, index)
        rtp = media.rtp
        if rtp is not None and media.source is not None:
            party = owner.get(id(media.source))
            offered = _formats(party, media.source) if party is not None else []
            rtp.transcode = _conversions(offered, media.source.rtpmaps, section)
            if rtp.transcode:  # (query shows it on the publisher's media, as 10.5)
                media.source.transcoding = True
                # (and on the subscriber's when its copies go through libavcodec: 10.5
                # flags it then, not for the other G.711 law)
                media.transcoding = any(len(entry) > 4 for entry in rtp.transcode)
            if media.source.rtp is not None:
                core.calls.set_converting(media.source.rtp, rtp)
        for stream in media.streams:
            core.calls.media.update_stream(stream)
    _wire(core, sub, True)
    call.last_signal = core.clock()
    return {"result": "ok"}


def _answer_webrtc(core: Core, sub: Monologue, media: CallMedia,
                   parsed: sdpmod.SessionDescription, index: int) -> None:
    """A subscriber's answer on a leg we offered ICE or DTLS on: its credentials and
    candidates for the ICE agent, its DTLS role (we take the other)."""
    if not (media.ice_out or media.dtls_offered):
        return
    mids = parsed.medias[index].attributes("mid")
    if mids:
        media.mid = mids[0]  # (what a trickled candidate names the media by)
    params = webrtc.remote_params(parsed, index)
    media.remote_webrtc = params
    if not params.ufrag:
        media.ice_out = False  # (an answer without ICE: no agent of ours on the leg)
    role = None
    if media.dtls_offered and webrtc.is_dtls(params):
        role = "passive" if params.setup == "active" else "active"
        media.dtls_offered = False
    media.dtls_role = role
    webrtc.refresh_leg(media, sub, core.calls.certificate)


def _key_subscriber(media: CallMedia, section: sdpmod.MediaSection) -> None:
    """An SRTP subscriber's SDES answer: the key it chose of ours protects its copies."""
    for value in section.attributes("crypto"):
        try:
            theirs = sdes.parse_value(value)
            ours = sdes.accept_answer(media.crypto_offered, theirs)
        except sdes.SdesError:
            continue
        set_keys(media, theirs, ours)
        media.sdes = True
        media.dtls_offered = False
        return


def _conversions(offered: list[str], rtpmaps: dict[str, str],
                 section: sdpmod.MediaSection, ptime: int = 20) -> tuple:
    """What the relay converts for a subscriber: each offered codec it did not answer into
    the first answered one the relay can make from it. The other G.711 law by table, as
    (pt in, pt out, codec in, codec out); a codec of libavcodec's (G.722, G.723.1) framed
    anew in ``ptime`` ms, as (..., RTP clock units per frame)."""
    answered = section.rtpmaps()

    def codec(maps: dict[str, str], pt: str) -> str:
        return maps.get(pt, "").split("/")[0].upper()

    out = []
    for pt in offered:
        source = codec(rtpmaps, pt)
        if pt in section.formats or not pt.isdigit() or media_codecs.codec(source) is None:
            continue
        for other in section.formats:
            name = codec(answered, other)
            if not other.isdigit() or not media_codecs.convertible(source, name):
                continue
            if source in _G711 and name in _G711:
                out.append((int(pt), int(other), source, name))
            else:
                target = media_codecs.codec(name)
                out.append((int(pt), int(other), source, name, target.frame(ptime)))
            break
    return tuple(out)


def unsubscribe(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    call = _call(core, message)
    to_tag = require_str(message, "to-tag", "No to-tag in message")
    sub = _find(call, to_tag)
    if sub is not None:
        # A ``mirror RTCP`` subscriber's RTCP still reaches the publisher afterwards, and
        # ``query`` still shows the publisher subscribed to it: 10.5's unsubscribe drops
        # the subscriber's subscriptions only, not the RTCP-only one the flag added the
        # other way (rtpengine's mr13.0 pubsub suite, "simple sub, RTCP mirror").
        _unsubscribe(core, sub, keep_mirror=True)
    return {"result": "ok"}


def _unsubscribe(core: Core, sub: Monologue, keep_mirror: bool = False) -> None:
    """End ``sub``'s subscriptions; with ``keep_mirror`` (the ``unsubscribe`` command) the
    publishers' links back to it, which carry its mirrored RTCP, stay as 10.5 keeps them."""
    _wire(core, sub, False, keep_mirror)
    for src in list(sub.pubsub_subscriptions):
        sub.pubsub_unlink(src)
        if not keep_mirror:
            src.pubsub_unlink(sub)


def drop_party(core: Core, call: Call, party: Monologue) -> None:
    """Remove a publisher or subscriber from the call: its subscriptions and subscribers
    unlinked, its ports released (its counters into the totals), the call going on."""
    if party.pubsub_subscriptions:
        _unsubscribe(core, party)
    for sub in list(party.pubsub_subscribers):
        _wire(core, sub, False)
        sub.pubsub_unlink(party)
        party.pubsub_unlink(sub)
    core.calls.close_parties([party])
    call.monologues = [m for m in call.monologues if m is not party]
    for other in call.monologues:  # (a former subscriber's mirrored RTCP went to it)
        for media in other.medias:
            for stream in media.streams:
                if stream.sink is not None and stream.sink.closed and not stream.closed:
                    stream.sink = None
                    core.calls.media.update_stream(stream)


def _wire(core: Core, sub: Monologue, on: bool, keep_mirror: bool = False) -> None:
    """Start (``on``) or stop copying each publisher stream to the subscriber's stream
    (``keep_mirror``: the subscriber's mirrored RTCP keeps going to the publisher)."""
    media_plane = core.calls.media
    for media in sub.medias:
        source = media.source
        if source is None:
            continue
        pairs = [(media.rtp, source.rtp), (media.rtcp, source.rtcp)]
        if source.rtcp is None and source.rtp is not None:
            pairs.pop()  # publisher's RTCP on its RTP port: copied with it (demultiplexed)
        for mine, theirs in pairs:
            if mine is None or theirs is None or theirs.closed:
                continue
            extras = tuple(s for s in theirs.extra_sinks if s is not mine and not s.closed)
            if on and not mine.closed:
                extras += (mine,)
            if extras != theirs.extra_sinks:
                theirs.extra_sinks = extras
                media_plane.update_stream(theirs)
        rtcp = media.rtcp
        rtp = media.rtp
        if keep_mirror:
            continue
        if (sub.mirror_rtcp and rtp is not None and not rtp.closed
                and (rtcp is None or rtp.rtcp_mux)):
            # RTCP on the subscriber's RTP port (rtcp-mux, every WebRTC subscriber): only
            # its RTCP goes to the publisher (PLI/FIR/NACK: a joining subscriber's keyframe)
            target = source.rtp if on else None
            if rtp.sink is not target:
                rtp.sink = target
                rtp.rtcp_only = on
                media_plane.update_stream(rtp)
        if sub.mirror_rtcp and rtcp is not None and not rtcp.closed:
            target = (source.rtcp or source.rtp) if on else None
            if rtcp.sink is not target:
                rtcp.sink = target
                media_plane.update_stream(rtcp)


# -- publish --------------------------------------------------------------------------------


def publish(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    """A party that only sends: bound like an offerer, answered ``recvonly`` with one codec."""
    body = require_str(message, "sdp", "No SDP body in message")
    call_id = require_call_id(message)
    from_tag = require_str(message, "from-tag", "No from-tag in message")
    parsed = _parse(body, core.config.reject_invalid_sdp)
    accept = _accept_list(message)
    manager: CallManager = core.calls
    now = core.clock()
    call = manager.calls.get(call_id)
    chosen = [_pick_codec(section, accept) for section in parsed.medias]
    party = _find(call, from_tag) if call is not None else None
    # Ports first (a media this party already has keeps its ports).
    bound: list[tuple[Any, list[tuple[int, Any]]]] = []
    try:
        for index, section in enumerate(parsed.medias):
            have = party.medias[index] if party is not None and index < len(party.medias) else None
            conn = parsed.media_connection(index)
            if section.port == 0 or conn is None or (
                    have is not None and have.rtp is not None and not have.rtp.closed):
                bound.append((None, []))
                continue
            family = "IPv6" if conn.family == "IP6" else "IPv4"
            pool = manager.pool_for(None, family)
            # (one port for a publisher muxing RTCP: 10.5 binds no RTCP port beside it)
            count = 1 if section.has_attribute("rtcp-mux") else 2
            bound.append((pool, pool.allocate(count, call.tos if call is not None
                                              else core.config.tos)))
    except NgError:
        give_back(bound)
        raise
    if call is None:
        write_line(log, NOTICE, "Creating new call")
        call = Call(call_id=call_id, created=now, last_signal=now, proxy=request.source_text,
                    tos=core.config.tos)
        manager.add(call)
    if party is None:
        party = Monologue(tag=from_tag, created=now, tag_type="UNKNOWN")  # (10.5's CLI type)
        call.monologues.append(party)
    party.published = True
    party.last_sdp = body
    label = get_str(message, "label")
    if label is not None:
        party.label = label
    call.last_signal = now
    call.answered = True
    media_plane = manager.media
    learning = core.config.endpoint_learning
    lines: list[str] = []
    for index, (section, (pool, ports)) in enumerate(zip(parsed.medias, bound, strict=True)):
        while len(party.medias) <= index:
            party.medias.append(CallMedia(index=len(party.medias) + 1, type=section.type,
                                          protocol=section.protocol))
        media = party.medias[index]
        opened: list[Stream] = []
        if ports:
            media.streams = [Stream(interface=pool.interface, port=port, rtcp=n == 1, sock=sock,
                                    group=call.call_id, created=now)
                             for n, (port, sock) in enumerate(ports)]
            if len(media.streams) > 1:
                media.streams[0].rtcp_peer = media.streams[1]
            opened = list(media.streams)
        media.type, media.protocol = section.type, section.protocol
        media.rtpmaps = section.rtpmaps()
        pt = chosen[index]
        media.formats = [pt] if pt is not None else list(section.formats)
        # (what it may send: the codec it is answered with, as 10.5 counts the others)
        gather_types(media, media.protocol, media.formats)
        media.initialized = True
        conn = parsed.media_connection(index)
        direction = (parsed.direction(index) or "sendrecv") if conn is not None else "inactive"
        media.direction = direction
        media.dir_flags = (False, direction in ("sendrecv", "sendonly"))
        rtp = media.rtp
        muxed = rtp is not None and section.has_attribute("rtcp-mux")
        if muxed:  # (10.5 answers rtcp-mux to any publisher offering it, plain RTP too)
            media.mux_in_use = True
            rtp.rtcp_mux = True
        if conn is not None and section.port and rtp is not None:
            rtcp_attr = parsed.rtcp_attribute(index)
            rtp_ep = Endpoint(conn.address, section.port)
            rtcp_ep = (Endpoint(rtcp_attr[1].address if rtcp_attr[1] is not None
                                else conn.address, rtcp_attr[0]) if rtcp_attr is not None
                       else Endpoint(conn.address, section.port + 1))
            for stream in media.streams:
                target = rtcp_ep if stream.rtcp else rtp_ep
                if stream.advertised != target:
                    stream.advertised, stream.endpoint, stream.confirmed = target, None, False
                stream.learning = learning
                if stream not in opened:
                    media_plane.update_stream(stream)
        for stream in opened:
            media_plane.open_stream(stream)
            # Sent at once, not deferred: what the party sends before anyone subscribes
            # is dropped (10.5), not kept in the socket for a later subscriber.
            media_plane.update_stream(stream)
        if rtp is None or section.port == 0 or pt is None:
            addr = _connection(rtp) if rtp is not None else sdpmod.Connection("IP4", "0.0.0.0")
            if not lines:
                lines = _header(addr, now, core.config.software_id)
            lines.append(f"m={section.type} 0 {section.protocol} {' '.join(section.formats)}")
            continue
        addr = _connection(rtp)
        if not lines:
            lines = _header(addr, now, core.config.software_id)
        lines.append(f"m={section.type} {rtp.port} {section.protocol} {pt}")
        lines.append(f"c=IN {addr.family} {addr.address}")
        mids = section.attributes("mid")
        if mids:  # (10.5 answers with the party's own a=mid)
            lines.append(f"a=mid:{mids[0]}")
            media.mid = mids[0]  # (what a trickled candidate names the media by)
        lines += _codec_lines(section, media, [pt], feedback=True)
        lines.append("a=recvonly")
        if muxed:
            lines += [f"a=rtcp:{rtp.port}", "a=rtcp-mux"]
        elif media.rtcp is not None:
            lines.append(f"a=rtcp:{media.rtcp.port}")
        lines += _publisher_leg(core, party, media, parsed, index, addr, message)
        ptime = _ptime(section)
        if ptime is not None:
            lines.append(f"a=ptime:{ptime}")
    if not lines:  # (the party is kept, with nothing to publish: 10.5 too)
        log.error("Failed to create SDP: Need at least one media")
        raise NgError("Failed to create SDP")
    return {"sdp": CRLF.join(lines) + CRLF, "result": "ok"}


def _publisher_leg(core: Core, party: Monologue, media: CallMedia,
                   parsed: sdpmod.SessionDescription, index: int,
                   addr: sdpmod.Connection, message: dict[str, Any]) -> list[str]:
    """What a publish answer says about a WebRTC or SRTP publisher's leg, and that leg's
    relay spec, as 10.5 answers: DTLS-SRTP terminated (``a=setup``
    active for actpass, passive with ``DTLS``, ``DTLS-reverse`` or ``--dtls-passive``
    passive; our fingerprint) where the offer has a fingerprint, else an SDES
    key of ours for the first suite offered; ICE of ours (controlled: we answer) where
    the offer has ICE. A plain RTP publisher gets nothing of this."""
    section = parsed.medias[index]
    params = webrtc.remote_params(parsed, index)
    rtp = media.rtp
    if rtp is None:
        return []
    srtp = "SAVP" in section.protocol
    if params.fingerprint is None and not params.ufrag and not srtp and not media.remote_webrtc:
        return []  # plain RTP (the common case): nothing to set or write
    media.remote_webrtc = params
    manager = core.calls
    lines: list[str] = []
    role = None
    changed: list[Stream] = []
    if webrtc.is_dtls(params):
        # (10.5 answers a publisher passive for either flag passive, ``--dtls-passive``
        # making passive the default of both)
        flags = dtls_flags(message, passive=core.config.dtls_passive)
        role = dtls.answer_setup(params.setup, "passive" if "passive" in flags else None)
        fingerprint = answer_fingerprint(manager.certificate(), params)
        lines += [f"a={value}" for value in security_attributes([], role, fingerprint)]
    elif srtp:
        offered = received_crypto(section)
        ours = sdes.answer(offered)
        theirs = next((c for c in offered if ours is not None and c.tag == ours.tag), None)
        if ours is not None and theirs is not None:
            lines.append(f"a={ours.format()}")
            # (query names the suite on the publisher's streams, and SDES: 10.5)
            changed += set_keys(media, theirs, ours, show_suite=True)
            media.sdes = True
    media.dtls_role = role
    if params.ufrag and params.pwd:
        ufrag, pwd = credentials(party)
        media.ice_out = True
        media.ice_controlling = False
        ice = sdpmod.IceCredentials(ufrag, pwd, foundation(rtp.interface),
                                    trickle=params.trickle_option)
        rtcp = media.rtcp
        plan = sdpmod.MediaPlan(port=rtp.port, address=addr,
                                ice_rtcp_port=None if rtcp is None or section.has_attribute("rtcp-mux")
                                else rtcp.port)
        lines += [line.rstrip("\r\n") for line in sdpmod.ice_lines(ice, plan)]
        if ice.trickle:
            lines.append("a=end-of-candidates")
    else:
        media.ice_out = False
    changed += webrtc.refresh_leg(media, party, manager.certificate)
    for stream in changed:
        manager.media.update_stream(stream)
    return lines


def add_candidate(core: Core, party: Monologue, media: CallMedia, candidate: str,
                  ufrag: str | None) -> None:
    """A candidate the party trickled (the Janus interface's ``trickle``): added to those
    its SDP gave, and its leg's ICE agent told. Empty: the end of its candidates."""
    params = media.remote_webrtc
    text = candidate.removeprefix("candidate:").strip()
    if not text or params is None or not params.ufrag:
        return
    fields = text.split()
    given = fields[fields.index("ufrag") + 1] if "ufrag" in fields[:-1] else ufrag
    if given is not None and given != params.ufrag:
        return  # another ICE generation (as trickled fragments: offer_answer.trickle)
    rtp, rtcp = trickle.candidates([text])
    new = params._replace(candidates=trickle.merge(params.candidates, rtp),
                          candidates_rtcp=trickle.merge(params.candidates_rtcp, rtcp))
    if new == params:
        return
    media.remote_webrtc = new
    manager = core.calls
    for stream in webrtc.refresh_leg(media, party, manager.certificate):
        if not stream.closed:
            manager.media.update_stream(stream)


def _accept_list(message: dict[str, Any]) -> list[str]:
    codec = message.get("codec")
    if not isinstance(codec, dict):
        return []
    accept = codec.get("accept")
    return [c for c in accept if isinstance(c, str)] if isinstance(accept, list) else []


def _pick_codec(section: sdpmod.MediaSection, accept: list[str]) -> str | None:
    """The one codec a publish answer takes: the first of ``accept`` the party offers
    (``any``: its first codec), else its first codec 10.5 knows (else its first)."""
    rtpmaps = section.rtpmaps()

    def name(pt: str) -> str:
        return rtpmaps.get(pt, "").split("/")[0].lower()

    for wanted in accept:
        if wanted.lower() == "any":
            return section.formats[0] if section.formats else None
        for pt in section.formats:
            if name(pt) == wanted.lower() or pt == wanted:
                return pt
    for pt in section.formats:
        if name(pt) in _KNOWN_CODECS:
            return pt
    return section.formats[0] if section.formats else None
