"""The Janus videoroom interface over real sockets: WebSocket ``janus-protocol`` and HTTP
``POST /admin``, against our daemon (with its relay, for ``webrtcup``) and side by side
with rtpengine 10.5.

Absence is checked without timing: a connection that must not have received anything
sends a ``ping`` and its very next message must be the ``pong`` (a connection's replies
and events go out in order).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import socket
import struct
import sys
import time
from typing import Any

import pytest
import trio
from differential import REFERENCE_BINARY, NgProcess, common_args
from hardening_helpers import ng as ng_request
from http_helpers import raw_exchange, server_socket_states, split_response, start_web_daemon, wait_for
from trio_websocket import open_websocket_url

from conftest import free_port

PORTS = {"port_min": 49200, "port_max": 49399}  # (used by no other test)
REFERENCE_PORTS, OUR_PORTS = (49400, 49499), (49500, 49599)  # the differential pair's
SECRET = "janus-test-secret"
PLUGIN = "janus.plugin.videoroom"
SUBPROTOCOL = "janus-protocol"
OFFER = ("v=0\r\no=x 123 123 IN IP4 127.0.0.1\r\nc=IN IP4 127.0.0.1\r\ns=foobar\r\nt=0 0\r\n"
         "m=audio 8000 RTP/AVP 8 0\r\na=sendonly\r\n")
_transactions = itertools.count(1)


def offer_from(port: int) -> str:
    """The plain RTP offer of a publisher that sends from 127.0.0.1:``port``."""
    return OFFER.replace("m=audio 8000 ", f"m=audio {port} ")


def rtp_packet(seq: int = 1, ssrc: int = 0x12345678) -> bytes:
    """One PCMA packet (payload type 8)."""
    return struct.pack("!BBHII", 0x80, 8, seq, seq * 160, ssrc) + b"\xd5" * 160


def media_port(sdp: str) -> int:
    return int(re.search(r"^m=audio (\d+) ", sdp, re.M).group(1))


@pytest.fixture
async def daemon(make_daemon):
    """Our daemon with its relay workers (webrtcup comes from the media plane)."""
    return await make_daemon(janus_secret=SECRET, **PORTS)


# -- clients --------------------------------------------------------------------------------


class Janus:
    """A ``janus-protocol`` WebSocket connection: JSON in text frames both ways."""

    def __init__(self, ws) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send_message(message if isinstance(message, str) else json.dumps(message))

    async def next_text(self, timeout: float = 10.0) -> str:
        with trio.fail_after(timeout):
            text = await self.ws.get_message()
        assert isinstance(text, str), "Janus messages go out as text frames"
        return text

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        return json.loads(await self.next_text(timeout))

    async def request(self, message: dict[str, Any], count: int = 1) -> list[dict[str, Any]]:
        """Send ``message`` (a fresh transaction unless it has one); its ``count`` answers."""
        message = {"transaction": f"t{next(_transactions)}", **message}
        await self.send(message)
        return [await self.next() for _ in range(count)]

    async def fence(self) -> None:
        """Nothing else is pending on this connection: a ping's pong is the next message."""
        transaction = f"fence{next(_transactions)}"
        await self.send({"janus": "ping", "transaction": transaction})
        assert await self.next() == {"janus": "pong", "transaction": transaction}

    # the steps of a videoroom client
    async def create(self) -> int:
        (reply,) = await self.request({"janus": "create"})
        assert reply["janus"] == "success", reply
        return reply["data"]["id"]

    async def attach(self, session: int) -> int:
        (reply,) = await self.request({"janus": "attach", "session_id": session, "plugin": PLUGIN})
        assert reply["janus"] == "success", reply
        return reply["data"]["id"]

    async def message(self, session: int, handle: int, body: dict[str, Any],
                      jsep: dict[str, str] | None = None, count: int = 1) -> list[dict[str, Any]]:
        message = {"janus": "message", "session_id": session, "handle_id": handle, "body": body}
        if jsep is not None:
            message["jsep"] = jsep
        return await self.request(message, count)

    async def create_room(self, session: int) -> tuple[int, int]:
        """(controller handle, room id)."""
        controller = await self.attach(session)
        (reply,) = await self.message(session, controller, {"request": "create"})
        return controller, reply["plugindata"]["data"]["room"]

    async def join_publisher(self, session: int, room: int) -> tuple[int, int]:
        """(handle, feed) of a new publisher (ack and event read)."""
        handle = await self.attach(session)
        ack, event = await self.message(session, handle, {"request": "join", "ptype": "publisher",
                                                          "room": room}, count=2)
        assert ack["janus"] == "ack" and event["janus"] == "event", (ack, event)
        return handle, event["plugindata"]["data"]["id"]

    async def configure(self, session: int, handle: int, room: int, feed: int, sdp: str,
                        count: int = 2) -> list[dict[str, Any]]:
        return await self.message(session, handle, {"request": "configure", "room": room,
                                                     "feed": feed, "audio": True, "video": True},
                                  {"type": "offer", "sdp": sdp}, count)


def ws_url(daemon) -> str:
    host, port = daemon.address("http")[:2]
    return f"ws://{host}:{port}/"


def connect(daemon):
    return open_websocket_url(ws_url(daemon), subprotocols=[SUBPROTOCOL])


