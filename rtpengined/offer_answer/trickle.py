"""Trickle ICE: candidates a party sends after its SDP (an ng ``offer``/``answer`` with the
``fragment`` flag), applied to its leg as rtpengine 10.5 does.

The fragment names the party by its tag (``from-tag`` of an offer; ``to-tag`` of an
answer) and the media by ``a=mid`` (else by position). Its candidates join those the
party's SDP gave, when that SDP spoke ICE and trickled (``a=ice-options:trickle``); once the
leg is terminated by a relay worker (after the answer), the stream's new spec reaches the
worker, whose ICE agent pairs and checks the new candidates at once. A fragment for a call
or party that cannot take it yet (no such call; a party without trickling ICE) is kept for
3 s and applied after that party's next offer or answer, as 10.5 queues it. The reply is a
bare ``ok``: a fragment produces no SDP.

Candidates with an ``a=ice-ufrag`` other than the one the party's SDP gave belong to
another ICE generation (RFC 8840): they are dropped, where 10.5 would take the new
credentials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..model import Call, CallMedia, Monologue, Stream
from ..protocol.ngcodec import NgError
from ..sdp import SdpError
from ..secure import trickle
from . import webrtc

if TYPE_CHECKING:
    from ..calls import CallManager


def parse(body: str) -> list[trickle.FragmentMedia]:
    try:
        return trickle.parse_fragment(body)
    except SdpError as exc:
        raise NgError(str(exc)) from None


def receive(manager: CallManager, call_id: str, tag: str, body: str, answer: bool,
            now: float) -> dict[str, Any]:
    """One fragment request: applied, or kept for later; the ng reply."""
    medias = parse(body)
    call = manager.calls.get(call_id)
    if call is None:
        if answer:
            raise NgError("Unknown call-id")
        manager.pending_fragments.put(call_id, tag, medias, now)
        return {"result": "ok"}
    call.last_signal = now
    if not apply(manager, call, tag, medias):
        manager.pending_fragments.put(call_id, tag, medias, now)
    return {"result": "ok"}


def dequeue(manager: CallManager, call: Call, tag: str, now: float) -> None:
    """After the party's offer or answer: the fragments that waited for it (those it still
    cannot take are dropped, as 10.5)."""
    if not len(manager.pending_fragments):
        return
    for medias in manager.pending_fragments.take(call.call_id, tag, now):
        apply(manager, call, tag, medias)


def apply(manager: CallManager, call: Call, tag: str, medias: list[trickle.FragmentMedia]
          ) -> bool:
    """Add the fragment's candidates to the party's medias and tell the relay about the legs
    that changed; False when some media could not take them (yet)."""
    mono = next((m for m in call.monologues if m.tag == tag and not m.destroyed), None)
    if mono is None:
        return not medias
    taken = True
    changed: list[Stream] = []
    for fragment in medias:
        media = _media(mono, fragment)
        params = media.remote_webrtc if media is not None else None
        if media is None or params is None or not params.ufrag or not params.trickle:
            taken = False
            continue
        if fragment.ufrag is not None and fragment.ufrag != params.ufrag:
            continue  # another ICE generation
        new = params._replace(
            candidates=trickle.merge(params.candidates, fragment.candidates),
            candidates_rtcp=trickle.merge(params.candidates_rtcp, fragment.candidates_rtcp))
        if new == params:
            continue
        media.remote_webrtc = new
        if media.dtls_role is not None:  # the relay terminates the leg already
            changed += webrtc.refresh_leg(media, mono, manager.certificate)
    for stream in changed:
        if not stream.closed:
            manager.media.update_stream(stream)
    return taken


def _media(mono: Monologue, fragment: trickle.FragmentMedia) -> CallMedia | None:
    """The party's media a fragment section is for: by mid, else by position (10.5)."""
    if fragment.mid is not None:
        for media in mono.medias:
            if media.mid == fragment.mid:
                return media
    if fragment.index < len(mono.medias):
        return mono.medias[fragment.index]
    return None
