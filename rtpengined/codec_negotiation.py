"""Answer codecs as rtpengine 10.5 narrows them without transcoding, sans-I/O.

An answer may list codecs the offer never carried (a phone answering with its whole
codec list). rtpengine passes on only what the offer sent, under the offer's payload
type numbers, so the offerer never sees a payload type it did not offer. Probed on 10.5:

- an answer codec whose payload type the offer used for the same encoding is kept;
- one whose payload type the offer used for another encoding is renumbered to the
  offer's payload type of that encoding (if the offer has it), else dropped;
- one with a payload type the offer never used is dropped;
- a codec 10.5's codec library does not know (video, anything unusual) is never
  renumbered: kept under its own payload type if the offer used that number;
- if nothing is left, and both the answer and the offer's first codec are ones 10.5
  knows, 10.5 transcodes: the offer's first media codec (not DTMF or comfort noise) is
  answered, plus any answer codec found in the offer by encoding name alone
  (typically telephone-event), with the offer's fmtp. rtpengined cannot transcode; it
  answers the same SDP (the call is broken either way) and flags the media as 10.5 does;
  with only unknown codecs left, the answer's codecs pass unchanged.

The answer's ``a=ptime`` wins; without one, the offerer's own ``a=ptime`` is repeated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .sdp import MediaSection
from .shared_values import SharedValues

SUPPLEMENTARY = frozenset({"telephone-event", "cn"})
# Encodings 10.5's codec library defines (lower case). Only these are renumbered or
# transcoded to; any other codec (video, unknown) passes by its payload type as it is.
KNOWN_ENCODINGS = frozenset({
    "pcma", "pcmu", "g723", "g722", "qcelp", "g729", "g729a", "speex", "gsm", "ilbc", "opus",
    "vorbis", "ac3", "eac3", "atrac3", "atrac-x", "evrc", "evrc0", "evrc1", "amr", "amr-wb",
    "telephone-event", "cn", "pcm-s16le", "pcm-u8", "mp3",
})


_NO_FMTPS: Mapping[str, list[str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Offered:
    """What an offer sent for one media section (kept on the answerer's media for the
    call's life). Immutable, so that equal records are one object (``offered``)."""

    codecs: tuple[tuple[str, str], ...]  # (payload type, "encoding/rate[/channels]") in order
    ptime: str | None = None  # the offerer's own a=ptime
    forced_ptime: bool = False  # the offer set ``ptime``: the offerer keeps its own
    # payload type -> fmtp params (not compared: only records without any are shared)
    fmtps: Mapping[str, list[str]] = field(default_factory=lambda: _NO_FMTPS, compare=False)
    reverse_ptime: str | None = None  # ``ptime-reverse``: the ptime the offerer is answered
    repacketized: bool = False  # the offer changed ptime: 10.5 shows "transcoding"
    stripped: tuple[tuple[str, str], ...] = ()  # in the SDP, not sent on


# Equal offers (nearly every call of a deployment offers the same codecs) share one record:
# ~0.4 kB less per open call.
_shared_offer: SharedValues[Offered] = SharedValues(256)


@dataclass
class AnswerCodec:
    pt: str  # payload type in the produced answer
    source_pt: str  # payload type in the answerer's SDP ("" if it had none)
    rtpmap: str | None  # encoding text for a=rtpmap
    fmtps: list[str] | None = None  # fmtp parameters to use instead of the answer's

    @property
    def renumbered(self) -> bool:
        """rtpengine must rewrite payload types (its media then shows "transcoding")."""
        return self.pt != self.source_pt


def offered(section: MediaSection, formats: list[str], ptime_option: int | None,
            ptime_reverse: int | None = None) -> Offered:
    """Record the codecs an offer sends on (``formats`` after any stripping)."""
    rtpmaps = section.rtpmaps()
    ptimes = section.attributes("ptime")
    fmtps: dict[str, list[str]] = {}
    for value in section.attributes("fmtp"):
        pt, _, params = value.partition(" ")
        fmtps.setdefault(pt, []).append(params)
    own = ptimes[0] if ptimes else None
    forced = ptime_option is not None and ptime_option > 0
    reverse = str(ptime_reverse) if ptime_reverse is not None and ptime_reverse > 0 else None
    record = Offered(
        codecs=tuple([(pt, rtpmaps.get(pt, "")) for pt in formats]),
        stripped=tuple([(pt, rtpmaps.get(pt, "")) for pt in section.formats
                        if pt not in formats]),
        ptime=own,
        forced_ptime=forced,
        fmtps=fmtps or _NO_FMTPS,
        reverse_ptime=reverse,
        repacketized=(forced and str(ptime_option) != own) or reverse is not None,
    )
    # (fmtps, a dict, is not compared: only records without any are shared; they are rarer)
    return record if fmtps else _shared_offer(record)


def _encoding(rtpmap: str) -> str:
    return rtpmap.split("/", 1)[0].lower()


def answer_codecs(section: MediaSection, formats: list[str], offer: Offered) -> list[AnswerCodec]:
    """The answer's codec list narrowed to the offer's (see the module doc)."""
    rtpmaps = section.rtpmaps()
    if not offer.codecs:
        return [AnswerCodec(pt, pt, rtpmaps.get(pt)) for pt in formats]
    by_pt = dict(offer.codecs)
    result: list[AnswerCodec] = []
    used: set[str] = set()

    def by_name(encoding: str) -> str | None:
        return next((pt for pt, text in offer.codecs
                     if text and _encoding(text) == encoding and pt not in used), None)

    def from_offer(pt: str, source: str) -> AnswerCodec:
        used.add(pt)
        return AnswerCodec(pt, source, by_pt[pt] or None, offer.fmtps.get(pt, []))

    for pt in formats:
        encoding = _encoding(rtpmaps.get(pt, ""))
        if pt not in by_pt:
            continue
        if encoding not in KNOWN_ENCODINGS:
            # Not a codec 10.5 knows: kept under its own number and rtpmap (one without an
            # rtpmap is printed as "/0" by 10.5).
            if pt not in used:
                used.add(pt)
                result.append(AnswerCodec(pt, pt, rtpmaps.get(pt) or "/0"))
            continue
        target: str | None = pt
        if _encoding(by_pt[pt]) != encoding:
            target = by_name(encoding) if encoding else None
        if target is not None and target not in used:
            used.add(target)
            result.append(AnswerCodec(target, pt, by_pt[target] or None))
    if result:
        return result
    first = next((text for _, text in offer.codecs if _encoding(text) not in SUPPLEMENTARY), "")
    if _encoding(first) not in KNOWN_ENCODINGS or not any(
            _encoding(rtpmaps.get(pt, "")) in KNOWN_ENCODINGS for pt in formats):
        # Nothing 10.5 could transcode from or to: the answer's codecs go through as they are.
        return [AnswerCodec(pt, pt, rtpmaps.get(pt)) for pt in formats]
    # Nothing in common: rtpengine transcodes to the offer's first codec (we cannot).
    for pt in formats:
        encoding = _encoding(rtpmaps.get(pt, ""))
        target = by_name(encoding) if encoding else None
        if target is not None:
            result.append(from_offer(target, pt))
    if not any(_encoding(c.rtpmap or "") not in SUPPLEMENTARY for c in result):
        first = next((pt for pt, text in offer.codecs if _encoding(text) not in SUPPLEMENTARY),
                     None)
        if first is not None:
            result.insert(0, from_offer(first, ""))
    return result


def single_codec(codecs: list[AnswerCodec]) -> list[AnswerCodec]:
    """``single codec`` (answers only): the first real codec and every telephone-event or
    comfort-noise codec, wherever they stand; the other codecs go (10.5)."""
    result: list[AnswerCodec] = []
    chosen = False
    for codec in codecs:
        if _encoding(codec.rtpmap or "") in SUPPLEMENTARY:
            result.append(codec)
        elif not chosen:
            chosen = True
            result.append(codec)
    return result


def hides_formats(section: MediaSection, result: list[AnswerCodec], offer: Offered) -> bool:
    """10.5 quirk: an answer left with only telephone-event because its codecs were stripped
    from the offer gets an empty m= format list (the telephone-event attributes stay)."""
    if not result or any(_encoding(c.rtpmap or "") != "telephone-event" for c in result):
        return False
    rtpmaps = section.rtpmaps()
    stripped = dict(offer.stripped)
    return any(pt in stripped and _encoding(stripped[pt]) == _encoding(rtpmaps.get(pt, ""))
               for pt in section.formats)


def answer_ptime(section: MediaSection, offer: Offered) -> tuple[str | None, bool]:
    """``(ptime for the managed a=ptime line, keep the answer's own ptime lines in place)``."""
    own = section.attributes("ptime")
    if offer.reverse_ptime is not None:
        return offer.reverse_ptime, False
    if offer.forced_ptime:
        if offer.ptime is not None:
            return offer.ptime, False
        return None, True
    if own:
        return own[0], False
    return offer.ptime, False