async def post_admin(daemon, body: bytes | dict,
                     content_type: bytes = b"application/json") -> tuple[bytes, dict, bytes]:
    """``POST /admin``: (status line, headers by lower-case name, body)."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    request = (b"POST /admin HTTP/1.1\r\nHost: x\r\nContent-Type: " + content_type
               + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    raw, _ = await raw_exchange(daemon.address("http"), request, until_close=False)
    status, headers, reply = split_response(raw)
    return status, {name.lower(): value for name, value in headers}, reply


async def http_janus(daemon, message: dict[str, Any]) -> dict[str, Any]:
    status, headers, body = await post_admin(daemon, message)
    assert status == b"HTTP/1.1 200 OK" and headers[b"content-type"] == b"application/json"
    return json.loads(body)


async def ng(daemon, message: dict) -> dict:
    return await ng_request(daemon.address("udp-ng"), message)


async def listed_calls(daemon) -> list[str]:
    return (await ng(daemon, {"command": "list"}))["calls"]


def server_holds(http_port: int, client_port: int) -> bool:
    """Whether the daemon still holds the connection from ``client_port`` open (its side
    ESTABLISHED or CLOSE_WAIT): once it is neither, the daemon has finished with it."""
    states = server_socket_states(http_port, client_port)
    return "ESTABLISHED" in states or "CLOSE_WAIT" in states


# -- 1. the envelope ---------------------------------------------------------------------------

# (request, the exact reply text, as rtpengine 10.5 writes it)
ENVELOPE = [
    (b'{"janus":"ping","transaction":"t1"}', '{"janus":"pong","transaction":"t1"}'),
    (b'{"janus":"ping"}', '{"janus":"error","error":{"code":456,'
     '"reason":"JSON object does not contain \'transaction\' key"}}'),
    (b"not json", '{"janus":"error","error":{"code":454,"reason":"Failed to parse JSON"}}'),
    (b'{"janus":"ping","transaction":"x"} junk',
     '{"janus":"error","error":{"code":454,"reason":"Failed to parse JSON"}}'),
    (b"[1,2]", '{"janus":"error","error":{"code":455,"reason":"JSON string is not an object"}}'),
    (b'"text"', '{"janus":"error","error":{"code":455,"reason":"JSON string is not an object"}}'),
    (b'{"janus":"bogus","transaction":"t3"}',
     '{"janus":"error","error":{"code":457,"reason":"Unhandled request method"},"transaction":"t3"}'),
    (b'{"transaction":"t4"}', '{"janus":"error","error":{"code":456,'
     '"reason":"JSON object does not contain \'janus\' key"}}'),
    (b'{"janus":5,"transaction":"t5"}', '{"janus":"error","error":{"code":456,'
     '"reason":"\'janus\' key does not contain a string"}}'),
    # a transaction that is not a string is not echoed
    (b'{"janus":"ping","transaction":5}', '{"janus":"pong"}'),
    (b'{"janus":"keepalive","transaction":"t6","session_id":123}', '{"janus":"error","error":'
     '{"code":458,"reason":"Session ID not found"},"transaction":"t6","session_id":123}'),
    (b'{"janus":"destroy","transaction":"t7","session_id":123}', '{"janus":"error","error":'
     '{"code":457,"reason":"Unhandled request method"},"transaction":"t7","session_id":123}'),
]


async def test_envelope_replies_over_websocket_are_text_frames_in_order(daemon):
    async with connect(daemon) as ws:
        assert ws.subprotocol == SUBPROTOCOL
        client = Janus(ws)
        for request, reply in ENVELOPE:
            await client.send(request.decode())
            assert await client.next_text() == reply, request
        # a binary frame carries a request too; the reply is still text
        await ws.send_message(b'{"janus":"ping","transaction":"bin"}')
        assert await client.next_text() == '{"janus":"pong","transaction":"bin"}'
        await client.fence()


async def test_envelope_replies_over_http_admin(daemon):
    for request, reply in ENVELOPE:
        status, headers, body = await post_admin(daemon, request)
        assert status == b"HTTP/1.1 200 OK", request
        assert headers[b"content-type"] == b"application/json"
        assert body.decode() == reply, request


async def test_json_nested_beyond_the_parser_is_a_parse_error(daemon):
    """rtpengined only: nesting deeper than Python's JSON parser takes (10.5's takes it)
    raised RecursionError, answered with a 500; it is JSON it cannot parse now."""
    deep = b'{"janus":"ping","transaction":"d","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    status, _, body = await post_admin(daemon, deep)
    assert status == b"HTTP/1.1 200 OK"
    assert body.decode() == '{"janus":"error","error":{"code":454,"reason":"Failed to parse JSON"}}'


async def test_info_names_the_interface_and_its_plugin(daemon):
    expected = {"name": "rtpengine Janus interface",
                "plugins": {PLUGIN: {"name": "rtpengine Janus videoroom"}},
                "janus": "server_info", "transaction": "i1"}
    async with connect(daemon) as ws:
        client = Janus(ws)
        await client.send({"janus": "info", "transaction": "i1"})
        text = await client.next_text()
    over_http = (await post_admin(daemon, {"janus": "info", "transaction": "i1"}))[2].decode()
    for reply in (json.loads(text), json.loads(over_http)):
        assert isinstance(reply.pop("version_string"), str)
        assert reply == expected
        # 10.5's member order
    assert list(json.loads(text)) == ["name", "version_string", "plugins", "janus", "transaction"]


async def test_admin_needs_the_json_content_type(daemon):
    status, _, _ = await post_admin(daemon, b'{"janus":"ping","transaction":"x"}', b"text/plain")
    assert status.startswith(b"HTTP/1.1 404 ")


# -- 2. tokens, sessions, keepalive ----------------------------------------------------------------


async def test_add_token_needs_the_admin_secret(daemon):
    async with connect(daemon) as ws:
        client = Janus(ws)
        (reply,) = await client.request({"janus": "add_token", "transaction": "a1",
                                         "admin_secret": SECRET, "token": "tok"})
        assert reply == {"data": {"plugins": [PLUGIN]}, "janus": "success", "transaction": "a1"}
        refused = {"janus": "error", "error": {
            "code": 403, "reason": "Janus 'admin_secret' key not provided or incorrect"}}
        for secret in ({"admin_secret": "wrong"}, {}, {"admin_secret": 5},
                       {"admin_secret": SECRET + "x"}):
            (reply,) = await client.request({"janus": "add_token", "transaction": "a2",
                                             "token": "tok", **secret})
            assert reply == {**refused, "transaction": "a2"}, secret
        (reply,) = await client.request({"janus": "add_token", "transaction": "a3",
                                         "admin_secret": SECRET})
        assert reply["error"] == {"code": 456, "reason": "JSON object does not contain 'token' key"}
    # over HTTP too
    reply = await http_janus(daemon, {"janus": "add_token", "transaction": "h1",
                                      "admin_secret": SECRET, "token": "tok2"})
    assert reply == {"data": {"plugins": [PLUGIN]}, "janus": "success", "transaction": "h1"}


async def test_add_token_is_refused_without_a_configured_secret(nursery):
    daemon = await start_web_daemon(nursery)  # (no --janus-secret; no media needed)
    for secret in ("", "anything", SECRET):
        reply = await http_janus(daemon, {"janus": "add_token", "transaction": "n",
                                          "admin_secret": secret, "token": "tok"})
        assert reply["janus"] == "error" and reply["error"]["code"] == 403, secret


async def test_create_and_keepalive(daemon):
    async with connect(daemon) as ws:
        client = Janus(ws)
        (reply,) = await client.request({"janus": "create", "transaction": "c1"})
        session = reply["data"]["id"]
        assert reply == {"data": {"id": session}, "janus": "success", "transaction": "c1"}
        assert isinstance(session, int) and 0 < session < 2 ** 53  # exact in JavaScript
        (reply,) = await client.request({"janus": "keepalive", "transaction": "k1",
                                         "session_id": session})
        assert reply == {"janus": "ack", "transaction": "k1", "session_id": session}
        # a session id given as a decimal string names the same session
        (reply,) = await client.request({"janus": "keepalive", "transaction": "k2",
                                         "session_id": str(session)})
        assert reply == {"janus": "ack", "transaction": "k2", "session_id": session}
        unknown = session + 1
        (reply,) = await client.request({"janus": "keepalive", "transaction": "k3",
                                         "session_id": unknown})
        assert reply == {"janus": "error", "error": {"code": 458, "reason": "Session ID not found"},
                         "transaction": "k3", "session_id": unknown}
        (reply,) = await client.request({"janus": "keepalive", "transaction": "k4"})
        assert reply == {"janus": "error", "error": {"code": 458, "reason": "Session ID not found"},
                         "transaction": "k4"}
        # each create makes a new session
        assert await client.create() != session


# -- 3. handles and rooms ----------------------------------------------------------------------------


async def test_attach_and_room_create_exists_destroy(daemon):
    async with connect(daemon) as ws:
        client = Janus(ws)
        session = await client.create()
        (reply,) = await client.request({"janus": "attach", "transaction": "a1",
                                         "session_id": session, "plugin": PLUGIN})
        handle = reply["data"]["id"]
        assert reply == {"data": {"id": handle}, "janus": "success", "transaction": "a1",
                         "session_id": session}
        assert isinstance(handle, int) and 0 < handle < 2 ** 53
        (reply,) = await client.request({"janus": "attach", "transaction": "a2",
                                         "session_id": session, "plugin": "janus.plugin.echotest"})
        assert reply == {"janus": "error", "error": {"code": 460, "reason": "Unsupported plugin"},
                         "transaction": "a2", "session_id": session}
        (reply,) = await client.request({"janus": "attach", "session_id": session})
        assert reply["error"] == {"code": 456, "reason": "No plugin given"}
        (reply,) = await client.request({"janus": "attach", "session_id": session + 1,
                                         "plugin": PLUGIN})
        assert reply["error"] == {"code": 458, "reason": "Session ID not found"}

        def plugin_reply(transaction: str, data: dict[str, Any]) -> dict[str, Any]:
            return {"plugindata": {"plugin": PLUGIN, "data": data}, "janus": "success",
                    "transaction": transaction, "session_id": session, "sender": handle}

        (reply,) = await client.message(session, handle, {"request": "create"})
        room = reply["plugindata"]["data"]["room"]
        assert isinstance(room, int) and 0 < room < 2 ** 53
        assert reply == plugin_reply(reply["transaction"], {"videoroom": "created", "room": room,
                                                            "permanent": False})
        assert f"janus {room}" in await listed_calls(daemon)  # a room is a call
        (reply,) = await client.message(session, handle, {"request": "exists", "room": room})
        assert reply == plugin_reply(reply["transaction"], {"videoroom": "success", "room": room,
                                                            "exists": True})
        (reply,) = await client.message(session, handle, {"request": "exists", "room": 12345})
        assert reply["plugindata"]["data"] == {"videoroom": "success", "room": 12345,
                                               "exists": False}
        (reply,) = await client.message(session, handle, {"request": "destroy", "room": room})
        assert reply == plugin_reply(reply["transaction"], {"videoroom": "destroyed", "room": room,
                                                            "permanent": False})
        assert f"janus {room}" not in await listed_calls(daemon)
        (reply,) = await client.message(session, handle, {"request": "exists", "room": room})
        assert reply["plugindata"]["data"]["exists"] is False
        (reply,) = await client.message(session, handle, {"request": "destroy", "room": room})
        assert reply == {"plugindata": {"plugin": PLUGIN, "data": {}}, "janus": "error",
                         "error": {"code": 426, "reason": "No such room"},
                         "transaction": reply["transaction"], "session_id": session,
                         "sender": handle}
        (reply,) = await client.message(session, handle, {"request": "bogus"})
        assert reply["error"] == {"code": 423, "reason": "Unknown videoroom request"}
        (reply,) = await client.request({"janus": "message", "session_id": session,
                                         "handle_id": handle})
        assert reply["error"] == {"code": 456, "reason": "JSON object does not contain 'body' key"}
        (reply,) = await client.request({"janus": "message", "session_id": session,
                                         "body": {"request": "exists"}})
        assert reply["error"] == {"code": 457, "reason": "No plugin handle given"}

        (reply,) = await client.request({"janus": "detach", "transaction": "d1",
                                         "session_id": session, "handle_id": handle})
        assert reply == {"janus": "success", "transaction": "d1", "session_id": session,
                         "sender": handle}
        (reply,) = await client.request({"janus": "detach", "session_id": session,
                                         "handle_id": handle})
        assert reply["error"] == {"code": 463, "reason": "Could not detach handle from plugin"}
        await client.fence()


async def test_rooms_belong_to_their_session(daemon):
    async with connect(daemon) as ws:
        client = Janus(ws)
        owner = await client.create()
        _, room = await client.create_room(owner)
        other = await client.create()
        handle = await client.attach(other)
        (reply,) = await client.message(other, handle, {"request": "exists", "room": room})
        assert reply["plugindata"]["data"]["exists"] is False
        (reply,) = await client.message(other, handle, {"request": "destroy", "room": room})
        assert reply["error"] == {"code": 426, "reason": "No such room"}
        assert f"janus {room}" in await listed_calls(daemon)


# -- 4. publishers and subscribers -------------------------------------------------------------------


async def test_publishers_join_configure_hear_of_each_other_and_leave(daemon):
    async with connect(daemon) as ws:
        client = Janus(ws)
        session = await client.create()
        controller, room = await client.create_room(session)

        # the controller cannot join its own room
        ack, reply = await client.message(session, controller, {
            "request": "join", "ptype": "publisher", "room": room}, count=2)
        assert ack["janus"] == "ack"
        assert reply["error"] == {"code": 436,
                                  "reason": "User already exists in the room as a controller"}

        first = await client.attach(session)
        ack, joined = await client.request({
            "janus": "message", "transaction": "j1", "session_id": session, "handle_id": first,
            "body": {"request": "join", "ptype": "publisher", "room": room}}, count=2)
        assert ack == {"janus": "ack", "transaction": "j1", "session_id": session}
        feed1 = joined["plugindata"]["data"]["id"]
        assert joined == {"plugindata": {"plugin": PLUGIN, "data": {
            "videoroom": "joined", "room": room, "id": feed1, "publishers": []}},
            "janus": "event", "transaction": "j1", "session_id": session, "sender": first}

        # configure errors come after the ack, as events do
        for jsep, reason in ((None, "No SDP"), ({"type": "answer", "sdp": OFFER}, "Not an offer"),
                             ({"type": "offer", "sdp": "garbage"}, "Failed to parse SDP")):
            ack, reply = await client.message(session, first, {
                "request": "configure", "room": room, "feed": feed1}, jsep, count=2)
            assert ack["janus"] == "ack"
            assert reply["janus"] == "error" and reply["error"] == {"code": 512, "reason": reason}
            assert reply["plugindata"] == {"plugin": PLUGIN, "data": {}}

        ack, configured = await client.request({
            "janus": "message", "transaction": "c1", "session_id": session, "handle_id": first,
            "body": {"request": "configure", "room": room, "feed": feed1, "audio": True},
            "jsep": {"type": "offer", "sdp": OFFER}}, count=2)
        assert ack == {"janus": "ack", "transaction": "c1", "session_id": session}
        answer = configured.pop("jsep")
        assert configured == {"plugindata": {"plugin": PLUGIN, "data": {
            "videoroom": "event", "room": room, "configured": "ok", "audio_codec": "PCMA"}},
            "janus": "event", "transaction": "c1", "session_id": session, "sender": first}
        assert answer["type"] == "answer"
        lines = answer["sdp"].split("\r\n")
        assert lines[0] == "v=0" and lines[-1] == ""
        port = media_port(answer["sdp"])
        assert PORTS["port_min"] <= port <= PORTS["port_max"]
        assert f"m=audio {port} RTP/AVP 8" in lines
        assert "c=IN IP4 127.0.0.1" in lines and "a=rtpmap:8 PCMA/8000" in lines
        assert "a=recvonly" in lines and "a=sendonly" not in lines

        second = await client.attach(session)
        ack, joined = await client.message(session, second, {
            "request": "join", "ptype": "publisher", "room": room}, count=2)
        feed2 = joined["plugindata"]["data"]["id"]
        assert feed2 != feed1
        assert joined["plugindata"]["data"]["publishers"] == [{"id": feed1}]

        # the second publisher's configure: the first hears of it first, on this connection
        ack, event, configured = await client.configure(
            session, second, room, feed2, OFFER.replace("m=audio 8000", "m=audio 8002"), count=3)
        assert ack["janus"] == "ack"
        assert event == {"janus": "event", "session_id": session, "sender": first,
                         "plugindata": {"plugin": PLUGIN, "data": {
                             "videoroom": "event", "room": room, "publishers": [{"id": feed2}]}}}
        assert configured["plugindata"]["data"]["configured"] == "ok"
        assert configured["sender"] == second

        # subscribers
        subscriber = await client.attach(session)
        ack, attached = await client.message(session, subscriber, {
            "request": "join", "ptype": "subscriber", "room": room, "feed": feed1}, count=2)
        assert ack["janus"] == "ack"
        offer = attached.pop("jsep")
        assert attached == {"plugindata": {"plugin": PLUGIN, "data": {
            "videoroom": "attached", "room": room, "id": feed1}},
            "janus": "event", "transaction": attached["transaction"], "session_id": session,
            "sender": subscriber}
        assert offer["type"] == "offer"
        lines = offer["sdp"].split("\r\n")
        assert any(line.startswith("m=audio ") and line.endswith(" 8") for line in lines)
        assert "a=rtpmap:8 PCMA/8000" in lines and "a=sendonly" in lines
        nobody = await client.attach(session)
        ack, reply = await client.message(session, nobody, {
            "request": "join", "ptype": "subscriber", "room": room, "feed": 1234}, count=2)
        assert ack["janus"] == "ack"
        assert reply["janus"] == "error"
        assert reply["error"] == {"code": 512, "reason": "No such feed exists"}
        tags = (await ng(daemon, {"command": "query", "call-id": f"janus {room}"}))["tags"]
        assert {str(first), str(second), str(subscriber)} <= set(tags)

        # the second publisher leaves: the first hears "unpublished" and "leaving"
        (*events, reply) = await client.request({
            "janus": "detach", "transaction": "d1", "session_id": session, "handle_id": second},
            count=3)
        assert events == [
            {"janus": "event", "session_id": session, "sender": first,
             "plugindata": {"plugin": PLUGIN, "data": {
                 "videoroom": "event", "room": room, change: feed2}}}
            for change in ("unpublished", "leaving")]
        assert reply == {"janus": "success", "transaction": "d1", "session_id": session,
                         "sender": second}
        await client.fence()
        # its party left the room's call; the rest stays
        tags = (await ng(daemon, {"command": "query", "call-id": f"janus {room}"}))["tags"]
        assert str(second) not in tags and str(first) in tags
        # its feed is gone
        late = await client.attach(session)
        ack, reply = await client.message(session, late, {
            "request": "join", "ptype": "subscriber", "room": room, "feed": feed2}, count=2)
        assert reply["error"] == {"code": 512, "reason": "No such feed exists"}


async def test_publisher_events_go_on_the_requesting_connection(daemon):
    """10.5 sends the other publishers' news on the connection of the request that caused
    it, whatever connection those publishers use."""
    async with connect(daemon) as ws_a, connect(daemon) as ws_b:
        a, b = Janus(ws_a), Janus(ws_b)
        session = await a.create()
        _, room = await a.create_room(session)
        first, feed1 = await a.join_publisher(session, room)
        await a.configure(session, first, room, feed1, OFFER)
        second, feed2 = await b.join_publisher(session, room)
        ack, event, configured = await b.configure(
            session, second, room, feed2, OFFER.replace("m=audio 8000", "m=audio 8002"), count=3)
        assert event["sender"] == first
        assert event["plugindata"]["data"]["publishers"] == [{"id": feed2}]
        assert configured["transaction"] == ack["transaction"]
        await a.fence()  # nothing went to the first publisher's own connection


# -- 5. webrtcup ---------------------------------------------------------------------------------------


async def test_first_rtp_packet_pushes_webrtcup_to_the_sessions_connections(daemon):
    media = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with media:
        await media.bind(("127.0.0.1", 0))
        source_port = media.getsockname()[1]
        async with connect(daemon) as ws, connect(daemon) as ws_other:
            client, other = Janus(ws), Janus(ws_other)
            session = await client.create()
            _, room = await client.create_room(session)
            publisher, feed = await client.join_publisher(session, room)
            _, configured = await client.configure(session, publisher, room, feed,
                                                   offer_from(source_port))
            port = media_port(configured["jsep"]["sdp"])
            # a second connection that used the session hears its events too
            (reply,) = await other.request({"janus": "keepalive", "session_id": session})
            assert reply["janus"] == "ack"
            await media.sendto(rtp_packet(1), ("127.0.0.1", port))
            expected = {"janus": "webrtcup", "session_id": session, "sender": publisher}
            text = await client.next_text()  # pushed, without any request of ours
            assert json.loads(text) == expected
            assert list(json.loads(text)) == ["janus", "session_id", "sender"]
            assert await other.next() == expected
            await client.fence()
            await other.fence()


# -- 6. HTTP ----------------------------------------------------------------------------------------


async def test_http_admin_sends_only_the_final_reply(daemon):
    session = (await http_janus(daemon, {"janus": "create", "transaction": "h1"}))["data"]["id"]
    handle = (await http_janus(daemon, {"janus": "attach", "transaction": "h2",
                                        "session_id": session, "plugin": PLUGIN}))["data"]["id"]
    reply = await http_janus(daemon, {"janus": "message", "transaction": "h3",
                                      "session_id": session, "handle_id": handle,
                                      "body": {"request": "create"}})
    room = reply["plugindata"]["data"]["room"]
    publisher = (await http_janus(daemon, {"janus": "attach", "transaction": "h4",
                                           "session_id": session, "plugin": PLUGIN}))["data"]["id"]
    # a join answers with an ack and an event over WebSocket; over HTTP only the event
    status, headers, body = await post_admin(daemon, {
        "janus": "message", "transaction": "h5", "session_id": session, "handle_id": publisher,
        "body": {"request": "join", "ptype": "publisher", "room": room}})
    assert status == b"HTTP/1.1 200 OK" and headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(body)
    joined = json.loads(body)  # one JSON object, nothing before or after it
    feed = joined["plugindata"]["data"]["id"]
    assert joined == {"plugindata": {"plugin": PLUGIN, "data": {
        "videoroom": "joined", "room": room, "id": feed, "publishers": []}},
        "janus": "event", "transaction": "h5", "session_id": session, "sender": publisher}
    configured = await http_janus(daemon, {
        "janus": "message", "transaction": "h6", "session_id": session, "handle_id": publisher,
        "body": {"request": "configure", "room": room, "feed": feed},
        "jsep": {"type": "offer", "sdp": OFFER}})
    assert configured["janus"] == "event" and configured["transaction"] == "h6"
    assert configured["plugindata"]["data"]["configured"] == "ok"
    assert "a=recvonly" in configured["jsep"]["sdp"]
    # an HTTP session has no connection to end it: it stays
    (await http_janus(daemon, {"janus": "keepalive", "transaction": "h7", "session_id": session}))
    assert f"janus {room}" in await listed_calls(daemon)


# -- 7. closing the connection ----------------------------------------------------------------------


async def test_closing_the_websocket_ends_its_session_and_rooms(daemon):
    http_port = daemon.address("http")[1]
    async with connect(daemon) as ws_b:
        other = Janus(ws_b)
        async with connect(daemon) as ws_a:
            client = Janus(ws_a)
            session = await client.create()
            _, room = await client.create_room(session)
            publisher, feed = await client.join_publisher(session, room)
            await client.configure(session, publisher, room, feed, OFFER)
            (reply,) = await other.request({"janus": "keepalive", "session_id": session})
            assert reply["janus"] == "ack"
            client_port = ws_a.local.port
            assert server_holds(http_port, client_port)
        # the creating connection is gone, but another one still uses the session
        assert await wait_for(lambda: not server_holds(http_port, client_port))
        assert f"janus {room}" in await listed_calls(daemon)
        (reply,) = await other.request({"janus": "keepalive", "session_id": session})
        assert reply["janus"] == "ack"
        client_port = ws_b.local.port
        assert server_holds(http_port, client_port)
    # the last connection of the session closed: the session and its room's call end
    assert await wait_for(lambda: not server_holds(http_port, client_port))
    assert f"janus {room}" not in await listed_calls(daemon)
    reply = await http_janus(daemon, {"janus": "keepalive", "transaction": "k",
                                      "session_id": session})
    assert reply["error"] == {"code": 458, "reason": "Session ID not found"}
    # and the daemon serves on
    async with connect(daemon) as ws:
        await Janus(ws).fence()


# -- 8. side by side with rtpengine 10.5 ------------------------------------------------------


class PairMember:
    """One daemon of the pair: its ng process and its HTTP port."""

    def __init__(self, process: NgProcess, http_port: int) -> None:
        self.process, self.http_port = process, http_port
        deadline = time.monotonic() + 10
        while True:  # the HTTP listener, once ng answers
            try:
                socket.create_connection(("127.0.0.1", http_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def post(self, body: bytes) -> tuple[str, bytes]:
        """``POST /admin``: (content type, body)."""
        with socket.create_connection(("127.0.0.1", self.http_port), timeout=5) as sock:
            sock.sendall(b"POST /admin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
        status, headers, reply = split_response(raw)
        assert status == b"HTTP/1.1 200 OK", raw
        return dict(headers).get(b"content-type", b"").decode(), reply


def start_member(binary: list[str], ports: tuple[int, int], extra: list[str]) -> PairMember:
    ng_port, http_port = free_port(socket.SOCK_DGRAM), free_port()
    argv = [*binary, *common_args(ng_port, *ports), f"--listen-cli=127.0.0.1:{free_port()}",
            f"--listen-http=127.0.0.1:{http_port}", f"--janus-secret={SECRET}", *extra]
    process = NgProcess(argv, ng_port, *ports, wait=False)
    try:
        process.wait_ready()
        return PairMember(process, http_port)
    except BaseException:
        process.stop()
        raise


@pytest.fixture(scope="module")
def pair():
    """rtpengine 10.5 and rtpengined, both with an HTTP listener and a Janus secret; both
    stopped whatever happens."""
    members: list[PairMember] = []
    try:
        members.append(start_member([REFERENCE_BINARY], REFERENCE_PORTS, []))
        members.append(start_member([sys.executable, "-m", "rtpengined", "run"], OUR_PORTS,
                                    ["--relay-workers=1"]))
        yield tuple(members)
    finally:
        for member in members:
            member.process.stop()


class Symbols:
    """Ids and ports that legitimately differ become I1, I2… and P1, P2… in order of first
    appearance; the version and the SDP's o= and s= lines are masked."""

    ID_KEYS = {"id", "room", "session_id", "handle_id", "sender", "feed", "unpublished", "leaving"}

    def __init__(self) -> None:
        self.ids: dict[int, str] = {}
        self.ports: dict[int, str] = {}

    def id(self, value: int) -> str:
        return self.ids.setdefault(value, f"I{len(self.ids) + 1}")

    def port(self, match: re.Match) -> str:
        value = int(match.group())
        return self.ports.setdefault(value, f"P{len(self.ports) + 1}")

    def sdp(self, text: str) -> str:
        out = []
        for line in text.split("\r\n"):
            if line.startswith("o=-"):
                line = "o=- SESSION"
            elif line.startswith("s=rtpengine"):
                line = "s=NAME"
            elif line.startswith(("m=", "a=rtcp:")):
                line = re.sub(r"\b\d{5}\b", self.port, line)
            out.append(line)
        return "\r\n".join(out)

    def value(self, value: Any, key: str = "") -> Any:
        if key == "version_string":
            return "VERSION"
        if isinstance(value, dict):
            return [(k, self.value(v, k)) for k, v in value.items()]  # (member order counts)
        if isinstance(value, list):
            return [self.value(v, key) for v in value]
        if isinstance(value, int) and not isinstance(value, bool) and key in self.ID_KEYS:
            return self.id(value)
        if isinstance(value, str) and key == "sdp":
            return self.sdp(value)
        return value


