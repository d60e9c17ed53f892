"""The Janus videoroom interface (rtpengine 10.5's "Janus replacement"), sans-I/O.

WebRTC clients written for Janus's videoroom plugin talk JSON to it: over the WebSocket
subprotocol ``janus-protocol`` and over HTTP ``POST /admin``. As in 10.5, a room is one call
(call-ID ``janus <room>``), a participant's handle is one party of it (tag = the handle id),
and the room's requests map onto the ng commands: ``configure`` with an offer is a
``publish``, joining as a subscriber a ``subscribe request``, ``start`` with the answer a
``subscribe answer``. Everything here is plain Python over the command core; the transports
pass each message in with the connection it came on (``JanusLink``) and send back what
``Janus.handle`` returns, in order: an ``ack`` first for the requests that send one, then
notifications of other parties, then the reply.

Asynchronous events (``webrtcup`` when a party's first packet arrives) go to every WebSocket
connection that created or used the session: ``JanusLink.push``. Over HTTP there is no
connection to push to, so acks and events are dropped there and only the reply is sent,
as 10.5 does.

Only what the 10.5 videoroom subset answers is answered, with its codes and texts; tokens
are kept (``add_token`` needs ``--janus-secret``) but, as in 10.5, not checked. Unlike 10.5,
sessions end: one created on a WebSocket when the last connection that used it closes, and
idle ones without a connection once ``MAX_SESSIONS`` is reached.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from . import __version__
from .protocol.ngcodec import NgError
from .sdp import STATIC_PAYLOAD_TYPES

if TYPE_CHECKING:
    from .core import Core
    from .model import Call, Stream

log = logging.getLogger("rtpengined.janus")

PLUGIN = "janus.plugin.videoroom"
# What a publisher or subscriber is given in 10.5 (all of it WebRTC: Janus is).
_SUBSCRIBER_OFFER = {
    "transport-protocol": "UDP/TLS/RTP/SAVPF",
    "ICE": "force",
    "SDES": ["off"],
    "rtcp-mux": ["offer", "require"],
    "flags": ["trickle-ICE", "generate-mid", "no-rtcp-attribute", "mirror-RTCP"],
}
# Sessions kept at once before ``create`` looks for idle ones to end: sessions made over
# HTTP never end otherwise. At the cap, those without a connection and unused for
# IDLE_SECONDS (Janus's own session timeout) go; if none can, ``create`` is refused.
MAX_SESSIONS = 10_000
IDLE_SECONDS = 60.0


class JanusLink(Protocol):
    """A WebSocket connection as the Janus state sees it: where asynchronous events go."""

    def push(self, message: bytes) -> None: ...


class JanusError(Exception):
    """A request answered with ``"janus": "error"`` and this code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(eq=False)
class Handle:
    """A participant (a plugin handle): none yet, a room's controller, publisher or subscriber."""

    id: int
    session: int
    kind: str = ""  # "", "controller", "publisher", "subscriber"
    room: int = 0


@dataclass(eq=False)
class Session:
    """A client's login: its handles and the connections its events go to."""

    id: int
    handles: dict[int, Handle] = field(default_factory=dict)
    links: list[Any] = field(default_factory=list)
    # Created on a WebSocket: ends when the last connection that used it closes. One made
    # over HTTP has no connection to end with: it stays (10.5 keeps every session).
    on_websocket: bool = False
    last_used: float = 0.0


@dataclass(eq=False)
class Room:
    """A videoroom: one call, created and controlled by one session's handle."""

    id: int
    call_id: str
    session: int
    controller: int
    max_publishers: int
    publishers: dict[int, int] = field(default_factory=dict)  # handle -> feed
    subscribers: dict[int, int] = field(default_factory=dict)  # handle -> feed


def _random_id() -> int:
    """A random id as 10.5 makes them: 51 bits, so JavaScript numbers hold it exactly."""
    return secrets.randbits(51)


