"""rtpengine 10.5's Redis document without Redis: decoding a real capture, the round trip
through the call model, escaping, addresses and options."""

from __future__ import annotations

import json
import os
import socket

import pytest

from rtpengined.config import ConfigError, parse_args
from rtpengined.offer_answer.sdes import NO_KEY
from rtpengined.redis import NullCallStore
from rtpengined.redis.address import RedisAddress
from rtpengined.redis.layout import (
    LayoutError,
    decode_call,
    dumps,
    encode_call,
    escape,
    loads,
    unescape,
)
from rtpengined.redis.restore import RestoreError, interface_index, restore_call
from rtpengined.secure import sdes
from tests.conftest import FIXTURES_ROOT
from tests.test_calls_model import FakeBinder, make_core, ng, sdp_body

# What rtpengine 10.5 stored for an answered call (offer port 5000, answer port 6000).
CAPTURE = os.path.join(FIXTURES_ROOT, "redis-rtpengine-10.5-call.json")


def _capture() -> dict:
    with open(CAPTURE, encoding="utf-8") as handle:
        return json.load(handle)


def test_decode_rtpengine_capture():
    stored = decode_call("gt1", loads(json.dumps(_capture())))
    assert [t.tag for t in stored.tags] == ["ft1", "tt1"]
    assert stored.tags[0].subscriptions == [1] and stored.tags[1].subscriptions == [0]
    assert [s.port for s in stored.streams] == [42300, 42301, 42316, 42317]
    assert [s.rtcp for s in stored.streams] == [False, True, False, True]
    assert [s.sink for s in stored.streams] == [2, 3, 0, 1]
    assert stored.streams[0].advertised.port == 6000  # the callee sends to 42300
    assert stored.streams[2].advertised.port == 5000
    media = stored.medias[0]
    assert (media.tag, media.type, media.protocol, media.formats) == (
        1, "audio", "RTP/AVP", ["0", "8", "101"])
    assert media.rtpmaps["101"] == "telephone-event/8000"
    assert stored.db == 1 and stored.last_signal == 1795979346


def test_restore_capture_into_the_call_model():
    binder = FakeBinder()
    core, clock = make_core(binder, port_min=42300, port_max=42399)
    stored = decode_call("gt1", _capture())
    call = restore_call(core.calls, stored, clock(), foreign=False)
    assert core.calls.calls["gt1"] is call
    assert sorted(s.port for s in binder.bound) == [42300, 42301, 42316, 42317]
    caller, callee = call.monologues
    assert caller.subscriptions == (callee,) and callee.subscribers == (caller,)
    rtp = callee.medias[0].rtp
    assert rtp.port == 42300 and rtp.sink is caller.medias[0].rtp
    assert rtp.stats.last_packet == clock()  # a fresh last-packet time: no instant timeout
    query = ng(core, command="query", **{"call-id": "gt1"})
    assert query["result"] == "ok" and set(query["tags"]) == {"ft1", "tt1"}


def test_round_trip_through_the_document():
    core, _ = make_core(FakeBinder())
    ng(core, command="offer", sdp=sdp_body(2000), **{"call-id": "rt", "from-tag": "a"})
    ng(core, command="answer", sdp=sdp_body(3000, "192.0.2.20"),
       **{"call-id": "rt", "from-tag": "a", "to-tag": "b"})
    before = ng(core, command="query", **{"call-id": "rt"})
    text = dumps(encode_call(core.calls.calls["rt"], 5, interface_index(core.calls)))

    other, clock = make_core(FakeBinder())
    restore_call(other.calls, decode_call("rt", loads(text)), clock(), foreign=True)
    after = ng(other, command="query", **{"call-id": "rt"})
    for reply in (before, after):
        for tag in reply["tags"].values():
            for media in tag["medias"]:
                for stream in media["streams"]:
                    stream.pop("last packet")
    assert after["tags"] == before["tags"]
    assert other.calls.calls["rt"].foreign


