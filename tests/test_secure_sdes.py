"""SDES `a=crypto` handling shaped like rtpengine 10.5's output (captured in fixtures)."""

import base64

import pytest
from secure_helpers import CAPTURES, lines, mask_key

from rtpengined.secure import sdes


def test_every_captured_crypto_line_formats_back_byte_for_byte():
    seen = 0
    for case in CAPTURES.values():
        for step in ("offer_reply", "answer_reply"):
            if isinstance(case.get(step), dict):
                for ln in case[step].get("sdp", "").splitlines():
                    if ln.startswith("a=crypto:"):
                        assert "a=" + sdes.parse(ln).format() == ln
                        seen += 1
    assert seen > 100


def test_plain_offer_gets_every_suite_in_rtpengines_order_and_shape():
    want = [mask_key(v) for v in lines("plain-to-savp-offer", "offer_reply", "crypto:")]
    assert [mask_key(c.format()) for c in sdes.offer([])] == want


def test_session_parameters_from_the_sdes_flags():
    want = [mask_key(v) for v in lines("plain-to-savp-offer-sdes-params", "offer_reply", "crypto:")]
    opts = CAPTURES["plain-to-savp-offer-sdes-params"]["offer"]["SDES"]
    assert [mask_key(c.format()) for c in sdes.offer([], opts)] == want


def test_no_suite_flag_removes_it_and_tags_stay_dense():
    want = [mask_key(v) for v in lines("plain-to-savp-offer-no-32", "offer_reply", "crypto:")]
    got = sdes.offer([], ["no-AES_CM_128_HMAC_SHA1_32"])
    assert [mask_key(c.format()) for c in got] == want


def test_sdes_offer_keeps_offered_lines_then_adds_the_missing_suites():
    received = [sdes.parse(v) for v in lines("sdes-offer-passthrough", "offer", "crypto:")]
    want = lines("sdes-offer-passthrough", "offer_reply", "crypto:")
    got = [c.format() for c in sdes.offer(received)]
    assert got[:2] == want[:2]  # the offerer's keys, lifetime dropped, MKI kept
    assert "|2^31" in CAPTURES["sdes-offer-passthrough"]["offer"]["sdp"] and "|1:4" in got[1]
    assert [mask_key(v) for v in got[2:]] == [mask_key(v) for v in want[2:]]


def test_answer_picks_the_first_offered_suite_with_a_new_key():
    offered = [sdes.parse(v) for v in lines("sdes-offer-to-plain", "offer", "crypto:")]
    want = lines("sdes-offer-to-plain", "answer_reply", "crypto:")
    got = sdes.answer(offered)
    assert [mask_key(got.format())] == [mask_key(v) for v in want]
    assert got.key_salt != offered[0].key_salt


def test_answer_keeps_tag_and_session_flags_and_honours_supported():
    offered = [sdes.generate(5, "F8_128_HMAC_SHA1_80"),
               sdes.generate(7, "AES_CM_128_HMAC_SHA1_32", {"UNENCRYPTED_SRTCP"})]
    got = sdes.answer(offered, supported=("AES_CM_128_HMAC_SHA1_32",))
    assert (got.tag, got.suite.name, got.flags) == (7, "AES_CM_128_HMAC_SHA1_32", {"UNENCRYPTED_SRTCP"})
    assert sdes.answer(offered, supported=("AEAD_AES_128_GCM",)) is None


def test_parse_fields():
    c = sdes.parse("a=crypto:12 AES_CM_128_HMAC_SHA1_32 "
                   "inline:Kl3GFJ5Gqz5x07xYkoyHODkVkSpiplZnXsQIw+Q7|2^20|7:2 UNENCRYPTED_SRTP KDR=1")
    raw = base64.b64decode("Kl3GFJ5Gqz5x07xYkoyHODkVkSpiplZnXsQIw+Q7")
    assert (c.tag, c.key, c.salt, c.lifetime, c.mki) == (12, raw[:16], raw[16:], 2**20, (7, 2))
    assert c.flags == {"UNENCRYPTED_SRTP"} and c.other_params == ("KDR=1",)
    assert c.format() == ("crypto:12 AES_CM_128_HMAC_SHA1_32 inline:Kl3GFJ5Gqz5x07xYkoyHODkVkSpiplZnXsQIw+Q7"
                          "|7:2 UNENCRYPTED_SRTP KDR=1")
    assert sdes.parse("crypto:1 AEAD_AES_128_GCM inline:" + "A" * 38).suite.salt_len == 12


@pytest.mark.parametrize("value", [
    "crypto:1 AES_CM_128_HMAC_SHA1_80",
    "crypto:x AES_CM_128_HMAC_SHA1_80 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv",
    "crypto:1 AES_CM_999 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv",
    "crypto:1 AES_CM_128_HMAC_SHA1_80 uri:sip:x",
    "crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c!OJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv",
    "crypto:1 AES_CM_128_HMAC_SHA1_80 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0i",
    "crypto:1 AES_256_CM_HMAC_SHA1_80 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv",
    "crypto:1 AES_CM_128_HMAC_SHA1_80 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv|1:0",
    "crypto:1 AES_CM_128_HMAC_SHA1_80 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv|1:4|2^31",
    "crypto:1 AES_CM_128_HMAC_SHA1_80 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv|x",
])
def test_bad_attributes_raise_a_clear_error(value):
    with pytest.raises(sdes.SdesError):
        sdes.parse(value)


def test_generated_keys_are_fresh_and_sized():
    keys = {sdes.generate(1, s).key_salt for s in sdes.SUITES for _ in range(3)}
    assert len(keys) == 3 * len(sdes.SUITES)
    for s in sdes.SUITES:
        c = sdes.generate(1, s)
        assert (len(c.key), len(c.salt)) == (s.key_len, s.salt_len)


def test_an_answer_selects_one_of_our_offered_attributes():
    ours = sdes.offer([])
    answered, = [sdes.parse(v) for v in lines("plain-to-savp-answered-savp", "answer", "crypto:")]
    assert (answered.tag, ours[0].tag, ours[0].suite.name) == (1, 1, "AEAD_AES_256_GCM")
    chosen = sdes.accept_answer(ours, answered)  # tag 1 is another suite here: the suite decides
    assert (chosen.tag, chosen.suite.name) == (7, "AES_CM_128_HMAC_SHA1_80")
    assert chosen.key_salt != answered.key_salt
    same = sdes.generate(8, "AES_CM_128_HMAC_SHA1_32")
    assert sdes.accept_answer(ours, same) is ours[7]
    with pytest.raises(sdes.SdesError, match="not offered"):
        sdes.accept_answer(sdes.offer([], ["no-AES_CM_128_HMAC_SHA1_32"]), same)
