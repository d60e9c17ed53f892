"""Rarely set attributes kept out of the objects that leave them at their defaults.

The call model (``CallMedia``, ``Stream``, ``Monologue``) and the relay worker's streams
keep SDES, DTLS, ICE, pub/sub and extended-command state in a holder that exists only once
one of those attributes is set: that is ~1 kB of every open plain call (a bench target).
These tests pin the helper's contract and that a plain call really leaves every holder
unmade, so a new write of a default on the plain path cannot silently bring the cost back.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import pytest

from rtpengined.model import CallMedia, Interface, Monologue, Stream
from rtpengined.rare_fields import add_rare_fields, rare, rare_fields
from tests.test_calls_model import FakeBinder, make_core, ng, sdp_body


@dataclass(eq=False, slots=True)
@rare_fields
class Leg:
    name: str
    keys: tuple | None = rare(None)
    flags: tuple = rare(())
    verified: bool = rare(False)
    streams: list = field(default_factory=list)


def test_defaults_are_read_without_a_holder():
    leg = Leg("a")
    assert (leg.keys, leg.flags, leg.verified, leg.streams) == (None, (), False, [])
    assert leg.rare is None


def test_writing_a_default_makes_no_holder_and_another_value_does():
    leg = Leg("a")
    leg.keys, leg.flags, leg.verified = None, (), False
    assert leg.rare is None
    leg.verified = True
    assert leg.rare is not None and leg.verified is True
    assert (leg.keys, leg.flags) == (None, ())  # the others keep their defaults
    leg.verified = False  # back to the default: still stored, and read back as such
    assert leg.verified is False


def test_objects_do_not_share_holders():
    a, b = Leg("a"), Leg("b")
    a.keys = ("suite", b"key")
    assert b.keys is None and b.rare is None
    b.keys = ("other", b"key")
    assert a.keys == ("suite", b"key")


def test_a_value_equal_to_the_default_of_another_type_is_stored():
    leg = Leg("a")
    leg.verified = 0  # equal to False, but not the default's type: kept as given
    assert leg.rare is not None and leg.verified == 0 and type(leg.verified) is int


def test_rare_attributes_are_not_slots_init_arguments_or_in_the_repr():
    assert "keys" not in Leg.__slots__ and "rare" in Leg.__slots__
    with pytest.raises(TypeError):
        Leg("a", keys=None)  # set after construction, as the call model does
    leg = Leg("a")
    leg.keys = ("x",)
    assert "keys" not in repr(leg) and "rare" not in repr(leg)


def test_mutable_defaults_and_name_clashes_are_refused():
    class Plain:
        __slots__ = ("rare", "kept")

    with pytest.raises(TypeError, match="immutable"):
        add_rare_fields(Plain, {"items": []})
    with pytest.raises(TypeError, match="defined already"):
        add_rare_fields(Plain, {"kept": None})


def test_the_objects_are_smaller():
    interface = Interface("default", "192.0.2.1", "192.0.2.1")
    stream = Stream(interface, 30000)
    media = CallMedia(index=1, type="audio", protocol="RTP/AVP")
    party = Monologue("a", 0.0)
    # One slot for the holder instead of one per rare attribute. (Compiled, the classes are
    # native: a bool takes a byte, not a slot, and each object has a vtable pointer.)
    native = "__mypyc_attrs__" in vars(Monologue)
    assert sys.getsizeof(stream) <= (192 if native else 216)
    assert sys.getsizeof(media) <= (224 if native else 264)
    assert sys.getsizeof(party) <= (192 if native else 184)


def _objects(core, call_id: str) -> list:
    call = core.calls.calls[call_id]
    parties = list(call.monologues)
    medias = [m for p in parties for m in p.medias]
    streams = [s for m in medias for s in m.streams]
    return [*parties, *medias, *streams]


def test_a_plain_call_sets_no_rare_attribute():
    core, _ = make_core(binder=FakeBinder(), delete_delay=0)
    for call_id, flags, extra in (
        ("plain", {}, ""),
        ("mux", {"rtcp-mux": ["demux"]}, "a=rtcp-mux\r\n"),
        ("held", {}, "a=sendonly\r\n"),
    ):
        assert ng(core, command="offer", **{"call-id": call_id, "from-tag": "a"},
                  sdp=sdp_body(2000, extra=extra), **flags)["result"] == "ok"
        assert ng(core, command="answer", **{"call-id": call_id, "from-tag": "a", "to-tag": "b"},
                  sdp=sdp_body(3000, "192.0.2.20", extra=extra), **flags)["result"] == "ok"
        made = [type(o).__name__ for o in _objects(core, call_id) if o.rare is not None]
        assert made == [], f"{call_id}: holders made for {made}"


def test_an_sdes_call_keeps_its_keys_in_the_holder():
    core, _ = make_core(binder=FakeBinder(), delete_delay=0)
    ng(core, command="offer", **{"call-id": "srtp", "from-tag": "a", "transport-protocol": "RTP/SAVP"},
       sdp=sdp_body(2000))
    answer = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:MPu/ZRkDYVR6Qbi7GdBhzj/W1xZXivk97ZVt6oZT\r\n"
    reply = ng(core, command="answer", **{"call-id": "srtp", "from-tag": "a", "to-tag": "b"},
               sdp=sdp_body(3000, "192.0.2.20", extra=answer).replace("RTP/AVP", "RTP/SAVP"))
    assert reply["result"] == "ok"
    streams = [o for o in _objects(core, "srtp") if isinstance(o, Stream)]
    assert any(s.srtp_in is not None for s in streams)
    assert all(s.rare is not None for s in streams if s.srtp_in is not None)