def test_port_taken_fails_the_whole_call_and_frees_what_it_bound():
    core, clock = make_core(FakeBinder(taken={42317}), port_min=42300, port_max=42399)
    with pytest.raises(RestoreError, match="42317"):
        restore_call(core.calls, decode_call("gt1", _capture()), clock(), foreign=False)
    assert core.calls.calls == {}
    assert all(pool.used == 0 for pool in core.calls.port_pools)


def test_unknown_interface_is_refused():
    doc = _capture()
    doc["sfd-0"]["logical_intf"] = "nowhere"
    core, clock = make_core(FakeBinder())
    with pytest.raises(RestoreError, match="nowhere"):
        restore_call(core.calls, decode_call("gt1", doc), clock(), foreign=False)


@pytest.mark.parametrize("doc", [{}, {"json": {"created": "1"}}, {"json": "x"}])
def test_incomplete_documents_are_layout_errors(doc):
    with pytest.raises(LayoutError):
        decode_call("x", doc)


def _broken(change) -> dict:
    doc = _capture()
    change(doc)
    return doc


@pytest.mark.parametrize("change", [
    lambda doc: doc["streams-0"].append("x"),  # an id that is no number
    lambda doc: doc["rtp_sinks-0"].__setitem__(0, "-1"),
    lambda doc: doc["medias-0"].append("1/2"),
    lambda doc: doc["stream-0"].__setitem__("ps_flags", 7),  # (10.5 writes strings only)
    lambda doc: doc["media-0"].__setitem__("protocol", None),
    lambda doc: doc["stream-0"].__setitem__("endpoint", ["127.0.0.1", 6000]),
], ids=["stream id", "negative sink", "media id", "number", "null", "list"])
def test_malformed_values_are_layout_errors(change):
    """Whatever a document holds (written by anyone with access to the Redis database),
    decoding it fails with a LayoutError, which drops that call (found by mutating 10.5's
    documents: ValueError, TypeError, AttributeError escaped, and at start-up those ended
    the daemon)."""
    with pytest.raises(LayoutError):
        decode_call("gt1", _broken(change))


def test_an_interface_number_out_of_range_is_refused():
    doc = _broken(lambda doc: doc["sfd-0"].__setitem__("local_intf_uid", "-3"))
    core, clock = make_core(FakeBinder())
    with pytest.raises(RestoreError):
        restore_call(core.calls, decode_call("gt1", doc), clock(), foreign=False)


def test_escaping_as_rtpengine():
    assert escape("plain-call@host") == "plain-call@host"
    assert escape('a%b"c\'d\\e\n') == "a%25b%22c%27d%5ce%0a"
    assert escape("é") == "%c3%a9"
    for text in ('a%b"c\'d\\e\n', "é ü", "%zz"):
        assert unescape(escape(text)) == text


def test_call_ids_and_tags_with_quotes_survive():
    core, _ = make_core(FakeBinder())
    call_id = 'odd "id" 100%'
    ng(core, command="offer", sdp=sdp_body(2000), **{"call-id": call_id, "from-tag": "t'1"})
    text = dumps(encode_call(core.calls.calls[call_id], 1))
    assert '"' not in json.loads(text)["tag-0"]["tag"]
    stored = decode_call(call_id, loads(text))
    assert stored.tags[0].tag == "t'1"


@pytest.mark.parametrize("text,want", [
    ("127.0.0.1:6379/1", RedisAddress("127.0.0.1", 6379, 1)),
    ("secret@10.0.0.1:6380/15", RedisAddress("10.0.0.1", 6380, 15, "secret")),
    ("p@ss@10.0.0.1:6380/2", RedisAddress("10.0.0.1", 6380, 2, "p@ss")),
    ("[::1]:6379/3", RedisAddress("::1", 6379, 3)),
    ("127.0.0.1:6379", RedisAddress("127.0.0.1", 6379, 0)),
])
def test_redis_addresses(text, want):
    assert RedisAddress.parse(text) == want


@pytest.mark.parametrize("text", ["127.0.0.1", "127.0.0.1:x/1", "127.0.0.1:6379/-1", ":1/1"])
def test_bad_redis_addresses(text):
    with pytest.raises(ValueError):
        RedisAddress.parse(text)