def _int(value: Any) -> int:
    """An id given as a JSON integer or a decimal string; 0 for anything else (as 10.5)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value if value > 0 else 0
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


class Janus:
    """Janus sessions, handles, rooms and feeds of one daemon, over its command core."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.tokens: dict[str, float] = {}
        self.sessions: dict[int, Session] = {}
        self.rooms: dict[int, Room] = {}
        self.feeds: dict[int, int] = {}  # feed -> publisher handle
        self.handle_ids: set[int] = set()

    @property
    def secret(self) -> str | None:
        return getattr(self.core.config, "janus_secret", None) or None

    # -- the entry point ---------------------------------------------------------------

    def handle(self, payload: bytes, link: JanusLink | None) -> list[bytes]:
        """Answer one JSON message: what to send back on its connection, in order.
        ``link`` is None over HTTP (acks and events are dropped; the reply is the last item)."""
        out: list[bytes] = []
        reply: dict[str, Any] = {}
        transaction: str | None = None
        session_id = handle_id = 0
        status = "success"
        try:
            if not payload.strip():  # (an empty document: no object, as 10.5 reads it)
                raise JanusError(455, "JSON string is not an object")
            try:
                message = json.loads(payload)
            except (ValueError, UnicodeDecodeError, RecursionError):
                raise JanusError(454, "Failed to parse JSON") from None
            if not isinstance(message, dict):
                raise JanusError(455, "JSON string is not an object")
            if "janus" not in message:
                raise JanusError(456, "JSON object does not contain 'janus' key")
            command = message["janus"]
            if not isinstance(command, str):
                raise JanusError(456, "'janus' key does not contain a string")
            if "transaction" not in message:
                raise JanusError(456, "JSON object does not contain 'transaction' key")
            if isinstance(message["transaction"], str):
                transaction = message["transaction"]
            secret = self.secret
            given = message.get("admin_secret")
            authorised = secret is not None and isinstance(given, str) and secrets.compare_digest(
                given.encode("utf-8", "surrogateescape"), secret.encode("utf-8", "surrogateescape"))
            session_id = _int(message.get("session_id"))
            session = self.sessions.get(session_id) if session_id else None
            if session is not None:
                session.last_used = self.core.clock()
                if link is not None and link not in session.links:
                    session.links.append(link)  # events go to every connection that used it
            handle_id = _int(message.get("handle_id"))
            if command == "add_token":
                self._add_token(message, reply, authorised)
            elif command == "ping":
                status = "pong"
            elif command == "keepalive":
                if session is None:
                    raise JanusError(458, "Session ID not found")
                status = "ack"
            elif command == "info":
                status = "server_info"
                reply["name"] = "rtpengine Janus interface"
                reply["version_string"] = f"rtpengined {__version__}"
                reply["plugins"] = {PLUGIN: {"name": "rtpengine Janus videoroom"}}
            elif command == "create":
                self._create(message, reply, link)
                session_id = 0  # (the new id is in "data")
            elif command == "attach":
                self._attach(message, reply, session)
            elif command == "detach":
                self._detach(session, handle_id, out, link)
            elif command == "message":
                status = self._message(message, reply, session, handle_id, transaction, out, link)
            elif command == "trickle":
                trickled, handle_id = handle_id, 0  # (10.5 names no sender in any trickle reply)
                status = self._trickle(message, session, trickled)
            else:
                raise JanusError(457, "Unhandled request method")
        except JanusError as exc:
            log.warning("janus: answering with error %d: %s", exc.code, exc.reason)
            status = "error"
            reply["error"] = {"code": exc.code, "reason": exc.reason}
        reply = _finish(reply, status, transaction, session_id, handle_id)
        out.append(encode(reply))
        return out

    # -- sessions and handles ----------------------------------------------------------

    def _add_token(self, message: dict, reply: dict, authorised: bool) -> None:
        if not authorised:
            raise JanusError(403, "Janus 'admin_secret' key not provided or incorrect")
        token = message.get("token")
        if not isinstance(token, str):
            raise JanusError(456, "JSON object does not contain 'token' key")
        self.tokens[token] = self.core.clock()
        reply["data"] = {"plugins": [PLUGIN]}

    def _create(self, message: dict, reply: dict, link: JanusLink | None) -> None:
        if len(self.sessions) >= MAX_SESSIONS:
            self._end_idle_sessions()
            if len(self.sessions) >= MAX_SESSIONS:
                raise JanusError(490, "Too many sessions")
        wanted = _int(message.get("id"))
        session_id = wanted if wanted and wanted not in self.sessions else 0
        while not session_id or session_id in self.sessions:
            session_id = _random_id()
        session = Session(session_id, on_websocket=link is not None,
                          last_used=self.core.clock())
        if link is not None:
            session.links.append(link)
        self.sessions[session_id] = session
        log.info("janus: created session %d", session_id)
        reply["data"] = {"id": session_id}

    def _attach(self, message: dict, reply: dict, session: Session | None) -> None:
        if session is None:
            raise JanusError(458, "Session ID not found")
        plugin = message.get("plugin")
        if not isinstance(plugin, str):
            raise JanusError(456, "No plugin given")
        if plugin != PLUGIN:
            raise JanusError(460, "Unsupported plugin")
        handle_id = 0
        while not handle_id or handle_id in self.handle_ids:
            handle_id = _random_id()
        self.handle_ids.add(handle_id)
        session.handles[handle_id] = Handle(handle_id, session.id)
        reply["data"] = {"id": handle_id}

    def _detach(self, session: Session | None, handle_id: int, out: list[bytes],
                link: JanusLink | None) -> None:
        if session is None:
            raise JanusError(458, "Session ID not found")
        if not handle_id:
            raise JanusError(457, "Unhandled request method")
        handle = session.handles.pop(handle_id, None)
        if handle is None:
            raise JanusError(463, "Could not detach handle from plugin")
        self.handle_ids.discard(handle_id)
        room = self.rooms.get(handle.room) if handle.room else None
        if room is None:
            return
        call = self._call(room)
        feed = room.publishers.pop(handle_id, None)
        if feed is not None:
            self.feeds.pop(feed, None)
            if link is not None:
                for other in room.publishers:
                    for change in ("unpublished", "leaving"):
                        out.append(encode(self._room_event(room, other, {change: feed})))
            if call is not None:
                self._drop_party(call, handle_id)
        if room.subscribers.pop(handle_id, None) is not None and call is not None:
            self._drop_party(call, handle_id)

    def link_closed(self, link: JanusLink) -> None:
        """A WebSocket connection ended: its sessions no longer send events to it. A session
        no connection holds any more goes (10.5 keeps them forever), its rooms with it."""
        for session in list(self.sessions.values()):
            if link in session.links:
                session.links.remove(link)
                if not session.links and session.on_websocket:
                    self._end_session(session)

    def _end_idle_sessions(self) -> None:
        """At the session cap: end the sessions no connection holds and nobody used for
        IDLE_SECONDS (a walk over the sessions only then, not on every request)."""
        cutoff = self.core.clock() - IDLE_SECONDS
        for session in [s for s in self.sessions.values()
                        if not s.links and s.last_used < cutoff]:
            self._end_session(session)

    def _end_session(self, session: Session) -> None:
        del self.sessions[session.id]
        for handle_id in session.handles:
            self.handle_ids.discard(handle_id)
        for room in [r for r in self.rooms.values() if r.session == session.id]:
            self._destroy_room(room)
        log.info("janus: session %d ended", session.id)

    # -- videoroom requests --------------------------------------------------------------

    def _message(self, message: dict, reply: dict, session: Session | None, handle_id: int,
                 transaction: str | None, out: list[bytes], link: JanusLink | None) -> str:
        if session is None:
            raise JanusError(458, "Session ID not found")
        if not handle_id:
            raise JanusError(457, "No plugin handle given")
        jsep = message.get("jsep")
        jsep_type = jsep_sdp = None
        if isinstance(jsep, dict):
            jsep_type = jsep.get("type") if isinstance(jsep.get("type"), str) else None
            jsep_sdp = jsep.get("sdp") if isinstance(jsep.get("sdp"), str) else None
        body = message.get("body")
        if body is None:
            raise JanusError(456, "JSON object does not contain 'body' key")
        data: dict[str, Any] = {}
        reply["plugindata"] = {"plugin": PLUGIN, "data": data}
        handle = session.handles.get(handle_id)
        if handle is None:
            raise JanusError(457, "No plugin handle given or invalid handle")
        if not isinstance(body, dict):
            body = {}
        room_id = _int(body.get("room"))
        request = body.get("request")
        if not isinstance(request, str):
            raise JanusError(456, "JSON object does not contain 'message.request' key")
        jsep_out: dict[str, str] | None = None
        status = "success"
        try:
            if request == "create":
                self._room_create(session, handle, body, data)
            elif request == "exists":
                room = self._room(session, room_id)
                data.update(videoroom="success", room=room_id,
                            exists=room is not None and self._call(room) is not None)
            elif request == "destroy":
                room = self._room(session, room_id)
                if room is None:
                    raise JanusError(426, "No such room")
                self._destroy_room(room)
                data.update(videoroom="destroyed", room=room_id, permanent=False)
            elif request in ("join", "configure", "start"):
                if link is not None:
                    out.append(encode({"janus": "ack", "transaction": transaction,
                                       "session_id": session.id}))
                handler = {"join": self._join, "configure": self._configure,
                           "start": self._start}[request]
                jsep_out = handler(session, handle, body, room_id, jsep_type, jsep_sdp, data,
                                   out, link)
                status = "event"
            else:
                raise JanusError(423, "Unknown videoroom request")
        finally:
            if jsep_out is not None:
                reply["jsep"] = jsep_out
        return status

    def _room_create(self, session: Session, handle: Handle, body: dict, data: dict) -> None:
        if handle.kind not in ("", "controller"):
            raise JanusError(436, "User already exists in a room")
        publishers = _int(body.get("publishers")) or 3
        calls = self.core.calls
        while True:
            room_id = _random_id()
            call_id = f"janus {room_id}"
            if room_id and room_id not in self.rooms and call_id not in calls.calls:
                break
        calls.create_call(call_id, "janus")
        self.rooms[room_id] = Room(room_id, call_id, session.id, handle.id, publishers)
        handle.kind = "controller"
        log.info("janus: created videoroom %d", room_id)
        data.update(videoroom="created", room=room_id, permanent=False)

    def _join(self, session: Session, handle: Handle, body: dict, room_id: int,
              jsep_type: str | None, jsep_sdp: str | None, data: dict, out: list[bytes],
              link: JanusLink | None) -> dict[str, str] | None:
        ptype = body.get("ptype")
        if not isinstance(ptype, str):
            raise JanusError(456, "JSON object does not contain 'message.ptype' key")
        if ptype not in ("publisher", "subscriber", "listener"):
            raise JanusError(430, "Invalid 'ptype'")
        room = self._room(session, room_id)
        if room is None:
            raise JanusError(426, "No such room")
        if room.controller == handle.id:
            raise JanusError(436, "User already exists in the room as a controller")
        if handle.id in room.subscribers:
            raise JanusError(436, "User already exists in the room as a subscriber")
        if handle.id in room.publishers:
            raise JanusError(436, "User already exists in the room as a publisher")
        if handle.kind:
            raise JanusError(436, "User already exists in the room")
        if ptype == "publisher":
            feed = 0
            while not feed or feed in self.feeds:
                feed = _random_id()
            self.feeds[feed] = handle.id
            room.publishers[handle.id] = feed
            handle.kind, handle.room = "publisher", room_id
            data.update(videoroom="joined", room=room_id, id=feed,
                        publishers=self._publishers(room, feed))
            log.info("janus: handle %d joined room %d as publisher (feed %d)", handle.id,
                     room_id, feed)
            return None
        feed = _int(body.get("feed"))
        if not feed:
            raise JanusError(456, "JSON object does not contain 'message.feed' key")
        publisher = self.feeds.get(feed)
        if publisher is None:
            raise JanusError(512, "No such feed exists")
        if publisher not in room.publishers:
            raise JanusError(512, "No such feed handle exists")
        call = self._call(room)
        if call is None:
            raise JanusError(426, "No such room")
        if not any(m.tag == str(publisher) and m.published for m in call.monologues):
            raise JanusError(512, "Feed not found")
        room.subscribers[handle.id] = feed
        try:
            result = self._command({"command": "subscribe request", "call-id": room.call_id,
                                    "from-tag": str(publisher), "to-tag": str(handle.id),
                                    **_SUBSCRIBER_OFFER})
        except NgError:
            raise JanusError(512, "Subscribe error") from None
        sdp = result.get("sdp")
        if not isinstance(sdp, str) or not sdp:
            raise JanusError(512, "Error generating SDP")
        handle.kind, handle.room = "subscriber", room_id
        data.update(videoroom="attached", room=room_id, id=feed)
        log.info("janus: handle %d joined room %d as subscriber (feed %d)", handle.id,
                 room_id, feed)
        return {"type": "offer", "sdp": sdp}

    def _configure(self, session: Session, handle: Handle, body: dict, room_id: int,
                   jsep_type: str | None, jsep_sdp: str | None, data: dict,
                   out: list[bytes], link: JanusLink | None) -> dict[str, str] | None:
        if "feed" not in body:
            raise JanusError(456, "JSON object does not contain 'message.feed' key")
        room = self._sdp_request(session, handle, room_id, jsep_type, jsep_sdp, "publisher",
                                 "offer", 512)
        try:
            result = self._command({"command": "publish", "call-id": room.call_id,
                                    "from-tag": str(handle.id), "sdp": jsep_sdp})
        except NgError as exc:
            raise JanusError(512, "Failed to parse SDP" if "SDP" in exc.reason
                             else "Publish error") from None
        sdp = result.get("sdp")
        data.update(videoroom="event", room=room_id, configured="ok")
        call = self._call(room)
        party = next((m for m in call.monologues if m.tag == str(handle.id)), None) \
            if call is not None else None
        for media in party.medias if party is not None else ():
            entry = {"audio": "audio_codec", "video": "video_codec"}.get(media.type)
            if entry is None or not media.formats:
                continue
            pt = media.formats[0]
            rtpmap = media.rtpmaps.get(pt) or STATIC_PAYLOAD_TYPES.get(pt)
            if rtpmap:
                data[entry] = rtpmap.split("/", 1)[0]
        if link is not None:  # the other publishers hear of it (on this connection, as 10.5)
            for other, feed in room.publishers.items():
                if other != handle.id:
                    out.append(encode(self._room_event(
                        room, other, {"publishers": self._publishers(room, feed)})))
        return {"type": "answer", "sdp": sdp} if isinstance(sdp, str) and sdp else None

    def _start(self, session: Session, handle: Handle, body: dict, room_id: int,
               jsep_type: str | None, jsep_sdp: str | None, data: dict, out: list[bytes],
               link: JanusLink | None) -> dict[str, str] | None:
        feed = _int(body.get("feed"))
        if not feed:
            raise JanusError(456, "JSON object does not contain 'message.feed' key")
        room = self._sdp_request(session, handle, room_id, jsep_type, jsep_sdp, "subscriber",
                                 "answer", 456)
        publisher = self.feeds.get(feed)
        if publisher is None:
            raise JanusError(512, "No such feed exists")
        try:
            self._command({"command": "subscribe answer", "call-id": room.call_id,
                           "to-tag": str(handle.id), "sdp": jsep_sdp})
        except NgError as exc:
            raise JanusError(512, "Failed to parse SDP" if "SDP" in exc.reason
                             else "Failed to process subscription answer") from None
        data.update(videoroom="event", room=room_id, started="ok")
        return None

    def _sdp_request(self, session: Session, handle: Handle, room_id: int,
                     jsep_type: str | None, jsep_sdp: str | None, kind: str, wanted: str,
                     code: int) -> Room:
        """The checks ``configure`` (a publisher's offer) and ``start`` (a subscriber's
        answer) share, in 10.5's order and with its texts; ``code`` is what 10.5 answers
        their failures with (512 for configure, 456 for start). The room, if all pass."""
        if not room_id:
            raise JanusError(456, "JSON object does not contain 'message.room' key")
        if handle.room != room_id or handle.kind != kind:
            raise JanusError(code, f"Not a {kind}")
        if jsep_type is None or jsep_sdp is None:
            raise JanusError(code, "No SDP")
        if jsep_type != wanted:
            raise JanusError(code, f"Not an {wanted}")
        room = self._room(session, room_id)
        if room is None or self._call(room) is None:
            raise JanusError(426, "No such room")
        return room

    def _trickle(self, message: dict, session: Session | None, handle_id: int) -> str:
        if session is None:
            raise JanusError(458, "Session ID not found")
        if not handle_id:
            raise JanusError(457, "Unhandled request method")
        candidate = message.get("candidate")
        if not isinstance(candidate, dict):
            raise JanusError(456, "JSON object does not contain 'candidate' key")
        if not isinstance(candidate.get("candidate"), str):
            raise JanusError(456, "ICE candidate string missing")
        mid = candidate.get("sdpMid")
        index = candidate.get("sdpMLineIndex")
        if not isinstance(mid, str) and not (isinstance(index, int) and index >= 0):
            raise JanusError(456, "Neither sdpMid nor sdpMLineIndex given")
        handle = session.handles.get(handle_id)
        if handle is None:
            raise JanusError(456, "Unhandled request method")
        room = self.rooms.get(handle.room)
        call = self._call(room) if room is not None and room.session == session.id else None
        if call is None:
            raise JanusError(426, "No such room")
        party = next((m for m in call.monologues if m.tag == str(handle_id)), None)
        if party is None:
            raise JanusError(426, "Handle not found in room")
        media = None
        if isinstance(mid, str):
            media = next((m for m in party.medias if m.mid == mid), None)
        if media is None and isinstance(index, int) and 0 <= index < len(party.medias):
            media = party.medias[index]
        if media is None:
            raise JanusError(466, "No matching media")
        if not media.ice_out:
            raise JanusError(466, "Media is not ICE-enabled")
        ufrag = candidate.get("usernameFragment")
        self.core.add_candidate(call, party, media, candidate["candidate"],
                                ufrag if isinstance(ufrag, str) else None)
        return "ack"

    # -- events from the media plane ----------------------------------------------------

    def media_up(self, stream: Stream) -> None:
        """A stream got its first packet: if it is the RTP of a Janus party's first media,
        the party's session hears ``webrtcup`` (as 10.5 sends it)."""
        if stream.rtcp or not stream.group.startswith("janus "):
            return
        call = self.core.calls.calls.get(stream.group)
        if call is None:
            return
        room = self.rooms.get(_int(stream.group[6:]))
        if room is None:
            return
        session = self.sessions.get(room.session)
        if session is None or not session.links:
            return
        for party in call.monologues:
            if party.medias and party.medias[0].rtp is stream:
                handle = _int(party.tag)
                if handle:
                    event = encode({"janus": "webrtcup", "session_id": session.id,
                                    "sender": handle})
                    for link in session.links:
                        link.push(event)
                return

    # -- helpers ----------------------------------------------------------------------------

    def _room(self, session: Session, room_id: int) -> Room | None:
        room = self.rooms.get(room_id) if room_id else None
        return room if room is not None and room.session == session.id else None

    def _call(self, room: Room) -> Call | None:
        return self.core.calls.calls.get(room.call_id)

    def _destroy_room(self, room: Room) -> None:
        del self.rooms[room.id]
        for feed in room.publishers.values():
            self.feeds.pop(feed, None)
        call = self._call(room)
        if call is not None:
            self.core.end_call(call)
        log.info("janus: destroyed videoroom %d", room.id)

    def _drop_party(self, call: Call, handle_id: int) -> None:
        party = next((m for m in call.monologues if m.tag == str(handle_id)), None)
        if party is not None:
            self.core.drop_party(call, party)

    def _publishers(self, room: Room, except_feed: int) -> list[dict[str, int]]:
        return [{"id": feed} for feed in room.publishers.values() if feed != except_feed]

    def _room_event(self, room: Room, handle: int, what: dict[str, Any]) -> dict[str, Any]:
        return {"janus": "event", "session_id": room.session, "sender": handle,
                "plugindata": {"plugin": PLUGIN,
                               "data": {"videoroom": "event", "room": room.id, **what}}}

    def _command(self, message: dict[str, Any]) -> dict[str, Any]:
        return self.core.command(message)


def _finish(reply: dict[str, Any], status: str, transaction: str | None, session_id: int,
            handle_id: int) -> dict[str, Any]:
    """The reply's envelope after what the request put in it, in 10.5's member order."""
    reply["janus"] = status
    if "error" in reply:  # (after "janus", as 10.5 writes it)
        reply["error"] = reply.pop("error")
    if transaction is not None:
        reply["transaction"] = transaction
    if session_id:
        reply["session_id"] = session_id
    if handle_id:
        reply["sender"] = handle_id
    return reply
