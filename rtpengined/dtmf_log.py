"""DTMF event logging (``--dtmf-log-dest``, ``--dtmf-log-ng-tcp``): each key a party sends,
as rtpengine 10.5 reports it.

10.5 reads every telephone-event (RFC 4733) packet a party sends, and for each key, at
the first packet that ends it, sends one JSON object to the configured UDP address and/or
one ``onDTMF`` message to every TCP ng client (a repeated end packet, same RTP
timestamp, is not a new key). Measured beside 10.5:

``{"callid":"…","source_tag":"…","tags":[…],"type":"DTMF","timestamp":…,
"source_ip":"…","event":5,"duration":80,"volume":10}``

- ``source_tag`` is the sending party's tag, ``tags`` the tags of every party of the call
  (10.5 lists them in its hash table's order, here in the call's order);
- ``timestamp`` the Unix time in seconds, ``source_ip`` the address the packet came from;
- ``event`` and ``volume`` the packet's fields as they are, ``duration`` the event's
  duration in ms by 10.5's integer arithmetic (``samples * (1000000 // rate) // 1000``,
  8000 for a rate of 0).

Unlike 10.5, strings are escaped, so that an odd call-id still makes valid JSON. Sans-I/O:
``apply`` tells the relay which payload types to read on which streams; the relay reports
each key's end (``media.worker``); ``line`` makes the JSON the daemon sends, and
``notification`` the ``onDTMF`` message ``--dtmf-log-ng-tcp`` writes to every TCP ng
connection (a random cookie of 16 hex digits, then bencode).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from .config import Config
from .dtmf_block import event_clocks
from .model import Call, Monologue, Stream
from .protocol import bencode


def wanted(config: Config) -> bool:
    """Whether keys are reported anywhere (10.5 reads them only then)."""
    return (config.dtmf_log_dest is not None or config.dtmf_log_ng_tcp
            or config.log_facility_dtmf is not None)


def apply(call: Call, update: Callable[[Stream], None]) -> None:
    """Give each stream that receives from a party that party's telephone-event types;
    ``update`` gets the streams that changed (after every offer and answer, as
    ``dtmf_block.apply``: a re-INVITE may bring new ports or payload types)."""
    for party in call.monologues:
        for media in party.medias:
            events = event_clocks(media)
            for stream in media.streams:
                wanted = () if stream.rtcp else events
                if stream.dtmf_events != wanted and not stream.closed:
                    stream.dtmf_events = wanted
                    update(stream)


def sender_of(call: Call, stream: Stream) -> Monologue | None:
    """The party whose packets ``stream`` receives."""
    for party in call.monologues:
        for media in party.medias:
            if any(s is stream for s in media.streams):
                return party
    return None


def duration_ms(samples: int, rate: int) -> int:
    """10.5's conversion, integer steps and all (48 kHz: 4800 samples are 96 ms)."""
    return samples * (1000000 // (rate or 8000)) // 1000


def line(call_id: str, source_tag: str, tags: Iterable[str], timestamp: int, source_ip: str,
         event: int, volume: int, samples: int, rate: int) -> bytes:
    """The JSON object 10.5 sends for one key, its fields in 10.5's order."""
    return json.dumps({
        "callid": call_id, "source_tag": source_tag, "tags": list(tags), "type": "DTMF",
        "timestamp": timestamp, "source_ip": source_ip, "event": event,
        "duration": duration_ms(samples, rate), "volume": volume,
    }, separators=(",", ":"), ensure_ascii=False).encode()


def notification(cookie: bytes, call_id: str, source_tag: str, tags: Iterable[str],
                 timestamp: int, source_ip: str, event: int, volume: int, samples: int,
                 rate: int) -> bytes:
    """The message 10.5 writes to every TCP ng client for one key (``--dtmf-log-ng-tcp``):
    a cookie of its own, then ``{"notify": "onDTMF", "data": {...}}`` in bencode, the
    entries in 10.5's order (not sorted)."""
    data = {"tags": list(tags), "callid": call_id, "source_tag": source_tag, "type": "DTMF",
            "source_ip": source_ip, "timestamp": timestamp, "event": event,
            "duration": duration_ms(samples, rate), "volume": volume}
    return cookie + b" " + bencode.encode({"notify": "onDTMF", "data": data})