def test_options():
    config = parse_args(["--redis=pw@127.0.0.1:6379/2", "--redis-write=127.0.0.1:6380/3",
                         "--redis-expires=60", "--redis-connect-timeout=200",
                         "--redis-cmd-timeout=100", "--redis-allowed-errors=3",
                         "--redis-disable-time=5", "--no-redis-required",
                         "-k", "4", "--subscribe-keyspace=5", "--active-switchover"])
    assert config.redis == "pw@127.0.0.1:6379/2" and config.redis_write == "127.0.0.1:6380/3"
    assert (config.redis_expires, config.redis_connect_timeout, config.redis_cmd_timeout,
            config.redis_allowed_errors, config.redis_disable_time) == (60, 200, 100, 3, 5)
    assert config.no_redis_required and config.active_switchover
    assert config.subscribe_keyspace == [4, 5]
    assert not config.unsupported


@pytest.mark.parametrize("argv", [["--redis=nonsense"], ["--redis-write=127.0.0.1:1/1"],
                                  ["--subscribe-keyspace=x"]])
def test_bad_options(argv):
    with pytest.raises(ConfigError):
        parse_args(argv)


def test_null_store_keeps_only_the_keyspace_list():
    store = NullCallStore()
    store.subscribe(3)
    store.subscribe(3)
    store.subscribe(1)
    store.unsubscribe(7)
    assert store.keyspaces() == [3, 1]


# What rtpengine 10.5 stored for an SDES offerer (a, sent on as RTP/AVP) and a plain
# answerer (b): the offer's and the answer's a=crypto lines were these.
SDES_CAPTURE = os.path.join(FIXTURES_ROOT, "redis-rtpengine-10.5-sdes-call.json")
SDES_OFFERED = "crypto:1 AES_CM_128_HMAC_SHA1_80 inline:MPu/ZRkDYVR6Qbi7GdBhzj/W1xZXivk97ZVt6oZT"
SDES_ANSWERED = "crypto:1 AES_CM_128_HMAC_SHA1_80 inline:0urmgY9Yvel7QhCzAT5Yv+Tbtzt5LxxxBpI4quA8"


def _sdes_capture() -> dict:
    with open(SDES_CAPTURE, encoding="utf-8") as handle:
        return loads(handle.read())


def test_decode_rtpengine_sdes_capture():
    offered, answered = sdes.parse(SDES_OFFERED), sdes.parse(SDES_ANSWERED)
    stored = decode_call("sdes-plain", _sdes_capture())
    media = next(m for m in stored.medias if m.sdes_in)
    [inbound], [outbound] = media.sdes_in, media.sdes_out
    assert (inbound.tag, inbound.suite.name) == (1, "AES_CM_128_HMAC_SHA1_80")
    assert inbound.key_salt == offered.key_salt  # the party's key: decrypts what it sends
    assert outbound.key_salt == answered.key_salt  # ours: encrypts what it is sent
    for index in media.streams:
        stream = stored.streams[index]
        assert stream.crypto_in.key_salt == offered.key_salt
        assert stream.crypto_out.key_salt == answered.key_salt
    plain = next(m for m in stored.medias if not m.sdes_in)
    assert all(stored.streams[i].crypto_in is None for i in plain.streams)


def test_restore_sdes_capture_keys_the_relay():
    offered, answered = sdes.parse(SDES_OFFERED), sdes.parse(SDES_ANSWERED)
    core, clock = make_core(FakeBinder(), port_min=31800, port_max=31899)
    call = restore_call(core.calls, decode_call("sdes-plain", _sdes_capture()), clock(),
                        foreign=False)
    caller, callee = call.monologues
    for stream in caller.medias[0].streams:
        assert stream.srtp_in == ("AES_CM_128_HMAC_SHA1_80", offered.key_salt, ())
        assert stream.srtp_out == ("AES_CM_128_HMAC_SHA1_80", answered.key_salt, ())
    assert caller.medias[0].sdes
    assert all(s.srtp_in is None and s.srtp_out is None for s in callee.medias[0].streams)


