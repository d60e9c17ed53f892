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

Transcoding (PCMU, PCMA, G.722 and Opus: the codecs the relay converts, ``media.codecs``;
probed on 10.5):

- ``codec: {transcode: [PCMA]}`` in an offer adds the codec to what the answerer is offered,
  after the offer's last media codec (telephone-event/CN stay last), under its static
  payload type if the offer does not use it, else the first free dynamic one, with the
  name as the option spells it. An answerer taking only an added codec makes an answer with
  nothing in common: the offerer is answered its own first codec, and the relay converts.
- ``accept`` (and ``consume``, a mask that accepts): the offerer is answered the first of
  its codecs named there, whatever the answerer chose; ``always transcode``: its first one.
- A masked codec is hidden from the answerer only: the offerer may still be answered it.
- Packets a party sends in a codec the other was not answered are converted to the other's
  first codec, and with a changed ``ptime`` G.711 is framed anew (``conversions``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from .media import codecs as media_codecs
from .sdp import MediaSection, clock_rate, filter_codecs
from .shared_values import SharedValues

SUPPLEMENTARY = frozenset({"telephone-event", "cn"})
# Encodings 10.5's codec library defines (lower case). Only these are renumbered or
# transcoded to; any other codec (video, unknown) passes by its payload type as it is.
KNOWN_ENCODINGS = frozenset({
    "pcma", "pcmu", "g723", "g722", "qcelp", "g729", "g729a", "speex", "gsm", "ilbc", "opus",
    "vorbis", "ac3", "eac3", "atrac3", "atrac-x", "evrc", "evrc0", "evrc1", "amr", "amr-wb",
    "telephone-event", "cn", "pcm-s16le", "pcm-u8", "mp3",
})
# The encodings an offer keeps once 10.5 adds a codec for transcoding: those it can decode
# and encode (``rtpengine --codecs``: "fully supported") and, as probed, those its codec
# library has without an RTP definition. Decode-only ones (AMR, iLBC...) and unknown ones go.
FULLY_SUPPORTED = frozenset({
    "pcma", "pcmu", "g723", "g722", "g729", "g729a", "speex", "gsm", "opus",
    "telephone-event", "cn", "vorbis", "ac3", "eac3", "pcm-s16le", "pcm-u8", "mp3",
})


_NO_FMTPS: Mapping[str, list[str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True, init=False)
class Offered:
    """What an offer sent for one media section (kept on the answerer's media for the
    call's life). Immutable, so that equal records are one object (``offered``)."""

    codecs: tuple[tuple[str, str], ...]  # (payload type, "encoding/rate[/channels]") in order
    ptime: str | None = None  # the offerer's own a=ptime
    forced_ptime: bool = False  # the offer set ``ptime``: the offerer keeps its own
    sent_ptime: str | None = None  # the a=ptime the answerer was offered
    # payload type -> fmtp params (not compared: only records without any are shared)
    fmtps: Mapping[str, list[str]] = field(default_factory=lambda: _NO_FMTPS, compare=False)
    reverse_ptime: str | None = None  # ``ptime-reverse``: the ptime the offerer is answered
    repacketized: bool = False  # the offer changed ptime: 10.5 shows "transcoding"
    stripped: tuple[tuple[str, str], ...] = ()  # in the SDP, not sent on
    # Transcoding (see the module doc): the offerer's codecs with the masked ones (empty: no
    # mask, the same as ``codecs``), the ``accept`` names, ``always transcode``.
    own: tuple[tuple[str, str], ...] = ()
    accept: tuple[str, ...] = ()
    always: bool = False
    # The payload types the answerer was offered, when the relay may convert (codecs added
    # by ``transcode``, ``accept``, ``always transcode``); empty otherwise.
    sent: tuple[str, ...] = ()
    # Of those, the codecs the offer added (payload type, rtpmap text): the answerer may
    # send them though it did not answer them (``unanswered_added``).
    added: tuple[tuple[str, str], ...] = ()
    # The codec options reached telephone-event/CN (``all``/``full``, or named): a converted
    # answer gives the offerer its own (its fmtp), as 10.5 does for codecs it touched.
    supp_touched: bool = False
    # A re-offer from a party the relay converted for, whose first codec is one an earlier
    # offer added for it and it kept (``kept_conversion``): it is answered that codec and
    # the relay converts into it, whatever the answerer chose (10.5).
    prefer: tuple[str, str] | None = None
    # The clock rates of the codecs ``strip``/``mask`` took out of the offer (``ALL_RATES``:
    # a telephone-event/CN among them, or ``all``/``full``): 10.5's codec tracker drops an
    # answer's telephone-event/CN at such a rate when no codec it answers has that rate.
    touched_rates: frozenset[str] = frozenset()

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, codecs: tuple[tuple[str, str], ...], ptime: str | None = None,
                 forced_ptime: bool = False, sent_ptime: str | None = None,
                 fmtps: Mapping[str, list[str]] | None = None, reverse_ptime: str | None = None,
                 repacketized: bool = False, stripped: tuple[tuple[str, str], ...] = (),
                 own: tuple[tuple[str, str], ...] = (), accept: tuple[str, ...] = (),
                 always: bool = False, sent: tuple[str, ...] = (),
                 added: tuple[tuple[str, str], ...] = (), supp_touched: bool = False,
                 prefer: tuple[str, str] | None = None, touched_rates: frozenset[str] = frozenset()) -> None:
        object.__setattr__(self, "codecs", codecs)
        object.__setattr__(self, "ptime", ptime)
        object.__setattr__(self, "forced_ptime", forced_ptime)
        object.__setattr__(self, "sent_ptime", sent_ptime)
        object.__setattr__(self, "fmtps", _NO_FMTPS if fmtps is None else fmtps)
        object.__setattr__(self, "reverse_ptime", reverse_ptime)
        object.__setattr__(self, "repacketized", repacketized)
        object.__setattr__(self, "stripped", stripped)
        object.__setattr__(self, "own", own)
        object.__setattr__(self, "accept", accept)
        object.__setattr__(self, "always", always)
        object.__setattr__(self, "sent", sent)
        object.__setattr__(self, "added", added)
        object.__setattr__(self, "supp_touched", supp_touched)
        object.__setattr__(self, "prefer", prefer)
        object.__setattr__(self, "touched_rates", touched_rates)


# ``Offered.touched_rates`` of an offer whose options reached telephone-event/CN: every rate.
ALL_RATES = frozenset({"*"})

# Equal offers (nearly every call of a deployment offers the same codecs) share one record:
# ~0.4 kB less per open call.
_shared_offer: SharedValues[Offered] = SharedValues(256)


@dataclass(init=False)
class AnswerCodec:
    pt: str  # payload type in the produced answer
    source_pt: str  # payload type in the answerer's SDP ("" if it had none)
    rtpmap: str | None  # encoding text for a=rtpmap
    fmtps: list[str] | None = None  # fmtp parameters to use instead of the answer's

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, pt: str, source_pt: str, rtpmap: str | None, fmtps: list[str] | None = None) -> None:
        self.pt = pt
        self.source_pt = source_pt
        self.rtpmap = rtpmap
        self.fmtps = fmtps

    @property
    def renumbered(self) -> bool:
        """rtpengine must rewrite payload types (its media then shows "transcoding")."""
        return self.pt != self.source_pt


