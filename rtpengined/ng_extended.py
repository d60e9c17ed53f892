"""Extended ng commands: media blocking, silencing, recording, forwarding, playback, DTMF.

rtpengined has no recording daemon, transcoder or media player, so these commands answer as
rtpengine 10.5 answers when those parts have nothing to do: recording and forwarding are
acknowledged, playback and DTMF injection fail with rtpengine's own reasons. Blocking media
is real: the relay drops the packets a blocked party sends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .request import Request

if TYPE_CHECKING:
    from .core import Core
from .model import Call, Monologue
from .ngoptions import get_list, require_call_id
from .protocol.ngcodec import NgError

OK: dict[str, Any] = {"result": "ok"}


def _call(core: Core, message: dict[str, Any], unknown: str = "Unknown call-ID") -> Call:
    call = core.calls.calls.get(require_call_id(message))
    if call is None:
        raise NgError(unknown)
    return call


def _media_addresses(monologue: Monologue) -> set[str]:
    return {
        stream.advertised.address
        for media in monologue.medias
        for stream in media.streams
        if stream.advertised is not None
    }


def select_party(call: Call, message: dict[str, Any]) -> Monologue | None:
    """The party a command names by from-tag, label or media address; None for the whole call."""
    tag = message.get("from-tag")
    if isinstance(tag, str):
        for monologue in call.monologues:
            if monologue.tag == tag and not monologue.destroyed:  # (a deleted branch: gone)
                return monologue
        raise NgError("From-tag given, but no such tag exists")
    label = message.get("label")
    if isinstance(label, str):
        for monologue in call.monologues:
            if monologue.label == label:
                return monologue
        raise NgError("No monologue matching the given label")
    address = message.get("address")
    if isinstance(address, str):
        for monologue in call.monologues:
            if address in _media_addresses(monologue):
                return monologue
        raise NgError("Failed to match address to any tag")
    return None


def _apply_blocks(core: Core, call: Call) -> None:
    """Push the blocked state of the call and its parties down to the relay."""
    call_blocked = call.block_media
    for monologue in call.monologues:
        blocked = call_blocked or monologue.block_media
        for media in monologue.medias:
            for stream in media.streams:
                if stream.blocked != blocked:
                    stream.blocked = blocked
                    core.media.update_stream(stream)


def _set_state(core: Core, message: dict[str, Any], key: str, value: bool) -> dict[str, Any]:
    """Block/silence state on the named party, or the whole call (``all`` clears parties too)."""
    call = _call(core, message)
    party = select_party(call, message)
    if party is not None:
        setattr(party, key, value)
    else:
        setattr(call, key, value)
        if not value and "all" in get_list(message, "flags"):
            for monologue in call.monologues:
                setattr(monologue, key, False)
    if key == "block_media":
        _apply_blocks(core, call)
    return dict(OK)


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
    call = _call(core, message, unknown="Unknown call-id")
    call.recording = value
    return dict(OK)


def start_recording(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    return _recording(core, message, True)


def stop_recording(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    return _recording(core, message, False)


def _forwarding(core: Core, message: dict[str, Any], value: bool) -> dict[str, Any]:
    call = _call(core, message)
    party = select_party(call, message)
    (party if party is not None else call).forwarding = value
    return dict(OK)


def start_forwarding(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    return _forwarding(core, message, True)


def stop_forwarding(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    return _forwarding(core, message, False)


def play_media(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    """No media player here: every playback request fails as an unplayable file does."""
    call = _call(core, message)
    _require_party(call, message)
    if not any(isinstance(message.get(key), str) for key in ("file", "blob", "db-id")):
        raise NgError("No media file specified")
    raise NgError("Failed to start media playback from file")


def stop_media(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    call = _call(core, message)
    select_party(call, message)
    return dict(OK)


def play_dtmf(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    """DTMF injection needs a transcoding context, which rtpengined never has."""
    call = _call(core, message)
    _require_party(call, message)
    if not _valid_dtmf_code(message.get("code")):
        raise NgError("Out of range 'code' specified")
    raise NgError("No SSRC context present for DTMF injection")


def _require_party(call: Call, message: dict[str, Any]) -> Monologue:
    """Playback needs one party (by from-tag, label or address), as 10.5 insists."""
    party = select_party(call, message)
    if party is None:
        raise NgError("No participant party specified")
    return party


def _valid_dtmf_code(code: Any) -> bool:
    """A DTMF event: 0-9, *, #, A-D as text, or the event number 0-15."""
    if isinstance(code, int):
        return 0 <= code <= 15
    return isinstance(code, str) and len(code) == 1 and code.upper() in "0123456789*#ABCD"
