"""Reading ng message options: one parser for offer/answer, query/list/delete and the
extended commands.

rtpengine accepts several spellings of most keys (``call-id``/``call ID``, ``from-tag``/
``from tag``), integers as ``i5e`` or ``"5"``, and flags with spaces or dashes; every
command reads its options through these helpers so the rules are the same everywhere.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Any

from . import sdp as sdpmod
from .protocol.ngcodec import NgError

log = logging.getLogger("rtpengined.ng")


def require_call_id(message: dict[str, Any]) -> str:
    """``call-id`` (this spelling only, as 10.5's query/delete/extended commands read it)."""
    return require_str(message, "call-id", "No call-id in message")


def require_str(message: dict[str, Any], name: str, error: str) -> str:
    """The string ``name`` (this spelling only); ``NgError(error)`` without it."""
    value = get_str(message, name)
    if value is None:
        raise NgError(error)
    return value


def get_str(message: dict[str, Any], *names: str) -> str | None:
    """First of ``names`` present with a string value (integers count as absent)."""
    for name in names:
        value = message.get(name)
        if isinstance(value, str):
            return value
    return None


def get_int(message: dict[str, Any], *names: str) -> int | None:
    """An integer option given as ``i5e`` or ``"5"``; non-numeric strings count as absent."""
    for name in names:
        value = message.get(name)
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


def get_c_int(message: dict[str, Any], *names: str) -> int | None:
    """``get_int`` as 10.5 keeps it, in a C ``int``: clamped to 64 bits as it parses, then
    cut to 32 (2^32 + 20 is 20, 2^31 + 20 a negative number, which options ignore)."""
    value = get_int(message, *names)
    if value is None:
        return None
    value = max(min(value, 2**63 - 1), -2**63)
    return (value + 2**31) % 2**32 - 2**31


def get_list(message: dict[str, Any], *names: str) -> list[str]:
    """A list of strings, with spaces turned into dashes (rtpengine's flag spelling rule)."""
    for name in names:
        value = message.get(name)
        if isinstance(value, list):
            return [item.replace(" ", "-") for item in value if isinstance(item, str)]
    return []


# Flags 10.5 takes in more than one spelling, by the one this code tests for. Flags are
# otherwise case-sensitive in 10.5 ("Trust-Address" is an unknown flag), so only these
# exact spellings are folded.
_FLAG_SPELLINGS = {
    "trickle-ice": "trickle-ICE",
    "no-RTCP-attribute": "no-rtcp-attribute",
    "full-RTCP-attribute": "full-rtcp-attribute",
    "generate-rtcp": "generate-RTCP",
    "ICE-reject": "reject-ICE", "ice-reject": "reject-ICE", "reject-ice": "reject-ICE",
    "inject-dtmf": "inject-DTMF",
    "detect-dtmf": "detect-DTMF",
    "sip-source-address": "SIP-source-address",
    "siprec": "SIPREC",
    "pierce-nat": "pierce-NAT",
    "nat-wait": "NAT-wait",
    "RTCP-mirror": "mirror-RTCP", "rtcp-mirror": "mirror-RTCP", "mirror-rtcp": "mirror-RTCP",
    "debugging": "debug",
}


# Keys 10.5 takes in other spellings, by the one this code reads.
_KEY_SPELLINGS = {
    "from-label": "label", "to-label": "set-label", "RTCP-mux": "rtcp-mux",
    "ice lite": "ICE-lite", "dtls-reverse": "DTLS-reverse", "dtls reverse": "DTLS-reverse",
    "dtls fingerprint": "DTLS-fingerprint", "dtls-fingerprint": "DTLS-fingerprint",
    "reverse ptime": "ptime-reverse", "reverse-ptime": "ptime-reverse",
    "XMLRPC-callback": "xmlrpc-callback",
}


def canonical_keys(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` with the other spellings 10.5 takes for some keys also under the one
    this code reads (an explicit one of those wins). Nearly no request has any: one set
    test then."""
    if _KEY_SPELLINGS.keys().isdisjoint(message):
        return message
    for alias, canonical in _KEY_SPELLINGS.items():
        if alias in message and canonical not in message:
            message[canonical] = message[alias]
    return message


def get_flags(message: dict[str, Any]) -> list[str]:
    """The ``flags`` list (``get_list``'s dashes), each alias 10.5 accepts in the spelling
    this code tests for."""
    return [_FLAG_SPELLINGS.get(flag, flag) for flag in get_list(message, "flags")]


@dataclass(init=False)
class Options:
    """The offer/answer options that matter for plain RTP."""

    flags: set[str] = field(default_factory=set)
    replace: set[str] = field(default_factory=set)
    rtcp_mux: set[str] = field(default_factory=set)
    ice: str = "default"
    ice_given: bool = False  # the request named an ICE option
    media_address: str | None = None
    address_family: str | None = None
    received_from: str | None = None
    # Media addresses from ``received from`` (True: ``SIP source address``), from the SDP
    # (False: ``trust address``), or as ``--sip-source`` says (None): the later of the two
    # flags wins, as 10.5 reads them in order.
    sip_source: bool | None = None
    ice_lite: str | None = None
    ptime_reverse: int | None = None
    transport_protocol: str | None = None
    # transport-protocol: accept (answers): the answerer's own protocol goes to the offerer.
    transport_accept: bool = False
    sdes: list[str] = field(default_factory=list)  # the SDES list: off, no-<suite>, flags
    # DTLS-reverse of an offer: our role on the offerer's leg once answered ('passive'
    # picks passive where the offerer left the choice; 10.5).
    dtls_reverse: str | None = None
    dtls: str | None = None  # the DTLS option: 'off' offers no DTLS (SDES only)
    dtls_fingerprint: str | None = None  # DTLS-fingerprint: the hash our offer's a=fingerprint uses
    osrtp: list[str] = field(default_factory=list)  # the OSRTP list: offer, accept (RFC 8643)
    label: str | None = None
    # ICE passthrough on both legs: started (True: the ``passthrough`` flag, or the key
    # ``passthrough``/``passthru`` on, yes, enable(d)) or ended (False: ``no-passthrough``,
    # or the key's no, off, disable(d)); None: neither (10.5).
    passthrough: bool | None = None
    # ``drop-traffic``: start (True) or stop (False) dropping all the call's media; None:
    # not given.
    drop_traffic: bool | None = None
    # ``TOS`` (offers only): the call's IP TOS / traffic class for its media sockets; 256
    # when not given, which (as any value above 255) means ``--tos`` (10.5).
    tos: int = 256
    via_branch: str | None = None
    ptime: int | None = None
    strip: list[str] = field(default_factory=list)
    except_: list[str] = field(default_factory=list)
    # Masked/consumed codecs: without transcoding, stripped from offers; an answer ignores
    # them (10.5: a mask says what not to offer).
    mask: list[str] = field(default_factory=list)
    # ``strip`` before the offer adds ``mask`` to it: what the offerer still may be answered
    # with (a masked codec is only hidden from the answerer).
    # (Tuples until given: no list made per request for options nearly no request has.)
    strip_only: list[str] | tuple[()] = ()
    # ``codec: {transcode}``: codecs to offer on that the relay produces by converting
    # (``media.codecs``); ``accept``/``consume``: codecs the offerer is answered in preference.
    transcode: list[str] | tuple[()] = ()
    accept: list[str] | tuple[()] = ()
    # ``codec: {offer}``: codecs stripped or masked that come back, in this order, after
    # the codecs kept (10.5: "except" that may reorder).
    offer: list[str] | tuple[()] = ()
    direction: list[str] = field(default_factory=list)
    supports: set[str] = field(default_factory=set)
    learning: str | None = None
    media_echo: str | None = None  # blackhole, forward, backward, both (10.5's spellings)
    # ``generate RTCP``: True (the flag, or the key "on"), False (the key "off"), None: not
    # given (the media keep what they had).
    generate_rtcp: bool | None = None
    # The T.38 list and ``T38-``/``T.38-`` flags, spelt as ``offer_answer.t38`` names them
    # (decode, force, stop, FEC, no-ECM, no-V.17, ...). Empty for nearly every request.
    t38: frozenset[str] = frozenset()

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, flags: set[str] | None = None, replace: set[str] | None = None,
                 rtcp_mux: set[str] | None = None, ice: str = "default", ice_given: bool = False,
                 media_address: str | None = None, address_family: str | None = None,
                 received_from: str | None = None, sip_source: bool | None = None,
                 ice_lite: str | None = None, ptime_reverse: int | None = None,
                 transport_protocol: str | None = None, transport_accept: bool = False,
                 sdes: list[str] | None = None, dtls_reverse: str | None = None,
                 dtls: str | None = None, dtls_fingerprint: str | None = None,
                 osrtp: list[str] | None = None, label: str | None = None,
                 passthrough: bool | None = None, drop_traffic: bool | None = None, tos: int = 256,
                 via_branch: str | None = None, ptime: int | None = None,
                 strip: list[str] | None = None, except_: list[str] | None = None,
                 mask: list[str] | None = None, strip_only: list[str] | tuple[()] = (),
                 transcode: list[str] | tuple[()] = (), accept: list[str] | tuple[()] = (),
                 offer: list[str] | tuple[()] = (), direction: list[str] | None = None,
                 supports: set[str] | None = None, learning: str | None = None,
                 media_echo: str | None = None, generate_rtcp: bool | None = None,
                 t38: frozenset[str] = frozenset()) -> None:
        self.flags = set() if flags is None else flags
        self.replace = set() if replace is None else replace
        self.rtcp_mux = set() if rtcp_mux is None else rtcp_mux
        self.ice = ice
        self.ice_given = ice_given
        self.media_address = media_address
        self.address_family = address_family
        self.received_from = received_from
        self.sip_source = sip_source
        self.ice_lite = ice_lite
        self.ptime_reverse = ptime_reverse
        self.transport_protocol = transport_protocol
        self.transport_accept = transport_accept
        self.sdes = [] if sdes is None else sdes
        self.dtls_reverse = dtls_reverse
        self.dtls = dtls
        self.dtls_fingerprint = dtls_fingerprint
        self.osrtp = [] if osrtp is None else osrtp
        self.label = label
        self.passthrough = passthrough
        self.drop_traffic = drop_traffic
        self.tos = tos
        self.via_branch = via_branch
        self.ptime = ptime
        self.strip = [] if strip is None else strip
        self.except_ = [] if except_ is None else except_
        self.mask = [] if mask is None else mask
        self.strip_only = strip_only
        self.transcode = transcode
        self.accept = accept
        self.offer = offer
        self.direction = [] if direction is None else direction
        self.supports = set() if supports is None else supports
        self.learning = learning
        self.media_echo = media_echo
        self.generate_rtcp = generate_rtcp
        self.t38 = t38

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Options:
        opts = cls()
        if message.keys() <= _NON_OPTION_KEYS:  # nothing but the call's keys: the defaults
            return opts
        flags = get_flags(message)
        opts.flags = set(flags)
        opts.replace = {"SDP-version" if item == "sdp-version" else item
                        for item in get_list(message, "replace")}
        for flag in flags:  # (in the order given: codec lists keep it)
            # (10.5 ignores "replace-origin" style flags: only the replace list counts.)
            # (10.5 ignores "rtcp-mux-offer" style flags too: only the rtcp-mux list counts.)
            if flag.startswith("codec-strip-"):
                opts.strip.append(flag[12:])
            elif flag.startswith(("codec-mask-", "codec-consume-")):
                opts.mask.append(flag.split("-", 2)[2])
                if flag.startswith("codec-consume-"):
                    opts.accept = [*opts.accept, flag[14:]]
            elif flag.startswith(("codec-transcode-", "transcode-")):
                # (10.5 takes ``transcode-X`` for ``codec-transcode-X`` too; its own suites
                # from mr12.0 on spell it so)
                opts.transcode = [*opts.transcode, flag.split("transcode-", 1)[1]]
            elif flag.startswith("codec-accept-"):
                opts.accept = [*opts.accept, flag[13:]]
            elif flag.startswith("codec-except-"):
                opts.except_.append(flag[13:])
            elif flag.startswith("codec-offer-"):
                opts.offer = [*opts.offer, flag[12:]]
            elif flag.startswith("endpoint-learning-"):
                opts.learning = flag[18:]
            elif flag.startswith(("T38-", "T.38-")):
                opts.t38 = opts.t38 | t38_options([flag.split("-", 1)[1]])
            elif flag == "SIP-source-address":
                opts.sip_source = True
            elif flag == "trust-address":
                opts.sip_source = False
        opts.rtcp_mux.update(get_list(message, "rtcp-mux", "rtcp mux"))
        ice = get_str(message, "ICE", "ice")
        if ice in ("force_relay", "force relay"):
            ice = "force-relay"
        if ice in ("remove", "force", "default", "optional", "force-relay"):
            opts.ice = ice  # (optional, force-relay: offer_answer.ice)
            opts.ice_given = ice != "default"  # (10.5: "default" is no option at all)
        media_address = get_str(message, "media address", "media-address")
        opts.media_address = media_address if _is_address(media_address) else None
        family = get_str(message, "address family", "address-family")
        opts.address_family = {"IP4": "IPv4", "IP6": "IPv6"}.get(family or "")
        received = message.get("received from", message.get("received-from"))
        if (isinstance(received, list) and len(received) >= 2 and isinstance(received[1], str)
                and _is_address(received[1])):
            opts.received_from = received[1]
        lite = get_str(message, "ICE-lite", "ICE lite", "ice-lite")
        opts.ice_lite = _ICE_LITE.get(lite, lite) if lite is not None else None
        opts.ptime_reverse = get_c_int(message, "ptime-reverse", "ptime reverse")
        protocol = get_str(message, "transport protocol", "transport-protocol")
        if protocol in sdpmod.RTP_PROTOCOLS:
            opts.transport_protocol = protocol
        opts.transport_accept = protocol == "accept"
        opts.sdes = sdes_options(message, flags)
        opts.dtls, opts.dtls_reverse = dtls_flags(message)
        opts.dtls_fingerprint = get_str(message, "DTLS-fingerprint", "DTLS fingerprint")
        opts.osrtp = [*get_list(message, "OSRTP", "osrtp"),
                      *(flag[6:] for flag in flags if flag.startswith("OSRTP-"))]
        t38 = get_list(message, "T.38", "T38", "t38", "t.38")
        if t38:
            opts.t38 = opts.t38 | t38_options(t38)
        opts.label = get_str(message, "label")
        passthrough = get_str(message, "passthrough", "passthru")
        if passthrough in _ON or "passthrough" in opts.flags:
            opts.passthrough = True
        elif passthrough in _OFF or "no-passthrough" in opts.flags:
            opts.passthrough = False
        drop = get_str(message, "drop-traffic", "drop traffic")
        if drop in ("start", "stop"):
            opts.drop_traffic = drop == "start"
        tos = get_int(message, "TOS", "tos")
        if tos is not None:
            opts.tos = tos
        opts.via_branch = get_str(message, "via-branch", "via branch")
        opts.ptime = get_c_int(message, "ptime")
        codec = message.get("codec")
        if isinstance(codec, dict):
            opts.strip += get_list(codec, "strip")
            opts.mask += get_list(codec, "mask") + get_list(codec, "consume")
            opts.transcode = [*opts.transcode, *get_list(codec, "transcode")]
            opts.accept = [*opts.accept, *get_list(codec, "accept"), *get_list(codec, "consume")]
            opts.except_ += get_list(codec, "except")
            opts.offer = [*opts.offer, *get_list(codec, "offer")]
        opts.direction = [d for d in get_list(message, "direction")]
        supports = message.get("supports")  # spelt exactly "load limit" (10.5)
        opts.supports = ({item for item in supports if isinstance(item, str)}
                         if isinstance(supports, list) else set())
        opts.media_echo = _MEDIA_ECHO.get(get_str(message, "media echo", "media-echo") or "")
        generate = get_str(message, "generate RTCP", "generate-RTCP", "generate rtcp",
                           "generate-rtcp")
        if "generate-RTCP" in opts.flags or generate == "on":
            opts.generate_rtcp = True
        elif generate == "off":
            opts.generate_rtcp = False
        learning = get_str(message, "endpoint-learning", "endpoint learning")
        if learning in ("off", "immediate", "delayed", "heuristic"):
            opts.learning = learning
        return opts


# The values 10.5 takes for on and off (the ``passthrough`` key; ``_OFF`` also the ``DTLS``
# key's and the ``SDES`` list's spellings of off).
_ON = frozenset({"on", "yes", "enable", "enabled"})
_OFF = frozenset({"no", "off", "disable", "disabled"})

# The ``ICE-lite`` values 10.5 takes, by the one this code tests for.
_ICE_LITE = {
    "none": "off", "no": "off", "offer": "forward", "fwd": "forward", "fw": "forward",
    **dict.fromkeys(("backwards", "reverse", "answer", "back", "bkw", "bk"), "backward"),
}


def dtls_flags(message: dict[str, Any], passive: bool = False) -> tuple[str | None, str | None]:
    """A request's ``DTLS`` flag (``off`` for any word that turns it off) and its
    ``DTLS-reverse``. ``passive``: ``--dtls-passive``, which makes passive 10.5's default of
    both: only ``active`` (or ``DTLS: off``) turns it off, a value it does not know leaves
    it on."""
    reverse = get_str(message, "DTLS-reverse", "DTLS reverse")
    dtls = get_str(message, "DTLS", "dtls")
    dtls = "off" if is_off(dtls) else dtls
    if passive:
        if dtls not in ("active", "off"):
            dtls = "passive"
        if reverse != "active":
            reverse = "passive"
    return dtls, reverse


def is_off(value: str | None) -> bool:
    """A value 10.5 reads as off (``DTLS``: ``off``, ``no``, ``disable``, ``disabled``)."""
    return value in _OFF


def sdes_options(message: dict[str, Any], flags: list[str]) -> list[str]:
    """The ``SDES`` list with the ``SDES-<option>`` flags added (``SDES-no-<suite>``,
    ``SDES-off``, ...: 10.5 reads both into one set of options), every spelling of "off"
    as ``off``."""
    options = [*get_list(message, "SDES", "sdes"),
               *(flag[5:] for flag in flags if flag.startswith("SDES-"))]
    return ["off" if option in _OFF else option for option in options]


# The T.38 list's names as 10.5 takes them (spaces already dashes), by the one we keep.
_T38_NAMES = {
    "decode": "decode", "force": "force", "stop": "stop", "FEC": "FEC", "fec": "FEC",
    "no-ECM": "no-ECM", "no-ecm": "no-ECM", "no-IAF": "no-IAF", "no-iaf": "no-IAF",
    **{f"no-{v}{n}": f"no-V.{n}" for n in ("17", "27ter", "29", "34")
       for v in ("V", "V.", "v", "v.")},
}


def t38_options(names: list[str]) -> frozenset[str]:
    """The T.38 names given, as ``offer_answer.t38`` reads them (10.5 logs and ignores
    names it does not know; so do we)."""
    known = frozenset(_T38_NAMES[name] for name in names if name in _T38_NAMES)
    if len(known) < len(names):
        log.warning("Unknown 'T.38' flag ignored: %s",
                    ", ".join(name for name in names if name not in _T38_NAMES))
    return known


# The media-echo values 10.5 takes (anything else: ignored, as 10.5 logs and ignores it).
_MEDIA_ECHO = {
    "blackhole": "blackhole", "sinkhole": "blackhole",
    "forward": "forward", "fwd": "forward", "fw": "forward",
    "backward": "backward", "backwards": "backward", "reverse": "backward",
    "back": "backward", "bkw": "backward", "bk": "backward",
    "both": "both",
}

# Keys that never change an option (every offer/answer has most of these).
_NON_OPTION_KEYS = frozenset({
    "command", "sdp", "SDP", "call-id", "call-ID", "call id", "call ID", "from-tag", "from tag",
    "from-Tag", "to-tag", "to tag", "to-Tag",
})


def _is_address(text: str | None) -> bool:
    """An IPv4/IPv6 literal (10.5 ignores address options that are not)."""
    if not text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
