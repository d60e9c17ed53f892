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
Replacing in-band tones (10.5 does it behind its ``delay-buffer``) is not done.

A block on the whole call covers every party, whatever a party's own unblock says, and an
unblock of the call lifts parties' own blocks only with the ``all`` flag (10.5, as for
``block media``; ``ng_extended``). The state lives on the call model; this module works out
each stream's ``dropped_types`` from it, and the caller hands the streams that changed to
the media plane. Runs again after every offer/answer of a call with a block, since a
re-INVITE may bring new ports or payload types.
"""

from __future__ import annotations

from collections.abc import Callable

from .model import Call, CallMedia, Monologue, Stream

PASSING_MODES = frozenset({"zero", "DTMF"})  # events pass as they came (10.5)
# 10.5's modes by the number it stores them as in Redis (``block_dtmf``; 0: not blocked).
STORED = {"drop": 1, "silence": 2, "tone": 3, "random": 4, "zero": 5, "DTMF": 6}
_BY_NUMBER = {number: mode for mode, number in STORED.items()}
MODE_KEYS = ("DTMF-security", "dtmf-security", "DTMF security", "dtmf security")
TRIGGER_KEYS = ("trigger", "DTMF-security-trigger", "dtmf-security-trigger",
                "DTMF security trigger", "dtmf security trigger")


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
    return call.block_dtmf or any(party.block_dtmf for party in call.monologues)


def event_types(media: CallMedia) -> tuple[int, ...]:
    """The telephone-event payload types the party's own SDP declared for the media."""
    return tuple(sorted(int(pt) for pt, text in media.rtpmaps.items()
                        if pt.isdigit() and text.split("/", 1)[0].lower() == "telephone-event"))


def apply(call: Call, update: Callable[[Stream], None]) -> None:
    """Give each stream that receives from a party the payload types to drop; ``update``
    gets the streams whose set changed."""
    for party in call.monologues:
        mode = mode_of(call, party)
        for media in party.medias:
            dropped = (event_types(media) if mode is not None and mode not in PASSING_MODES
                       else ())
            for stream in media.streams:
                if stream.dropped_types != dropped and not stream.closed:
                    stream.dropped_types = dropped
                    update(stream)
