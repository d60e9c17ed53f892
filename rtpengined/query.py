"""ng ``query`` and ``list``: call statistics in rtpengine 10.5's reply shape.

``call_stats`` is also the body of a ``delete`` reply (``delete``).

Unlike offer/answer, these commands read only the literal keys ``call-id``, ``from-tag``,
``to-tag`` and ``via-branch`` (rtpengine ignores the spelling aliases here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import quality
from .final_stats import note_codecs
from .model import Call, CallMedia, Endpoint, Monologue, Stream
from .ngoptions import get_int, get_str, require_call_id
from .protocol.ngcodec import NgError
from .request import Request
from .sdp import RTP_PROTOCOLS

if TYPE_CHECKING:
    from .core import Core

KNOWN_PROTOCOLS = RTP_PROTOCOLS | {"udptl"}
NOT_FOUND = "Call-ID not found or tags didn't match"


def _find(call: Call, tag: str | None) -> Monologue | None:
    """The party tagged ``tag``; a deleted branch (``branches``) is not found any more."""
    return next((m for m in call.monologues if m.tag == tag and not m.destroyed), None)


# -- rendering -------------------------------------------------------------------------


def refresh(core: Core, call: Call) -> None:
    """Pull the relay's counters and fill in what a view derives from them."""
    core.media.refresh([s for s in call.streams() if not s.closed])
    note_codecs(call)


def _stream_dict(stream: Stream, created: float, muxed: bool = False,
                 ice: bool = False, rtp: Stream | None = None,
                 rtcp_on_rtp: bool = False) -> dict[str, Any]:
    """One stream as query lists it; ``rtp``: the media's RTP stream (for its RTCP one);
    ``rtcp_on_rtp``: the party's a=rtcp named its RTP port (10.5 fills no RTCP endpoint)."""
    out: dict[str, Any] = {}
    if not stream.closed:
        # The socket media for the party leaves from: an ICE pair on another address of
        # the interface selects that address's port (10.5 shows its selected socket).
        interface, port = stream.selected_local
        out["local port"] = port
        out["local address"] = interface.address
        out["family"] = interface.family
    advertised = stream.advertised or stream.shown_endpoint
    endpoint = stream.endpoint or advertised
    if rtcp_on_rtp and stream.rtcp and stream.endpoint is None:
        out["endpoint"] = out["advertised endpoint"] = {}
    else:
        out["endpoint"] = endpoint.as_dict() if endpoint is not None else {}
        out["advertised endpoint"] = advertised.as_dict() if advertised is not None else {}
    suite = (stream.dtls_suite if stream.dtls is not None and stream.dtls_suite is not None
             else stream.crypto_suite)  # the handshake's suite once there is one
    if suite is not None:
        out["crypto suite"] = suite
    out["last packet"] = int(stream.stats.last_packet or stream.created or created)
    flags = ["RTCP" if stream.rtcp else "RTP"]
    if muxed:  # RTCP travels on the RTP port; the RTCP stream is only a fallback
        flags.append("fallback RTCP" if stream.rtcp else "RTCP")
    if advertised is not None:
        flags.append("filled")
    if stream.stats.kernel:
        flags += ["confirmed", "kernelized"]
    elif stream.confirmed:
        flags += ["confirmed", "kernelized", "no kernel support"]
    if stream.fingerprint_verified:
        flags.append("DTLS fingerprint verified")
    if stream.strict_source:
        flags.append("strict source address")
    if stream.media_handover:
        flags.append("media handover")
    if ice:  # last, as 10.5 lists its stream flags
        flags.append("ICE")
    out["flags"] = flags
    ssrc = stream.stats.ssrc
    if not ssrc and muxed and stream.rtcp and rtp is not None and rtp.stats.rtcp_seen:
        ssrc = rtp.stats.ssrc  # RTCP came on the muxed port: its SSRC shows here too (10.5)
    if ssrc:
        out["SSRC"] = ssrc
    out["stats"] = stream.stats.as_dict()
    return out


