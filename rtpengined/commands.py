"""The command table: every ng command and the handler that answers it, in one place.

The core is given this table (``Core(commands=...)``) and looks commands up in it; the
handlers live with the call model they act on (``offer_answer``, ``query``, ``delete``,
``ng_extended``) and never import the core. The CLI's words are listed the same way, in
``ctl.TOP`` and the tables it names. Adding an ng command means adding one line here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import delete, ng_extended, offer_answer, playback, pubsub, query, statsview
from .request import NgHandler, Request

if TYPE_CHECKING:
    from .core import Core


def ping(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    """Liveness check; extra keys are ignored."""
    return {"result": "pong"}


def statistics(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    """ng ``statistics``: the same content as ``list jsonstats``."""
    return {"statistics": statsview.ng_statistics(core), "result": "ok"}


NG_COMMANDS: dict[str, NgHandler] = {
    "ping": ping,
    "statistics": statistics,
    "offer": offer_answer.offer,
    "answer": offer_answer.answer,
    "query": query.query,
    "list": query.list_calls,
    "delete": delete.delete,
    **ng_extended.STATE_HANDLERS,
    "start recording": ng_extended.start_recording,
    "stop recording": ng_extended.stop_recording,
    "start forwarding": ng_extended.start_forwarding,
    "stop forwarding": ng_extended.stop_forwarding,
    "play media": playback.play_media,
    "stop media": playback.stop_media,
    "play DTMF": ng_extended.play_dtmf,
    "publish": pubsub.publish,
    "subscribe request": pubsub.subscribe_request,
    "subscribe answer": pubsub.subscribe_answer,
    "unsubscribe": pubsub.unsubscribe,
}
