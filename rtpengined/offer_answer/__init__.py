"""ng ``offer`` and ``answer``: update the call model from an SDP and rewrite it.

Orientation (as rtpengine): the SDP produced for an offer goes to the callee, so it
carries the callee-side monologue's local ports; the SDP produced for an answer carries
the caller's. Both sides' ports are bound at offer time. Requests are validated and
every port is bound before the model changes, so an error leaves the call as it was.

This module holds the two commands; ``session`` the plan/bind/commit transaction,
``output`` the SDP it sends on, ``ice`` credentials and candidates, ``work`` the
per-media state the steps share. Options come from ``rtpengined.ngoptions``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import b2b, dtmf_block, dtmf_log
from .. import sdp as sdpmod
from ..log_context import NOTICE
from ..log_lines import write_line
from ..model import Call, Monologue, Stream
from ..ng_extended import apply_media_blocks, recording_requested
from ..ngoptions import Options, dtls_flags, get_list, get_str
from ..ports import OutOfPorts, set_tos
from ..protocol.ngcodec import NgError
from ..request import Request
from ..sdp import SessionDescription
from . import feedback, trickle
from .session import _Session
from .work import _source_medias, _uses_source

log = logging.getLogger("rtpengined")

if TYPE_CHECKING:
    from ..calls import CallManager
    from ..core import Core


def _required(message: dict[str, Any], answer: bool) -> tuple[str, str, str, str | None]:
    """The keys every offer/answer needs, checked in rtpengine's order."""
    body = get_str(message, "sdp", "SDP")
    if body is None:
        raise NgError("No SDP body in message")
    call_id = get_str(message, "call-id", "call-ID", "call id", "call ID")
    if call_id is None:
        raise NgError("No call-id in message")
    from_tag = get_str(message, "from-tag", "from tag", "from-Tag")
    if from_tag is None:
        raise NgError("No from-tag in message")
    to_tag = get_str(message, "to-tag", "to tag", "to-Tag")
    if answer and to_tag is None:
        raise NgError("No to-tag in message")
    return body, call_id, from_tag, to_tag


def _parse(body: str, reject_invalid: bool) -> SessionDescription:
    if body == "":  # 10.5 takes an empty SDP as one without media, and answers bare "ok"
        return SessionDescription([], [])
    parsed = sdpmod.parse(body, reject_invalid)
    sdpmod.check_complete(parsed)
    return parsed


def _options(core: Core, message: dict[str, Any]) -> Options:
    """The request's options, with the daemon's defaults for what it leaves out (those of
    ``--dtls-passive``)."""
    opts = Options.from_message(message)
    if core.config.dtls_passive:
        opts.dtls, opts.dtls_reverse = dtls_flags(message, passive=True)
    return opts


# -- the commands ----------------------------------------------------------------------


