"""The rule for an SDES offer answered RTP/SAVP without a usable a=crypto
(``offer_answer.sdes.keyless_answer``), and the relay keys it leaves the answerer with
(``NO_KEY``: no context, so everything the answerer sends is refused). What 10.5 does with
such a call, over sockets, is in tests/test_diff_savp_nocrypto.py."""

from __future__ import annotations

import logging

from rtpengined.media import worker
from rtpengined.offer_answer.sdes import NO_KEY, keyless_answer
from rtpengined.secure import sdes

OFFERED = [sdes.parse("crypto:3 AES_CM_128_HMAC_SHA1_32 "
                      "inline:Kl3GFJ5Gqz5x07xYkoyHODkVkSpiplZnXsQIw+Q7"),
           sdes.parse("crypto:1 AES_CM_128_HMAC_SHA1_80 "
                      "inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv")]


def test_the_offerer_gets_its_first_suite_and_tag_with_a_key_of_ours():
    offered_on = sdes.offer(OFFERED)
    ours, theirs, sent_with = keyless_answer(OFFERED, offered_on)
    assert (ours.tag, ours.suite.name) == (3, "AES_CM_128_HMAC_SHA1_32")
    assert not ours.same_keys(OFFERED[0])
    assert theirs is OFFERED[0]  # (what the offerer's SRTP is decrypted with)
    # the answerer is still sent with the first line offered to it: the offerer's own
    assert sent_with is offered_on[0] and sent_with.same_keys(OFFERED[0])


def test_a_key_answered_before_is_kept_while_the_suite_is_the_same():
    kept = sdes.answer(OFFERED)
    assert keyless_answer(OFFERED, [], kept)[0] is kept
    other = sdes.generate(3, "AES_CM_128_HMAC_SHA1_80")
    assert keyless_answer(OFFERED, [], other)[0] is not other


def test_nothing_offered_to_the_answerer_leaves_it_no_line():
    assert keyless_answer(OFFERED, [])[2] is None


def test_no_offered_suite_no_answer():
    assert keyless_answer([], sdes.offer([]))[:2] == (None, None)


def test_no_key_builds_no_context_and_logs_nothing(caplog):
    with caplog.at_level(logging.DEBUG):
        assert worker._srtp_context(NO_KEY, outbound=False) is None
        assert worker._srtp_context(NO_KEY, outbound=True) is None
    assert not caplog.records