def _names(doc: dict, prefix: str, keyed: str) -> set[str]:
    return {name for key, value in doc.items() if key.startswith(prefix) and keyed in value
            for name in value}


def test_sdes_call_is_stored_with_rtpengines_names():
    """Encoding an SDES offerer / plain answerer call gives the same fields 10.5 wrote for
    one, the key buffers 32 and 14 bytes; decoding it gives the relay's keys back."""
    core, _ = make_core(FakeBinder())
    mine = sdes.parse(SDES_OFFERED)
    ng(core, command="offer", sdp=sdp_body(2000).replace(
        "RTP/AVP", "RTP/SAVP") + f"a={SDES_OFFERED}\r\n",
        **{"call-id": "k", "from-tag": "a", "transport-protocol": "RTP/AVP"})
    ng(core, command="answer", sdp=sdp_body(3000, "192.0.2.20"),
       **{"call-id": "k", "from-tag": "a", "to-tag": "b"})
    call = core.calls.calls["k"]
    doc = loads(dumps(encode_call(call, 1, interface_index(core.calls))))
    ref = _sdes_capture()
    for prefix, keyed in (("media-", "sdes_in_tag"), ("sfd-", "-crypto_suite"),
                          ("stream-", "-crypto_suite")):
        assert _names(doc, prefix, keyed) == _names(ref, prefix, keyed), prefix
    media = next(v for k, v in doc.items() if k.startswith("media-") and "sdes_in_tag" in v)
    assert len(media["sdes_in-master_key"].encode("utf-8", "surrogateescape")) == 32
    assert len(media["sdes_in-master_salt"].encode("utf-8", "surrogateescape")) == 14
    stored = decode_call("k", doc)
    keyed = next(m for m in stored.medias if m.sdes_in)
    assert keyed.sdes_in[0].key_salt == mine.key_salt
    rtp = call.monologues[0].medias[0].rtp
    assert stored.streams[keyed.streams[0]].crypto_out.key_salt == rtp.srtp_out[1]


def test_plain_call_document_has_no_crypto_fields():
    """The plain-RTP layout stays as it was: no SRTP field anywhere."""
    core, _ = make_core(FakeBinder())
    ng(core, command="offer", sdp=sdp_body(2000), **{"call-id": "p", "from-tag": "a"})
    ng(core, command="answer", sdp=sdp_body(3000, "192.0.2.20"),
       **{"call-id": "p", "from-tag": "a", "to-tag": "b"})
    text = dumps(encode_call(core.calls.calls["p"], 1))
    assert "crypto" not in text and "sdes" not in text and "master" not in text


def test_dtls_fingerprint_is_written_as_rtpengine_writes_it():
    """A DTLS offerer's fingerprint: ``hash_func`` and the digest in a 64-byte buffer (the
    value here is the one 10.5 wrote for this offer)."""
    core, _ = make_core(FakeBinder())
    fingerprint = "sha-256 " + ":".join(["AB"] * 32)
    offer = sdp_body(2000).replace("RTP/AVP", "UDP/TLS/RTP/SAVP") + (
        f"a=setup:actpass\r\na=fingerprint:{fingerprint}\r\n")
    ng(core, command="offer", sdp=offer, ICE="remove",
       **{"call-id": "d", "from-tag": "a", "transport-protocol": "RTP/AVP"})
    ng(core, command="answer", sdp=sdp_body(3000, "192.0.2.20"),
       **{"call-id": "d", "from-tag": "a", "to-tag": "b"})
    doc = json.loads(dumps(encode_call(core.calls.calls["d"], 1)))
    [media] = [v for k, v in doc.items() if k.startswith("media-") and "hash_func" in v]
    assert media["hash_func"] == "sha-256"
    assert media["fingerprint"] == "%ab" * 32 + "%00" * 32


def _restored_copy(core, call_id: str, other=None):
    """The call stored and restored into another core (``other``, or a new one)."""
    other, clock = (other, time_now) if other is not None else make_core(FakeBinder())
    text = dumps(encode_call(core.calls.calls[call_id], 1, interface_index(core.calls)))
    return restore_call(other.calls, decode_call(call_id, loads(text)), clock(), foreign=False)


