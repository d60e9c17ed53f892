"""Options of an ng request read as 10.5 reads them (``Options.from_message``): codec flags, ptime.

10.5 takes ``transcode-X`` as ``codec-transcode-X`` (its flag parser tries both prefixes);
rtpengine's own suites spell it so from mr12.0 on. We knew the long spelling only, so such
an offer kept its masked codecs' absence and got nothing to transcode to.
"""

from __future__ import annotations

from rtpengined.ngoptions import Options


def _transcode(*flags: str) -> list[str]:
    return list(Options.from_message({"command": "offer", "flags": list(flags)}).transcode)


def test_transcode_flag_without_the_codec_prefix():
    assert _transcode("transcode-opus") == ["opus"]


def test_both_spellings_keep_the_order_given():
    assert _transcode("transcode-PCMA", "codec-transcode-G722", "transcode-opus/48000/1") == [
        "PCMA", "G722", "opus/48000/1"]


def test_flags_that_only_contain_transcode_are_not_codecs():
    assert _transcode("always-transcode", "no-transcode") == []


def test_ptime_is_a_c_int_as_10_5_keeps_it():
    def ptimes(value):
        options = Options.from_message({"command": "offer", "ptime": value,
                                        "ptime-reverse": value})
        return options.ptime, options.ptime_reverse

    assert ptimes(30) == (30, 30)
    assert ptimes(2**32 + 20) == (20, 20)
    assert ptimes(str(2**32 + 20)) == (20, 20)
    assert ptimes(2**31 + 20) == (-(2**31) + 20, -(2**31) + 20)  # (negative: no a=ptime)
    assert ptimes(99999999999999999999) == (-1, -1)  # (clamped to 64 bits, then cut)
    assert ptimes("abc") == (None, None)
