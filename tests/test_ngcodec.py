"""Sans-I/O tests of the ng envelope: the command core without any socket."""

import pytest

from rtpengined.core import Core
from rtpengined.protocol.ngcodec import ReplyCache


@pytest.fixture
def core():
    return Core()


def test_ping_bencode_and_json(core):
    assert core.handle_ng(b"5323_1 d7:command4:pinge") == b"5323_1 d6:result4:ponge"
    assert core.handle_ng(b'c7 {"command":"ping"}') == b'c7 {"result":"pong"}'


@pytest.mark.parametrize("raw", [b"nocookie_no_space", b" d7:command4:pinge", b"c21\td7:command4:pinge"])
def test_no_cookie_is_dropped(core, raw):
    assert core.handle_ng(raw) is None


def test_cache_is_bounded_in_memory():
    now = [0.0]
    cache = ReplyCache(max_bytes=1000, clock=lambda: now[0])
    for i in range(100):
        cache.put(b"c%d" % i, b"x" * 100)
    assert sum(len(v) for v in cache._current.values()) <= 1000
    assert len(cache) < 30


def test_cache_lives_between_30_and_60_seconds():
    now = [1000.0]
    cache = ReplyCache(clock=lambda: now[0])
    cache.put(b"a", b"reply")
    now[0] += 29
    assert cache.get(b"a") == b"reply"
    now[0] += 5  # rotation at 30 s: still answered from the previous generation
    assert cache.get(b"a") == b"reply"
    now[0] += 30  # second rotation: gone
    assert cache.get(b"a") is None


def test_retransmission_is_not_executed_twice(core):
    first = core.handle_ng(b"dup d7:command4:pinge")
    count = core.stats.proxies[""].counts[0]
    again = core.handle_ng(b"dup garbage")
    assert again == first
    assert core.stats.proxies[""].counts[0] == count


def test_json_reply_for_errors_after_detection(core):
    assert core.handle_ng(b'j1 {"command":"nosuch"}') == (
        b'j1 {"result":"error","error-reason":"Unrecognized command"}'
    )
    assert core.handle_ng(b'j2 {"x":1}') == (
        b'j2 {"result":"error","error-reason":"Dictionary contains no key \\"command\\""}'
    )


def test_json_with_a_lone_surrogate_is_no_json(core):
    """\\ud800 alone is no text: 10.5's parser refuses the document. Taken, it made a call
    whose id ``list`` then wrote out as invalid UTF-8."""
    for raw in (b'j3 {"command":"offer","call-id":"\\ud800","from-tag":"a","sdp":"v=0"}',
                b'j4 {"command":"list","\\udc00":1}'):
        assert core.handle_ng(raw).endswith(
            b' {"result":"error","error-reason":"Failed to parse JSON document"}')
    assert core.handle_ng(b'j5 {"command":"ping","x":"\\u00e9\\ud83d\\ude00"}') == (
        b'j5 {"result":"pong"}')


def test_ng_plain_has_no_cookie_and_no_cache(core):
    assert core.handle_ng_plain(b"d7:command4:pinge") == (b"d6:result4:ponge", "bencode")
    assert core.handle_ng_plain(b'{"command":"ping"}') == (b'{"result":"pong"}', "json")


def test_internal_error_is_an_ng_error_reply(core):
    def broken(core, message, request):
        raise RuntimeError("boom")

    core.commands = {**core.commands, "boom": broken}  # the core answers from the table it has
    reply = core.handle_ng(b"ie d7:command4:boome")
    assert reply.startswith(b"ie d6:result5:error12:error-reason")
    assert core.handle_ng(b"ie2 d7:command4:pinge") == b"ie2 d6:result4:ponge"