def time_now() -> float:
    return 1_800_000_000.0


def test_suite_the_relay_cannot_do_stays_dropped_after_restore():
    """AES_192_CM has no relay keys to store: the restored SDES leg still relays nothing
    (no SRTP passed on to the plain party, no plain RTP to the SRTP one)."""
    core, _ = make_core(FakeBinder())
    line = sdes.generate(1, "AES_192_CM_HMAC_SHA1_80").format()
    ng(core, command="offer", sdp=sdp_body(2000).replace("RTP/AVP", "RTP/SAVP") + f"a={line}\r\n",
       **{"call-id": "u", "from-tag": "a", "transport-protocol": "RTP/AVP"})
    ng(core, command="answer", sdp=sdp_body(3000, "192.0.2.20"),
       **{"call-id": "u", "from-tag": "a", "to-tag": "b"})
    before = core.calls.calls["u"].monologues[0].medias[0].rtp.srtp_in
    assert before == ("unsupported AES_192_CM_HMAC_SHA1_80", b"")
    caller, callee = _restored_copy(core, "u").monologues
    for stream in caller.medias[0].streams:
        assert stream.srtp_in == stream.srtp_out == before
    assert all(s.srtp_in is None for s in callee.medias[0].streams)


@pytest.mark.parametrize("osrtp", [False, True], ids=["sdes-both-legs", "osrtp-answered-plain"])
def test_calls_without_relay_keys_stay_unkeyed_after_restore(osrtp):
    """SDES passed through end to end, or an opportunistic offer answered plain: nothing
    for the relay to decrypt before the restart, nothing after."""
    core, _ = make_core(FakeBinder())
    line = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80")
    proto = "RTP/AVP" if osrtp else "RTP/SAVP"
    ng(core, command="offer", sdp=sdp_body(2000).replace("RTP/AVP", proto)
       + f"a={line.format()}\r\n", **{"call-id": "n", "from-tag": "a"})
    answer = (sdp_body(3000, "192.0.2.20") if osrtp else
              sdp_body(3000, "192.0.2.20").replace("RTP/AVP", "RTP/SAVP")
              + f"a={line.format()}\r\n")
    ng(core, command="answer", sdp=answer, **{"call-id": "n", "from-tag": "a", "to-tag": "b"})
    assert all(s.srtp_in is None for m in core.calls.calls["n"].monologues
               for media in m.medias for s in media.streams)
    restored = _restored_copy(core, "n")
    assert all(s.srtp_in is None and s.srtp_out is None for m in restored.monologues
               for media in m.medias for s in media.streams)


def _without_last_packet(reply: dict) -> dict:
    for tag in reply["tags"].values():
        for media in tag["medias"]:
            for stream in media["streams"]:
                stream.pop("last packet")
    return reply["tags"]


@pytest.mark.parametrize("sdes_offers", [True, False], ids=["sdes-offerer", "sdes-answerer"])
def test_sdes_call_queries_the_same_after_restore(sdes_offers):
    """Keys, the SDES flag and the crypto suite query shows come back as they were."""
    core, _ = make_core(FakeBinder())
    ids = {"call-id": "q", "from-tag": "a"}
    if sdes_offers:
        line = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80").format()
        ng(core, command="offer", sdp=sdp_body(2000).replace("RTP/AVP", "RTP/SAVP")
           + f"a={line}\r\n", **ids, **{"transport-protocol": "RTP/AVP"})
        answer = sdp_body(3000, "192.0.2.20")
    else:
        offer = ng(core, command="offer", sdp=sdp_body(2000), **ids,
                   **{"transport-protocol": "RTP/SAVP"})
        chosen = next(sdes.parse(v[2:]) for v in offer["sdp"].split("\r\n")
                      if v.startswith("a=crypto:") and "AEAD_AES_128_GCM" in v)
        line = sdes.generate(chosen.tag, "AEAD_AES_128_GCM").format()
        answer = sdp_body(3000, "192.0.2.20").replace("RTP/AVP", "RTP/SAVP") + f"a={line}\r\n"
    ng(core, command="answer", sdp=answer, **ids, **{"to-tag": "b"})
    before = _without_last_packet(ng(core, command="query", **{"call-id": "q"}))
    other, _ = make_core(FakeBinder())
    restored = _restored_copy(core, "q", other)
    after = _without_last_packet(ng(other, command="query", **{"call-id": "q"}))
    assert after == before  # crypto suite and SDES flag included
    for old, new in zip(core.calls.calls["q"].monologues, restored.monologues, strict=True):
        for old_media, new_media in zip(old.medias, new.medias, strict=True):
            assert [(s.srtp_in, s.srtp_out) for s in old_media.streams] == [
                (s.srtp_in, s.srtp_out) for s in new_media.streams]


