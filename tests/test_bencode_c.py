"""The C helper ``_bencode`` behaves exactly like bencode.py's Python code.

Differential: the same inputs go to both implementations and must give the same values
(types and dict key order included) or the same exception (class and message). Decoding
gets real ng messages (the captures of rtpengine 10.5's requests and replies), every
truncation and a seeded stream of corruptions of them, nesting around the depth limit,
odd numbers and random bytes; encoding gets random values of every kind bencode.py
takes (and some it refuses), subclasses and values whose methods run Python code.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import shutil
import sys
import sysconfig
from pathlib import Path

import pytest
from bencode_helpers import PURE, C
from hypothesis import given, settings
from hypothesis import strategies as st

from rtpengined.protocol import bencode

needs_c = pytest.mark.skipif(C is None, reason="the C helper is not built")
FIXTURES = Path(__file__).parent / "fixtures"


def shape(value) -> list:
    """A value with its types and order spelled out (``1 == True``, dicts ignore order): its
    nodes in pre-order, containers with their lengths. Built without recursion, so values
    nested as deep as the decoders take (``bencode.MAX_DEPTH``) compare too."""
    nodes, todo = [], [value]
    while todo:
        item = todo.pop()
        if type(item) is dict:
            nodes.append(("dict", len(item)))
            for key, entry in reversed(item.items()):
                todo += (entry, key)
        elif type(item) in (list, tuple):
            nodes.append((type(item).__name__, len(item)))
            todo += reversed(item)
        elif type(item) is float and math.isnan(item):
            nodes.append(("float", "nan"))
        else:
            nodes.append((type(item).__name__, item))
    return nodes


def outcome(func, arg):
    try:
        return ("value", shape(func(arg)))
    except RecursionError:  # the message says where the limit was hit: the type is the point
        return ("raised", RecursionError)
    except Exception as exc:  # noqa: BLE001 - every exception is compared
        return ("raised", type(exc), str(exc))


def same_decoding(raw: bytes) -> None:
    for name in ("decode", "decode_prefix"):
        ours = outcome(getattr(C, name), raw)
        reference = outcome(getattr(PURE, name), raw)
        assert ours == reference, (name, raw[:200])
        # The public function (C for bytes, Python for the rest) agrees as well.
        assert outcome(getattr(bencode, name), raw) == reference
        assert outcome(getattr(bencode, name), bytearray(raw)) == reference


def same_encoding(value) -> None:
    assert outcome(C.encode, value) == outcome(PURE.encode, value)
    assert outcome(bencode.encode, value) == outcome(PURE.encode, value)


# -- the build -------------------------------------------------------------------------------


def test_helper_is_built_where_a_compiler_is():
    """setup.py builds the helper as optional: where a C compiler and the Python headers
    are at hand (CI, the README's install) a missing helper is a broken build."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if shutil.which(compiler) is None or not headers.exists():
        pytest.skip("no C compiler or no Python headers: the helper is not expected")
    assert C is not None, ("rtpengined/protocol/_bencode.c is not built or its build is stale "
                           "(pip install . builds it, or python setup.py build_ext --inplace)")
    assert bencode.ACCELERATED == (not os.environ.get("RTPENGINED_PURE_BENCODE"))


def _fresh_bencode(monkeypatch, pure: bool):
    """A second copy of bencode.py, imported with or without ``RTPENGINED_PURE_BENCODE``."""
    if pure:
        monkeypatch.setenv("RTPENGINED_PURE_BENCODE", "1")
    else:
        monkeypatch.delenv("RTPENGINED_PURE_BENCODE", raising=False)
    spec = importlib.util.spec_from_file_location("rtpengined.protocol._bencode_copy",
                                                  bencode.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_c
def test_environment_forces_the_python_code(monkeypatch):
    pure = _fresh_bencode(monkeypatch, pure=True)
    assert not pure.ACCELERATED
    assert pure.decode is pure.pure_decode and pure.encode is pure.pure_encode
    assert pure.decode(b"d1:ai1ee") == {"a": 1}
    # (Not imported without the variable: that copy would hand the helper its own
    # BencodeError class, which the other tests' helper must not raise.)
    assert bencode.ACCELERATED or os.environ.get("RTPENGINED_PURE_BENCODE")


# -- decoding --------------------------------------------------------------------------------


def _captured_payloads() -> list[bytes]:
    payloads = []
    for line in (FIXTURES / "ng-captures.jsonl").read_text().splitlines():
        entry = json.loads(line)
        for text in (entry.get("request"), entry.get("response")):
            if text and " " in text:
                payload = text.split(" ", 1)[1].encode("utf-8", "surrogateescape")
                if payload[:1] in (b"d", b"l"):
                    payloads.append(payload)
    return payloads


def _sdp(port: int) -> str:
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")


OFFER = PURE.encode({"command": "offer", "call-id": "c1\xff\udcfe", "from-tag": "a",
                     "flags": ["trust-address", "SIP-source-address"], "replace": ["origin"],
                     "ICE": "remove", "rtcp-mux": ["demux"], "sdp": _sdp(30000),
                     "received-from": ["IP4", "203.0.113.7"], "ttl": 60, "neg": -12})
MUTATIONS = [b"e", b"d", b"l", b"i", b":", b"0", b"1", b"9", b"-", b"x", b"\xff", b" "]


@needs_c
def test_captured_messages_decode_the_same():
    payloads = _captured_payloads()
    assert len(payloads) > 100
    for payload in payloads + [OFFER]:
        same_decoding(payload)
        same_decoding(payload + b"trailing")


@needs_c
def test_every_truncation_decodes_the_same():
    for payload in [OFFER] + _captured_payloads()[::25]:
        for cut in range(len(payload)):
            same_decoding(payload[:cut])


@needs_c
def test_corrupted_messages_decode_the_same():
    """A seeded stream of byte replacements, insertions, deletions and splices."""
    rng = random.Random(18)
    payloads = [OFFER] + _captured_payloads()
    for _ in range(20000):
        raw = bytearray(rng.choice(payloads))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(raw) + 1)
            action = rng.randrange(4)
            if action == 0 and at < len(raw):
                raw[at:at + 1] = rng.choice(MUTATIONS)
            elif action == 1:
                raw[at:at] = rng.choice(MUTATIONS)
            elif action == 2:
                del raw[at:at + rng.randint(1, 8)]
            else:
                other = rng.choice(payloads)
                start = rng.randrange(len(other))
                raw[at:at] = other[start:start + rng.randint(1, 40)]
        same_decoding(bytes(raw))


@needs_c
def test_nesting_around_the_depth_limit_decodes_the_same():
    inners = [b"", b"1:a", b"i1e", b"le", b"de", b"1:a1:b", b"1:ai1e", b"x", b"12:ab", b"1:", b"i"]
    for depth in [*range(0, 6), *range(95, 106), 1000, 5000]:
        for inner in inners:
            for opener in (b"l", b"d", b"d1:k"):
                body = opener * depth + inner
                for closing in (b"", b"e" * depth, b"e" * (depth + 1), b"e" * (depth + 2)):
                    same_decoding(body + closing)
            mixed = b"".join(b"l" if level % 2 else b"d1:k" for level in range(depth))
            same_decoding(mixed + inner + b"e" * depth)
    # at the limit itself (MAX_DEPTH + 1 levels are taken), fewer shapes: each decode of
    # 32,000 levels takes tens of milliseconds in Python
    limit = bencode.MAX_DEPTH
    for depth in (limit, limit + 1, limit + 2):
        for inner in (b"", b"1:a", b"le", b"x"):
            for opener in (b"l", b"d1:k"):
                for closing in (b"", b"e" * depth):
                    same_decoding(opener * depth + inner + closing)


ODD_NUMBERS = [
    b"i0e", b"i-0e", b"i00e", b"i-00e", b"i01e", b"i-01e", b"ie", b"i-e", b"i--1e", b"i+1e", b"i 1e",
    b"i1 e", b"i1.5e", b"i1e5e", b"i0x10e", b"i\xd9\xa1e", b"i12", b"i", b"i-",
    b"i9223372036854775807e", b"i9223372036854775808e", b"i-9223372036854775808e",
    b"i-9223372036854775809e", b"i18446744073709551615e", b"i18446744073709551616e",
    b"i9999999999999999999e", b"i-9999999999999999999e", b"i10000000000000000000e",
    b"i" + b"9" * 4300 + b"e", b"i" + b"9" * 4301 + b"e", b"i-" + b"1" * 6000 + b"e",
    b"0:", b"00:", b"01:a", b"1:", b"1:a", b"2:a", b"10:abc", b"9" * 18 + b":x", b"9" * 19 + b":x",
    b"1" * 5000 + b":x", b"1" * 5000, b"3abc", b"3:abcd", b"-1:a", b"1a:b", b"1:\xff", b"2:\xc3\xa9",
    b"4:\xed\xa0\x80x", b"e", b"", b" ", b"x", b"\x00",
]


@needs_c
@pytest.mark.parametrize("raw", ODD_NUMBERS, ids=lambda raw: f"{raw[:12]!r}/{len(raw)}")
def test_odd_numbers_and_strings_decode_the_same(raw):
    for wrapped in (raw, b"l" + raw + b"e", b"d1:k" + raw + b"e", b"d" + raw + b"1:ve", b"l" + raw):
        same_decoding(wrapped)


tokens = st.sampled_from(
    [b"d", b"l", b"e", b"i", b"-", b"0", b"1", b"2", b"5", b"9", b"10", b"19", b":", b"x", b"\xff",
     b"\xc3", b"\xa9", b"1:a", b"3:abc", b"0:", b"i0e", b"i-1e", b"i01e", b"01:a", b"4:sdp",
     b"2:ok", b"7:command", b"4:ping", b"de", b"le"]
)


@needs_c
@settings(max_examples=3000, deadline=None)
@given(st.lists(tokens, max_size=40).map(b"".join))
def test_token_soup_decodes_the_same(raw):
    same_decoding(raw)


@needs_c
@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_decode_the_same(raw):
    same_decoding(raw)


# -- encoding --------------------------------------------------------------------------------


class Text(str):
    def __str__(self) -> str:
        return "text-str"


class Number(int):
    def __str__(self) -> str:
        return "number-str"


class Real(float):
    pass


class Mapping(dict):
    def __iter__(self):  # dict(Mapping) goes through keys(): order reversed
        return iter(reversed(list(dict.keys(self))))

    def keys(self):
        return list(reversed(list(dict.keys(self))))


class Items(list):
    pass


class Pair(tuple):
    pass


class Blob(bytes):
    def __len__(self) -> int:
        return 1

    def __bytes__(self) -> bytes:
        return b"Z"


class Key:
    def __str__(self) -> str:
        return "key\udcff"


scalars = (
    st.integers() | st.integers(min_value=-(1 << 70), max_value=1 << 70) | st.text() | st.booleans()
    | st.binary(max_size=8) | st.binary(max_size=4).map(bytearray) | st.floats()
    | st.sampled_from([Text("t"), Number(7), Real(2.5), Blob(b"blob"), None, object(), {1, 2},
                       1j, "\ud800", "\udcff", "é", 10**30, -(10**30), True, False, -0.0])
)
keys = st.text() | st.integers() | st.sampled_from([Text("k"), Key(), None, 1.5, True, b"b", "\ud800"])
values = st.recursive(
    scalars,
    lambda children: st.lists(children) | st.lists(children).map(tuple)
    | st.lists(children).map(Items) | st.lists(children).map(Pair)
    | st.dictionaries(keys, children) | st.dictionaries(keys, children).map(Mapping),
    max_leaves=30,
)


@needs_c
@settings(max_examples=1000, deadline=None)
@given(values)
def test_random_values_encode_the_same(value):
    same_encoding(value)


@needs_c
def test_reply_shapes_encode_the_same():
    for payload in _captured_payloads():
        try:
            value = PURE.decode(payload)
        except bencode.BencodeError:  # the captures hold malformed requests too
            continue
        same_encoding(value)
        assert C.encode(value) == PURE.encode(value)


@needs_c
@pytest.mark.parametrize("value", [
    object(), None, {1, 2}, 1j, [1, object()], {"a": {"b": [None]}}, "\ud800", {"\ud800": 1},
    {Key(): Text("v")}, 10**5000, [10**5000], {"x": -(10**5000)}, 2**63, -(2**63) - 1, 2**63 - 1,
    -(2**63), math.inf, -math.inf, math.nan, 1e300, 5e-7, 0.0000005, -0.0, Real("nan"),
    Blob(b"abc"), bytearray(b"\x00\xff"), Items([Pair((1, 2))]), Mapping(a=1, b=2),
    {True: 1, 1.5: 2, None: 3, b"k": 4, 7: 5},
], ids=lambda value: type(value).__name__)
def test_odd_values_encode_the_same(value):
    same_encoding(value)


@needs_c
def test_int_digit_limit_applies_alike():
    """A huge int goes to Python's formatting, and so to its digit limit, in both."""
    old = sys.get_int_max_str_digits()
    try:
        sys.set_int_max_str_digits(1000)
        same_encoding([10**999, 10**1000])
    finally:
        sys.set_int_max_str_digits(old)


@needs_c
def test_dict_changed_during_encoding_fails_alike():
    class Growing:
        def __init__(self, target: dict) -> None:
            self.target = target

        def __str__(self) -> str:
            self.target["more"] = 1
            return "grow"

    for codec in (C, PURE):
        target: dict = {}
        target[Growing(target)] = 1
        target["b"] = 2
        with pytest.raises(RuntimeError, match="dictionary changed size during iteration"):
            codec.encode(target)


@needs_c
def test_list_grown_during_encoding_encodes_alike():
    """Python code run for one item (a dict subclass's keys) appends to the list being
    encoded: both go on to the new items, as a list iterator does."""

    def build():
        items: list = ["a"]

        class Appends(dict):
            def __iter__(self):
                return iter(self.keys())

            def keys(self):
                if len(items) < 5:
                    items.append(len(items))
                return list(dict.keys(self))

        items.append(Appends(x=1))
        return items

    assert C.encode(build()) == PURE.encode(build()) == b"l1:ad1:xi1eei2ee"


@needs_c
def test_deep_nesting_fails_alike():
    for depth in (10, 500, 100_000):
        nested_list: list = []
        nested_dict: dict = {}
        inner = nested_dict
        for _ in range(depth):
            nested_list = [nested_list]
            inner["k"] = {}
            inner = inner["k"]
        same_encoding(nested_list)
        same_encoding(nested_dict)