def _unbound_rtcp(rtp: Stream, created: float, ice: bool = False,
                  rtcp_on_rtp: bool = False, rtcp_port: int | None = None,
                  fallback: bool = True, kept: Endpoint | None = None) -> dict[str, Any]:
    """10.5 lists an RTCP stream without a local port beside a single port (a fallback one
    where rtcp-mux is in use): the party's a=rtcp port (``rtcp_port``) if it gave one,
    else the one after its RTP port; its endpoint stays where it was filled (``kept``)
    on a leg that speaks ICE (``CallMedia.rtcp_kept``)."""
    # (beside a refused RTP stream, no local socket at all: 10.5)
    out: dict[str, Any] = ({} if rtp.closed else {
        "local port": 0, "local address": rtp.interface.address,
        "family": rtp.interface.family})
    advertised = rtp.advertised or rtp.shown_endpoint
    if advertised is not None:
        advertised = advertised.rtcp_of(rtcp_port)
    shown = None if rtcp_on_rtp else advertised
    endpoint = kept if kept is not None and shown is not None else shown
    out["endpoint"] = endpoint.as_dict() if endpoint is not None else {}
    out["advertised endpoint"] = shown.as_dict() if shown is not None else {}
    if rtp.dtls is not None and rtp.dtls_suite is not None:  # the leg's DTLS-SRTP suite (10.5)
        out["crypto suite"] = rtp.dtls_suite
    elif rtp.crypto_suite is not None:  # the leg's SDES suite, on both components (10.5)
        out["crypto suite"] = rtp.crypto_suite
    out["last packet"] = int(rtp.created or created)
    out["flags"] = ((["RTCP", "fallback RTCP"] if fallback else ["RTCP"])
                    + (["filled"] if advertised is not None else [])
                    + (["strict source address"] if rtp.strict_source else [])
                    + (["media handover"] if rtp.media_handover else [])
                    + (["ICE"] if ice else []))
    out["stats"] = {"packets": 0, "bytes": 0, "errors": 0}
    return out


def _dtls_display(media: CallMedia) -> tuple[bool, tuple[str, ...]]:
    """What query shows of a leg's DTLS: whether "DTLS-SRTP", and the "DTLS role"s. The leg
    keeps several DTLS states (what we offered, what the handshake settled, what the party's
    own last SDP left open, ...); 10.5 shows one set of roles, and this is the precedence by
    which the state it shows is chosen, first match wins."""
    if media.dtls_offered:  # our actpass: either role is still possible (10.5)
        return True, ("active", "passive")
    settled, pending = media.dtls_role, media.dtls_pending
    if pending and settled is not None:
        # A settled party's DTLS re-offer: its a=setup leaves the roles open anew, but for
        # an actpass that keeps us passive where we were (10.5)
        return True, (("passive",) if settled == "passive" and len(pending) > 1 else pending)
    if settled is not None:  # settled by the answer; the relay does the handshake
        return True, (settled,)
    if pending:  # the party offered DTLS: the roles open until its answer
        return True, pending
    if media.dtls_shown:  # an answer that started an ICE passthrough settled it (10.5)
        return True, media.dtls_shown
    if media.dtls_role_left is not None:  # its answer took SDES instead (10.5)
        return False, (media.dtls_role_left,)
    if media.srtp_offered:  # SRTP offered without DTLS: the roles all the same (10.5)
        return False, ("active", "passive")
    return False, ()


def _media_flags(media: CallMedia) -> list[str]:
    flags: list[str] = []
    initialized = media.initialized
    if initialized:
        flags.append("initialized")
    rtp = media.rtp
    if rtp is not None and rtp.asymmetric:
        flags.append("asymmetric")
    send, recv = media.dir_flags
    if send:
        flags.append("send")
    if recv:
        flags.append("recv")
    if media.muxed:
        flags.append("rtcp-mux")
    dtls_srtp, roles = _dtls_display(media)
    if dtls_srtp:
        flags.append("DTLS-SRTP")
    flags += [f"DTLS role {role}" for role in roles]
    if media.sdes or media.sdes_offered:
        flags.append("SDES")
    if media.ice_passthrough:
        flags.append("passthrough")
    remote = media.remote_webrtc
    if media.ice_out:
        flags.append("ICE")
    if ((media.ice_out and remote is not None and remote.trickle_option)
            or media.trickle_flagged):
        flags.append("trickle ICE")
    if media.ice_controlling:
        flags.append("ICE controlling")
    if media.unidirectional:
        flags.append("unidirectional")
    if media.transcoding:
        flags.append("transcoding")
    if media.t38 is not None:  # one side of a T.38 gateway (offer_answer.t38)
        flags.append("generator/sink")
    return flags