def offer(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    body, call_id, from_tag, to_tag = _required(message, answer=False)
    if "fragment" in get_list(message, "flags"):  # trickle ICE candidates, no SDP to send
        return trickle.receive(core.calls, call_id, from_tag, body, False, core.clock())
    callback = _xmlrpc_callback(message)
    parsed = _parse(body, core.config.reject_invalid_sdp)
    opts = _options(core, message)
    if opts.mask:
        opts.strip_only = opts.strip[:]
        opts.strip += opts.mask
    _check_source(core, opts, parsed)
    manager: CallManager = core.calls
    if _looped(manager, parsed, opts):
        return {"sdp": body, "result": "ok"}
    call = manager.calls.get(call_id)
    if call is None:
        limit = core.config.max_sessions
        if limit >= 0 and len(manager.calls) >= limit:
            core.stats.rejected_sessions += 1
            if "load limit" in opts.supports:
                return {"result": "load limit", "message": "Parallel session limit reached"}
            raise NgError("Parallel session limit reached")
    now = core.clock()
    new_call = call is None
    if call is None:
        write_line(log, NOTICE, "Creating new call")
        call = Call(call_id=call_id, created=now, last_signal=now, proxy=request.source_text,
                    tos=core.config.tos)
    _change_tos(call, opts.tos, core.config.tos, manager.media.update_stream)
    session = _Session(manager, call, now)
    sender = session.monologue(from_tag, "FROM_TAG")
    if "inject-DTMF" in opts.flags:
        sender.inject_dtmf = True
    peer = session.offer_peer(sender, to_tag, opts.via_branch)
    try:
        result = session.apply(parsed, sender, peer, opts, request, is_offer=True)
    except Exception as exc:
        if new_call:  # (the core answers the error; the half-built call must not leak)
            if isinstance(exc, OutOfPorts):
                # (10.5 ends the call, whose first offer got no ports, saying so)
                log.error("Destroying call")
                # (10.5 ends it as a call: one more managed session, of no time)
                manager.stats.record_call_end(0.0)
            manager.abandon(call)
        raise
    _keep_dialogue(sender, peer)
    call.last_signal = now
    if callback is not None:
        call.xmlrpc_callback = callback
    call.deletion_mark = False
    call.delete_at = None
    if new_call:
        manager.add(call)
    if result is None:
        raise NgError("Error rewriting SDP")
    recording_requested(message, opts.flags)
    sender.last_sdp = body  # what a subscription to this party mirrors (pubsub)
    _drop_traffic(call, opts.drop_traffic, manager)
    if dtmf_block.any_block(call):  # (new ports or payload types keep the block)
        dtmf_block.apply(call, manager.media.update_stream)
    if dtmf_log.wanted(core.config):  # (the same: the relay reads their keys)
        dtmf_log.apply(call, manager.media.update_stream)
    feedback.apply(call, manager.media.update_stream)
    trickle.dequeue(manager, call, from_tag, now)
    if result == "":
        return {"result": "ok"}
    return {"sdp": result, "result": "ok"}


def answer(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    body, call_id, from_tag, to_tag = _required(message, answer=True)
    assert to_tag is not None
    if "fragment" in get_list(message, "flags"):
        return trickle.receive(core.calls, call_id, to_tag, body, True, core.clock())
    callback = _xmlrpc_callback(message)
    parsed = _parse(body, core.config.reject_invalid_sdp)
    opts = _options(core, message)
    _check_source(core, opts, parsed)
    manager: CallManager = core.calls
    if _looped(manager, parsed, opts):
        return {"sdp": body, "result": "ok"}
    call = manager.calls.get(call_id)
    if call is None:
        raise NgError("Unknown call-id")
    now = core.clock()
    session = _Session(manager, call, now)
    if session.find(from_tag) is None and session.find(to_tag) is None:
        session.new_party(to_tag)  # 10.5 creates the answering party first
    offerer = session.monologue(from_tag, "FROM_TAG")
    answerer = session.answer_party(offerer, to_tag, opts.via_branch)
    if "inject-DTMF" in opts.flags:
        answerer.inject_dtmf = True
    result = session.apply(parsed, answerer, offerer, opts, request, is_offer=False)
    _keep_dialogue(answerer, offerer)
    call.last_signal = now
    if callback is not None:
        call.xmlrpc_callback = callback
    if result is None:
        raise NgError("Error rewriting SDP")
    recording_requested(message, opts.flags)
    call.answered = True
    answerer.last_sdp = body  # what a subscription to this party mirrors (pubsub)
    _drop_traffic(call, opts.drop_traffic, manager)
    if dtmf_block.any_block(call):
        dtmf_block.apply(call, manager.media.update_stream)
    if dtmf_log.wanted(core.config):
        dtmf_log.apply(call, manager.media.update_stream)
    feedback.apply(call, manager.media.update_stream)
    trickle.dequeue(manager, call, to_tag, now)
    if result == "":
        return {"result": "ok"}
    return {"sdp": result, "result": "ok"}


def _xmlrpc_callback(message: dict[str, Any]) -> str | None:
    """``xmlrpc-callback``: the address ``%%`` in ``--b2b-url`` stands for (``b2b``), read
    with the other options (before the SDP); 10.5 warns about one that is no IP address
    and keeps what it had (None: keep)."""
    if "xmlrpc-callback" not in message:
        return None
    value = message["xmlrpc-callback"]
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    address = b2b.callback_address(text)
    if address is None:
        log.warning("Failed to parse 'xmlrpc-callback' address '%s'", text)
    return address


def _keep_dialogue(sender: Monologue, receiver: Monologue) -> None:
    """Signalling on a dialogue cancels a delayed delete of its parties and of every party
    they are linked with (10.5: an answer on one fork keeps a fork deleted with a delay)."""
    for party in (sender, receiver, *sender.subscriptions, *sender.subscribers,
                  *receiver.subscriptions, *receiver.subscribers):
        party.delete_at = None


def _drop_traffic(call: Call, drop: bool | None, manager: CallManager) -> None:
    """``drop-traffic`` (offer or answer, for the whole call, until ``stop``; 10.5): every
    stream drops what arrives, uncounted; the streams this request made too."""
    if drop is not None:
        changed = drop != call.drop_traffic
        call.drop_traffic = drop
        if not changed and not drop:
            return
    elif not call.drop_traffic:
        return
    apply_media_blocks(call, manager.media.update_stream)


def _change_tos(call: Call, tos: int, default: int, update: Callable[[Stream], None]) -> None:
    """An offer sets the call's TOS: its ``TOS`` (0-255), else ``--tos``; a negative one
    leaves it. A change applies to the sockets the call has now; new ones get it when
    bound (``PortPool.allocate``). As 10.5. Streams whose TOS is not ``--tos`` stay
    out of the kernel (``update`` tells the media plane)."""
    if tos < 0:
        return
    tos = default if tos > 255 else tos
    if tos == call.tos:
        return
    call.tos = tos
    for stream in call.streams():
        if not stream.closed and stream.sock is not None:
            set_tos(stream.sock, tos)
            for _, _, sock in stream.alternates:  # (ICE on the interface's other addresses)
                set_tos(sock, tos)
            if stream.tos_own != (tos != default):
                stream.tos_own = tos != default
                update(stream)


def _check_source(core: Core, opts: Options, parsed: SessionDescription) -> None:
    """A missing or malformed ``received from`` that would be used leaves no address
    (10.5's error, whatever ``media address`` says; not when the first media has ICE:
    the SDP is trusted then)."""
    if (opts.received_from is None and _uses_source(core.config, opts)
            and _source_medias(parsed) > 0):
        raise NgError("Incomplete SDP specification")


def _looped(manager: CallManager, parsed: SessionDescription, opts: Options) -> bool:
    """loop-protect: an SDP that already carries our marker is returned untouched (and
    said so, as 10.5 says it)."""
    looped = "loop-protect" in opts.flags and manager.instance_id in parsed.session_attributes(
        "rtpengine")
    if looped:
        log.info("Ignoring message as SDP has already been processed by us")
    return looped