def test_ice_passthrough_is_stored_as_rtpengines_media_flag():
    """An ICE passthrough leg (``ICE: optional`` towards a party with ICE) is 10.5's
    PASSTHRU media flag in the document, and query shows it the same after a restore."""
    ice = ("a=ice-ufrag:asbsdfds\r\na=ice-pwd:sfhwsrgyergws45ujhsrthsrhH\r\n"
           "a=candidate:f 1 UDP 2130706431 192.0.2.10 2000 typ host\r\n")
    core, _ = make_core(FakeBinder())
    ng(core, command="offer", sdp=sdp_body(2000, extra=ice), ICE="optional",
       **{"call-id": "pt", "from-tag": "a"})
    ng(core, command="answer", sdp=sdp_body(3000, "192.0.2.20"), ICE="optional",
       **{"call-id": "pt", "from-tag": "a", "to-tag": "b"})
    before = ng(core, command="query", **{"call-id": "pt"})
    doc = encode_call(core.calls.calls["pt"], 1, interface_index(core.calls))
    flags = [int(value["media_flags"]) for key, value in doc.items()
             if key.startswith("media-")]
    assert flags and all(flag & 0x00100000 for flag in flags)
    other, clock = make_core(FakeBinder())
    restore_call(other.calls, decode_call("pt", loads(dumps(doc))), clock(), foreign=True)
    after = ng(other, command="query", **{"call-id": "pt"})
    for tag in before["tags"].values():
        assert all("passthrough" in media["flags"] for media in tag["medias"])
    for reply in (before, after):
        for tag in reply["tags"].values():
            for media in tag["medias"]:
                for stream in media["streams"]:
                    stream.pop("last packet")
    assert after["tags"] == before["tags"]


def test_unidirectional_is_stored_as_rtpengines_media_flag():
    """The ``unidirectional`` flag of a party's SDP is 10.5's UNIDIRECTIONAL media flag
    (0x1000) on that party's media in the document, and comes back with a restore."""
    core, _ = make_core(FakeBinder())
    ng(core, command="offer", sdp=sdp_body(2000), flags=["unidirectional"],
       **{"call-id": "u", "from-tag": "a"})
    ng(core, command="answer", sdp=sdp_body(3000, "192.0.2.20"),
       **{"call-id": "u", "from-tag": "a", "to-tag": "b"})
    doc = encode_call(core.calls.calls["u"], 1, interface_index(core.calls))
    by_tag = {value["tag"]: int(value["media_flags"]) & 0x1000
              for key, value in doc.items() if key.startswith("media-")}
    assert sorted(by_tag.values()) == [0, 0x1000]
    other, clock = make_core(FakeBinder())
    restored = restore_call(other.calls, decode_call("u", loads(dumps(doc))), clock(),
                            foreign=True)
    assert [m.medias[0].unidirectional for m in restored.monologues] == [True, False]


def test_restored_sockets_carry_the_calls_tos():
    """The stored TOS goes back on the restored call's sockets (10.5 marks every socket of
    a call), and a TOS of the call's own keeps its streams with the relay."""
    core, _ = make_core(tos=184)
    ng(core, command="offer", sdp=sdp_body(2000), TOS=104, **{"call-id": "t", "from-tag": "a"})
    doc = encode_call(core.calls.calls["t"], 1, interface_index(core.calls))
    core.shutdown()
    other, clock = make_core(tos=184)
    restored = restore_call(other.calls, decode_call("t", loads(dumps(doc))), clock(),
                            foreign=True)
    streams = [s for s in restored.streams() if not s.closed]
    assert restored.tos == 104 and streams
    assert {s.sock.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) for s in streams} == {104}
    assert all(s.tos_own for s in streams)
    other.shutdown()


