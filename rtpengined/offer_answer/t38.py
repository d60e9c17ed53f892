"""T.38 gateway signalling: a fax party on T.38 (``m=image ... udptl t38``) bridged to one
on G.711 audio, the SDP each side gets, as rtpengine 10.5 writes it.

The ``T.38`` list of an offer asks for it: ``decode`` turns an ``m=image`` T.38 section
into audio towards the other party, ``force`` turns an RTP audio section into T.38, ``stop``
ends a gateway (a re-offer then passes media as it is). Once set up, the gateway stays for
the call's later offers and answers of either party until ``stop``: what a party sends in
its own type is shown to the other in the other type.

How: before the offer/answer is planned, the sender's section is replaced by the section
the other party is to see (``converted``), so the ports, endpoints, directions, SRTP and
rendering work as for any section; the sender's own media keeps its real type
(``real_section``). Each party's media records its side of the gateway (``CallMedia.t38``:
``Gateway``), which the relay (``media.t38``) reads from the streams.

Only the G.711 laws are spoken on the audio side (what fax uses; 10.5 would also take
other codecs it can transcode, which fax modems do not survive).
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace
from typing import TYPE_CHECKING

from .. import sdp as sdpmod
from ..udptl import T38Options, sdp_attributes

if TYPE_CHECKING:
    from ..model import CallMedia
    from ..ngoptions import Options
    from ..sdp import MediaSection

# The audio codecs the gateway speaks, by rtpmap encoding; offered in this order when the
# audio party has none yet (10.5's default).
_PCM = {"PCMU": ("0", "PCMU/8000"), "PCMA": ("8", "PCMA/8000")}
_DEFAULT_PCM = ("PCMU", "PCMA")
# Flags that take a modem or feature out of what the gateway offers (10.5's t38 options).
_DISABLED = ("no-ECM", "no-V.17", "no-V.27ter", "no-V.29", "no-V.34", "no-IAF")


@dataclass(frozen=True)
class Gateway:
    """One party's side of a T.38 gateway (kept on its media for the call).

    ``side`` is "t38" for the party on UDPTL and "pcm" for the one on audio; both sides
    hold the same options and, once known, the audio codec spoken to the audio party
    (payload type, rtpmap) and its packet time (None: 20 ms, unsaid)."""

    side: str
    options: T38Options
    pcm: tuple[str, str] | None = None
    ptime: str | None = None

    def other(self) -> Gateway:
        return replace(self, side="pcm" if self.side == "t38" else "t38")


def is_t38(section: MediaSection) -> bool:
    return (section.type == "image" and section.protocol.lower() == "udptl"
            and "t38" in section.formats)


def _is_audio(section: MediaSection) -> bool:
    return section.type == "audio" and section.is_rtp


def conversion(section: MediaSection, media: CallMedia | None, opts: Options) -> str | None:
    """What the sender's section becomes for the other party: "audio", "image" or None.

    A ``decode`` or ``force`` of this request starts a gateway; a party already on one
    side of a gateway keeps it (10.5), unless the request says ``stop``."""
    flags = opts.t38
    side = None
    if media is not None and media.t38 is not None and "stop" not in flags:
        side = media.t38.side
    if is_t38(section) and ("decode" in flags or side == "t38"):
        return "audio"
    if _is_audio(section) and ("force" in flags or side == "pcm"):
        return "image"
    return None


def gateway_options(flags: frozenset[str], section: MediaSection | None) -> T38Options:
    """The gateway's options: from the T.38 party's own SDP when it is the one offering
    (``decode``), else 10.5's defaults (redundancy of 3, FEC over 3 with ``FEC``); the
    list's ``no-...`` names in both cases."""
    if section is not None:
        options = T38Options.from_sdp(section.attribute_index())
    else:
        options = T38Options(fec_span=3 if "FEC" in flags else 1)
    disabled = {name: True for name in _DISABLED if name in flags}
    if disabled:
        options = replace(options, **{_field(name): True for name in disabled})
    return options


def _field(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "")


