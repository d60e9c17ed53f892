"""rtpengine 10.5's Redis document for one call, both ways (sans-I/O).

rtpengine stores each call under its call-id as one JSON object: ``json`` (call scalars),
``tag-N`` (parties), ``media-N``, ``stream-N`` (one per local port), ``sfd-N`` (the
socket of a stream), ``map-N`` (endpoint maps), and id lists named ``<list>-N``
(``medias-N``, ``streams-N``, ``rtp_sinks-N``, ``subscriptions-N``...). Every scalar is a
string, percent-escaped as rtpengine escapes them. Writing the same layout lets a cluster
mix rtpengine and rtpengined nodes: either restores what the other stored.

``encode_call`` turns a ``model.Call`` into that document; ``decode_call`` turns a
document into a ``StoredCall``, a plain description (no sockets) that ``restore`` binds.
Over 400 lines because both directions of the format stay side by side, field by field
(SDES keys included: ``sdes_in``/``sdes_out`` per media, the relay's keys per port).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .. import dtmf_block
from ..model import Call, CallMedia, Endpoint, Monologue, Stream
from ..secure.mki import mki_bytes
from ..secure.sdes import SUITES_BY_NAME, Crypto

NO_INDEX = 4294967295  # rtpengine's "(unsigned) -1": no RTCP sibling

# struct packet_stream flags (rtpengine 10.5)
PS_RTP = 0x00010000
PS_IMPLICIT_RTCP = 0x00000001  # an RTCP stream at RTP + 1: the party's SDP had no a=rtcp
PS_FALLBACK_RTCP = 0x00040000  # a muxed leg's RTCP stream (its RTP stream carries RTCP)
PS_ICE = 0x00000080  # the party's leg speaks ICE (10.5 copies its media's ICE flag)
PS_RTCP = 0x00020000
PS_FILLED = 0x00100000
PS_CONFIRMED = 0x00200000
PS_STRICT_SOURCE = 0x00000100
PS_MEDIA_HANDOVER = 0x00000200
PS_ASYMMETRIC = 0x00000002  # the shared flag bit (rtpengine keeps it on the media)
# struct call_media flags
MEDIA_ASYMMETRIC = 0x00000002
MEDIA_SEND = 0x00000004
MEDIA_RECV = 0x00000008
MEDIA_RTCP_MUX = 0x00000010
MEDIA_RTCP_MUX_OVERRIDE = 0x00020000  # the last offer to it decided its answer's rtcp-mux
MEDIA_ICE = 0x00000080
MEDIA_UNIDIRECTIONAL = 0x00001000  # the ``unidirectional`` flag (query)
MEDIA_INITIALIZED = 0x00010000
MEDIA_SDES = 0x00080000
MEDIA_PASSTHRU = 0x00100000  # ICE passthrough (offer_answer.ice)
MEDIA_ICE_CONTROLLING = 0x00200000
MEDIA_TRANSCODE = 0x00800000  # the relay converts what this media receives (query: transcoding)
MEDIA_PTIME_OVERRIDE = 0x01000000  # ``ptime``/``ptime-reverse`` fixed the a=ptime shown
MEDIA_RTCP_GEN = 0x08000000  # ``generate RTCP``

# rtpengine keeps a master key and salt in fixed buffers and stores the whole buffer, the
# unused tail as zero bytes (a 16-byte key is written as 32 bytes).
KEY_FIELD = 32
SALT_FIELD = 14
FINGERPRINT_FIELD = 64  # the DTLS fingerprint digest buffer
# Session parameters as 10.5 names them in the document.
_SESSION_FIELDS = (("unenc-srtp", "UNENCRYPTED_SRTP"), ("unenc-srtcp", "UNENCRYPTED_SRTCP"),
                   ("unauth-srtp", "UNAUTHENTICATED_SRTP"))


class LayoutError(ValueError):
    """A stored document that cannot be read back as a call."""


# -- rtpengine's percent escaping of every string value ------------------------------------

_KEEP = {c for c in range(0x20, 0x7F)} - {ord("%"), ord("\\"), ord("'"), ord('"')}
_NEEDS_ESCAPE = re.compile(r"""[^\x20-\x7e]|[%\\'"]""")


def escape(text: str) -> str:
    """Escape as rtpengine does: bytes outside printable ASCII and ``%\\'"`` become %xx."""
    if not _NEEDS_ESCAPE.search(text):
        return text
    raw = text.encode("utf-8", "surrogateescape")
    return "".join(chr(b) if b in _KEEP else f"%{b:02x}" for b in raw)


def unescape(text: str) -> str:
    if "%" not in text:
        return text
    out = bytearray()
    raw = text.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        if raw[i] == 0x25 and i + 2 < len(raw) and _hex(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")


def _hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(chr(b) in "0123456789abcdefABCDEF" for b in pair)


def _endpoint_text(endpoint: Endpoint | None) -> str:
    if endpoint is None:
        return ""
    if ":" in endpoint.address:
        return f"[{endpoint.address}]:{endpoint.port}"
    return f"{endpoint.address}:{endpoint.port}"


def parse_endpoint(text: str) -> Endpoint | None:
    """``IP:PORT`` or ``[IPv6]:PORT`` as rtpengine writes endpoints; empty → None."""
    if not text:
        return None
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise LayoutError(f"bad endpoint {text!r}") from None
    if not host or (host in ("0.0.0.0", "::") and number == 0):
        return None
    return Endpoint(host, number)


# -- encoding ----------------------------------------------------------------------------------


def _family(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def encode_call(call: Call, db: int, intf_index: dict[tuple[str, str], int] | None = None
                ) -> dict[str, Any]:
    """The document rtpengine 10.5 writes for ``call``, free-text values escaped as 10.5 does.

    ``intf_index`` maps (interface address, interface name) to its position among the
    logical interface's addresses of that family (rtpengine's ``local_intf_uid``).
    """
    intf_index = intf_index or {}
    doc: dict[str, Any] = {}
    tags = list(call.monologues)
    tag_ids = {id(m): i for i, m in enumerate(tags)}
    medias = [(tag_ids[id(m)], media) for m in tags for media in m.medias]
    streams: list[tuple[int, Stream]] = []
    # A one-port leg's (fallback) RTCP stream, which 10.5 lists without a socket
    # (local port 0) after the RTP stream: by the RTP stream's id.
    fallbacks: dict[int, Stream] = {}
    for media_id, (_, media) in enumerate(medias):
        for stream in media.streams:
            if not stream.closed:
                streams.append((media_id, stream))
        fallback = _fallback_rtcp(media)
        if fallback is not None:
            fallbacks[media.streams[0].id] = fallback
            streams.append((media_id, fallback))
    stream_ids = {s.id: i for i, (_, s) in enumerate(streams)}
    deleted = int(call.delete_at) if call.delete_at is not None else 0
    doc["json"] = {
        "created": str(int(call.created * 1_000_000)),
        "destroyed": "0",
        "last_signal": str(int(call.last_signal)),
        "tos": str(call.tos),
        "deleted": str(deleted),
        "num_sfds": str(len(streams)),
        "num_streams": str(len(streams)),
        "num_medias": str(len(medias)),
        "num_tags": str(len(tags)),
        "num_maps": str(len(medias)),
        "ml_deleted": "0",
        "created_from": escape(call.proxy),
        "created_from_addr": escape(call.proxy_address()),
        "redis_hosted_db": str(db),
        "recording_metadata": "",
        "block_dtmf": dtmf_block.stored(call.block_dtmf, call.dtmf_security),
        "block_media": "1" if call.block_media else "0",
    }
    for i, (_, stream) in enumerate(streams):
        intf = stream.interface
        doc[f"sfd-{i}"] = {
            "pref_family": intf.sdp_family,
            "localport": str(stream.port),
            "fd": "0" if stream.port else "-1",
            "logical_intf": escape(intf.name),
            "local_intf_uid": str(intf_index.get((intf.address, intf.name), 0)),
            "stream": str(i),
        }
        # rtpengine keeps the inbound SRTP context on the socket, the outbound one on the
        # stream: what the party sends is decrypted, what it is sent is encrypted.
        doc[f"sfd-{i}"].update(_relay_key_fields(_stream_keys(stream)[0]))
    for i, (media_id, stream) in enumerate(streams):
        flags = PS_RTCP if stream.rtcp else PS_RTP
        owner = medias[media_id][1]
        if owner.mux_shown:  # (10.5: RTCP rides on the RTP stream, the other falls back)
            flags |= PS_FALLBACK_RTCP if stream.rtcp else PS_RTCP
        if owner.ice_out:
            flags |= PS_ICE
        if stream.advertised is not None:
            flags |= PS_FILLED
            if stream.rtcp and owner.rtcp_port is None:
                flags |= PS_IMPLICIT_RTCP
        if stream.confirmed:
            flags |= PS_CONFIRMED
        if stream.strict_source:
            flags |= PS_STRICT_SOURCE
        if stream.media_handover:
            flags |= PS_MEDIA_HANDOVER
        peer = stream.rtcp_peer or fallbacks.get(stream.id)
        sibling = stream_ids.get(peer.id, NO_INDEX) if peer is not None else NO_INDEX
        endpoint = stream.endpoint or stream.advertised
        doc[f"stream-{i}"] = {
            "media": str(media_id),
            "sfd": str(i),
            "rtcp_sibling": str(sibling),
            "last_packet": str(int(max(stream.stats.last_packet, call.last_signal))),
            "ps_flags": str(flags),
            "component": "2" if stream.rtcp else "1",
            "endpoint": _endpoint_text(endpoint),
            "advertised_endpoint": _endpoint_text(stream.advertised),
            "stats-packets": str(stream.stats.packets),
            "stats-bytes": str(stream.stats.bytes),
            "stats-errors": str(stream.stats.errors),
        }
        doc[f"stream-{i}"].update(_relay_key_fields(_stream_keys(stream)[1]))
        doc[f"stream_sfds-{i}"] = [str(i)]
        sink = stream.sink
        sink_ids = [str(stream_ids[sink.id])] if sink is not None and sink.id in stream_ids else []
        # Subscribers' streams (pubsub) follow the sink, as 10.5 lists them.
        sink_ids += [str(stream_ids[s.id]) for s in stream.extra_sinks if s.id in stream_ids]
        doc[f"rtp_sinks-{i}"] = [] if stream.rtcp else sink_ids
        # (a muxed leg's RTCP goes where its RTP goes, 10.5 lists it so)
        doc[f"rtcp_sinks-{i}"] = sink_ids if stream.rtcp or owner.mux_shown else []
    for i, mono in enumerate(tags):
        tag: dict[str, str] = {
            "created": str(int(mono.created)),
            "deleted": str(int(mono.delete_at or 0)),
            "block_dtmf": dtmf_block.stored(mono.block_dtmf, mono.dtmf_security),
            "block_media": "1" if mono.block_media else "0",
            "logical_intf": escape(_logical_intf(mono) or "default"),
        }
        if mono.tag:
            tag["tag"] = escape(mono.tag)
        if mono.via_branch:
            tag["via-branch"] = escape(mono.via_branch)
        if mono.label:
            tag["label"] = escape(mono.label)
        doc[f"tag-{i}"] = tag
        doc[f"other_tags-{i}"] = [str(tag_ids[id(o)]) for o in mono.subscriptions
                                  if o.tag and id(o) in tag_ids]
        doc[f"branches-{i}"] = []
        doc[f"medias-{i}"] = [str(j) for j, (t, _) in enumerate(medias) if t == i]
        doc[f"ssrc_table-{i}"] = []
        # id/0/offer-answer/rtcp-only/egress (10.5): offer/answer links, then pubsub ones (a
        # publisher's link back to a ``mirror RTCP`` subscriber is RTCP only).
        doc[f"subscriptions-{i}"] = [f"{tag_ids[id(o)]}/0/1/0/0" for o in mono.subscriptions
                                     if id(o) in tag_ids] + [
            f"{tag_ids[id(o)]}/0/0/{int(o.mirror_rtcp and mono in o.pubsub_subscriptions)}"
            f"/{int(mono.egress and o not in mono.pubsub_subscribers)}"
            for o in mono.pubsub_subscriptions if id(o) in tag_ids]
    for i, (tag_id, media) in enumerate(medias):
        flags = 0
        if media.initialized:
            flags |= MEDIA_INITIALIZED
        if media.dir_flags[0]:
            flags |= MEDIA_SEND
        if media.dir_flags[1]:
            flags |= MEDIA_RECV
        if media.mux_shown:
            flags |= MEDIA_RTCP_MUX
        if _mux_override(tags[tag_id], media):
            flags |= MEDIA_RTCP_MUX_OVERRIDE
        if media.ice_out:
            flags |= MEDIA_ICE
        if media.ice_controlling:
            flags |= MEDIA_ICE_CONTROLLING
        rtp = media.rtp
        if rtp is not None and rtp.asymmetric:
            flags |= MEDIA_ASYMMETRIC
        if media.sdes:
            flags |= MEDIA_SDES
        if media.ice_passthrough:
            flags |= MEDIA_PASSTHRU
        if media.unidirectional:
            flags |= MEDIA_UNIDIRECTIONAL
        if media.transcoding:
            flags |= MEDIA_TRANSCODE
        if media.ptime_fixed:
            flags |= MEDIA_PTIME_OVERRIDE
        if media.rtcp_gen:
            flags |= MEDIA_RTCP_GEN
        intf = rtp.interface if rtp is not None else None
        doc[f"media-{i}"] = {
            "tag": str(tag_id),
            "index": str(media.index),
            "type": escape(media.type),
            "format_str": escape(" ".join(media.formats if media.last_formats is None
                                          else media.last_formats)),
            **({"media_id": escape(media.mid)} if media.mid is not None else {}),
            "protocol": escape(media.protocol),
            "desired_family": intf.sdp_family if intf else "IP4",
            "logical_intf": escape(intf.name) if intf else "default",
            "ptime": str(media.ptime_shown),
            "media_flags": str(flags),
        }
        sdes_in, sdes_out = _sdes_lists(media)
        doc[f"media-{i}"].update(_sdes_fields("sdes_in", sdes_in))
        doc[f"media-{i}"].update(_sdes_fields("sdes_out", sdes_out))
        doc[f"media-{i}"].update(_fingerprint_fields(media))
        own = [str(stream_ids[s.id]) for s in media.streams if s.id in stream_ids]
        fallback = fallbacks.get(media.streams[0].id) if media.streams else None
        doc[f"streams-{i}"] = own + ([str(stream_ids[fallback.id])] if fallback else [])
        doc[f"maps-{i}"] = [str(i)]
        doc[f"payload_types-{i}"] = [escape(_payload_type(pt, media.rtpmaps.get(pt, "")))
                                     for pt in media.formats if pt.isdigit()]
        first = media.streams[0] if media.streams else None
        doc[f"map-{i}"] = {
            "wildcard": "0" if first is not None and first.advertised else "1",
            "num_ports": str(len(own)),
            "intf_preferred_family": intf.sdp_family if intf else "IP4",
            "logical_intf": escape(intf.name) if intf else "default",
            "endpoint": _endpoint_text(first.advertised if first is not None else None),
        }
        uid = intf_index.get((intf.address, intf.name), 0) if intf else 0
        doc[f"map_sfds-{i}"] = [f"loc-{uid}", *own]
    return doc


def _raw(data: bytes, size: int) -> str:
    """Binary key material as 10.5 stores it: the fixed-size buffer, every byte escaped."""
    return escape(data.ljust(size, b"\0").decode("utf-8", "surrogateescape"))


def _crypto_fields(prefix: str, crypto: Crypto) -> dict[str, str]:
    """One set of SRTP parameters (``<prefix>-crypto_suite``, ``-master_key``...)."""
    fields = {
        f"{prefix}-crypto_suite": crypto.suite.name,
        f"{prefix}-master_key": _raw(crypto.key, KEY_FIELD),
        f"{prefix}-master_salt": _raw(crypto.salt, SALT_FIELD),
    }
    for name, flag in _SESSION_FIELDS:
        fields[f"{prefix}-{name}"] = "1" if flag in crypto.flags else "0"
    if crypto.mki is not None:
        mki = mki_bytes(*crypto.mki)
        fields[f"{prefix}-mki"] = _raw(mki, len(mki))
    return fields


def _relay_crypto(keys: tuple | None, tag: int = 0) -> Crypto | None:
    """A stream's relay keys (suite, key||salt, session parameters[, MKI]) as SDES parameters; None for a
    plain stream or one whose suite the relay cannot do (it has no keys to store)."""
    if keys is None:
        return None
    suite = SUITES_BY_NAME.get(keys[0])
    if suite is None or len(keys[1]) != suite.key_len + suite.salt_len:
        return None
    mki = (int.from_bytes(keys[3], "big"), len(keys[3])) if len(keys) > 3 else None
    return Crypto(tag, suite, keys[1][: suite.key_len], keys[1][suite.key_len :], mki=mki,
                  flags=frozenset(keys[2] if len(keys) > 2 else ()))


def _relay_key_fields(keys: tuple | None) -> dict[str, str]:
    crypto = _relay_crypto(keys)
    return _crypto_fields("", crypto) if crypto is not None else {}


def _sdes_lists(media: CallMedia) -> tuple[list[Crypto], list[Crypto]]:
    """10.5's ``sdes_in`` (the party's keys) and ``sdes_out`` (ours for it) of one media.

    Once the relay keys the leg (or passes its SDES end to end), both are the one agreed
    line each way, as 10.5 keeps them after an answer; before that, the lines the party
    offered and the ones we offered it."""
    rtp = media.rtp
    if rtp is not None:
        inbound, outbound = (_relay_crypto(keys) for keys in _stream_keys(rtp))
        if inbound is not None and outbound is not None:
            tag = _tag_of(media, inbound, outbound)
            return ([Crypto(tag, inbound.suite, inbound.key, inbound.salt, mki=inbound.mki)],
                    [Crypto(tag, outbound.suite, outbound.key, outbound.salt,
                            mki=outbound.mki)])
    return list(media.crypto_received), list(media.crypto_offered)


def _stream_keys(stream: Stream) -> tuple:
    """A stream's (inbound, outbound) keys as 10.5 stores them: the relay's SRTP keys, or
    on a leg whose SDES keys pass end to end, its RTCP keys (``Stream.srtcp``: the
    parties' own keys, which 10.5 stores the same way, its one line each way in
    ``sdes_in``/``sdes_out``; without them a restore could not read the SRTCP again, and
    10.5 restoring the call drops the SRTCP of the leg that shows no keys)."""
    if stream.srtp_in is not None or stream.srtcp is None:
        return stream.srtp_in, stream.srtp_out
    return stream.srtcp


def _tag_of(media: CallMedia, inbound: Crypto, outbound: Crypto) -> int:
    """The a=crypto tag the agreed keys were negotiated under (1 if no line names them):
    the line with either key (an end-to-end answerer's lines hold only the key it is
    sent with), else the first of the inbound suite."""
    lines = [*media.crypto_received, *media.crypto_offered]
    for keyed in (inbound, outbound):
        for line in lines:
            if line.same_keys(keyed):
                return line.tag
    for line in lines:
        if line.suite is inbound.suite:
            return line.tag
    return 1


def _sdes_fields(name: str, lines: list[Crypto]) -> dict[str, str]:
    """``<name>_tag`` and ``<name>-crypto_suite``... for the first line, then
    ``<name>-0_tag``, ``<name>-0-crypto_suite``... for the next ones (10.5's numbering)."""
    fields: dict[str, str] = {}
    key = name
    for number, line in enumerate(lines):
        fields[f"{key}_tag"] = str(line.tag)
        fields.update(_crypto_fields(key, line))
        key = f"{name}-{number}"
    return fields


def _fallback_rtcp(media: CallMedia) -> Stream | None:
    """The stream 10.5 lists for a one-port leg's RTCP (no socket: local port 0) at the
    party's a=rtcp port or the one after its RTP port, as query shows it: a fallback where
    rtcp-mux is in use, a plain RTCP stream where ``rtcp-mux: require`` gave the party one
    port and it answered without rtcp-mux; None for a leg with an RTCP stream of its own."""
    rtp = media.rtp
    if (not (media.mux_shown or "require" in media.mux_flags)
            or media.rtcp is not None or rtp is None or rtp.closed
            or rtp.rtcp or len(media.streams) != 1):
        return None
    advertised = rtp.advertised or rtp.shown_endpoint
    if advertised is not None and not media.rtcp_on_rtp:
        advertised = advertised.rtcp_of(media.rtcp_port)
    else:
        advertised = None
    return Stream(interface=rtp.interface, port=0, rtcp=True, sink=rtp.sink,
                  advertised=advertised, id=-rtp.id)


def _mux_override(mono: Monologue, media: CallMedia) -> bool:
    """10.5's RTCP_MUX_OVERRIDE on a media offered to: its answer does not decide rtcp-mux
    for the offerer, because the offerer did not offer it, we did not offer it on, or the
    offer said ``accept`` or ``reject`` (set by each offer to the party)."""
    if media.mux_sent is None:
        return False  # (never offered to)
    flags = media.mux_flags
    if "accept" in flags or "reject" in flags:
        return True
    offerer = next((o.medias[media.index - 1] for o in mono.subscriptions
                    if len(o.medias) >= media.index), None)
    return not (media.mux_sent and offerer is not None and offerer.mux_offered)


def _fingerprint_fields(media: CallMedia) -> dict[str, str]:
    """The party's DTLS fingerprint as 10.5 writes it (``hash_func``, and the digest in a
    64-byte buffer). Written for the layout's sake only: rtpengined does not restore DTLS
    (the association and the keys it exported live in the relay worker, not stored)."""
    remote = media.remote_webrtc
    text = getattr(remote, "fingerprint", None)
    if not text:
        return {}
    hash_name, _, digest = text.partition(" ")
    try:
        raw = bytes.fromhex(digest.replace(":", ""))
    except ValueError:
        return {}
    if len(raw) > FINGERPRINT_FIELD:
        return {}
    return {"hash_func": escape(hash_name), "fingerprint": _raw(raw, FINGERPRINT_FIELD)}


def _logical_intf(mono) -> str:
    for media in mono.medias:
        for stream in media.streams:
            return stream.interface.name
    return ""


def _payload_type(pt: str, rtpmap: str) -> str:
    """``PT/ENCODING/RATE/PARAMS/FMTP/BITRATE/PTIME`` as rtpengine lists codecs."""
    encoding, _, rest = rtpmap.partition("/")
    rate, _, params = rest.partition("/")
    return f"{pt}/{encoding}/{rate or 0}/{params}//0/0"


def dumps(doc: dict[str, Any]) -> str:
    """The stored text: ``encode_call`` has already escaped every free-text value."""
    return json.dumps(doc, separators=(",", ":"))


def loads(text: str | bytes) -> dict[str, Any]:
    """Parse a stored document and undo the escaping (only a ``%`` can start an escape)."""
    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LayoutError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise LayoutError("not a JSON object")
    if "%" not in (text if isinstance(text, str) else text.decode("utf-8", "replace")):
        return raw

    def unesc(value: Any) -> Any:
        if isinstance(value, str):
            return unescape(value)
        if isinstance(value, list):
            return [unesc(v) for v in value]
        if isinstance(value, dict):
            return {k: unesc(v) for k, v in value.items()}
        return value

    return unesc(raw)


# -- decoding ----------------------------------------------------------------------------------


@dataclass
class StoredStream:
    interface_name: str
    family: str  # IP4 / IP6
    intf_uid: int
    port: int
    rtcp: bool
    endpoint: Endpoint | None
    advertised: Endpoint | None
    confirmed: bool
    strict_source: bool
    media_handover: bool
    packets: int
    bytes: int
    errors: int
    sink: int | None  # index into StoredCall.streams
    rtcp_sibling: int | None
    # SRTP parameters of the socket (decrypting what the party sends) and of the stream
    # (encrypting what it is sent); None on a plain stream.
    crypto_in: Crypto | None = None
    crypto_out: Crypto | None = None
    extra_sinks: list[int] = field(default_factory=list)  # subscribers' streams (pubsub)


@dataclass
class StoredMedia:
    tag: int
    index: int
    type: str
    protocol: str
    formats: list[str]
    rtpmaps: dict[str, str]
    flags: int
    streams: list[int]
    sdes_in: list[Crypto] = field(default_factory=list)  # the party's a=crypto lines
    sdes_out: list[Crypto] = field(default_factory=list)  # ours for it
    mid: str | None = None  # its a=mid (10.5's media ID)
    ptime: int = 0  # the a=ptime the party is shown (``CallMedia.ptime_shown``)


@dataclass
class StoredTag:
    tag: str
    created: float
    via_branch: str
    label: str
    subscriptions: list[int]
    medias: list[int]
    deleted: float = 0.0  # a delayed delete of this party alone: when it is due (0: none)
    # pubsub links: (index of the other party, RTCP only: a mirror-RTCP subscriber, egress)
    pubsub: list[tuple[int, bool, bool]] = field(default_factory=list)
    block_dtmf: int = 0  # 10.5's mode number (``dtmf_block.STORED``), 0: not blocked
    block_media: bool = False


@dataclass
class StoredCall:
    call_id: str
    created: float
    last_signal: float
    tos: int
    deleted: float
    proxy: str
    db: int
    block_dtmf: int = 0
    block_media: bool = False
    tags: list[StoredTag] = field(default_factory=list)
    medias: list[StoredMedia] = field(default_factory=list)
    streams: list[StoredStream] = field(default_factory=list)


def _hash(doc: dict[str, Any], key: str) -> dict[str, str]:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise LayoutError(f"{key!r} missing")
    for field_value in value.values():
        if not isinstance(field_value, str):  # (10.5 writes every scalar as a string)
            raise LayoutError(f"{key!r} has a value that is no string: {field_value!r}")
    return value


def _list(doc: dict[str, Any], key: str) -> list[str]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise LayoutError(f"{key!r} is not a list")
    return [str(v) for v in value]


def _int(h: dict[str, str], key: str, default: int | None = None) -> int:
    value = h.get(key)
    if value is None or value == "":
        if default is None:
            raise LayoutError(f"{key!r} missing")
        return default
    try:
        return int(value)
    except ValueError:
        raise LayoutError(f"{key!r} is not a number: {value!r}") from None


def _index(value: int, count: int) -> int | None:
    return value if 0 <= value < count else None


def _id(text: str) -> int:
    """An id from one of the document's lists; a LayoutError for anything else."""
    if not isinstance(text, str) or not text.isdigit():
        raise LayoutError(f"bad id {text!r}")
    return int(text)


def decode_call(call_id: str, doc: dict[str, Any]) -> StoredCall:
    """Read a document rtpengine 10.5 (or rtpengined) stored; ``LayoutError`` if unusable."""
    head = _hash(doc, "json")
    created_us = _int(head, "created")
    stored = StoredCall(
        call_id=call_id,
        created=created_us / 1_000_000 if created_us > 10**11 else float(created_us),
        last_signal=float(_int(head, "last_signal")),
        tos=_int(head, "tos", 0),
        deleted=float(_int(head, "deleted", 0)),
        proxy=head.get("created_from", ""),
        db=_int(head, "redis_hosted_db"),
        block_dtmf=_int(head, "block_dtmf", 0),
        block_media=_int(head, "block_media", 0) != 0,
    )
    n_sfds, n_streams = _int(head, "num_sfds"), _int(head, "num_streams")
    n_medias, n_tags = _int(head, "num_medias"), _int(head, "num_tags")
    sfds = [_hash(doc, f"sfd-{i}") for i in range(n_sfds)]
    for i in range(n_streams):
        h = _hash(doc, f"stream-{i}")
        flags = _int(h, "ps_flags")
        sfd_id = _index(_int(h, "sfd"), n_sfds)
        if sfd_id is None:
            raise LayoutError(f"stream-{i} has no socket")
        sfd = sfds[sfd_id]
        # (the component says it; a muxed leg's RTP stream has the RTCP flag too, 10.5)
        component = _int(h, "component", 0)
        rtcp = component == 2 if component else bool(flags & PS_RTCP) and not flags & PS_RTP
        sinks = _list(doc, f"rtcp_sinks-{i}" if rtcp else f"rtp_sinks-{i}")
        if not sinks:
            sinks = _list(doc, f"rtp_sinks-{i}") + _list(doc, f"rtcp_sinks-{i}")
        sink = _index(_id(sinks[0]), n_streams) if sinks else None
        extra = [j for j in (_index(_id(x), n_streams) for x in sinks[1:]) if j is not None]
        stored.streams.append(StoredStream(
            interface_name=sfd.get("logical_intf", "default"),
            family=sfd.get("pref_family", "IP4"),
            intf_uid=_int(sfd, "local_intf_uid", 0),
            port=_int(sfd, "localport"),
            rtcp=rtcp,
            endpoint=parse_endpoint(h.get("endpoint", "")),
            advertised=parse_endpoint(h.get("advertised_endpoint", "")),
            confirmed=bool(flags & PS_CONFIRMED),
            strict_source=bool(flags & PS_STRICT_SOURCE),
            media_handover=bool(flags & PS_MEDIA_HANDOVER),
            packets=_int(h, "stats-packets", 0),
            bytes=_int(h, "stats-bytes", 0),
            errors=_int(h, "stats-errors", 0),
            sink=sink,
            extra_sinks=extra,
            rtcp_sibling=_index(_int(h, "rtcp_sibling", NO_INDEX), n_streams),
            crypto_in=_crypto(sfd, "", 0),
            crypto_out=_crypto(h, "", 0),
        ))
    for i in range(n_medias):
        h = _hash(doc, f"media-{i}")
        tag_id = _index(_int(h, "tag"), n_tags)
        if tag_id is None:
            raise LayoutError(f"media-{i} belongs to no tag")
        rtpmaps: dict[str, str] = {}
        for entry in _list(doc, f"payload_types-{i}"):
            parts = entry.split("/")
            if len(parts) >= 3 and parts[0].isdigit():
                rtpmaps[parts[0]] = "/".join(p for p in (parts[1], parts[2]) if p) + (
                    f"/{parts[3]}" if len(parts) > 3 and parts[3] else "")
        # The party's codecs are its payload types (10.5's codec list); ``format_str`` is
        # the last SDP's format list on the media, maybe the other party's: for media
        # without payload types (T.38, other non-RTP) it is all there is.
        formats = list(rtpmaps) or h.get("format_str", "").split()
        stored.medias.append(StoredMedia(
            tag=tag_id, index=_int(h, "index"), type=h.get("type", "audio"),
            protocol=h.get("protocol", "RTP/AVP"), formats=formats,
            rtpmaps=rtpmaps, flags=_int(h, "media_flags", 0), ptime=max(0, _int(h, "ptime", 0)),
            streams=[s for s in (_index(_id(x), n_streams) for x in _list(doc, f"streams-{i}"))
                     if s is not None],
            sdes_in=_sdes_list(h, "sdes_in"), sdes_out=_sdes_list(h, "sdes_out"),
            mid=h.get("media_id"),
        ))
    for i in range(n_tags):
        h = _hash(doc, f"tag-{i}")
        subs = []
        pubsub = []
        for entry in _list(doc, f"subscriptions-{i}"):
            fields = entry.split("/")
            first = fields[0]
            if first.isdigit() and _index(int(first), n_tags) is not None:
                if len(fields) >= 4 and fields[2] == "0":  # not offer/answer: pubsub
                    pubsub.append((int(first), fields[3] == "1",
                                   len(fields) > 4 and fields[4] == "1"))
                else:
                    subs.append(int(first))
        medias = [m for m in (_index(_id(x), n_medias) for x in _list(doc, f"medias-{i}"))
                  if m is not None]
        stored.tags.append(StoredTag(
            tag=h.get("tag", ""), created=float(_int(h, "created", 0)),
            via_branch=h.get("via-branch", ""), label=h.get("label", ""),
            subscriptions=subs, medias=medias, deleted=float(_int(h, "deleted", 0)),
            pubsub=pubsub, block_dtmf=_int(h, "block_dtmf", 0),
            block_media=_int(h, "block_media", 0) != 0))
    return stored


def _binary(h: dict[str, str], key: str, size: int) -> bytes:
    value = h.get(key)
    if value is None:
        raise LayoutError(f"{key!r} missing")
    raw = value.encode("utf-8", "surrogateescape")
    if len(raw) < size:
        raise LayoutError(f"{key!r} is {len(raw)} bytes, needs {size}")
    return raw[:size]


def _crypto(h: dict[str, str], prefix: str, tag: int) -> Crypto | None:
    """One set of SRTP parameters; None if there is none (a plain stream)."""
    name = h.get(f"{prefix}-crypto_suite")
    if not name:
        return None
    suite = SUITES_BY_NAME.get(name)
    if suite is None:
        raise LayoutError(f"unknown crypto suite {name!r}")  # 10.5 drops the call too
    flags = frozenset(flag for field_name, flag in _SESSION_FIELDS
                      if _int(h, f"{prefix}-{field_name}", 0))
    mki = None
    raw_mki = h.get(f"{prefix}-mki")
    if raw_mki:
        data = raw_mki.encode("utf-8", "surrogateescape")
        mki = (int.from_bytes(data, "big"), len(data))
    return Crypto(tag, suite, _binary(h, f"{prefix}-master_key", suite.key_len),
                  _binary(h, f"{prefix}-master_salt", suite.salt_len), mki=mki, flags=flags)


def _sdes_list(h: dict[str, str], name: str) -> list[Crypto]:
    """``sdes_in``/``sdes_out`` of a media: ``<name>_tag``, then ``<name>-0_tag``, ..."""
    lines: list[Crypto] = []
    key = name
    while f"{key}_tag" in h:
        crypto = _crypto(h, key, _int(h, f"{key}_tag"))
        if crypto is None:
            break
        lines.append(crypto)
        key = f"{name}-{len(lines) - 1}"
    return lines