def test_the_ptime_each_party_is_shown_is_stored_as_rtpengines_media_ptime():
    """Each media's a=ptime (10.5's media ptime, ``ptime-reverse`` giving the offerer its
    own) and the override flag (0x1000000) are in the document, as 10.5 writes them
    (probed: 20 and 30 with the flag on both), and come back with a restore."""
    core, _ = make_core(FakeBinder())
    ng(core, command="offer", sdp=sdp_body(2000, extra="a=ptime:20\r\n"),
       **{"call-id": "p", "from-tag": "a", "ptime-reverse": 30})
    ng(core, command="answer", sdp=sdp_body(3000, "192.0.2.20"),
       **{"call-id": "p", "from-tag": "a", "to-tag": "b"})
    doc = encode_call(core.calls.calls["p"], 1, interface_index(core.calls))
    by_tag = {value["tag"]: (value["ptime"], int(value["media_flags"]) & 0x1000000)
              for key, value in doc.items() if key.startswith("media-")}
    assert by_tag == {"0": ("30", 0x1000000), "1": ("20", 0x1000000)}
    other, clock = make_core(FakeBinder())
    restored = restore_call(other.calls, decode_call("p", loads(dumps(doc))), clock(),
                            foreign=True)
    assert [(m.medias[0].ptime_shown, m.medias[0].ptime_fixed)
            for m in restored.monologues] == [(30, True), (20, True)]


@pytest.mark.parametrize(("b_line", "options"), [
    ("", {}),
    ("a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:Kl3GFJ5Gqz5x07xYkoyHODkVkSpiplZnXsQIw+Q7\r\n",
     {}),
    ("", {"SDES": ["off"]})], ids=["no a=crypto", "another suite under our tag", "SDES off"])
def test_a_keyless_sdes_answerer_keeps_refusing_after_restore(b_line, options):
    """An SRTP answer with no key we can use, or naming none of our lines, is stored keyed
    one way only (with ``SDES: off`` in the offer, not at all): restored, the missing
    way is NO_KEY again (refused), not plain both ways (``test_redis_savp_nocrypto``
    sends media beside 10.5)."""
    core, _ = make_core(FakeBinder())
    line = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80").format()
    ids = {"call-id": "k", "from-tag": "a"}
    ng(core, command="offer", sdp=sdp_body(2000).replace("RTP/AVP", "RTP/SAVP")
       + f"a={line}\r\n", **ids, **options)
    ng(core, command="answer", sdp=sdp_body(3000, "192.0.2.20").replace("RTP/AVP", "RTP/SAVP")
       + b_line, **ids, **{"to-tag": "b"})
    before = [[(s.srtp_in, s.srtp_out) for s in m.medias[0].streams]
              for m in core.calls.calls["k"].monologues]
    assert NO_KEY in before[1][0]  # (the case is tested)
    restored = _restored_copy(core, "k")
    assert [[(s.srtp_in, s.srtp_out) for s in m.medias[0].streams]
            for m in restored.monologues] == before


def test_restored_streams_know_their_medias_stored_payload_types():
    """Each RTP stream knows its media's stored codecs (``payload_types-N``), as 10.5
    fills a restored stream's RTP stats: here what it knew before the restart."""
    core, _ = make_core(FakeBinder())
    ids = {"call-id": "pt", "from-tag": "a"}
    ng(core, command="offer", sdp=sdp_body(2000), **ids)
    ng(core, command="answer", sdp=sdp_body(3000, "192.0.2.20"), **ids, **{"to-tag": "b"})
    before = [m.medias[0].rtp.payload_types for m in core.calls.calls["pt"].monologues]
    assert all(mask not in (-1, 0) for mask in before)
    restored = _restored_copy(core, "pt")
    assert [m.medias[0].rtp.payload_types for m in restored.monologues] == before
