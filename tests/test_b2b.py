"""``b2b``'s teardown requests on hand-built calls (the wire and 10.5 beside us are in
``test_diff_b2b.py``)."""

from __future__ import annotations

from rtpengined import b2b
from rtpengined.model import Call, Monologue


def _call(proxy: str = "192.0.2.7:5060") -> Call:
    """Caller A forked to B and C (each answering party receives A and A receives both), and
    a party without a tag."""
    call = Call(call_id="cid", created=0.0, last_signal=0.0, proxy=proxy)
    a, b, c = (Monologue(tag=tag, created=0.0) for tag in "ABC")
    for branch in (b, c):
        branch.link(a)
        a.link(branch)
    call.monologues = [a, b, c, Monologue(tag="", created=0.0)]
    return call


def test_percent_percent_is_the_ng_clients_address_or_the_callback():
    url = "http://%%:8090/RPC2"
    assert b2b.teardown_requests(_call(), url, 1)[0].url == "http://192.0.2.7:8090/RPC2"
    assert b2b.teardown_requests(_call("[2001:db8::9]:5060"), url, 1)[0].url == \
        "http://2001:db8::9:8090/RPC2"  # (10.5 prints the address bare too)
    assert b2b.teardown_requests(_call(), url, 1, "10.0.0.1")[0].url == "http://10.0.0.1:8090/RPC2"
    assert b2b.teardown_requests(_call(), "http://b2b/x", 1)[0].url == "http://b2b/x"


def test_the_three_formats():
    call = _call()
    assert [r.params for r in b2b.teardown_requests(call, "u", 0)] == [
        ("sbc", "postControlCmd", tag, "teardown") for tag in "ABC"]
    assert b2b.teardown_requests(call, "u", 1) == [b2b.Teardown("u", "teardown", ("cid",))]
    # (10.5 remembers one pair per from-tag: with a fork, A-C replaces A-B, and B-A goes too)
    assert [r.params for r in b2b.teardown_requests(call, "u", 2)] == [
        ("cid", "A", "B"), ("cid", "A", "C"), ("cid", "B", "A")]
    assert b2b.teardown_requests(call, "u", 7) == []


def test_an_xmlrpc_callback_must_be_an_ip_address():
    assert b2b.callback_address(" 127.0.0.2 ") == "127.0.0.2"
    assert b2b.callback_address("::1") == "::1"
    assert b2b.callback_address("b2b.example") is None