class Transcript:
    """A WebSocket conversation with one daemon, recorded normalised."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.symbols = Symbols()
        self.lines: list[Any] = []

    def receive(self, count: int = 1) -> list[dict[str, Any]]:
        replies = []
        for _ in range(count):
            text = self.ws.recv(timeout=10)
            assert isinstance(text, str), "Janus messages go out as text frames"
            reply = json.loads(text)
            self.lines.append(("<", self.symbols.value(reply)))
            replies.append(reply)
        return replies

    def send(self, message: dict[str, Any] | str, count: int = 1) -> list[dict[str, Any]]:
        text = message if isinstance(message, str) else json.dumps(message)
        self.lines.append((">", text if isinstance(message, str) else self.symbols.value(message)))
        self.ws.send(text)
        return self.receive(count)


def videoroom_conversation(t: Transcript, media: socket.socket) -> None:
    """Everything deterministic a videoroom client sees, the first RTP packet included."""
    for raw in ENVELOPE:
        t.send(raw[0].decode())
    t.send({"janus": "info", "transaction": "i"})
    t.send({"janus": "add_token", "transaction": "a1", "admin_secret": SECRET, "token": "x"})
    t.send({"janus": "add_token", "transaction": "a2", "admin_secret": "wrong", "token": "x"})
    t.send({"janus": "add_token", "transaction": "a3", "token": "x"})
    t.send({"janus": "add_token", "transaction": "a4", "admin_secret": SECRET})
    s = t.send({"janus": "create", "transaction": "c"})[0]["data"]["id"]
    t.send({"janus": "keepalive", "transaction": "k", "session_id": s})
    t.send({"janus": "attach", "transaction": "p", "session_id": s, "plugin": "janus.plugin.x"})
    t.send({"janus": "attach", "transaction": "p", "session_id": s})

    def attach() -> int:
        return t.send({"janus": "attach", "transaction": "a", "session_id": s,
                       "plugin": PLUGIN})[0]["data"]["id"]

    def message(handle: int, body: dict[str, Any], jsep: dict | None = None,
                count: int = 1) -> list[dict[str, Any]]:
        request = {"janus": "message", "transaction": "m", "session_id": s, "handle_id": handle,
                   "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        return t.send(request, count)

    controller = attach()
    room = message(controller, {"request": "create"})[0]["plugindata"]["data"]["room"]
    message(controller, {"request": "exists", "room": room})
    message(controller, {"request": "exists", "room": 12345})
    message(controller, {"request": "bogus"})
    t.send({"janus": "message", "transaction": "m", "session_id": s, "handle_id": controller})
    message(controller, {"request": "join", "ptype": "publisher", "room": room}, count=2)
    first = attach()
    feed1 = message(first, {"request": "join", "ptype": "publisher", "room": room},
                    count=2)[1]["plugindata"]["data"]["id"]
    configure = {"request": "configure", "room": room, "feed": feed1}
    message(first, configure, count=2)
    message(first, configure, {"type": "answer", "sdp": OFFER}, count=2)
    message(first, configure, {"type": "offer", "sdp": "garbage"}, count=2)
    answer = message(first, configure, {"type": "offer", "sdp": offer_from(
        media.getsockname()[1])}, count=2)[1]["jsep"]["sdp"]
    second = attach()
    feed2 = message(second, {"request": "join", "ptype": "publisher", "room": room},
                    count=2)[1]["plugindata"]["data"]["id"]
    message(second, {"request": "configure", "room": room, "feed": feed2},
            {"type": "offer", "sdp": OFFER.replace("m=audio 8000", "m=audio 8002")}, count=3)
    subscriber = attach()
    attached = message(subscriber, {"request": "join", "ptype": "subscriber", "room": room,
                                    "feed": feed1}, count=2)[1]
    assert attached["jsep"]["type"] == "offer"
    # (its SDP differs: WebRTC subscribers get no ICE candidates nor rtcp-mux from us yet)
    t.lines[-1] = ("<", t.symbols.value({k: v for k, v in attached.items() if k != "jsep"}))
    message(attach(), {"request": "join", "ptype": "subscriber", "room": room, "feed": 1234},
            count=2)
    t.send({"janus": "detach", "transaction": "d", "session_id": s, "handle_id": second},
           count=3)
    t.send({"janus": "detach", "transaction": "d", "session_id": s, "handle_id": second})
    media.sendto(rtp_packet(1), ("127.0.0.1", media_port(answer)))
    t.lines.append(("rtp",))
    t.receive()  # webrtcup
    message(controller, {"request": "destroy", "room": room})
    message(controller, {"request": "exists", "room": room})
    message(controller, {"request": "destroy", "room": room})
    t.send({"janus": "ping", "transaction": "end"})


def test_videoroom_conversation_equals_rtpengine(pair):
    from websockets.sync.client import connect as ws_connect

    transcripts = []
    for member in pair:
        with ws_connect(f"ws://127.0.0.1:{member.http_port}/",
                        subprotocols=[SUBPROTOCOL]) as ws, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as media:
            assert ws.subprotocol == SUBPROTOCOL
            media.bind(("127.0.0.1", 0))
            transcript = Transcript(ws)
            videoroom_conversation(transcript, media)
            transcripts.append(transcript.lines)
    reference, ours = transcripts
    assert len(ours) == len(reference)
    for want, have in zip(reference, ours, strict=True):
        assert have == want


HTTP_REQUESTS = [raw for raw, _ in ENVELOPE] + [
    b'{"janus":"info","transaction":"i"}',
    b'{"janus":"add_token","transaction":"a","admin_secret":"%s","token":"x"}' % SECRET.encode(),
    b'{"janus":"add_token","transaction":"a","admin_secret":"no","token":"x"}',
    b'{"janus":"attach","transaction":"a","session_id":99,"plugin":"janus.plugin.videoroom"}',
]


def test_http_admin_replies_equal_rtpengine(pair):
    reference, ours = pair
    for request in HTTP_REQUESTS:
        want_type, want = reference.post(request)
        have_type, have = ours.post(request)
        assert (have_type, Symbols().value(json.loads(have))) == (
            want_type, Symbols().value(json.loads(want))), request
    # a session and room over HTTP, step by step
    replies = []
    for member in pair:
        symbols = Symbols()
        steps = []

        def post(message: dict[str, Any], member=member, symbols=symbols, steps=steps) -> dict:
            reply = json.loads(member.post(json.dumps(message).encode())[1])
            steps.append(symbols.value(reply))
            return reply

        s = post({"janus": "create", "transaction": "c"})["data"]["id"]
        post({"janus": "keepalive", "transaction": "k", "session_id": s})
        h = post({"janus": "attach", "transaction": "a", "session_id": s,
                  "plugin": PLUGIN})["data"]["id"]
        room = post({"janus": "message", "transaction": "m", "session_id": s, "handle_id": h,
                     "body": {"request": "create"}})["plugindata"]["data"]["room"]
        for request in ("exists", "destroy", "exists", "destroy"):
            post({"janus": "message", "transaction": "m", "session_id": s, "handle_id": h,
                  "body": {"request": request, "room": room}})
        post({"janus": "detach", "transaction": "d", "session_id": s, "handle_id": h})
        post({"janus": "detach", "transaction": "d", "session_id": s, "handle_id": h})
        replies.append(steps)
    assert replies[1] == replies[0]


# -- where we still differ from rtpengine 10.5 (strict: each turns red once fixed) ----------


def test_trickle_error_replies_equal_rtpengine(pair):
    replies = []
    for member in pair:
        symbols = Symbols()

        def post(message: dict[str, Any], member=member) -> dict[str, Any]:
            return json.loads(member.post(json.dumps(message).encode())[1])

        s = post({"janus": "create", "transaction": "c"})["data"]["id"]
        h = post({"janus": "attach", "transaction": "a", "session_id": s,
                  "plugin": PLUGIN})["data"]["id"]
        replies.append([symbols.value(post({"janus": "trickle", "transaction": "t",
                                            "session_id": s, "handle_id": h, **extra}))
                        for extra in ({}, {"candidate": {"completed": True}},
                                      {"candidate": {"candidate": "x", "sdpMid": "0"}})])
    assert replies[1] == replies[0]


def test_empty_admin_body_equals_rtpengine(pair):
    reference, ours = pair
    assert ours.post(b"") == reference.post(b"")


async def test_http_session_outlives_a_websocket_that_used_it(daemon):
    http_port = daemon.address("http")[1]
    session = (await http_janus(daemon, {"janus": "create", "transaction": "c"}))["data"]["id"]
    async with connect(daemon) as ws:
        (reply,) = await Janus(ws).request({"janus": "keepalive", "session_id": session})
        assert reply["janus"] == "ack"
        client_port = ws.local.port
    assert await wait_for(lambda: not server_holds(http_port, client_port))
    reply = await http_janus(daemon, {"janus": "keepalive", "transaction": "k",
                                      "session_id": session})
    assert reply == {"janus": "ack", "transaction": "k", "session_id": session}


def test_idle_sessions_without_a_connection_end_at_the_cap(monkeypatch):
    """Sessions made over HTTP have no connection to end with: at the cap, ``create`` ends
    those unused for a minute and goes on; with none idle it is refused (490)."""
    import json as _json

    from rtpengined import janus as janus_module
    from rtpengined.config import Config
    from rtpengined.core import Core

    now = [1000.0]
    core = Core(Config(), clock=lambda: now[0])
    monkeypatch.setattr(janus_module, "MAX_SESSIONS", 3)

    def create() -> dict:
        return _json.loads(core.handle_janus(b'{"janus":"create","transaction":"c"}', None)[-1])

    first = [create()["data"]["id"] for _ in range(3)]
    refused = create()
    assert refused["janus"] == "error" and refused["error"]["code"] == 490
    now[0] += 30
    kept = _json.loads(core.handle_janus(_json.dumps(
        {"janus": "keepalive", "transaction": "k", "session_id": first[0]}).encode(), None)[-1])
    assert kept["janus"] == "ack"
    now[0] += 40  # the other two idle for 70 s, the first for 40 s
    assert create()["janus"] == "success"
    assert set(core.janus.sessions) >= {first[0]}
    assert not {first[1], first[2]} & set(core.janus.sessions)


async def test_a_peer_that_resets_a_flooded_connection_logs_no_error(daemon, caplog):
    """A client that floods requests without reading and then resets: the daemon's write
    fails inside the Janus connection's nursery (in an exception group); that is the peer
    going away, logged as nothing, and the daemon goes on serving."""
    import logging as _logging

    host, port = daemon.address("http")[:2]
    key = base64.b64encode(os.urandom(16)).decode()
    upgrade = (f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n").encode()
    payload = json.dumps({"janus": "info", "transaction": "x" * 100}).encode()
    mask = b"\x01\x02\x03\x04"
    frame = (bytes((0x81, 0x80 | 126)) + len(payload).to_bytes(2, "big") + mask
             + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    caplog.set_level(_logging.INFO)
    for _ in range(3):
        sock = trio.socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        await sock.connect((host, port))
        await sock.send(upgrade)
        head = b""
        while b"\r\n\r\n" not in head:
            head += await sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 101")
        with trio.move_on_after(1):
            data = frame * 3000
            while data:
                data = data[await sock.send(data):]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    await trio.sleep(0.3)
    async with connect(daemon) as ws:
        client = Janus(ws)
        await client.send({"janus": "ping", "transaction": "p"})
        assert json.loads(await client.next_text()) == {"janus": "pong", "transaction": "p"}
    errors = [r for r in caplog.records if r.levelno >= _logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
