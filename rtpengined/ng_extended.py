"""Extended ng commands: media blocking, silencing, recording, forwarding, DTMF.

rtpengined has no recording daemon, so those commands answer as rtpengine 10.5 answers
when that part has nothing to do: recording and forwarding are acknowledged. DTMF
injection is real on calls set up with ``inject DTMF`` (``media.dtmf``), and so is blocking
media: the relay drops the packets a blocked party sends. ``play media`` is ``playback``'s.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from .request import Request

if TYPE_CHECKING:
    from .core import Core
from . import dtmf_block
from .log_context import CONTEXT
from .media import dtmf
from .media.channel import DROP_ALL
from .model import Call, CallMedia, Monologue, Stream, media_by_stream
from .ngoptions import get_flags, get_int, get_list, get_str, require_call_id
from .protocol.ngcodec import NgError

OK: dict[str, Any] = {"result": "ok"}

log = logging.getLogger("rtpengined")

# What 10.5 logs as each state changes: (for one party, "%s" its tag; for the whole call).
_STATE_LINES = {
    ("block_media", True): ("Blocking directional media (tag '%s')", "Blocking media (entire call)"),
    ("block_media", False): ("Unblocking directional media (tag '%s')",
                             "Unblocking media (entire call)"),
    ("block_dtmf", True): ("Blocking directional DTMF (tag '%s')", "Blocking DTMF (entire call)"),
    ("block_dtmf", False): ("Unblocking directional DTMF (tag '%s')",
                            "Unblocking DTMF (entire call)"),
    # (10.5 words silencing the whole call as blocking it)
    ("silence_media", True): ("Silencing directional media (tag '%s')",
                              "Blocking media (entire call)"),
    ("silence_media", False): ("Unsilencing directional media (tag '%s')",
                               "Unsilencing media (entire call)"),
    ("forwarding", True): ("Start forwarding for single party (tag '%s')",
                           "Start forwarding (entire call)"),
    ("forwarding", False): ("Stop forwarding for single party (tag '%s')",
                            "Stop forwarding (entire call)"),
}
# There is no call recording here: 10.5 without --recording-dir says this where it is asked.
NO_RECORDING = "Call recording requested, but no spool directory configured"


def _log_state(key: str, value: bool, party: Monologue | None) -> None:
    one, whole = _STATE_LINES[key, value]
    if party is None:
        log.info(whole)
    else:
        log.info(one, CONTEXT.mark(party.tag))


def recording_requested(message: dict[str, Any], flags: Collection[str]) -> None:
    """An offer's or answer's ``record call`` (key ``yes``/``on``, or among its ``flags``
    as ``get_flags`` spells them), as 10.5 takes it: nothing to record into, said as 10.5
    says it."""
    value = message.get("record-call", message.get("record call"))
    if isinstance(value, str):
        if value in ("yes", "on"):
            log.error(NO_RECORDING)
        elif value not in ("no", "off"):
            log.info('"record-call" flag %s is invalid flag.', value)
    if "record-call" in flags:
        log.error(NO_RECORDING)


def find_call(core: Core, message: dict[str, Any], unknown: str = "Unknown call-ID") -> Call:
    call = core.calls.calls.get(require_call_id(message))
    if call is None:
        raise NgError(unknown)
    return call


def _media_addresses(monologue: Monologue) -> set[str]:
    return {
        _normal(stream.advertised.address)
        for media in monologue.medias
        for stream in media.streams
        if stream.advertised is not None
    }


def _normal(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def select_party(call: Call, message: dict[str, Any]) -> Monologue | None:
    """The party a command names, None for the whole call. As 10.5 looks: by label first,
    else by media address, else by from-tag (a label that names nobody is an error even
    beside a from-tag that would, and so is an empty one: no party has that label, not
    even one without a label)."""
    label = message.get("label")
    if isinstance(label, str):
        for monologue in call.monologues:
            if label and monologue.label == label:
                return monologue
        raise NgError("No monologue matching the given label")
    address = message.get("address")
    if isinstance(address, str):
        try:
            wanted = str(ipaddress.ip_address(address))
        except ValueError:
            raise NgError("Failed to parse network address") from None
        for monologue in call.monologues:
            if wanted in _media_addresses(monologue):
                return monologue
        raise NgError("Failed to match address to any tag")
    tag = message.get("from-tag")
    if isinstance(tag, str):
        for monologue in call.monologues:
            if monologue.tag == tag and not monologue.destroyed:  # (a deleted branch: gone)
                return monologue
        raise NgError("From-tag given, but no such tag exists")
    return None


def apply_media_blocks(call: Call, update: Callable[[Stream], None]) -> None:
    """Give each stream the blocked state of the call and its party (``block media``);
    ``update`` gets the streams that changed (the media plane, or nothing for a call
    being restored, whose streams reach the relay afterwards)."""
    call_blocked = call.block_media
    for monologue in call.monologues:
        blocked = DROP_ALL if call.drop_traffic else int(call_blocked or monologue.block_media)
        for media in monologue.medias:
            for stream in media.streams:
                if stream.blocked != blocked:
                    stream.blocked = blocked
                    update(stream)


def _set_state(core: Core, message: dict[str, Any], key: str, value: bool) -> dict[str, Any]:
    """Block/silence state on the named party, or the whole call (``all`` clears parties too)."""
    call = find_call(core, message)
    party = select_party(call, message)
    _log_state(key, value, party)
    target = party if party is not None else call
    if key == "block_dtmf":
        mode = dtmf_block.parse_mode(get_str(message, *dtmf_block.MODE_KEYS))
        trigger = dtmf_block.trigger_given(message)
        _dtmf_settings(call, party, message, value, mode, trigger)
        if value:
            if mode is None and trigger:
                value = False  # (10.5: with a trigger the block waits for it)
            target.dtmf_security = mode or "drop"
    setattr(target, key, value)
    if party is None and not value and "all" in get_list(message, "flags"):
        for monologue in call.monologues:
            setattr(monologue, key, False)
    if key == "block_media":
        apply_media_blocks(call, core.media.update_stream)
    elif key == "block_dtmf":
        dtmf_block.apply(call, core.media.update_stream)
    return dict(OK)


def _dtmf_settings(call: Call, party: Monologue | None, message: dict[str, Any],
                   block: bool, mode: str | None, trigger: bool) -> None:
    """The delay buffer and DTMF settings a ``block DTMF``/``unblock DTMF`` sets on the
    party, or on every party without one (10.5: a block sets them all when its mode
    replaces DTMF, or a delay buffer or trigger is given; an unblock only the delay), and
    whether the ``detect DTMF`` flag turns audio DTMF detection on or off (a block as its
    settings; an unblock when a delay is given or the block it ends replaced DTMF, or for
    the whole call with ``all``). ``mode``/``trigger``: the message's ``DTMF-security``
    and whether it gives a trigger."""
    parties = [party] if party is not None else list(call.monologues)
    delay = dtmf_block.delay_given(message)
    flags = get_flags(message)
    detect = "detect-DTMF" in flags
    if block:
        if mode is None:
            mode = "off" if trigger else "drop"
        if not (mode in dtmf_block.REPLACE_MODES or delay is not None or trigger):
            return
        for each in parties:
            each.dtmf_settings = dtmf_block.settings_from(message, mode, each.dtmf_settings)
            each.detect_dtmf = detect
        return
    if delay is not None:
        for each in parties:
            dtmf_block.set_delay(each, delay)
    ended = party if party is not None else call
    if (delay is not None or (ended.block_dtmf and ended.dtmf_security in dtmf_block.REPLACE_MODES)
            or (party is None and "all" in flags)):
        for each in parties:
            each.detect_dtmf = detect


# Commands that set or clear one state on a party or the whole call: name → (state, value).
STATE_COMMANDS = {
    "block media": ("block_media", True),
    "unblock media": ("block_media", False),
    "silence media": ("silence_media", True),
    "unsilence media": ("silence_media", False),
    "block DTMF": ("block_dtmf", True),
    "unblock DTMF": ("block_dtmf", False),
}


def _state_command(key: str, value: bool):
    def handler(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
        return _set_state(core, message, key, value)

    return handler


# The block/silence commands, one handler each (listed in ``commands``).
STATE_HANDLERS = {name: _state_command(key, value) for name, (key, value) in STATE_COMMANDS.items()}


def _recording(core: Core, message: dict[str, Any], value: bool) -> dict[str, Any]:
    call = find_call(core, message, unknown="Unknown call-id")
    call.recording = value
    if value:
        log.error(NO_RECORDING)
    return dict(OK)


def start_recording(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    return _recording(core, message, True)


def stop_recording(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    return _recording(core, message, False)


def _forwarding(core: Core, message: dict[str, Any], value: bool) -> dict[str, Any]:
    call = find_call(core, message)
    party = select_party(call, message)
    _log_state("forwarding", value, party)
    if value:
        log.error(NO_RECORDING)
    (party if party is not None else call).forwarding = value
    return dict(OK)


def start_forwarding(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    return _forwarding(core, message, True)


def stop_forwarding(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    return _forwarding(core, message, False)


def play_dtmf(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    """Inject a DTMF event into what the named party sends (``media.dtmf``). It needs a
    call set up with ``inject DTMF`` (the conversion path); without it 10.5 answers ok and
    nothing is heard, as here. Nothing received from the party yet: 10.5's error."""
    call = find_call(core, message)
    party = require_party(call, message)
    duration = _clamped(get_int(message, "duration"), 250, "duration")  # (checked first: 10.5)
    pause = _clamped(get_int(message, "pause"), 100, "pause")
    code = dtmf.event_code(message.get("code", message.get("digit")))
    if code is None:
        raise NgError("Out of range 'code' specified")
    medias = [m for m in party.medias if m.type == "audio" and m.rtp is not None
              and not m.rtp.closed]
    core.media.refresh([m.rtp for m in medias])
    medias = [m for m in medias if m.rtp.stats.packets]
    if not medias:
        raise NgError("No SSRC context present for DTMF injection")
    volume = get_int(message, "volume")
    owners = media_by_stream(call.monologues)
    for media in medias:
        sink = media.rtp.sink
        receiver = owners.get(sink.id) if sink is not None else None
        if receiver is None:
            continue
        received = media.rtp.stats.payload_type
        if sink.transcode and received is not None and all(
                entry[0] != received for entry in sink.transcode):
            # (the party's last packet was in a codec the conversion path does not take)
            raise NgError("No suitable codec handler present")
        te_pt, codec = _dtmf_target(receiver)
        # (RFC 4733 volume: 0-63, 63 without one, as 10.5 sends; the tone: 15 dB down then)
        event = (code, 63 if volume is None else min(abs(volume), 63),
                 15 if volume is None else abs(volume), duration * 8, pause * 8, te_pt, codec)
        core.media.inject_dtmf(media.rtp, event)
    return dict(OK)