def start(flags: frozenset[str], kind: str, section: MediaSection,
          sender: CallMedia | None) -> tuple[Gateway, Gateway]:
    """(sender's side, receiver's side) of the gateway after this request: the one they
    have, or a new one for a ``decode``/``force`` that starts it. The audio party's own
    section names the codec the gateway speaks to it (its first G.711 one) when no
    earlier one did: its offer with ``force``, its answer after a ``decode``."""
    present = sender.t38 if sender is not None else None
    if present is not None and "stop" not in flags and present.side == (
            "t38" if kind == "audio" else "pcm"):
        ours = present
    elif kind == "audio":  # the sender is the T.38 party
        ours = Gateway("t38", gateway_options(flags, section))
    else:  # the sender speaks audio: what it gets back is in its codec, at its ptime
        ours = Gateway("pcm", gateway_options(flags, None), ptime=_ptime(section))
    if ours.side == "pcm" and ours.pcm is None:
        ours = replace(ours, pcm=next(iter(_g711(section.formats, section.rtpmaps())), None))
    return ours, ours.other()


def _g711(formats: list[str], rtpmaps: dict[str, str]) -> list[tuple[str, str]]:
    """(payload type, rtpmap) of the G.711 codecs among ``formats``, in their order."""
    return [(pt, rtpmaps[pt]) for pt in formats
            if rtpmaps.get(pt, "").split("/")[0].upper() in _PCM]


def _ptime(section: MediaSection) -> str | None:
    ptimes = section.attribute_index().get("ptime")
    return ptimes[0] if ptimes else None


def converted(section: MediaSection, kind: str, gateway: Gateway, receiver: CallMedia | None,
              opts: Options) -> MediaSection:
    """The section the other party is to see: the sender's port, ``c=`` and direction, in
    the other type (``kind``)."""
    # (its own c= line, if any: else the session's stands for it, as for any section)
    connection = [line.text.rstrip("\r\n") for line in section.lines[1:] if line.kind == "c"]
    directions = [line.text.rstrip("\r\n") for line in section.lines[1:]
                  if line.value in sdpmod.DIRECTIONS]
    if kind == "image":
        head = f"m=image {section.port} udptl t38"
        body = [f"a={value}" for value in sdp_attributes(gateway.options)]
    else:
        codecs = _audio_codecs(gateway, receiver, opts)
        head = " ".join(["m=audio", str(section.port), "RTP/AVP", *(pt for pt, _ in codecs)])
        body = [f"a=rtpmap:{pt} {rtpmap}" for pt, rtpmap in codecs]
        if gateway.ptime is not None:
            body.append(f"a=ptime:{gateway.ptime}")
    return _section([head, *connection[:1], *body, *directions])


def _audio_codecs(gateway: Gateway, receiver: CallMedia | None,
                  opts: Options) -> list[tuple[str, str]]:
    """The codecs offered or answered to the audio party: the one the gateway speaks once
    chosen; else the G.711 codecs that party had (a re-INVITE into fax), those ``codec:
    transcode`` names, or PCMU and PCMA."""
    if gateway.pcm is not None:
        return [gateway.pcm]
    if receiver is not None and receiver.type == "audio":
        had = _g711(receiver.formats, receiver.rtpmaps)
        if had:
            return had
    names = [name.split("/")[0].upper() for name in opts.transcode]
    chosen = [_PCM[name] for name in dict.fromkeys(names) if name in _PCM]
    return chosen or [_PCM[name] for name in _DEFAULT_PCM]


def relay_spec(gateway: Gateway | None) -> tuple | None:
    """What the relay needs of a party's side (``Stream.t38``): (side, options as a tuple,
    audio payload type or None, its encoding, packet time in ms)."""
    if gateway is None:
        return None
    pt = encoding = None
    if gateway.pcm is not None:
        pt = int(gateway.pcm[0])
        encoding = gateway.pcm[1].split("/")[0].upper()
    ptime = int(gateway.ptime) if gateway.ptime and gateway.ptime.isdigit() else 20
    return (gateway.side, astuple(gateway.options), pt, encoding, ptime)


def _section(lines: list[str]) -> MediaSection:
    parsed = sdpmod.parse("\r\n".join(["v=0", *lines, ""]))
    return parsed.medias[0]
