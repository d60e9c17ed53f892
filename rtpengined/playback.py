"""``play media`` and ``stop media``: which party hears what, in which codec, as 10.5 decides.

The relay worker holding a party's stream plays the media to it (``media.player``); this
module picks the party (from-tag, label, address, or the ``all`` flag), its media, the codec
and packet time, opens the media once to answer (its duration, or 10.5's error) and hands
the worker the rest. 10.5's rules, probed:

- The party's first audio media that it receives on (its SDP says sendrecv or recvonly)
  and that has ports is played to; none: the playback fails as an unopenable file does.
- The codec is the first one of the party's media that the relay can encode (telephone-event
  and CN aside); for a party that answered, one the offer gave it if any. None: the answer is
  ok without a duration and nothing is played.
- A party gets its player with its first ``play media`` (even one that then fails):
  ``stop media`` before that is an error, after it always ok.
- The reply's ``duration`` (ms) is the media's as the first party's playback read it; a
  ``blob`` or ``file`` libavformat cannot open is an error, ``db-id`` needs a database this
  daemon does not have (10.5 without one: the same error).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from . import sdp as sdpmod
from .media import codecs
from .ng_extended import find_call, require_party, select_party
from .ngoptions import get_int, get_list, get_str
from .offer_answer.sdes import end_to_end, relay_keys
from .protocol.ngcodec import NgError

log = logging.getLogger("rtpengined")

if TYPE_CHECKING:
    from .core import Core
    from .model import CallMedia, Monologue
    from .request import Request

_DEFAULT_PTIME = 20  # ms, when the party's SDP gives none


def _parties(core: Core, message: dict[str, Any]) -> list[Monologue]:
    call = find_call(core, message)
    if "all" in get_list(message, "flags"):
        select_party(call, message)  # (a party named must still exist, as 10.5 checks)
        return list(call.monologues)
    return [require_party(call, message)]


def _source(message: dict[str, Any]) -> tuple[str, bytes | str] | None:
    """(kind, what) of the media named: a file name, a blob's bytes, a database id."""
    name = get_str(message, "file")
    if name:
        return "file", os.path.abspath(name)
    blob = message.get("blob")
    if isinstance(blob, str) and blob:
        return "blob", blob.encode("utf-8", "surrogateescape")
    if isinstance(blob, bytes) and blob:
        return "blob", blob
    db_id = get_int(message, "db-id")
    if db_id is not None and db_id > 0:
        return "database", db_id
    return None


def _played_media(party: Monologue) -> CallMedia | None:
    for media in party.medias:
        if (media.type == "audio" and media.dir_flags[0] and media.rtp is not None
                and not media.rtp.closed):
            return media
    return None


def _codec(media: CallMedia) -> tuple[int, codecs.AudioCodec] | None:
    """(payload type, codec) the party is played in."""
    candidates = []
    for pt in media.formats:
        name = media.rtpmaps.get(pt, "").partition("/")[0].lower()
        codec = codecs.codec(name)
        # (telephone-event is no codec here, CN none the player makes)
        if pt.isdigit() and codec is not None and codecs.playable(codec):
            candidates.append((int(pt), codec))
    offered = media.offered
    if offered is not None and candidates:
        given = {pt for pt, _ in offered.codecs}
        common = [entry for entry in candidates if str(entry[0]) in given]
        candidates = common or candidates
    return candidates[0] if candidates else None


def _ptime(party: Monologue, media: CallMedia) -> int:
    """The packet time of the party's own SDP for this media (ms)."""
    if party.last_sdp:
        sections = sdpmod.parse(party.last_sdp).medias
        if 0 < media.index <= len(sections):  # (counted from 1, as 10.5 counts them)
            values = sections[media.index - 1].attributes("ptime")
            if values:
                try:
                    ptime = int(float(values[0]))
                except ValueError:
                    ptime = 0
                if 0 < ptime <= 1000:
                    return ptime
    return _DEFAULT_PTIME


def _end_to_end_key(party: Monologue, media: CallMedia) -> tuple | None:
    """SRTP keys for what is played to a party whose SDES keys pass end to end (the relay
    has no context of its own for that leg): the key the party was given, as the relay's
    keys tuple. None for every other leg (plain, or the relay's own context)."""
    found = end_to_end(party, media)
    return relay_keys(found[2]) if found is not None else None


def play_media(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    parties = _parties(core, message)
    source = _source(message)
    repeat = get_int(message, "repeat-times")
    repeat = repeat if repeat is not None and repeat > 0 else 1
    reply: dict[str, Any] = {"result": "ok"}
    duration = None  # (the media is opened once, for the first party that can play it)
    for index, party in enumerate(parties):
        party.media_player = True
        if source is None:
            raise NgError("No media file specified")
        kind, what = source
        failed = NgError(f"Failed to start media playback from {kind}")
        if kind == "database":
            raise failed  # (no database configured here: 10.5's "missing configuration")
        media = _played_media(party)
        if media is None:
            raise failed
        if duration is None:
            try:
                duration = core.media.probe_media(what)
            except ValueError as exc:
                if kind == "file":  # (10.5's line; the reply says no more)
                    log.error("Failed to open media file for playback: %s",
                              getattr(exc, "reason", exc))
                raise failed from None
        chosen = _codec(media)
        if chosen is not None:
            pt, codec = chosen
            frame = codec.frame(_ptime(party, media))
            core.media.play_media(media.rtp, (what, codec.name.lower(), pt, frame, repeat,
                                              _end_to_end_key(party, media),
                                              core.calls.instance_id))
        if index == 0 and duration:
            reply["duration"] = duration
    return reply


def stop_players(core: Core, parties) -> None:
    """Stop what is played to ``parties`` (``delete``: 10.5 stops a deleted party's player,
    and its peers', at once, also when the call itself stays for the delete delay)."""
    for party in parties:
        if party.media_player:
            party.media_player = False
            media = _played_media(party)
            if media is not None:
                core.media.stop_media(media.rtp)


def stop_media(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    for party in _parties(core, message):
        if not party.media_player:
            raise NgError("Not currently playing media")
        media = _played_media(party)
        if media is not None:
            core.media.stop_media(media.rtp)
    return {"result": "ok"}