def offered(section: MediaSection, formats: list[str], ptime_option: int | None,
            ptime_reverse: int | None = None, unmasked: list[str] | None = None,
            accept: list[str] | tuple[()] | None = None, always: bool = False,
            sent: list[str] | None = None,
            touched: list[str] | tuple[()] = (),
            added: list[tuple[str, str]] | tuple[()] = (),
            prefer: tuple[str, str] | None = None,
            previous_ptime: int = 0, removed_all: bool = False,
            previous: Offered | None = None,
            converted_rates: frozenset[str] = frozenset()) -> Offered:
    """Record the codecs an offer sends on (``formats`` after any stripping; ``unmasked``:
    after the stripping alone, when codecs were masked too; ``previous_ptime``: the
    offerer's packet time from an earlier SDP, which 10.5 keeps while its SDPs name none;
    ``removed_all``: ``strip`` or ``mask`` named ``all``/``full``; ``previous``: the
    same direction's earlier offer, whose format parameters 10.5 keeps for an audio codec
    the re-offer names again, same number and encoding, without an a=fmtp: its encoder
    for the offerer keeps them; not for telephone-event or CN; ``converted_rates``: see
    :func:`kept_conversion_rates`)."""
    rtpmaps = section.rtpmaps()
    ptimes = section.attributes("ptime")
    fmtps: dict[str, list[str]] = {}
    for value in section.attributes("fmtp"):
        pt, _, params = value.partition(" ")
        fmtps.setdefault(pt, []).append(params)
    if previous is not None and previous.fmtps:
        before = dict(previous.codecs)
        for pt, kept in previous.fmtps.items():
            if (pt not in fmtps and pt in rtpmaps and before.get(pt) == rtpmaps[pt]
                    and encoding_of(rtpmaps[pt]) not in SUPPLEMENTARY):
                fmtps[pt] = list(kept)
    own = ptimes[0] if ptimes else None
    forced = ptime_option is not None and ptime_option > 0
    reverse = str(ptime_reverse) if ptime_reverse is not None and ptime_reverse > 0 else None
    codecs = tuple([(pt, rtpmaps.get(pt, "")) for pt in formats])
    stripped = tuple([(pt, rtpmaps.get(pt, "")) for pt in section.formats if pt not in formats])
    # (what the relay may convert: nothing when ``transcode`` named only codecs the offer
    # had, without ``accept``/``always transcode``; 10.5 then has no handler to touch them)
    converting = sent is not None and bool(accept or always or sent != formats)
    record = Offered(
        codecs=codecs,
        stripped=stripped,
        ptime=own,
        forced_ptime=forced,
        sent_ptime=str(ptime_option) if forced else own,
        fmtps=fmtps or _NO_FMTPS,
        reverse_ptime=reverse,
        repacketized=(forced and _reframes(ptime_option or 0,
                                           own or (str(previous_ptime) if previous_ptime
                                                   else None),
                                           [text for _, text in codecs])
                      or reverse is not None),
        own=(tuple([(pt, rtpmaps.get(pt, "")) for pt in unmasked])
             if unmasked is not None and unmasked != formats else ()),
        accept=tuple(accept) if accept else (),
        always=always,
        sent=tuple(sent) if converting and sent is not None else (),
        added=tuple(added),
        supp_touched=(converting and bool(sent) and any(
            name.split("/")[0].lower() in ("all", "full", "telephone-event", "cn")
            for name in touched)) or _rate_stripped(rtpmaps, formats, section.formats),
        prefer=prefer,
        touched_rates=_touched_rates(stripped, removed_all, converted_rates),
    )
    # (fmtps, a dict, is not compared: only records without any are shared; they are rarer)
    return record if fmtps else _shared_offer(record)


def _touched_rates(stripped: tuple[tuple[str, str], ...], removed_all: bool,
                   converted: frozenset[str]) -> frozenset[str]:
    """``Offered.touched_rates`` of an offer that took out ``stripped`` (rtpmap texts), with
    the rates of the conversions a re-offer keeps (``converted``)."""
    if removed_all or any(_encoding(text) in SUPPLEMENTARY for _, text in stripped):
        return ALL_RATES
    if not stripped:
        return converted
    return frozenset({clock_rate(text) for _, text in stripped}) | converted


def _untouched_supplements(result: list[AnswerCodec], offer: Offered) -> list[AnswerCodec]:
    """An answer's telephone-event/CN at a clock rate the offer's ``strip``/``mask`` touched
    (``Offered.touched_rates``) go only with a codec of that rate in the answer: 10.5's
    codec tracker drops the others (an answer of opus and telephone-event/8000 to an
    offer whose G722 was masked is answered opus alone)."""
    strays = _strays(result, offer.touched_rates)
    if strays:
        result = [c for c in result if c not in strays]
    return _touched_after_codecs(result, offer.touched_rates)


def _added_rate_strays(result: list[AnswerCodec], offer: Offered,
                       formats: list[str]) -> list[AnswerCodec]:
    """The same once the answer is complete (its conversion target in): a telephone-event/CN
    at the rate of a codec the offer added that the answer took (``formats``) goes only
    with a codec of that rate answered to the offerer (an offer of opus and
    telephone-event/8000 with PCMA added by ``transcode``, answered PCMA: opus alone)."""
    touched = _answer_touched(offer, formats)
    if touched is offer.touched_rates:
        return result
    strays = _strays(result, touched)
    return [c for c in result if c not in strays] if strays else result


def _answer_touched(offer: Offered, formats: list[str]) -> frozenset[str]:
    """The clock rates whose telephone-event/CN 10.5's codec tracker re-checks after an
    answer (``formats``: its codecs): the offer's ``touched_rates`` and the rates of the
    codecs it added that the answer took."""
    if offer.touched_rates is ALL_RATES or not offer.added:
        return offer.touched_rates
    taken = _taken_added_rates(offer, formats) - offer.touched_rates
    return offer.touched_rates | taken if taken else offer.touched_rates


def _taken_added_rates(offer: Offered, formats: list[str]) -> set[str]:
    """The clock rates of the codecs (not telephone-event/CN) the offer added that the
    answer (``formats``) takes."""
    return {clock_rate(text) for _, text in _taken_added(offer, formats)}


