"""``block DTMF``: the telephone-event packets the relay drops, by party and mode.

A contact centre blocks DTMF while a caller types a card number (PCI DSS): the agent must
not receive the digits. rtpengine 10.5, probed without a delay buffer:

* ``DTMF-security: drop`` (the default), ``off`` and any name it does not know: the
  blocked party's telephone-event (RFC 4733) packets go nowhere; its audio, in-band tones
  included, passes as it came (no sequence gap is closed, the SSRC is kept).
* ``zero`` and ``DTMF``: the events pass as they came.
* ``silence``, ``tone`` and ``random``: each event goes on as the key's tones in the
  party's audio codec, so the digit still reaches the peer.

We drop the events in those last three modes too, the safe reading of a block (README).
With a delay buffer (``delay-buffer`` ms, kept on the party until set again, 0 ending it)
the relay holds what the party sends and replaces its DTMF, in-band tones included, as
10.5 does (``media.dtmf_guard``): ``DTMF-delay``, ``trigger``/``trigger-end`` with their
modes, ``frequency``, ``volume`` and ``digit`` act there. Those events then go on as the
mode makes them instead of being dropped.

A block on the whole call covers every party, whatever a party's own unblock says, and an
unblock of the call lifts parties' own blocks only with the ``all`` flag (10.5, as for
``block media``; ``ng_extended``). The state lives on the call model; this module works out
each stream's ``dropped_types`` from it, and the caller hands the streams that changed to
the media plane. Runs again after every offer/answer of a call with a block, since a
re-INVITE may bring new ports or payload types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .media.dtmf import event_code
from .media.dtmf_guard import GuardSpec
from .model import Call, CallMedia, Monologue, Stream
from .ngoptions import get_int, get_str


class Settings(NamedTuple):
    """A party's ``block DTMF`` settings beside its mode (10.5 keeps them on the party)."""

    delay: int = 0  # delay-buffer, ms
    dtmf_delay: int = 0
    digit: int = -1  # event code for DTMF mode (zero: 0); -1: none
    frequency: int = 0  # 0: 400 Hz
    volume: int = 0  # 0: 10 dB below full scale
    trigger: str = ""
    trigger_end: str = ""
    trigger_mode: str = "off"
    trigger_end_mode: str = "off"
    trigger_end_ms: int = 0
    trigger_end_digits: int = 0


DELAY_KEYS = ("delay-buffer", "delay buffer")
TRIGGER_MODE_KEYS = ("DTMF-security-trigger", "dtmf-security-trigger", "DTMF security trigger",
                     "dtmf security trigger")


def delay_given(message: dict[str, Any]) -> int | None:
    """The ``delay-buffer`` the message sets (ms), None when it sets none."""
    value = get_int(message, *DELAY_KEYS)
    return value if value is not None and value >= 0 else None


def set_delay(party: Monologue, delay: int) -> None:
    """The party's delay buffer set alone (``unblock DTMF``, the CLI's ``delay``)."""
    party.dtmf_settings = (party.dtmf_settings or Settings())._replace(delay=delay)


def trigger_given(message: dict[str, Any]) -> bool:
    return bool(get_str(message, "trigger")) or parse_mode(
        get_str(message, *TRIGGER_MODE_KEYS)) is not None


def settings_from(message: dict[str, Any], mode: str | None,
                  before: Settings | None) -> Settings:
    """The party's settings after a ``block DTMF`` that sets them (10.5 then takes every
    one from the message; the delay buffer only when given)."""
    before = before or Settings()
    delay = delay_given(message)
    volume = get_int(message, "volume")
    frequency = get_int(message, "frequency")
    digit = before.digit
    if mode == "zero":
        digit = 0
    else:
        given = event_code(message.get("digit", message.get("code")))
        if given is not None:
            digit = given
    return Settings(
        delay=before.delay if delay is None else delay,
        dtmf_delay=max(get_int(message, "DTMF-delay", "DTMF delay", "dtmf-delay",
                               "dtmf delay") or 0, 0),
        digit=digit,
        frequency=frequency if frequency is not None and frequency > 0 else before.frequency,
        volume=(abs(volume) if volume is not None and -63 <= volume <= 63 else before.volume),
        trigger=get_str(message, "trigger") or "",
        trigger_end=get_str(message, "trigger-end", "trigger end", "end trigger",
                            "end-trigger") or "",
        trigger_mode=parse_mode(get_str(message, *TRIGGER_MODE_KEYS)) or "off",
        trigger_end_mode=parse_mode(get_str(
            message, "DTMF-security-trigger-end", "dtmf-security-trigger-end",
            "DTMF security trigger end", "dtmf security trigger end")) or "off",
        trigger_end_ms=max(get_int(message, "trigger-end-time", "trigger end time",
                                   "end-trigger-time", "end trigger time") or 0, 0),
        trigger_end_digits=max(get_int(message, "trigger-end-digits", "trigger end digits",
                                       "end-trigger-digits", "end trigger digits") or 0, 0),
    )

PASSING_MODES = frozenset({"zero", "DTMF"})  # events pass as they came (10.5)
REPLACE_MODES = frozenset({"silence", "tone", "random", "zero", "DTMF"})
# 10.5's modes by the number it stores them as in Redis (``block_dtmf``; 0: not blocked).
STORED = {"drop": 1, "silence": 2, "tone": 3, "random": 4, "zero": 5, "DTMF": 6}
_BY_NUMBER = {number: mode for mode, number in STORED.items()}
MODE_KEYS = ("DTMF-security", "dtmf-security", "DTMF security", "dtmf security")