def party_dict(mono: Monologue) -> dict[str, Any]:
    out: dict[str, Any] = {"tag": mono.tag}
    if mono.via_branch:
        out["via-branch"] = mono.via_branch
    if mono.label:
        out["label"] = mono.label
    out["created"] = int(mono.created)
    out["subscriptions"] = [{"tag": m.tag, "type": "offer/answer"} for m in mono.subscriptions]
    out["subscribers"] = [{"tag": m.tag, "type": "offer/answer"} for m in mono.subscribers]
    if mono.pubsub_subscriptions or mono.pubsub_subscribers:  # (pubsub)
        out["subscriptions"] += [{"tag": m.tag, "type": "pub/sub"}
                                 for m in mono.pubsub_subscriptions]
        out["subscribers"] += [{"tag": m.tag, "type": "pub/sub"} for m in mono.pubsub_subscribers]
    medias = []
    for media in mono.medias:
        entry: dict[str, Any] = {"index": media.index, "type": media.type}
        if media.protocol in KNOWN_PROTOCOLS:  # 10.5 omits protocols it does not know
            entry["protocol"] = media.protocol
        if media.codec:
            entry["codec"] = media.codec
        muxed = media.muxed
        ice = media.ice_out
        rtp = media.rtp
        on_rtp = media.rtcp_on_rtp
        entry["streams"] = [_stream_dict(s, mono.created, muxed, ice, rtp, on_rtp)
                            for s in media.streams]
        # (also a leg we offered one port, ``rtcp-mux: require``, that answered without
        # rtcp-mux: 10.5's RTCP stream there is no fallback)
        if (media.rtcp is None and rtp is not None
                and (muxed or "require" in media.mux_flags or media.rtcp_unbound)):
            entry["streams"].append(_unbound_rtcp(rtp, mono.created, ice, on_rtp,
                                                  media.rtcp_port, fallback=muxed,
                                                  kept=media.rtcp_kept))
        entry["flags"] = _media_flags(media)
        medias.append(entry)
    out["medias"] = medias
    return out


def call_stats(core: Core, call: Call, party: Monologue | None = None,
               nobody: bool = False) -> dict[str, Any]:
    """The body of a ``query`` reply (without ``result``); ``nobody``: no tags listed."""
    refresh(core, call)
    if nobody:
        monologues = []
    elif party is None:
        monologues = list(call.monologues)
    else:
        monologues = [party] + [m for m in [*party.subscriptions, *party.pubsub_subscriptions]
                                if m is not party]
    tags: dict[str, Any] = {}
    keys: dict[int, str] = {}  # a party's key in ``tags``: untagged ones are numbered
    for index, mono in enumerate(call.monologues):
        # 10.5 numbers an untagged party by its place among the call's parties.
        keys[id(mono)] = mono.tag or f"<untagged {index}>"
    for mono in monologues:
        tags[keys.get(id(mono), mono.tag)] = party_dict(mono)
    totals = {"RTP": {"packets": 0, "bytes": 0, "errors": 0},
              "RTCP": {"packets": 0, "bytes": 0, "errors": 0}}
    for stream in call.streams():
        bucket = totals["RTCP" if stream.rtcp else "RTP"]
        bucket["packets"] += stream.stats.packets
        bucket["bytes"] += stream.stats.bytes
        bucket["errors"] += stream.stats.errors
    created = call.created
    return {
        "created": int(created),
        "created_us": int(round((created - int(created)) * 1_000_000)) % 1_000_000,
        "last signal": int(call.last_signal),
        "SSRC": quality.ssrc_entries(monologues),
        "tags": tags,
        "totals": totals,
    }


# -- commands ----------------------------------------------------------------------------


def query(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    call_id = require_call_id(message)
    call = core.calls.calls.get(call_id)
    if call is None:
        raise NgError("Unknown call-id")
    reply = tagged_stats(core, call, get_str(message, "from-tag"), get_str(message, "to-tag"))
    reply["result"] = "ok"
    return reply


def tagged_stats(core: Core, call: Call, from_tag: str | None,
                 to_tag: str | None) -> dict[str, Any]:
    """``call_stats`` of the party the tags name, as 10.5 picks it: the to-tag if it is not
    empty, else the from-tag; no tag lists every party, a tag that matches none (or a
    deleted branch) lists nobody."""
    tag = to_tag or from_tag
    if not tag:
        return call_stats(core, call)
    party = _find(call, tag)
    return call_stats(core, call, party, nobody=party is None)


def list_calls(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    limit = get_int(message, "limit")
    if limit is None:
        limit = 32
    if limit < 0:
        raise NgError("invalid limit, must be >= 0")
    return {"calls": list(core.calls.calls)[:limit], "result": "ok"}