def _taken_added(offer: Offered, formats: list[str],
                 rtpmaps: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """The codecs (payload type, rtpmap text; not telephone-event/CN) ``offer`` added for
    the other party that it took (``formats``: its answer, or its formats since) and, given
    the ``rtpmaps`` of its re-offer, still names as that codec under that number (a re-offer
    that gives the number to another codec, e.g. to an added telephone-event, keeps no
    conversion)."""
    return [(pt, text) for pt, text in offer.added
            if pt in formats and _encoding(text) not in SUPPLEMENTARY
            and (rtpmaps is None or _encoding(rtpmaps.get(pt, "")) == _encoding(text))]


def _touched_after_codecs(result: list[AnswerCodec], touched: frozenset[str]) -> list[AnswerCodec]:
    """The telephone-event/CN left at a touched rate come after the answer's codecs, for
    each codec in turn its CN, then its telephone-event (10.5 adds them from each codec's
    handler once the codecs are in; those at an untouched rate stay where they were)."""
    if not touched:
        return result
    moved = [c for c in result if _encoding(c.rtpmap or "") in SUPPLEMENTARY
             and (touched is ALL_RATES or clock_rate(c.rtpmap or "") in touched)]
    rest = [c for c in result if c not in moved]
    if not moved or all(_encoding(c.rtpmap or "") in SUPPLEMENTARY for c in rest):
        return result  # (nothing to move, or no codec left: 10.5 hides the formats then)
    tail: list[AnswerCodec] = []
    for codec in rest:
        text = codec.rtpmap or ""
        if _encoding(text) in SUPPLEMENTARY:
            continue
        rate = clock_rate(text)
        for supp in ("cn", "telephone-event"):
            tail += [c for c in moved if c not in tail and _encoding(c.rtpmap or "") == supp
                     and clock_rate(c.rtpmap or "") == rate]
    return rest + tail


def _stray_test(codecs: list[AnswerCodec], touched: frozenset[str]):
    """The rule of :func:`_strays` as a test of one rtpmap text against the codecs of an
    answer (``codecs``): a telephone-event/CN at a ``touched`` rate that none of them has.
    None when nothing can be a stray (nothing touched, or no codec but telephone-event/CN:
    10.5 then lists what the answer has, formats hidden)."""
    if not touched:
        return None
    rates = {clock_rate(c.rtpmap or "") for c in codecs
             if _encoding(c.rtpmap or "") not in SUPPLEMENTARY}
    if not rates:
        return None

    def stray(text: str) -> bool:
        rate = clock_rate(text)
        return (_encoding(text) in SUPPLEMENTARY and rate not in rates
                and (touched is ALL_RATES or rate in touched))
    return stray


def _strays(result: list[AnswerCodec], touched: frozenset[str]) -> list[AnswerCodec]:
    """The telephone-event/CN of ``result`` that :func:`_untouched_supplements` drops."""
    stray = _stray_test(result, touched)
    return [] if stray is None else [c for c in result if stray(c.rtpmap or "")]


def drops_strays(section: MediaSection, formats: list[str], codecs: list[AnswerCodec],
                 offer: Offered) -> bool:
    """The answer to the offerer (``codecs``) left out a telephone-event/CN the answerer
    took (``formats``, one the offer had) by :func:`_strays`' rule: 10.5's handler for it
    on the answerer's media is no passthrough, and query shows that media "transcoding"."""
    stray = _stray_test(codecs, _answer_touched(offer, formats))
    if stray is None:
        return False
    rtpmaps = section.rtpmaps()
    offered_pts = {pt for pt, _ in offer.codecs}
    return any(stray(rtpmaps.get(pt, "")) for pt in formats if pt in offered_pts)


def _answer_strip_touched(rtpmaps: dict[str, str], kept: list[str],
                          answered: list[str]) -> bool:
    """An answer's ``strip`` took out a telephone-event/CN, or a codec at the clock rate of
    a telephone-event/CN it keeps (``_rate_stripped``)."""
    if len(kept) == len(answered):
        return False
    return any(_encoding(rtpmaps.get(pt, "")) in SUPPLEMENTARY
               for pt in answered if pt not in kept) or _rate_stripped(rtpmaps, kept, answered)


def _rate_stripped(rtpmaps: dict[str, str], kept: list[str], offered: list[str]) -> bool:
    """The codec options took a codec out of the offer at the clock rate of a
    telephone-event/CN it keeps: 10.5 then answers those from its codec handlers, which
    carry the offerer's own format parameters."""
    if len(kept) == len(offered):
        return False
    rates = {clock_rate(rtpmaps.get(pt, "")) for pt in kept
             if _encoding(rtpmaps.get(pt, "")) in SUPPLEMENTARY}
    return bool(rates) and any(
        clock_rate(rtpmaps.get(pt, "")) in rates for pt in offered
        if pt not in kept and _encoding(rtpmaps.get(pt, "")) not in SUPPLEMENTARY)


def kept_conversion(last_offer: Offered | None, previous: list[str] | None,
                    section: MediaSection) -> tuple[str, str] | None:
    """A party re-offers (``section``) after an offer added a codec for it (``transcode``)
    that it took: when its first codec is still that one (by payload type, as it listed it
    in its answer or re-offers since, ``previous``), 10.5 keeps the codec marked for
    transcoding and prefers it over the answerer's choice. Returns (payload type, rtpmap
    text) or None."""
    if last_offer is None or not last_offer.added or not previous:
        return None
    rtpmaps = section.rtpmaps()
    first = next((pt for pt in section.formats
                  if _encoding(rtpmaps.get(pt, "")) not in SUPPLEMENTARY), None)
    if first not in dict(_taken_added(last_offer, previous, rtpmaps)):
        return None
    return first, rtpmaps.get(first, "")


def kept_conversion_rates(last_offer: Offered | None, previous: list[str] | None,
                          section: MediaSection) -> frozenset[str]:
    """A party re-offers (``section``) after an offer added codecs for it that it took
    (``previous``: its formats since): the clock rates of those it names again (same
    number and encoding). 10.5's codec tracker keeps their handlers and re-checks the
    telephone-event/CN at those rates as at rates a strip touched."""
    if last_offer is None or not last_offer.added or not previous:
        return frozenset()
    return frozenset({clock_rate(text) for _, text
                      in _taken_added(last_offer, previous, section.rtpmaps())})


def kept_always(last_offer: Offered | None, converted: bool, section: MediaSection,
                accept: list[str] | tuple[()] = ()) -> tuple[str, str] | None:
    """A party re-offers (``section``) after its offer with ``always transcode`` was answered
    with a conversion (``converted``: the answerer's media shows "transcoding"): 10.5 keeps
    the codec it answered it then (its first) and converts into it, whatever the answerer
    chooses now and whatever the re-offer lists first, as long as the re-offer still has
    it. Returns (payload type, rtpmap text) or None."""
    if last_offer is None or not last_offer.always or not converted or accept:
        return None
    first = next(((pt, text) for pt, text in last_offer.own or last_offer.codecs
                  if _encoding(text) not in SUPPLEMENTARY), None)
    if first is None:
        return None
    text = section.rtpmaps().get(first[0])
    return (first[0], text) if text is not None and _same_codec(text, first[1]) else None


def takes_made_event(formats: list[str], section: MediaSection, offer: Offered,
                     encoding: str = "telephone-event") -> bool:
    """The answer takes a telephone-event (or, with ``encoding``, a CN) the offer's codec
    options made (the offerer has none at that rate): 10.5 converts those events, and
    shows "transcoding" (for CN too)."""
    if not offer.sent:
        return False
    own = {pt for pt, _ in (offer.own or offer.codecs)}
    rtpmaps = section.rtpmaps()
    return any(pt in offer.sent and pt not in own
               and _encoding(rtpmaps.get(pt, "")) == encoding for pt in formats)


def made_event_rates(answered: list[tuple[str, str]], offer: Offered) -> set[str]:
    """The clock rates of the telephone-events the answer took that the offer's codec
    options made (the offerer has none there: ``takes_made_event``)."""
    own = {pt for pt, _ in (offer.own or offer.codecs)}
    return {clock_rate(text) for pt, text in answered
            if _encoding(text) == "telephone-event" and pt in offer.sent and pt not in own}


# Packet times 10.5's codecs default to where an SDP gives none (the rest 20 ms), and the
# audio codecs it has handlers for (an unknown one passes through as it comes).
_DEFAULT_PTIMES = {"g723": 30, "ilbc": 30}
_HANDLED = frozenset({"pcmu", "pcma", "g722", "g723", "g729", "g729a", "gsm", "opus", "amr",
                      "amr-wb", "ilbc", "speex", "l16", "evs", "g7221"})


def _reframes(ptime: int, own: str | None, rtpmaps: Iterable[str]) -> bool:
    """An offer's ``ptime`` frames the media anew (10.5 shows "transcoding"): it differs
    from the offerer's own a=ptime or, without one, from the default packet time of a
    codec (``rtpmaps``: their a=rtpmap texts)."""
    if own is not None:
        return str(ptime) != own
    return any(_DEFAULT_PTIMES.get(name, 20) != ptime
               for name in map(_encoding, rtpmaps) if name in _HANDLED)


def reframed_by_answer(offer: Offered, section: MediaSection,
                       codecs: list[AnswerCodec]) -> Offered:
    """The offer as the answer leaves it: a ``ptime`` that framed anew only for codecs of
    another default packet time no longer does once the answer takes none of those (10.5
    then drops "transcoding")."""
    if not offer.repacketized or offer.reverse_ptime is not None or offer.ptime is not None:
        return offer
    rtpmaps = section.rtpmaps()
    answered = [c.rtpmap or rtpmaps.get(c.source_pt, "") for c in codecs]
    sent = offer.sent_ptime
    if sent is None or not sent.isdigit() or _reframes(int(sent), None, answered):
        return offer
    return replace(offer, repacketized=False)


def _encoding(rtpmap: str) -> str:
    return rtpmap.split("/", 1)[0].lower()


encoding_of = _encoding  # (the encoding of an rtpmap text, lower case)


def answer_codecs(section: MediaSection, formats: list[str], offer: Offered) -> list[AnswerCodec]:
    """The answer's codec list narrowed to the offer's (see the module doc)."""
    return answer_plan(section, formats, offer)[0]


def answer_plan(section: MediaSection, formats: list[str],
                offer: Offered) -> tuple[list[AnswerCodec], bool]:
    """``answer_codecs``, and whether the answer's own codec options left it only
    telephone-event/CN, which go as they are (nothing to convert from, 10.5) under an
    empty format list (``hides_formats``)."""
    if _options_left_supplements(section, formats):
        rtpmaps = section.rtpmaps()
        return [AnswerCodec(pt, pt, rtpmaps.get(pt)) for pt in formats], True
    result = _answer_codecs(section, formats, offer)
    if offer.accept or offer.always:
        return _accepted_supplements(result, offer), False
    return result, False


def _accepted_supplements(result: list[AnswerCodec], offer: Offered) -> list[AnswerCodec]:
    """CN and telephone-event the offer accepted (``accept``/``consume`` naming them, or
    ``always transcode``) are answered to the offerer at its codec's clock rate even when
    the answerer has none: the relay makes them (CN for silence), as 10.5 does."""
    rate = _answered_rate(result)
    if rate is None:
        return result
    own = offer.own or offer.codecs
    accepted = {name.split("/")[0].lower() for name in offer.accept}
    out = list(result)
    for supp in ("cn", "telephone-event"):
        if not (offer.always or supp in accepted) or any(
                _encoding(c.rtpmap or "") == supp for c in out):
            continue
        pt = next((p for p, text in own if _encoding(text) == supp
                   and clock_rate(text) == rate), None)
        if pt is None:
            continue
        at = next((index for index, c in enumerate(out)
                   if _encoding(c.rtpmap or "") == "telephone-event"), len(out))
        out.insert(at, _offer_codec(offer, pt, ""))
    return out


def _handler_rates(offer: Offered, rtpmaps: dict[str, str], formats: list[str],
                   answered: list[str]) -> frozenset[str]:
    """The clock rates (``ALL_RATES``: every rate) at which an answer's telephone-event/CN
    come from 10.5's codec handlers, so with the offerer's format parameters: every rate
    after a strip touched them (the offer's, ``supp_touched``, or the answer's own, which
    took out a telephone-event/CN or a codec at the rate of one it keeps: ``answered`` are
    the answer's formats before its codec options, ``formats`` after); else the rates of
    the codecs the offer added that the answer takes (the relay converts at those)."""
    if offer.supp_touched or _answer_strip_touched(rtpmaps, formats, answered):
        return ALL_RATES
    return frozenset(_taken_added_rates(offer, formats)) if offer.added else frozenset()


def _answer_codecs(section: MediaSection, formats: list[str],
                   offer: Offered) -> list[AnswerCodec]:
    rtpmaps = section.rtpmaps()
    if not offer.codecs:
        return [AnswerCodec(pt, pt, rtpmaps.get(pt)) for pt in formats]
    if offer.accept or offer.always or offer.prefer is not None:
        chosen = _preferred(offer, formats, rtpmaps)
        if chosen is not None:
            return chosen
    by_pt = dict(offer.codecs)
    result: list[AnswerCodec] = []
    used: set[str] = set()
    handler_rates = _handler_rates(offer, rtpmaps, formats, section.formats)

    def by_name(encoding: str) -> str | None:
        return next((pt for pt, text in offer.codecs
                     if text and _encoding(text) == encoding and pt not in used), None)

    def from_offer(pt: str, source: str) -> AnswerCodec:
        used.add(pt)
        return AnswerCodec(pt, source, by_pt[pt] or None, offer.fmtps.get(pt, []))

    sent = offer.sent
    for pt in formats:
        encoding = _encoding(rtpmaps.get(pt, ""))
        if pt not in by_pt or (sent and pt not in sent and (
                encoding in FULLY_SUPPORTED or _encoding(by_pt[pt]) != encoding)):
            continue  # (one the offer had that a transcoding offer dropped passes: 10.5)
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
            text = by_pt[target]
            if target == pt:
                spelt = rtpmaps.get(pt)
                if spelt is not None and spelt != text and spelt.lower() == text.lower():
                    text = spelt  # the same codec: in the answer's own spelling (10.5)
            result.append(AnswerCodec(
                target, pt, text or None,
                offer.fmtps.get(target, []) if _encoding(text) in SUPPLEMENTARY
                and (handler_rates is ALL_RATES or clock_rate(text) in handler_rates)
                else None))
    if result and (not offer.sent or any(
            _encoding(c.rtpmap or "") not in SUPPLEMENTARY for c in result)):
        return _added_rate_strays(_with_conversion_target(
            _untouched_supplements(result, offer), formats, rtpmaps, offer), offer, formats)
    if result:  # (only telephone-event/CN in common, and the relay converts: see below)
        result = [c for c in result if c.source_pt in sent]
        used.clear()
        used.update(c.pt for c in result)
    first = _offerers_first(offer.own or offer.codecs, bool(sent))
    if first is None or _encoding(first[1]) not in KNOWN_ENCODINGS or not any(
            _encoding(rtpmaps.get(pt, "")) in KNOWN_ENCODINGS for pt in formats):
        # Nothing 10.5 could transcode from or to: the answer's codecs go through as they are.
        return [AnswerCodec(pt, pt, rtpmaps.get(pt)) for pt in formats]
    # Nothing in common: rtpengine transcodes to the offer's first codec (we cannot).
    for pt in formats:
        encoding = _encoding(rtpmaps.get(pt, ""))
        target = by_name(encoding) if encoding else None
        if target is not None and (not sent or pt in sent):
            result.append(from_offer(target, pt))
    if not any(_encoding(c.rtpmap or "") not in SUPPLEMENTARY for c in result):
        first = _offerers_first(offer.own or offer.codecs, bool(sent))
        if first is not None:
            result.insert(0, _offer_codec(offer, first[0], ""))
            used.add(first[0])
    return _at_codec_rate(result, offer)


def _with_conversion_target(result: list[AnswerCodec], formats: list[str],
                            rtpmaps: dict[str, str], offer: Offered) -> list[AnswerCodec]:
    """An answer that took codecs in common and also one added for transcoding: the
    offerer is answered its first codec too, where the answer lists the first added codec
    (moved there if the answer took it later; before telephone-event and CN), so that
    what it sends in it is converted for the answerer (10.5)."""
    if not offer.sent:
        return result
    offered_pts = {pt for pt, _ in offer.codecs}
    added_at = next((index for index, pt in enumerate(formats)
                     if pt in offer.sent and pt not in offered_pts
                     and _encoding(rtpmaps.get(pt, "")) not in SUPPLEMENTARY), None)
    if added_at is None:
        return result
    first = _offerers_first(offer.codecs, True)
    if first is None:
        return result
    position = {pt: index for index, pt in enumerate(formats)}
    target = next((c for c in result if c.pt == first[0]), None)
    if target is not None and position.get(target.source_pt, len(formats)) < added_at:
        return result  # (answered before the added codec: it stays there)
    rest = [c for c in result if c is not target]
    at = next((index for index, c in enumerate(rest)
               if position.get(c.source_pt, len(formats)) > added_at), len(rest))
    while at and _encoding(rest[at - 1].rtpmap or "") in SUPPLEMENTARY:
        at -= 1
    if target is None:
        target = _offer_codec(offer, first[0], "")
    return rest[:at] + [target] + rest[at:]


def _offerers_first(codecs: tuple[tuple[str, str], ...],
                    supported: bool) -> tuple[str, str] | None:
    """The offerer's first media codec (payload type, rtpmap text), with ``supported`` the
    first one 10.5 can encode (what it converts to)."""
    return next(((pt, text) for pt, text in codecs if _encoding(text) not in SUPPLEMENTARY
                 and (not supported or _encoding(text) in FULLY_SUPPORTED)), None)


def _answered_rate(result: list[AnswerCodec]) -> str | None:
    """The clock rate of the first media codec of an answer (None: only telephone-event/CN)."""
    main = next((c for c in result if _encoding(c.rtpmap or "") not in SUPPLEMENTARY), None)
    return None if main is None else clock_rate(main.rtpmap or "")


def _at_codec_rate(result: list[AnswerCodec], offer: Offered) -> list[AnswerCodec]:
    """A converted answer's telephone-event and CN are the offerer's own (its fmtp too) at
    the clock rate of the codec it is answered (10.5: the conversion's own DTMF and CN
    payload types); without one at that rate, none."""
    rate = _answered_rate(result)
    if rate is None:
        return result
    own = offer.own or offer.codecs
    out: list[AnswerCodec] = []
    for codec in result:
        encoding = _encoding(codec.rtpmap or "")
        if encoding in SUPPLEMENTARY:
            pt = next((p for p, text in own if _encoding(text) == encoding
                       and clock_rate(text) == rate and all(c.pt != p for c in out)), None)
            if pt is None:
                continue
            codec = _offer_codec(offer, pt, codec.source_pt)
        out.append(codec)
    # (the converted codecs first: 10.5 adds their telephone-event/CN after them)
    return ([c for c in out if _encoding(c.rtpmap or "") not in SUPPLEMENTARY]
            + [c for c in out if _encoding(c.rtpmap or "") in SUPPLEMENTARY])


def _offer_codec(offer: Offered, pt: str, source: str) -> AnswerCodec:
    """One of the offerer's own codecs (masked ones included) in the answer it gets."""
    text = dict(offer.own or offer.codecs).get(pt, "")
    return AnswerCodec(pt, source, text or None, offer.fmtps.get(pt, []))


def _preferred(offer: Offered, formats: list[str],
               rtpmaps: dict[str, str]) -> list[AnswerCodec] | None:
    """``accept``/``always transcode``: the offerer is answered the first of its codecs that
    ``accept`` names (else, with ``always transcode``, its first; or the codec a re-offer
    kept, ``Offered.prefer``, alone), whatever the answerer chose, plus the telephone-event/CN
    codecs both have (None: nothing to prefer)."""
    own = offer.own or offer.codecs
    chosen = offer.prefer[0] if offer.prefer is not None else None
    for name in offer.accept if chosen is None else ():
        if name.split("/")[0].lower() in SUPPLEMENTARY:
            continue  # (``_accepted_supplements``)
        chosen = next((pt for pt, text in own if text and codec_matches(text, name)), None)
        if chosen is not None:
            break
    if chosen is None and offer.always:
        chosen = next((pt for pt, text in own if _encoding(text) not in SUPPLEMENTARY), None)
    if chosen is None:
        return None
    # (the answerer took that codec too: it passes as it is, nothing renumbered; 10.5)
    text = dict(own).get(chosen, "")
    source = next((pt for pt in formats if pt == chosen
                   and _same_codec(rtpmaps.get(pt, text), text)), "")
    result = [_offer_codec(offer, chosen, source)]
    if source:  # (with the answerer's format parameters, as it sends them: 10.5)
        result[0].fmtps = None
    if offer.prefer is not None:
        # (the kept codec marks its clock rate touched: 10.5 answers no telephone-event
        # or CN at that rate, the answerer's nor the offerer's)
        return result
    for pt in formats:
        encoding = _encoding(rtpmaps.get(pt, ""))
        if encoding in SUPPLEMENTARY:
            target = next((p for p, text in own if _encoding(text) == encoding
                           and all(c.pt != p for c in result)), None)
            if target is not None:
                result.append(_offer_codec(offer, target, pt))
    return _at_codec_rate(result, offer)


def _same_codec(one: str, other: str) -> bool:
    """Two rtpmap texts name the same codec (case aside; one channel when unsaid)."""
    return one.lower().removesuffix("/1") == other.lower().removesuffix("/1")


def codec_matches(codec: str, name: str) -> bool:
    """An rtpmap text (``PCMA/8000``) against a codec option's name (``pcma``, ``PCMA/8000``,
    ``PCMA/8000/1``): by encoding, and rate and channels where the name gives them."""
    have = codec.lower().split("/")
    want = name.lower().split("/")
    if want[0] != have[0]:
        return False
    if len(want) > 1 and len(have) > 1 and want[1] != have[1]:
        return False
    return len(want) < 3 or (have[2] if len(have) > 2 else "1") == want[2]


def added_codecs(section: MediaSection, names: list[str], full: bool = False,
                 fresh: frozenset[str] = frozenset(), shown: list[str] | None = None,
                 gone: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """``codec: {transcode}``: the (payload type, rtpmap text) of each named codec the relay
    can convert to and back from one of the offer's codecs (``media.codecs``) that the offer
    does not carry yet, for the offer sent on (module doc). ``full`` (a ``full`` strip or
    mask): telephone-event is made anew too, at 8 kHz (10.5). A ``fresh`` name (one with
    format parameters or codec options, ``_fresh``) is a codec of its own unless the offer
    sent on (``shown``) carries it: one a mask hid does not count, and its static payload
    type may be taken anew (10.5). Codecs a strip took (``gone``, payload types) are no
    longer the offer's: a name of one adds it again, under its static payload type."""
    rtpmaps = section.rtpmaps()
    present = [rtpmaps.get(pt, "") for pt in section.formats if pt not in gone]
    visible = present if shown is None else [rtpmaps.get(pt, "") for pt in shown]
    sources = [_encoding(rtpmaps.get(pt, "")) for pt in section.formats]
    used = set(section.formats) - gone
    added: list[tuple[str, str]] = []
    for name in names:
        parts = name.split("/")
        encoding = parts[0]
        if encoding.lower() == "telephone-event":
            # Made anew with ``full``, or when the offer has none (10.5): at the rate named,
            # else at 8 kHz; the supplemental tracker then gives every other codec rate one
            # and takes it away again where no codec has its rate (``_supplemental``).
            made = {_encoding(text) for _, text in added}
            if encoding.lower() not in made and (
                    full or "telephone-event" not in {_encoding(text) for text in present}):
                rate = parts[1] if len(parts) > 1 else "8000"
                pt = free_pt(used)
                if pt is not None:
                    used.add(pt)
                    added.append((pt, f"{encoding}/{rate}"))
            continue
        if encoding.lower() == "cn":
            # Comfort noise the relay turns into audio for a party without it (10.5).
            rate = parts[1] if len(parts) > 1 else "8000"
            if (rate == "8000" and not any(text.lower() == f"cn/{rate}" for text in present)
                    and not any(_encoding(text) == "cn" for _, text in added)):
                pt = "13" if "13" not in used else free_pt(used)
                if pt is not None:
                    used.add(pt)
                    added.append((pt, f"{encoding}/{rate}"))
            continue
        fresh_name = name in fresh
        back = next((pt for pt in section.formats if pt in gone and pt not in used
                     and rtpmaps.get(pt) and codec_matches(rtpmaps[pt], name)), None)
        if back is not None and not fresh_name:
            # A codec the strip took, named again: it is the offer's once more, as it was
            # (its own payload type and rtpmap; 10.5 keeps both in its codec store).
            used.add(back)
            present.append(rtpmaps[back])
            added.append((back, rtpmaps[back]))
            continue
        known = media_codecs.codec(encoding)
        if (known is None or (not full and any(
                text and codec_matches(text, name)
                for text in (visible if fresh_name else present)))
                or not any(media_codecs.convertible(source, encoding) for source in sources)):
            continue  # (10.5 adds any codec it knows; only these can be converted here)
        if len(parts) > 1 and parts[1] != str(known.clock_rate):
            continue
        channels = parts[2] if len(parts) > 2 and parts[2] else str(known.channels)
        # (a fresh codec may take the static type of one the mask hid: PCMA/8000/1/x=1 on 8)
        taken = used
        if fresh_name and shown is not None:
            taken = (used - set(section.formats)) | set(shown)
        pt = known.static_pt if known.static_pt not in taken and known.static_pt else free_pt(
            used)
        if pt is None:
            continue
        used.add(pt)
        text = f"{encoding}/{known.clock_rate}"
        text = text if channels == "1" else f"{text}/{channels}"
        present.append(text)
        added.append((pt, text))
    return added


def made_fmtps(text: str) -> list[str]:
    """The a=fmtp 10.5 gives a codec it made for an offer: telephone-event gets ``0-15``,
    G.729 ``annexb=no`` (its encoder sends no Annex B silence descriptors)."""
    encoding = _encoding(text)
    if encoding == "telephone-event":
        return ["0-15"]
    return ["annexb=no"] if encoding == "g729" else []


def free_pt(used: set[str]) -> str | None:
    """The first dynamic payload type not in ``used`` (10.5's choice for a codec it makes)."""
    return next((str(n) for n in range(96, 128) if str(n) not in used), None)


def offer_formats(section: MediaSection, strip: list[str], except_: list[str],
                  mask: list[str], transcode: list[str] | tuple[()],
                  offer: list[str] | tuple[()] = (),
                  ) -> tuple[list[str], list[tuple[str, str]]]:
    """The format list an offer sends on (``strip`` already holds ``mask``) and the codecs
    ``transcode`` added to it (telephone-event and CN included), as 10.5 makes them:

    - a mask that hides every codec leaves only the added ones, when there are any;
    - once a codec is added, codecs 10.5 cannot both decode and encode leave the offer
      (``FULLY_SUPPORTED``): whatever the answerer picks must be convertible;
    - telephone-event and CN follow the clock rates: a clock rate a codec was added at, or
      removed from, gets each of them the offer had at some rate (telephone-event with
      ``0-15``), under the first free dynamic payload type, before the first of them already
      listed; one left at a clock rate with no codec goes (``_supplemental``).
    """
    formats = filter_codecs(section, strip, except_, offer=offer)
    if not transcode or not section.is_rtp or section.type != "audio":
        return formats, []
    # ("opus/48000/1//options": codec options after "//" are not ours to apply)
    fresh = frozenset(name.split("//")[0] for name in transcode if _fresh(name))
    transcode = [name.split("//")[0] for name in transcode]
    full = "full" in strip
    # What the options leave of the offer: a strip or mask of everything leaves nothing
    # here (the codecs named are all there is then). (telephone-event and CN without a
    # codec of their rate stay: ``_supplemental`` decides on them once the codecs named
    # are in.)
    base = filter_codecs(section, strip, except_, keep_all=False, offer=offer, orphans=True)
    rtpmaps = section.rtpmaps()
    if full:
        base = []
    # What a strip took is gone from the offer (a name of it adds it anew, as 10.5); what
    # the mask hid may come back.
    strip_only = [name for name in strip if name not in mask]
    unstripped = (filter_codecs(section, strip_only, except_, keep_all=False, offer=offer,
                                orphans=True) if strip_only else list(section.formats))
    gone = frozenset(pt for pt in section.formats if pt not in unstripped)
    added = added_codecs(section, transcode, full, fresh, base, gone)
    hidden = [] if full else [pt for pt in unstripped if pt not in base]  # (by the mask)
    if not added and not any(rtpmaps.get(pt) and codec_matches(rtpmaps[pt], name)
                             for name in transcode if name not in fresh for pt in hidden):
        return formats, []  # (nothing to add, and no codec a mask hid to bring back)
    # (the codecs that leave stay in 10.5's codec store: the tracker's new telephone-event
    # and CN do not take their numbers, as they take a stripped codec's)
    unsupported = {pt for pt in base if _encoding(rtpmaps.get(pt, "")) not in FULLY_SUPPORTED}
    base = [pt for pt in base if pt not in unsupported]
    # Each name in order: a codec of the offer it names that the mask hid comes back, one it
    # does not name is made (``added``); both go in as 10.5 inserts them (``_insert``).
    sent = list(base)
    anchor = next((index for index, pt in enumerate(sent)
                   if _encoding(rtpmaps.get(pt, "")) in SUPPLEMENTARY), None)
    back: list[str] = []
    for name in transcode:
        if not full and name not in fresh:
            for pt in hidden:
                if (pt not in sent and rtpmaps.get(pt) and codec_matches(rtpmaps[pt], name)
                        and _encoding(rtpmaps[pt]) in FULLY_SUPPORTED):
                    anchor = _insert(sent, anchor, pt, rtpmaps[pt])
                    back.append(pt)
        for pt, text in added:
            if pt not in sent and codec_matches(text, name):
                anchor = _insert(sent, anchor, pt, text)
    for pt, text in added:  # (any not matched by its own name: spelt otherwise)
        if pt not in sent:
            anchor = _insert(sent, anchor, pt, text)
    texts = dict(rtpmaps)
    texts.update(added)
    removed = [texts.get(pt, "") for pt in section.formats if pt not in base]
    touched = [text for _, text in added] + removed + [texts[pt] for pt in back]
    made = {pt for pt, text in added if _encoding(text) in SUPPLEMENTARY}
    sent, extra = _supplemental(sent, texts, touched, set(section.formats), made, unsupported)
    if not any(_encoding(texts.get(pt, "")) not in SUPPLEMENTARY for pt in sent):
        return formats, []  # (no codec left to offer: the options are as if not given)
    if (not any(_encoding(texts.get(pt, "")) == "telephone-event" for pt in base)
            and any(_encoding(rtpmaps.get(pt, "")) == "telephone-event"
                    for pt in section.formats)):
        # The offer's telephone-events all hidden and brought back: 10.5's tracker makes
        # them anew, by clock rate (each under the offer's payload type for its rate).
        sent = _by_rate(sent, texts, "telephone-event")
    return sent, added + extra


def stripped_supplements(section: MediaSection, formats: list[str],
                         named: list[str] | None = None,
                         ) -> tuple[list[str], list[tuple[str, str]]]:
    """A strip or mask without ``transcode`` that took a telephone-event or CN from the
    offer (``formats``: what it left; ``named``: what the names alone left, the
    telephone-event/CN without a codec of their rate still in): 10.5's supplemental codec
    tracker then gives each one kept (CN for a stripped telephone-event, and the reverse;
    one ``except`` kept after ``strip all``) to every clock rate a codec has without it,
    as ``offer_formats`` does for added codecs, and only then drops those left at a rate
    without codecs. The format list and the codecs made, none when it took no
    supplementary codec."""
    if not section.is_rtp or section.type != "audio":
        return formats, []
    rtpmaps = section.rtpmaps()
    base = formats if named is None else named
    removed = [rtpmaps.get(pt, "") for pt in section.formats if pt not in base]
    if not any(_encoding(text) in SUPPLEMENTARY for text in removed):
        return formats, []
    sent, extra = _supplemental(list(base), dict(rtpmaps), removed, set(section.formats))
    return (sent, extra) if extra else (formats, [])


def carried_supplements(section: MediaSection, sent: list[str], added: list[tuple[str, str]],
                        carried: frozenset[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """A re-offer to a party whose codec store holds codecs for transcoding (``carried``:
    their payload types, ``CallMedia.transcoding_pts``): 10.5 carries that mark over by
    number to the offer's codecs, which touches their clock rates (every rate for a
    telephone-event or CN), and its supplemental codec tracker runs on the list sent
    (``sent``, with the codecs the options made, ``added``): telephone-event and CN added
    at those rates where missing, dropped where no codec is left. The format list and the
    codecs the tracker made."""
    if not section.is_rtp or section.type != "audio":
        return sent, []
    texts = dict(section.rtpmaps())
    texts.update(added)
    touched = [texts.get(pt, "") for pt in section.formats if pt in carried]
    if not touched:
        return sent, []
    made = {pt for pt, text in added if _encoding(text) in SUPPLEMENTARY}
    return _supplemental(list(sent), texts, touched, set(section.formats), made)


def offered_for_transcoding(section: MediaSection, sent: list[str],
                            added: Iterable[tuple[str, str]],
                            carried: frozenset[str]) -> frozenset[str]:
    """The payload types the codec store of the party offered to holds for transcoding
    once an offer is sent (``sent``): the codecs made for it (``added``: by the codec
    options or the tracker), and those the offer gave the numbers of such again."""
    return frozenset([pt for pt, _ in added]
                     + [pt for pt in section.formats if pt in carried and pt in sent])


def offered_format_list(section: MediaSection, formats: list[str], strip: list[str],
                        except_: list[str], mask: list[str], transcode: list[str] | tuple[()],
                        offer: list[str] | tuple[()], held: frozenset[str],
                        ) -> tuple[list[str], list[tuple[str, str]], frozenset[str]]:
    """What an offer sends the party offered to, accepted or refused alike, as 10.5's codec
    store makes it: the format list after the codec options (``formats``: what
    ``filter_codecs`` left; with ``transcode``: ``offer_formats``; the tracker after a
    strip without it: ``stripped_supplements``; the tracker on the codecs that party held
    for transcoding, ``held``: ``carried_supplements``), the codecs made for it, and the
    payload types its store holds for transcoding from now on (``offered_for_transcoding``)."""
    sent = formats
    added: list[tuple[str, str]] = []
    if transcode:
        sent, added = offer_formats(section, strip, except_, mask, transcode, offer)
    elif strip:
        sent, added = stripped_supplements(section, sent, filter_codecs(
            section, strip, except_, offer=offer, orphans=True))
    if held:
        sent, extra = carried_supplements(section, sent, added, held)
        if extra:
            added = [*added, *extra]
    return sent, added, offered_for_transcoding(section, sent, added, held)


def answered_for_transcoding(section: MediaSection, carried: frozenset[str]) -> frozenset[str]:
    """The payload types an answerer's codec store holds for transcoding once its answer
    (``section``) is in: those it answered of the ones it held (``carried``), less the
    telephone-event/CN 10.5's tracker then drops, plus those the tracker makes for the
    clock rates they touch (see ``carried_supplements``)."""
    kept = [pt for pt in section.formats if pt in carried]
    if not kept or not section.is_rtp or section.type != "audio":
        return frozenset()
    rtpmaps = section.rtpmaps()
    result, extra = _supplemental(list(section.formats), dict(rtpmaps),
                                  [rtpmaps.get(pt, "") for pt in kept], set(section.formats))
    return frozenset(pt for pt in kept if pt in result) | {pt for pt, _ in extra}


def _fresh(name: str) -> bool:
    """A ``transcode`` name with format parameters or codec options after its channels
    (``opus/48000/1//useinbandfec=1``, ``opus/48000/1/x=1``): 10.5 makes it a codec of its
    own (a dynamic payload type, the rtpmap without them) instead of bringing back the one
    a mask hid."""
    parts = name.split("/")
    return len(parts) > 3 and any(parts[3:])


def _by_rate(formats: list[str], texts: dict[str, str], encoding: str) -> list[str]:
    """``formats`` with the ``encoding`` entries in clock rate order, where they stand."""
    spots = [index for index, pt in enumerate(formats)
             if _encoding(texts.get(pt, "")) == encoding]
    ordered = sorted((formats[index] for index in spots),
                     key=lambda pt: _rate_key(clock_rate(texts.get(pt, ""))))
    result = list(formats)
    for index, pt in zip(spots, ordered, strict=True):
        result[index] = pt
    return result


def _insert(formats: list[str], anchor: int | None, pt: str, text: str) -> int | None:
    """Put a codec in as 10.5 does (before the first supplementary codec it holds; the
    first supplementary codec put into a list without one becomes that mark); the mark's
    new index."""
    if anchor is None:
        formats.append(pt)
        return len(formats) - 1 if _encoding(text) in SUPPLEMENTARY else None
    formats.insert(anchor, pt)
    return anchor + 1


def _supplemental(formats: list[str], texts: dict[str, str], touched: list[str],
                  original: set[str], made: set[str] | frozenset[str] = frozenset(),
                  reserved: set[str] | frozenset[str] = frozenset(),
                  ) -> tuple[list[str], list[tuple[str, str]]]:
    """CN and telephone-event (in that order) for the clock rates the codec options
    touched (``touched``: the rtpmap texts of codecs added or removed; a supplementary one
    among them touches every rate): added where a codec has a rate without them (before
    the first of them the offer itself listed, ``original``; without one, before the first
    the options made, ``made``; under a free number, not one of ``reserved``), removed
    where they have a rate without codecs (10.5's supplemental codec tracker)."""
    every = any(_encoding(text) in SUPPLEMENTARY for text in touched)
    touched_rates = {clock_rate(text) for text in touched}
    rates = sorted({clock_rate(texts.get(pt, "")) for pt in formats
                    if _encoding(texts.get(pt, "")) not in SUPPLEMENTARY}, key=_rate_key)
    result = list(formats)
    extra: list[tuple[str, str]] = []
    for supp in ("cn", "telephone-event"):
        have = [pt for pt in result if _encoding(texts.get(pt, "")) == supp]
        if not have:
            continue
        spelt = texts[have[0]].split("/")[0]
        have_rates = {clock_rate(texts[pt]) for pt in have}
        for rate in rates:
            if rate in have_rates or not (every or rate in touched_rates):
                continue
            pt = free_pt(set(result) | reserved)
            if pt is None:
                continue
            anchor = next((index for index, p in enumerate(result) if p in original
                           and _encoding(texts.get(p, "")) in SUPPLEMENTARY), None)
            if anchor is None:
                anchor = next((index for index, p in enumerate(result) if p in made),
                              len(result))
            result.insert(anchor, pt)
            texts[pt] = f"{spelt}/{rate}"
            extra.append((pt, texts[pt]))
        for pt in have:
            rate = clock_rate(texts[pt])
            if rate not in rates and (every or rate in touched_rates):
                result.remove(pt)
    return result, extra


def _rate_key(rate: str) -> int:
    return int(rate) if rate.isdigit() else 0


# (payload type in, payload type out, codec in, codec out, RTP clock units per frame[,
# (CN payload type, silence threshold, CN payload)])
Conversion = tuple


def conversions(sent: list[tuple[str, str]], received: list[tuple[str, str]],
                ptime: int = 20, repacketize: bool = False, makes_cn: bool = False,
                silence: tuple[int, bytes] | None = None,
                dtmf: bool = False, into_first: bool = False) -> tuple[Conversion, ...]:
    """What the relay converts on its way to a party: each codec the sender may send
    (``sent``: its answered (payload type, rtpmap text) list) that the receiving party was
    not answered (``received``, the same for it) goes out in the receiver's first codec,
    when the relay can convert between them (``media.codecs``; comfort noise too, as noise
    in that codec); with ``repacketize`` (the offer changed the packet time) a G.711 codec
    both have goes out framed anew too. Frames are of ``ptime`` ms, the packet time the
    receiver was told. ``makes_cn``: the receiver's CN is one the relay makes (we offered
    it, or the offerer accepted it; ``made_noise``): the G.711 codecs both have go through
    the conversion path too (10.5 transcodes them), and with ``silence`` (threshold, CN
    payload: ``--silence-detect`` on) silent frames towards it go out as CN
    (``transcoding``).

    With ``dtmf`` (the answerer took a telephone-event the offer's codec options made, or
    ``always transcode``), DTMF crosses between telephone-event and tones (8 kHz, G.711, as
    10.5): events the sender may send to a receiver that takes none go out as the key's
    tones in the receiver's codec, and tones in the G.711 audio of a sender that has no
    telephone-event are detected and go out as the receiver's events. Either way the
    direction's G.711 audio goes through the conversion path, on one clock. (Without it
    10.5 passes telephone-event on as it came, and so do we.)

    ``into_first``: the receiver's first codec is one the offer added for transcoding
    (``added_first``); 10.5 then converts every audio codec into it, also those the
    receiver takes as they are."""
    names = {_conversion_name(text): pt for pt, text in received}
    primary = next(((pt, _conversion_name(text)) for pt, text in received
                    if _encoding(text) not in SUPPLEMENTARY), None)
    out: list[Conversion] = []
    received_events = {clock_rate(text): pt for pt, text in received
                       if _encoding(text) == "telephone-event" and pt.isdigit()}
    sent_events = [pt for pt, text in sent if _encoding(text) == "telephone-event"
                   and clock_rate(text) == "8000" and pt.isdigit()]
    g711_primary = (primary is not None and primary[1] in media_codecs.G711
                    and primary[0].isdigit())
    tones = dtmf and g711_primary and bool(sent_events) and not received_events
    detect_pt = (received_events.get("8000") if dtmf and not sent_events
                 and any(_encoding(text) in media_codecs.G711 for _, text in sent) else None)
    sender_cn = any(_encoding(text) == "cn" and clock_rate(text) == "8000" for _, text in sent)
    # Comfort noise turned into audio: the audio codecs both have go through the same
    # decoder and encoder (10.5), so that their frames and the noise share one clock.
    into_noise = primary is not None and "cn" not in names and sender_cn
    cn_out = next((pt for pt, text in received if text.lower() == "cn/8000"
                   and pt.isdigit()), None) if makes_cn and not sender_cn else None
    through = repacketize or into_noise or cn_out is not None or tones or detect_pt is not None
    for pt, text in sent:
        encoding = _conversion_name(text)
        if not pt.isdigit() or encoding == "telephone-event":
            continue  # (telephone-event: ``_event_conversions``)
        if encoding == "cn" and not into_noise:
            continue  # (comfort noise passes to a party that takes it)
        if encoding not in names or (into_first and primary is not None
                                     and encoding != primary[1] and encoding != "cn"):
            if (primary is not None and primary[0].isdigit()
                    and media_codecs.convertible(encoding, primary[1])):
                target = media_codecs.codec(primary[1])
                assert target is not None  # (convertible: a codec of ours)
                out.append((int(pt), int(primary[0]), encoding.upper(), primary[1].upper(),
                            target.frame(ptime)))
        elif through and encoding in media_codecs.G711 and names[encoding].isdigit():
            out.append((int(pt), int(names[encoding]), encoding.upper(), encoding.upper(),
                        ptime * 8))
    if out and primary is not None:
        out += _event_conversions(sent, received, clock_rate(dict(received)[primary[0]]))
    if tones and primary is not None:  # (tones: a G.711 primary)
        out += [(int(pt), int(primary[0]), "TELEPHONE-EVENT/8000", f"TONES/{primary[1].upper()}",
                 ptime * 8) for pt in sent_events]
    if cn_out is not None and silence is not None:
        detection = (int(cn_out), silence[0], silence[1])
        out = [entry + (detection,) if entry[3].lower() in media_codecs.G711 else entry
               for entry in out]
    if detect_pt is not None:
        out = [(*entry, *(None,) * (6 - len(entry)), int(detect_pt))
               if entry[2].lower() in media_codecs.G711 and len(entry) > 4 else entry
               for entry in out]
    return tuple(out)


def added_first(offer: Offered, answered: list[tuple[str, str]]) -> bool:
    """The answer's first codec (not telephone-event or CN) is one the offer added for
    transcoding: 10.5's preferred sink codec is then "for transcoding", and what the
    offerer sends goes out in it, whatever else the answer takes (probed: B answering
    G722 and PCMU to an offer of PCMU with ``transcode: [G722]`` gets A's PCMU as G.722)."""
    first = next((pt for pt, text in answered if _encoding(text) not in SUPPLEMENTARY), None)
    return (first is not None and first in offer.sent
            and first not in {pt for pt, _ in offer.own or offer.codecs})


def unanswered_added(offer: Offered, answered: list[tuple[str, str]]
                     ) -> list[tuple[str, str]]:
    """The audio codecs the offer added for transcoding that the answer left out. 10.5 keeps
    the codec handlers it set up at the offer: what the answerer sends in one of them still
    reaches the offerer converted (probed: B answering PCMU to an offer of PCMU with
    ``transcode: [G722]`` and then sending G.722; A gets PCMU), where a codec of the
    offerer's own that the answer left out passes as it came."""
    if not offer.added:
        return []
    names = {_conversion_name(text) for _, text in answered}
    return [(pt, text) for pt, text in offer.added
            if _encoding(text) not in SUPPLEMENTARY and _conversion_name(text) not in names]


def _conversion_name(rtpmap: str) -> str:
    """A codec as conversions name it: PCMU/16000 is not PCMU (``media.codecs``)."""
    return media_codecs.conversion_name(_encoding(rtpmap), clock_rate(rtpmap))


def made_noise(offer: Offered, answered: list[tuple[str, str]]) -> tuple[bool, bool]:
    """Whether the relay makes each party's comfort noise (towards the offerer, towards the
    answerer): the offerer's when it accepted CN or asked for always transcode, the
    answerer's when it answered a CN our offer added (10.5: CN "for transcoding")."""
    to_offerer = offer.always or any(name.split("/")[0].lower() == "cn"
                                     for name in offer.accept)
    offered = {pt for pt, _ in offer.codecs}
    to_answerer = any(pt in offer.sent and pt not in offered and _encoding(text) == "cn"
                      for pt, text in answered)
    return to_offerer, to_answerer


def _event_conversions(sent: list[tuple[str, str]], received: list[tuple[str, str]],
                       rate: str) -> list[Conversion]:
    """telephone-event in a converted direction goes out as the receiver's at the clock
    rate of the codec the audio goes out in (``rate``), stamped on the audio's output
    clock (``transcoding.Events``): where its payload type and rate stay too, 10.5 still
    stamps it at the clock's position and moves the clock past it (probed with a changed
    ptime: audio framed anew leaves samples pending at the event)."""
    target = next((pt for pt, text in received if _encoding(text) == "telephone-event"
                   and clock_rate(text) == rate and pt.isdigit()), None)
    if target is None or not rate.isdigit():
        return []
    out: list[Conversion] = []
    for pt, text in sent:
        source_rate = clock_rate(text)
        if _encoding(text) == "telephone-event" and pt.isdigit() and source_rate.isdigit():
            out.append((int(pt), int(target), f"TELEPHONE-EVENT/{source_rate}",
                        f"TELEPHONE-EVENT/{rate}", 0))
    return out


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


def hides_formats(section: MediaSection, result: list[AnswerCodec], offer: Offered,
                  options_left_supplements: bool = False) -> bool:
    """10.5 quirk: an answer left with only telephone-event because its codecs were stripped
    from the offer, or by the answer's own options (``options_left_supplements``, from
    ``answer_plan``), gets an empty m= format list (the telephone-event attributes stay)."""
    if options_left_supplements:
        return True
    if not result or any(_encoding(c.rtpmap or "") not in SUPPLEMENTARY for c in result):
        return False
    rtpmaps = section.rtpmaps()
    stripped = dict(offer.stripped)
    if any(_encoding(c.rtpmap or "") != "telephone-event" for c in result):
        # (with CN too: only when the strip took a codec at their clock rate, as below)
        return _rate_stripped_offer(offer)
    return _rate_stripped_offer(offer) or any(
        pt in stripped and _encoding(stripped[pt]) == _encoding(rtpmaps.get(pt, ""))
        for pt in section.formats)


def _options_left_supplements(section: MediaSection, formats: list[str]) -> bool:
    """An answer's own codec options took every codec it had at the clock rate of the
    telephone-event/CN they left (``formats``), and nothing else is left: 10.5 answers
    those as they are, under an empty format list (``answer_plan``)."""
    rtpmaps = section.rtpmaps()
    return (bool(formats)
            and all(_encoding(rtpmaps.get(pt, "")) in SUPPLEMENTARY for pt in formats)
            and _rate_stripped(rtpmaps, formats, list(section.formats)))


def _rate_stripped_offer(offer: Offered) -> bool:
    """``_rate_stripped`` from what an offer recorded."""
    texts = dict(offer.stripped)
    texts.update(offer.codecs)
    return _rate_stripped(texts, [pt for pt, _ in offer.codecs],
                          [*(pt for pt, _ in offer.codecs), *(pt for pt, _ in offer.stripped)])