def parse_mode(value: str | None) -> str | None:
    """A ``DTMF-security`` value as 10.5 reads it: its mode names (``dtmf`` too for
    ``DTMF``); None for ``off``, a name it does not know and none at all, which leave the
    command's default."""
    if value == "dtmf":
        return "DTMF"
    return value if value in STORED else None


def stored(blocked: bool, mode: str) -> str:
    """The ``block_dtmf`` value of a call or party in Redis (10.5's number)."""
    return str(STORED.get(mode, 1)) if blocked else "0"


def from_stored(number: int) -> tuple[bool, str]:
    """(blocked, mode) from a stored ``block_dtmf`` number (one we do not know: drop)."""
    return number != 0, _BY_NUMBER.get(number, "drop")


def mode_of(call: Call, party: Monologue) -> str | None:
    """The blocking mode in force for the party's DTMF, None when not blocked."""
    if call.block_dtmf:
        return call.dtmf_security
    if party.block_dtmf:
        return party.dtmf_security
    return None


def any_block(call: Call) -> bool:
    """A block, or a party's delay buffer (a trigger waiting for its keys, say), is on the
    call: streams an offer/answer makes need ``apply`` too."""
    return call.block_dtmf or any(
        party.block_dtmf or (party.dtmf_settings is not None and party.dtmf_settings.delay > 0)
        for party in call.monologues)


def event_clocks(media: CallMedia) -> tuple[tuple[int, int], ...]:
    """(payload type, clock rate) of each telephone-event the party's own SDP declared for
    the media, by payload type (8000 where the rtpmap names no rate)."""
    found = []
    for pt, text in media.rtpmaps.items():
        name, _, rest = text.partition("/")
        if pt.isdigit() and name.lower() == "telephone-event":
            rate = rest.split("/", 1)[0]
            found.append((int(pt), int(rate) if rate.isdigit() else 8000))
    return tuple(sorted(found))


def event_types(media: CallMedia) -> tuple[int, ...]:
    """The telephone-event payload types the party's own SDP declared for the media."""
    return tuple(pt for pt, _rate in event_clocks(media))


def apply(call: Call, update: Callable[[Stream], None]) -> None:
    """Give each stream that receives from a party the payload types to drop and its
    delay buffer's settings (``guard``); ``update`` gets the streams that changed."""
    media_of = None
    for party in call.monologues:
        mode = mode_of(call, party)
        settings = party.dtmf_settings
        guarded = settings is not None and settings.delay > 0
        for media in party.medias:
            dropped = (event_types(media) if mode is not None and (
                mode == "drop" or (mode not in PASSING_MODES and not guarded)) else ())
            for stream in media.streams:
                guard = detect = None
                if (guarded or party.detect_dtmf) and not stream.rtcp:
                    if media_of is None:
                        media_of = {s.id: m for p in call.monologues for m in p.medias
                                    for s in m.streams}
                    sink = stream.sink
                    sink_media = media_of.get(sink.id) if sink is not None else None
                    if guarded:
                        guard = guard_spec(mode, settings, media, sink_media)
                    else:
                        detect = detect_spec(media, sink_media)
                if (stream.dropped_types != dropped or stream.guard != guard
                        or stream.detect != detect) and not stream.closed:
                    stream.dropped_types = dropped
                    stream.guard = guard
                    stream.detect = detect
                    update(stream)


def _laws(media: CallMedia) -> tuple[tuple[int, str], ...]:
    """(payload type, "PCMU"/"PCMA") of the G.711 audio at 8 kHz the party's media sends."""
    rtpmaps = media.rtpmaps
    return tuple((int(pt), rtpmaps[pt].split("/", 1)[0].upper()) for pt in media.formats
                 if pt.isdigit() and rtpmaps.get(pt, "").upper() in ("PCMU/8000", "PCMA/8000"))


def detect_spec(media: CallMedia, sink_media: CallMedia | None) -> tuple | None:
    """Audio DTMF detection on what a party's media sends (``detect DTMF`` without a delay
    buffer), as 10.5's DSP: the party's G.711 payload types, and the telephone-event type
    at 8 kHz the receiver takes, which the keys found go out as (-1: the receiver takes
    none, they are only reported for DTMF logging). None: no G.711 audio to read."""
    laws = _laws(media)
    if not laws:
        return None
    events = [pt for pt, rate in event_clocks(sink_media)
              if rate == 8000] if sink_media is not None else []
    return (laws, events[0] if events else -1)


def guard_spec(mode: str | None, settings: Settings, media: CallMedia,
               sink_media: CallMedia | None) -> tuple:
    """The relay's ``dtmf_guard.GuardSpec`` (as a tuple) for what a party's media sends."""
    laws = _laws(media)
    sink_te = event_types(sink_media) if sink_media is not None else ()
    return tuple(GuardSpec(
        mode=mode or "off", delay=settings.delay, dtmf_delay=settings.dtmf_delay,
        digit=settings.digit, frequency=settings.frequency or 400,
        volume=settings.volume or 10, events_in=event_types(media), laws_in=laws,
        sink_te=sink_te[0] if sink_te else None, trigger=settings.trigger,
        trigger_end=settings.trigger_end, trigger_mode=settings.trigger_mode,
        trigger_end_mode=settings.trigger_end_mode, trigger_end_ms=settings.trigger_end_ms,
        trigger_end_digits=settings.trigger_end_digits))