def _clamped(millis: int | None, default: int, what: str) -> int:
    """``duration``/``pause`` in ms: 100 to 5000, ``default`` when not given or 0, one out
    of range warned about as 10.5 warns (naming the value it takes instead, twice)."""
    if not millis:
        return default
    if 100 <= millis <= 5000:
        return millis
    taken = 100 if millis < 100 else 5000
    log.warning("Invalid %s (%d ms) specified, using %d ms instead", what, taken, taken)
    return taken


def _dtmf_target(receiver: CallMedia) -> tuple[int | None, str | None]:
    """The receiving party's telephone-event payload type (8 kHz), and its first codec when
    it is G.711 (a tone is sent in it when it takes no telephone-event)."""
    te_pt = codec = None
    for pt in receiver.formats:
        name, _, rest = receiver.rtpmaps.get(pt, "").partition("/")
        if name.lower() == "telephone-event":
            if te_pt is None and rest.split("/")[0] == "8000" and pt.isdigit():
                te_pt = int(pt)
        elif codec is None and name.lower() != "cn":
            codec = name.upper() if name.upper() in dtmf.ENCODERS else ""
    return te_pt, codec or None


def require_party(call: Call, message: dict[str, Any]) -> Monologue:
    """Playback needs one party (by from-tag, label or address), as 10.5 insists."""
    party = select_party(call, message)
    if party is None:
        raise NgError("No participant party specified")
    return party


