"""The warnings for words 10.5 does not know (sans-I/O; the lines themselves are checked
beside 10.5 in ``test_diff_control_log``)."""

from __future__ import annotations

from rtpengined import ng_vocabulary


def _lines(command: str, **message) -> list[str]:
    return [line for _, line, _ in ng_vocabulary.warnings(command, message)]


def test_known_keys_with_known_values_say_nothing():
    assert _lines("offer", ICE="force", replace=["origin", "session name"],
                  codec={"strip": ["PCMA"], "transcode": ["G722"]},
                  **{"rtcp-mux": ["demux"], "DTMF-security": "drop", "T.38": ["no V.17"]}) == []


def test_values_are_checked_in_the_message_order():
    assert _lines("offer", ICE="sometimes", flags=["nope"], bogus=1) == [
        "Unknown 'ICE' flag encountered: 'sometimes'", "Unknown flag encountered: 'nope'",
        "Unknown dictionary key encountered: 'bogus'"]


def test_a_value_that_is_no_string():
    # one word read: the empty word; a list: the item skipped; a list expected: ignored
    assert _lines("answer", DTLS=3, replace=[3, "x"], SDES="no") == [
        "Unknown 'DTLS' flag encountered: ''", "Unknown 'replace' flag encountered: 'x'"]


def test_codec_operations():
    assert _lines("answer", codec={"mask": [], "bogus": []}) == [
        "Unknown 'codec' operation encountered: 'bogus'"]


def test_commands_that_read_no_flags():
    assert _lines("query", ICE="what", bogus=1) == []


def test_a_feature_10_5_does_not_have_is_an_info_line_it_limits():
    assert ng_vocabulary.warnings("offer", {"supports": ["load limit", "telepathy", 3]}) == [
        (20, "Optional feature 'telepathy' not supported", True)]
