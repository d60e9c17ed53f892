"""Transcoding between the G.711 laws, sans-I/O: what an offer adds and an answer chooses
(``codec_negotiation``) and the packets a converting direction sends (``media.transcoding``).

The figures are rtpengine 10.5's, measured with it (``test_diff_transcoding.py`` compares
both daemons over real sockets)."""

from __future__ import annotations

import struct
from array import array

import av
import hypothesis
import hypothesis.strategies as st

from rtpengined import codec_negotiation as negotiation
from rtpengined import sdp as sdpmod
from rtpengined.media import codecs, dtmf, g711, transcoding
from rtpengined.media.avcodec import AvConverter
from rtpengined.media.transcoding import Codecs, Direction, Events, Tones, event_shift

TO_PCMU = {8: (0, g711.ALAW_TO_ULAW, 160)}  # (pt out, table, samples per frame)


def section(formats: str, *attributes: str) -> sdpmod.MediaSection:
    text = "\r\n".join(["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
                        f"m=audio 2000 RTP/AVP {formats}", *attributes]) + "\r\n"
    return sdpmod.parse(text).medias[0]


def rtp(pt: int, seq: int, ts: int, payload: bytes = b"\x00" * 160, ssrc: int = 0x5678) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + payload


def fields(packet: bytes) -> tuple[int, int, int, int]:
    _, pt, seq, ts = struct.unpack("!BBHI", packet[:8])
    return pt, seq, ts, len(packet) - 12


# -- the offer --------------------------------------------------------------------------

def test_transcode_adds_the_codec_under_its_static_type_before_telephone_event():
    media = section("0 101", "a=rtpmap:101 telephone-event/8000")
    formats, added = negotiation.offer_formats(media, [], [], [], ["PCMA"])
    assert formats == ["0", "8", "101"] and added == [("8", "PCMA/8000")]


def test_transcode_keeps_the_spelling_and_takes_a_dynamic_type_when_the_static_one_is_used():
    media = section("8 96", "a=rtpmap:8 PCMU/8000", "a=rtpmap:96 opus/48000/2")
    assert negotiation.offer_formats(media, [], [], [], ["pcma"]) == (
        ["8", "96", "97"], [("97", "pcma/8000")])


def test_transcode_of_a_codec_the_offer_has_or_cannot_be_converted_adds_nothing():
    media = section("0 8")
    assert negotiation.offer_formats(media, [], [], [], ["PCMU", "AMR", "PCMA/16000"]) == (
        ["0", "8"], [])
    # (GSM and G.729 are encoded by libgsm and bcg729 now: added as 10.5 adds them)
    assert negotiation.offer_formats(media, [], [], [], ["GSM", "G729"]) == (
        ["0", "8", "3", "18"], [("3", "GSM/8000"), ("18", "G729/8000")])
    speex = section("97", "a=rtpmap:97 speex/8000")  # (its first codec cannot be converted)
    assert negotiation.offer_formats(speex, [], [], [], ["PCMA"]) == (["97"], [])


def test_transcode_adds_g722_and_opus_as_10_5_writes_them():
    media = section("0 8")
    assert negotiation.offer_formats(media, [], [], [], ["G722", "opus"]) == (
        ["0", "8", "9", "96"], [("9", "G722/8000"), ("96", "opus/48000/2")])
    assert negotiation.offer_formats(media, [], [], [], ["opus/48000/1"])[1] == [
        ("96", "opus/48000")]


def test_a_mask_hiding_every_codec_leaves_the_added_ones():
    media = section("0 101", "a=rtpmap:101 telephone-event/8000")
    formats, _ = negotiation.offer_formats(media, ["all"], [], ["all"], ["PCMA"])
    assert formats == ["8"]


def test_adding_a_codec_at_another_clock_rate_adds_telephone_event_at_it():
    # (10.5's supplemental codec tracker: the first free dynamic type, before the first
    # telephone-event already listed)
    media = section("0 101", "a=rtpmap:101 telephone-event/8000")
    assert negotiation.offer_formats(media, [], [], [], ["opus"]) == (
        ["0", "96", "97", "101"], [("96", "opus/48000/2"), ("97", "telephone-event/48000")])
    opus = section("96 97", "a=rtpmap:96 opus/48000/2", "a=rtpmap:97 telephone-event/48000")
    assert negotiation.offer_formats(opus, [], [], [], ["PCMU"]) == (
        ["96", "0", "98", "97"], [("0", "PCMU/8000"), ("98", "telephone-event/8000")])
    cn = section("0 13")  # comfort noise alike
    assert negotiation.offer_formats(cn, [], [], [], ["opus"]) == (
        ["0", "96", "97", "13"], [("96", "opus/48000/2"), ("97", "CN/48000")])
    assert negotiation.made_fmtps("telephone-event/48000") == ["0-15"]


def test_transcode_cn_adds_comfort_noise_under_13_before_telephone_event():
    assert negotiation.offer_formats(section("0"), [], [], [], ["CN"]) == (
        ["0", "13"], [("13", "CN/8000")])
    media = section("0 101", "a=rtpmap:101 telephone-event/8000")
    assert negotiation.offer_formats(media, [], [], [], ["CN"]) == (
        ["0", "13", "101"], [("13", "CN/8000")])
    # at the other clock rates too: CN first, then telephone-event, before the offer's own
    opus = section("96 0 101", "a=rtpmap:96 opus/48000/2", "a=rtpmap:101 telephone-event/8000")
    assert negotiation.offer_formats(opus, [], [], [], ["CN"]) == (
        ["96", "0", "13", "97", "98", "101"],
        [("13", "CN/8000"), ("97", "CN/48000"), ("98", "telephone-event/48000")])


def test_telephone_event_at_a_clock_rate_left_without_codecs_goes():
    media = section("96 0 97 101", "a=rtpmap:96 opus/48000/2",
                    "a=rtpmap:97 telephone-event/48000", "a=rtpmap:101 telephone-event/8000")
    assert negotiation.offer_formats(media, ["opus"], [], ["opus"], ["PCMA"]) == (
        ["0", "8", "101"], [("8", "PCMA/8000")])


def test_codecs_10_5_cannot_decode_and_encode_leave_an_offer_that_adds_one():
    silk = section("96 0", "a=rtpmap:96 SILK/8000")
    assert negotiation.offer_formats(silk, [], [], [], ["PCMA"]) == (
        ["0", "8"], [("8", "PCMA/8000")])
    amr = section("0 102", "a=rtpmap:102 AMR/8000")
    assert negotiation.offer_formats(amr, [], [], [], ["PCMA"]) == (
        ["0", "8"], [("8", "PCMA/8000")])
    assert negotiation.offer_formats(amr, [], [], [], []) == (["0", "102"], [])  # (none added)
    vorbis = section("96 0", "a=rtpmap:96 vorbis/48000")  # (fully supported: kept)
    assert negotiation.offer_formats(vorbis, [], [], [], ["PCMA"])[0] == ["96", "0", "8"]


def test_a_re_offer_carries_the_for_transcoding_mark_by_payload_type_number():
    """6187's calls: the answer took the telephone-event/48000 made for it, so the answerer's
    codec store (after 10.5's tracker) holds a telephone-event/8000 for transcoding under
    96; a re-offer listing opus under 96 touches 48000, and telephone-event is offered at
    that rate under the first free type, before the offer's own."""
    answer = section("3 98", "a=rtpmap:3 GSM/8000", "a=rtpmap:98 telephone-event/48000")
    held = negotiation.answered_for_transcoding(answer, frozenset({"98", "97"}))
    assert held == frozenset({"96"})
    reoffer = section("9 96 3 18 101", "a=rtpmap:96 opus/48000/2",
                      "a=rtpmap:101 telephone-event/8000")
    sent, made = negotiation.carried_supplements(reoffer, list(reoffer.formats), [], held)
    assert sent == ["9", "96", "3", "18", "97", "101"]
    assert made == [("97", "telephone-event/48000")]
    assert negotiation.offered_for_transcoding(reoffer, sent, made, held) == {"96", "97"}


def test_the_offered_format_list_is_the_options_then_the_tracker_then_the_carried_mark():
    """``offered_format_list``, what accepted and refused offers both send: the same steps
    as the functions it chains, and without options or mark the list as it is."""
    reoffer = section("9 96 3 18 101", "a=rtpmap:96 opus/48000/2",
                      "a=rtpmap:101 telephone-event/8000")
    plain = list(reoffer.formats)
    assert negotiation.offered_format_list(reoffer, plain, [], [], [], [], [], frozenset()) == (
        plain, [], frozenset())
    assert negotiation.offered_format_list(
        reoffer, plain, [], [], [], [], [], frozenset({"96"})) == (
        ["9", "96", "3", "18", "97", "101"], [("97", "telephone-event/48000")],
        frozenset({"96", "97"}))
    opus = section("96 0 101", "a=rtpmap:96 opus/48000/2", "a=rtpmap:101 telephone-event/8000")
    assert negotiation.offered_format_list(
        opus, list(opus.formats), [], [], [], ["CN"], [], frozenset()) == (
        ["96", "0", "13", "97", "98", "101"],
        [("13", "CN/8000"), ("97", "CN/48000"), ("98", "telephone-event/48000")],
        frozenset({"13", "97", "98"}))
    stripped = section("0 8 101", "a=rtpmap:101 telephone-event/8000")
    kept = sdpmod.filter_codecs(stripped, ["telephone-event"], [])
    assert negotiation.offered_format_list(
        stripped, kept, ["telephone-event"], [], [], [], [], frozenset()) == (
        *negotiation.stripped_supplements(stripped, kept, sdpmod.filter_codecs(
            stripped, ["telephone-event"], [], orphans=True)), frozenset())


def test_no_mark_carried_leaves_a_re_offer_as_it_is():
    reoffer = section("0 101", "a=rtpmap:101 telephone-event/8000")
    assert negotiation.carried_supplements(reoffer, ["0", "101"], [], frozenset({"8"})) == (
        ["0", "101"], [])
    assert negotiation.answered_for_transcoding(reoffer, frozenset({"8"})) == frozenset()

# -- the answer -------------------------------------------------------------------------

def _offered(formats: str, *attributes: str, sent: list[str] | None = None,
             mask: list[str] = (), accept: list[str] = (), always: bool = False):
    media = section(formats, *attributes)
    kept = sdpmod.filter_codecs(media, list(mask), [])
    return negotiation.offered(media, kept, None, None,
                               list(media.formats) if mask else None, list(accept), always,
                               sent if sent is not None else kept)


def _answered(offer, formats: str, *attributes: str) -> list[tuple[str, str]]:
    media = section(formats, *attributes)
    return [(c.pt, c.rtpmap) for c in negotiation.answer_codecs(media, media.formats, offer)]


def test_an_answer_taking_only_the_added_codec_gets_the_offerers_first():
    offer = _offered("0", sent=["0", "8"])
    assert _answered(offer, "8") == [("0", "PCMU/8000")]
    assert _answered(offer, "8 0") == [("0", "PCMU/8000")]


def test_telephone_event_alone_in_common_still_gets_the_first_codec_when_converting():
    te = ("a=rtpmap:101 telephone-event/8000",)
    offer = _offered("0 101", *te, sent=["0", "8", "101"])
    assert _answered(offer, "8 101", *te) == [("0", "PCMU/8000"),
                                              ("101", "telephone-event/8000")]
    plain = _offered("0 101", *te)  # (without transcoding options, 10.5 answers just that)
    assert _answered(plain, "8 101", *te) == [("101", "telephone-event/8000")]


def test_accept_and_always_transcode_choose_the_offerers_codec():
    assert _answered(_offered("0 8", accept=["PCMU"]), "8") == [("0", "PCMU/8000")]
    assert _answered(_offered("0 8", accept=["pcma"]), "0") == [("8", "PCMA/8000")]
    assert _answered(_offered("8 0", always=True), "0") == [("8", "PCMA/8000")]


def test_a_reoffer_first_listing_a_codec_added_for_it_is_answered_that_codec():
    """B took the PCMA an offer added (``transcode``) and re-offers it first: 10.5 keeps it
    marked for transcoding and answers B with it alone, whatever A answers."""
    added_for_b = negotiation.offered(section("0"), ["0"], None, added=[("8", "PCMA/8000")])
    reoffer = section("8 0 101", "a=rtpmap:101 telephone-event/8000")
    kept = negotiation.kept_conversion(added_for_b, ["8"], reoffer)
    assert kept == ("8", "PCMA/8000")
    offer = negotiation.offered(reoffer, list(reoffer.formats), None, prefer=kept)
    assert _answered(offer, "0") == [("8", "PCMA/8000")]
    assert _answered(offer, "0 8 101", "a=rtpmap:101 telephone-event/8000") == [
        ("8", "PCMA/8000")]
    # Not when B had not kept it (its answer left it out), not for a codec B lists second,
    # not without an offer that added it.
    assert negotiation.kept_conversion(added_for_b, ["0"], reoffer) is None
    assert negotiation.kept_conversion(added_for_b, ["8"], section("0 8")) is None
    assert negotiation.kept_conversion(_offered("0"), ["8"], reoffer) is None


def test_a_masked_codec_may_still_be_answered_to_the_offerer():
    offer = _offered("0 8", mask=["PCMU"], accept=["PCMU"])
    assert offer.codecs == (("8", "PCMA/8000"),)
    assert _answered(offer, "8") == [("0", "PCMU/8000")]


def test_the_answer_keeps_its_own_spelling_of_a_codec_the_offer_has():
    offer = _offered("0", "a=rtpmap:0 pcmu/8000")
    assert _answered(offer, "0", "a=rtpmap:0 PCMU/8000") == [("0", "PCMU/8000")]
    opus = _offered("96", "a=rtpmap:96 opus/48000/2")  # (another channel count: the offer's)
    assert _answered(opus, "96", "a=rtpmap:96 opus/48000") == [("96", "opus/48000/2")]


def test_conversions_go_to_the_receivers_first_codec_for_what_it_was_not_answered():
    answered_a = [("0", "PCMU/8000"), ("101", "telephone-event/8000")]
    answered_b = [("8", "PCMA/8000"), ("0", "PCMU/8000"), ("101", "telephone-event/8000")]
    assert negotiation.conversions(answered_b, answered_a) == (
        (8, 0, "PCMA", "PCMU", 160),
        (101, 101, "TELEPHONE-EVENT/8000", "TELEPHONE-EVENT/8000", 0))  # (on the clock)
    assert negotiation.conversions(answered_a, answered_b) == ()  # B takes PCMU as it is
    # through libavcodec: frames of 20 ms on the target's RTP clock
    assert negotiation.conversions([("9", "G722/8000")], answered_a) == (
        (9, 0, "G722", "PCMU", 160),)
    assert negotiation.conversions([("0", "PCMU/8000")], [("96", "opus/48000/2")]) == (
        (0, 96, "PCMU", "OPUS", 960),)
    assert negotiation.conversions([("97", "AMR/8000")], answered_a) == ()  # (decode only)
    assert negotiation.conversions([("3", "GSM/8000")], answered_a) == (
        (3, 0, "GSM", "PCMU", 160),)  # (libavcodec decodes, libgsm encodes)
    # G.723.1: 30 ms frames whatever the packet time asked, unless a multiple of them
    assert negotiation.conversions([("0", "PCMU/8000")], [("4", "G723/8000")]) == (
        (0, 4, "PCMU", "G723", 240),)
    assert negotiation.conversions([("0", "PCMU/8000")], [("4", "G723/8000")], ptime=60) == (
        (0, 4, "PCMU", "G723", 480),)


def test_an_added_codec_answered_first_takes_every_codec_the_offerer_sends():
    """10.5's sink codec "for transcoding" first in the answer: A's PCMU, which B takes as
    it is too, goes out in it; a first codec of the offerer's own changes nothing."""
    offer = negotiation.Offered(codecs=(("0", "PCMU/8000"),), sent=("0", "8"))
    answered_a = [("0", "PCMU/8000"), ("101", "telephone-event/8000")]
    added_first = [("8", "PCMA/8000"), ("0", "PCMU/8000"), ("101", "telephone-event/8000")]
    assert negotiation.added_first(offer, added_first)
    assert not negotiation.added_first(offer, added_first[1:])
    assert negotiation.conversions(answered_a, added_first, into_first=True) == (
        (0, 8, "PCMU", "PCMA", 160),
        (101, 101, "TELEPHONE-EVENT/8000", "TELEPHONE-EVENT/8000", 0))



def test_codecs_the_offer_added_and_the_answer_left_out_are_still_converted():
    """10.5 keeps its codec handlers from the offer: an answerer that answered PCMU but sends
    the G.722 or PCMA the offer added reaches the offerer converted; a codec of the
    offerer's own, or telephone-event/CN the offer made, is none of them."""
    offer = negotiation.Offered(
        codecs=(("0", "PCMU/8000"), ("8", "PCMA/8000")), sent=("0", "8", "9", "101", "13"),
        added=(("9", "G722/8000"), ("101", "telephone-event/8000"), ("13", "CN/8000")))
    assert negotiation.unanswered_added(offer, [("0", "PCMU/8000")]) == [("9", "G722/8000")]
    assert negotiation.unanswered_added(offer, [("9", "G722/8000")]) == []
    assert negotiation.unanswered_added(negotiation.Offered(codecs=offer.codecs),
                                        [("0", "PCMU/8000")]) == []

def test_codec_frames_follow_the_packet_time_unless_the_codec_fixes_them():
    assert codecs.codec("G723").frame(20) == codecs.codec("G723").frame(30) == 240
    assert codecs.codec("g723").frame(90) == 720
    assert codecs.codec("PCMU").frame(30) == 240 and codecs.codec("G722").frame(20) == 160
    assert codecs.codec("opus").frame(20) == 960


def test_kept_ssrcs_for_copies_and_their_own_for_directions():
    kept = Direction(keep_ssrc=True)
    out = kept.rewrite(rtp(8, 10, 1600, ssrc=0x4242), TO_PCMU)
    assert out[0][8:12] == (0x4242).to_bytes(4, "big")
    assert Direction().rewrite(rtp(8, 10, 1600, ssrc=0x4242), TO_PCMU)[0][8:12] != out[0][8:12]


def test_conversions_carry_telephone_event_to_the_receivers_at_its_codecs_rate():
    pcma = [("8", "PCMA/8000"), ("101", "telephone-event/8000")]
    opus = [("96", "opus/48000/2"), ("97", "telephone-event/48000")]
    assert negotiation.conversions(pcma, opus) == (
        (8, 96, "PCMA", "OPUS", 960),
        (101, 97, "TELEPHONE-EVENT/8000", "TELEPHONE-EVENT/48000", 0))
    assert negotiation.conversions(opus, pcma)[1] == (
        97, 101, "TELEPHONE-EVENT/48000", "TELEPHONE-EVENT/8000", 0)
    # the same payload type at the same rate: still stamped on the audio's clock (10.5,
    # probed: an event after a gap in the audio, or with samples of a new ptime pending)
    pcmu = [("0", "PCMU/8000"), ("101", "telephone-event/8000")]
    assert negotiation.conversions(pcma, pcmu) == (
        (8, 0, "PCMA", "PCMU", 160),
        (101, 101, "TELEPHONE-EVENT/8000", "TELEPHONE-EVENT/8000", 0))


def test_comfort_noise_becomes_audio_for_a_party_without_cn():
    # (with the G.711 codecs both have going through the same encoder clock)
    sent = [("0", "PCMU/8000"), ("13", "CN/8000")]
    assert negotiation.conversions(sent, [("0", "PCMU/8000")]) == (
        (0, 0, "PCMU", "PCMU", 160), (13, 0, "CN", "PCMU", 160))
    assert negotiation.conversions(sent, sent) == ()  # (the receiver takes CN as it is)

# -- the packets ------------------------------------------------------------------------

def test_a_direction_renumbers_passes_converts_and_survives_a_sequence_reset():
    direction = Direction()
    sent = [(0, 2000, 4000), (0, 2000, 4000), (0, 2001, 4160), (0, 2010, 5600),
            (8, 2011, 5760), (8, 62011, 5920), (8, 62012, 6080), (0, 62013, 6240),
            (8, 62013, 6400), (8, 62014, 6560)]
    out = [direction.rewrite(rtp(pt, seq, ts), TO_PCMU) for pt, seq, ts in sent]
    assert [[fields(p)[:3] for p in packets] for packets in out] == [
        [(0, 2000, 4000)], [(0, 2000, 4000)], [(0, 2001, 4160)], [(0, 2010, 5600)],
        [(0, 2011, 5760)], [(0, 2012, 5920)], [(0, 2013, 6080)], [(0, 2014, 6240)],
        [(0, 2014, 6240)], [(0, 2015, 6400)]]
    ssrcs = {p[8:12] for packets in out for p in packets}
    assert len(ssrcs) == 1 and ssrcs != {struct.pack("!I", 0x5678)}
    assert out[4][0][12:] == b")" * 160  # A-law 0x00 is µ-law 0x29



def test_a_passing_direction_converts_only_what_it_names_and_keeps_the_rest():
    """``passes`` (a direction 10.5 passes through but for codecs the offer added): what is
    not converted goes out as it came, numbers unshifted; converted packets keep the SSRC
    and are numbered from the packet."""
    direction = Direction(keep_ssrc=True, passes=True)
    sent = [(0, 100, 1000), (8, 101, 1160), (8, 102, 1320), (0, 103, 1480)]
    out = [direction.rewrite(rtp(pt, seq, ts), TO_PCMU) for pt, seq, ts in sent]
    assert out[0] == [rtp(0, 100, 1000)] and out[3] == [rtp(0, 103, 1480)]
    assert [fields(p)[:3] for p in out[1] + out[2]] == [(0, 101, 1160), (0, 102, 1320)]
    assert {p[8:12] for p in out[1] + out[2]} == {struct.pack("!I", 0x5678)}


def test_a_tally_counts_what_goes_into_each_conversion_as_10_5_does():
    """Packets and payload bytes on their way in (a duplicate too), samples as decoded;
    what passes unconverted is not counted."""
    tally = transcoding.Tally()
    direction = Direction(tally=tally)
    table = {8: (0, g711.ALAW_TO_ULAW, 160, None, None, "PCMA", "PCMU")}
    for pt, seq in ((8, 1), (8, 2), (8, 2), (0, 3)):
        direction.rewrite(rtp(pt, seq, seq * 160), table)
    assert tally.take() == [("PCMA", "PCMU", 3, 480, 320)]
    assert tally.take() == []

def test_converted_audio_goes_out_in_20_ms_frames_on_the_encoders_clock():
    direction = Direction()
    sizes = [(1, 1000, 80), (2, 1080, 80), (3, 1160, 240), (4, 1400, 240), (5, 1640, 160),
             (6, 1800, 400), (9, 4000, 160)]
    out = [[fields(p) for p in direction.rewrite(rtp(8, seq, ts, b"\x55" * size), TO_PCMU)]
           for seq, ts, size in sizes]
    assert out == [[], [(0, 1, 1000, 160)], [(0, 2, 1160, 160)],
                   [(0, 3, 1320, 160), (0, 4, 1480, 160)], [(0, 5, 1640, 160)],
                   [(0, 6, 1800, 160), (0, 7, 1960, 160)], [(0, 10, 2120, 160)]]


def test_late_duplicates_are_dropped_and_each_source_gets_its_own_ssrc():
    direction = Direction()
    first = direction.rewrite(rtp(8, 10, 1600), TO_PCMU)
    assert direction.rewrite(rtp(8, 5, 800), TO_PCMU) == []  # 6 behind the next expected
    other = direction.rewrite(rtp(8, 500, 9000, ssrc=0x9999), TO_PCMU)
    assert fields(other[0])[:3] == (0, 500, 9000)
    assert first[0][8:12] != other[0][8:12]


def test_converted_frames_have_plain_headers_without_the_marker():
    direction = Direction()
    extended = (bytes([0x91, 0x88]) + struct.pack("!HII", 7, 700, 1) + b"CSRC"
                + b"\xbe\xde\x00\x01EXTN" + b"\x00" * 320)
    out = direction.rewrite(extended, TO_PCMU)
    assert [fields(p) for p in out] == [(0, 7, 700, 160), (0, 8, 860, 160)]  # (10.5)
    assert all(p[0] == 0x80 for p in out)


def test_what_is_not_rtp_passes_unchanged():
    direction = Direction()
    assert direction.rewrite(b"\x00\x01\x02", TO_PCMU) == [b"\x00\x01\x02"]
    stun = b"\x00\x01\x00\x00" + b"\x21\x12\xa4\x42" + bytes(12)
    assert direction.rewrite(stun, TO_PCMU) == [stun]


def test_a_packet_after_a_gap_waits_for_the_missing_one_unless_60_ms_have_passed():
    direction = Direction()
    assert [fields(p)[1] for p in direction.rewrite(rtp(8, 1, 1000), TO_PCMU)] == [1]
    assert direction.rewrite(rtp(8, 3, 1320), TO_PCMU) == []  # 40 ms on: waits for 2
    assert [fields(p)[1:3] for p in direction.rewrite(rtp(8, 2, 1160), TO_PCMU)] == [
        (2, 1160), (3, 1320)]
    # 60 ms past the last one decoded (3, at 1320): no more waiting for 4 and 5
    assert [fields(p)[1:3] for p in direction.rewrite(rtp(8, 6, 1800), TO_PCMU)] == [
        (6, 1480)]
    assert direction.rewrite(rtp(8, 4, 1480), TO_PCMU) == []  # late now: dropped


def test_ten_waiting_packets_give_up_on_a_gap():
    direction = Direction()
    direction.rewrite(rtp(8, 1, 1000), TO_PCMU)
    for seq in range(3, 12):  # (same timestamp: never 60 ms on)
        assert direction.rewrite(rtp(8, seq, 1000), TO_PCMU) == []
    released = direction.rewrite(rtp(8, 12, 1000), TO_PCMU)
    assert [fields(p)[1] for p in released] == list(range(3, 13))


def test_repacketizing_keeps_the_codec_and_frames_to_the_receivers_ptime():
    direction = Direction()
    same = {0: (0, None, 240)}  # PCMU stays PCMU, 30 ms frames
    out = [[fields(p) for p in direction.rewrite(rtp(0, seq, ts, b"\x11" * size), same)]
           for seq, ts, size in [(1000, 3000, 160), (1001, 3160, 160), (1002, 3320, 160),
                                 (8000, 500000, 480)]]
    assert out == [[], [(0, 1000, 3000, 240)], [(0, 1001, 3240, 240)],
                   [(0, 1002, 3480, 240), (0, 1003, 3720, 240)]]
    assert direction.rewrite(rtp(0, 8001, 500480, b"\x11" * 240), same)[0][12:] == b"\x11" * 240


def test_conversions_repacketize_what_both_parties_have_when_the_ptime_changed():
    a = [("0", "PCMU/8000"), ("101", "telephone-event/8000")]
    b = [("0", "PCMU/8000"), ("8", "PCMA/8000")]
    assert negotiation.conversions(a, b, 30, repacketize=True) == ((0, 0, "PCMU", "PCMU", 240),)
    assert negotiation.conversions(b, a, 20, repacketize=True) == (
        (0, 0, "PCMU", "PCMU", 160), (8, 0, "PCMA", "PCMU", 160))


def test_telephone_events_cross_clock_rates_on_the_encoders_clock():
    # PCMU to PCMA by table (frames of 160), telephone-event/8000 on 101 to /48000 on 97
    conversions = {0: (8, g711.TABLES[("PCMU", "PCMA")], 160), 101: (97, Events(8000, 48000), 0)}
    direction = Direction()
    silence = b"\xff" * 160
    # the audio jumps (5000): the encoder's clock does not, it stands at 3480 after three
    audio = [direction.rewrite(rtp(0, seq, ts, silence), conversions)
             for seq, ts in ((1, 3000), (2, 3160), (3, 5000))]
    assert [fields(p)[:3] for packets in audio for p in packets] == [
        (8, 1, 3000), (8, 2, 3160), (8, 3, 3320)]
    event = [(0x80 | 101, 4, bytes([8, 10, 0, 160])), (101, 5, bytes([8, 10, 1, 64])),
             (101, 6, bytes([8, 0x8A, 1, 0xE0])), (101, 7, bytes([8, 0x8A, 1, 0xE0]))]
    out = [direction.rewrite(rtp(pt, seq, 5160, payload), conversions)
           for pt, seq, payload in event]
    assert [[(p[1], fields(p)[1], fields(p)[2], p[12:].hex()) for p in packets]
            for packets in out] == [
        [(0x80 | 97, 4, 3480, "080a03c0")],  # marker kept, the clock's position, 160 * 6
        [(97, 5, 3480, "080a0780")],
        [(97, 6, 3480, "088a0b40")],  # the end: 480 * 6
        [(97, 7, 3480, "088a0b40")]]  # (repeated: the clock moves once)
    after = direction.rewrite(rtp(0, 8, 5640, silence), conversions)
    assert [fields(p)[:3] for p in after] == [(8, 8, 3480 + 2880)]  # past the event
    assert after[0][12:] == silence.translate(g711.TABLES[("PCMU", "PCMA")])
    assert len({p[8:12] for packets in (*audio, *out, after) for p in packets}) == 1
    assert Events(8000, 48000) == Events(8000, 48000) != Events(48000, 8000)


def _key_amid_audio(direction: Direction, conversions: dict) -> list:
    """Audio at 3000 and 3160; a key of three event packets (101, started at 3320), each
    followed by audio of its time; the end repeated; audio after. What goes out: (pt with
    marker, seq, ts) per packet sent."""
    silence = b"\xff" * 160
    steps = [(0, 1, 3000, silence), (0, 2, 3160, silence),
             (0x80 | 101, 3, 3320, bytes([5, 10, 0, 160])), (0, 4, 3320, silence),
             (101, 5, 3320, bytes([5, 10, 1, 64])), (0, 6, 3480, silence),
             (101, 7, 3320, bytes([5, 0x8A, 1, 224])), (101, 8, 3320, bytes([5, 0x8A, 1, 224])),
             (0, 9, 3640, silence), (0, 10, 3800, silence)]
    return [[fields(p)[:3] for p in direction.rewrite(rtp(pt, seq, ts, payload), conversions)]
            for pt, seq, ts, payload in steps]


EVENTS_WITH_PCMA = {0: (8, g711.TABLES[("PCMU", "PCMA")], 160), 101: (101, Events(8000, 8000), 0)}


def test_audio_sent_during_a_key_is_suppressed_and_numbered_over():
    assert _key_amid_audio(Direction(), EVENTS_WITH_PCMA) == [
        [(8, 1, 3000)], [(8, 2, 3160)], [(0x80 | 101, 3, 3320)], [], [(101, 4, 3320)], [],
        [(101, 5, 3320)], [(101, 6, 3320)], [(8, 7, 3800)], [(8, 8, 3960)]]


def test_without_suppression_the_audio_goes_on_and_moves_the_events_stamp_as_in_10_5():
    # (each event packet moves the clock by what its duration grew and is stamped where
    # the clock was less the duration before: audio between moves both)
    assert _key_amid_audio(Direction(suppress=False), EVENTS_WITH_PCMA) == [
        [(8, 1, 3000)], [(8, 2, 3160)], [(0x80 | 101, 3, 3320)], [(8, 4, 3480)],
        [(101, 5, 3480)], [(8, 6, 3800)], [(101, 7, 3640)], [(101, 8, 3640)],
        [(8, 9, 4120)], [(8, 10, 4280)]]


def test_a_key_whose_end_never_comes_stops_suppressing_audio_far_from_it():
    lost_end = Direction()
    silence = b"\xff" * 160
    lost_end.rewrite(rtp(0, 1, 3000, silence), EVENTS_WITH_PCMA)
    lost_end.rewrite(rtp(0x80 | 101, 2, 3160, bytes([5, 10, 0, 160])), EVENTS_WITH_PCMA)
    assert lost_end.rewrite(rtp(0, 3, 3160 + 80000, silence), EVENTS_WITH_PCMA) == []
    assert [fields(p)[:3] for p in lost_end.rewrite(rtp(0, 4, 3160 + 80001, silence),
                                                    EVENTS_WITH_PCMA)] == [(8, 3, 3320)]


def test_events_are_stamped_half_a_frame_later_towards_g722_as_10_5_does():
    assert event_shift("G722", 160) == 80 and event_shift("G722", 240) == 120
    assert event_shift("PCMA", 160) == event_shift("G729", 160) == event_shift("opus", 960) == 0
    assert Events(8000, 8000, 80) != Events(8000, 8000)

# -- whatever comes ---------------------------------------------------------------------

@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(st.lists(st.tuples(st.sampled_from([0, 8, 0x88, 101, 13]),
                                     st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF),
                                     st.sampled_from([0x5678, 0x9999]),
                                     st.binary(max_size=400)), max_size=60),
                  st.sampled_from([160, 240, 80]))
def test_a_direction_takes_any_packet_sequence(packets, frame):
    """Whatever arrives (resets, duplicates, reordering, odd sizes, two sources), a converting
    direction raises nothing and sends only well-formed frames of the receiver's size."""
    conversions = {8: (0, g711.ALAW_TO_ULAW, frame), 0: (0, None, frame)}
    direction = Direction()
    for pt, seq, ts, ssrc, payload in packets:
        for out in direction.rewrite(rtp(pt, seq, ts, payload, ssrc), conversions):
            if pt & 0x7F in conversions:
                assert out[0] == 0x80 and out[1] == 0 and len(out) == 12 + frame
    assert all(len(o.waiting) <= 10 and len(o.pending) < frame
               for o in direction.outputs.values())


# -- DTMF injected (play DTMF) ----------------------------------------------------------

def _event(code: int, te_pt: int | None = 96, duration: int = 800, pause: int = 800,
           volume: int = 10) -> dtmf.Event:
    return dtmf.Event(code, volume, volume, duration, pause, te_pt, "PCMU")


def test_the_tone_of_a_key_is_rtpengines_sample_for_sample():
    # key C at 5 dB down, as upstream case "multiple consecutive DTMF events" receives it
    samples = dtmf.tone(14, 5, 0, 16)
    assert bytes(g711.linear_to_ulaw(v) for v in samples).hex() == (
        "ff9394bc2e56bf2b131ba78e98472541")


def test_rfc_events_replace_frames_and_end_three_times():
    direction = Direction()
    same = {0: (0, None, 160)}
    assert direction.rewrite(rtp(0, 1, 160), same)[0][1] == 0
    direction.inject(_event(0))
    out = [direction.rewrite(rtp(0, seq, 160 * seq), same) for seq in range(2, 9)]
    events = [[(p[1], fields(p)[1], fields(p)[2], p[12:16].hex()) for p in packets]
              for packets in out]
    assert events[0] == [(0x80 | 96, 2, 320, "000a00a0")]  # marker, the start timestamp
    assert events[4] == [(96, 6, 320, "000a0320")]
    assert events[5] == [(96, 7, 320, "008a03c0"), (96, 8, 320, "008a03c0"),
                         (96, 9, 320, "008a03c0")]
    assert events[6] == [(0, 10, 1280, "00000000")]  # audio again, the numbers go on


def test_an_event_queued_behind_another_waits_its_own_pause_after_its_end():
    injector = dtmf.Injector()
    injector.add(_event(5, duration=2000))
    injector.add(_event(9, duration=1200, pause=1600))
    starts = [ts for ts in range(1920, 8000, 160)
              if (packets := injector.frame(ts, 160)) and packets[0][1]]
    assert starts == [1920, 5600]  # 1920 + 2000 + 1600, at the next frame


def test_tones_go_out_at_once_and_the_audio_under_them_is_dropped():
    direction = Direction()
    same = {0: (0, None, 160)}
    direction.rewrite(rtp(0, 1, 160), same)
    direction.inject(_event(14, te_pt=None, duration=960, pause=880, volume=5))
    burst = direction.rewrite(rtp(0, 2, 320), same)
    assert [fields(p)[1:3] for p in burst] == [(2 + i, 320 + 160 * i) for i in range(11)]
    assert burst[6][12:] == b"\xff" * 160  # the pause: silence
    for seq in range(3, 13):  # (inside the tones' time: dropped, numbering kept up)
        assert direction.rewrite(rtp(0, seq, 160 * seq), same) == []
    last = direction.rewrite(rtp(0, 13, 2080), same)  # reaches past their end
    assert fields(last[0])[1:3] == (13, 2080) and last[0][12:] == b"\xff" * 80 + b"\x00" * 80


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(st.lists(st.one_of(
    st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.binary(max_size=400)),
    st.tuples(st.integers(0, 15), st.sampled_from([96, None]), st.integers(800, 4000),
              st.integers(800, 4000))), max_size=60))
def test_dtmf_injection_takes_any_sequence(steps):
    """Key presses queued between any packets (resets, duplicates, odd sizes): nothing
    raises, every packet out is whole."""
    direction = Direction()
    conversions = {0: (0, None, 160), 8: (0, g711.ALAW_TO_ULAW, 160)}
    for step in steps:
        if len(step[2:]) == 2 and isinstance(step[2], int):
            code, te_pt, duration, pause = step
            direction.inject(dtmf.Event(code, 10, 10, duration, pause, te_pt, "PCMU"))
            continue
        seq, ts, payload = step
        for out in direction.rewrite(rtp(8, seq, ts, payload), conversions):
            assert out[0] == 0x80 and len(out) in (16, 172)


# -- comfort noise through libavcodec ----------------------------------------------------

CN_NOISE = b"\x12\x23\x23\x34\x56"  # (noise level, four reflection coefficients)


def _cn_as_ulaw(payload: bytes) -> bytes:
    """What a fresh libavcodec comfort noise decoder makes of ``payload``, in µ-law."""
    decoder = av.CodecContext.create("comfortnoise", "r")
    decoder.sample_rate, decoder.layout = 8000, "mono"
    samples = array("h")
    for frame in decoder.decode(av.Packet(payload)):
        samples.frombytes(bytes(frame.planes[0])[:frame.samples * 2])
    return bytes(g711.linear_to_ulaw(sample) for sample in samples)


def test_each_cn_packet_becomes_one_frame_and_the_rest_waits_for_the_next():
    noise = _cn_as_ulaw(CN_NOISE)
    assert len(noise) == 640  # (80 ms a packet)
    converter = AvConverter(codecs.codec("cn"), codecs.codec("pcmu"), 160)
    first = converter.push(CN_NOISE)
    second = converter.push(CN_NOISE)
    assert [len(payload) for payload in first + second] == [160, 160]
    assert first[0] == noise[:160] and second[0] == noise[160:320]


def test_a_conversion_made_again_alike_keeps_its_converter():
    """A re-INVITE that leaves a conversion as it was rebuilds the worker's table with new
    ``Codecs`` objects; the SSRC's converter (its comfort noise) goes on where it was."""
    noise = _cn_as_ulaw(CN_NOISE)
    direction = Direction()

    def table():
        return {13: (0, Codecs(codecs.codec("cn"), codecs.codec("pcmu"), 160), 160)}

    first = direction.rewrite(rtp(13, 1, 1000, CN_NOISE), table())
    again = direction.rewrite(rtp(13, 2, 1160, CN_NOISE), table())
    assert first[0][12:] == noise[:160] and again[0][12:] == noise[160:320]
    assert Codecs(codecs.codec("cn"), codecs.codec("pcmu"), 160) != Codecs(
        codecs.codec("cn"), codecs.codec("pcma"), 160)


# -- DTMF between tones and telephone-event -------------------------------------------

def test_conversions_turn_events_into_tones_and_detect_tones_as_10_5_does():
    phone = [("0", "PCMU/8000")]
    browser = [("0", "PCMU/8000"), ("96", "telephone-event/8000")]
    # (only when DTMF is transcoded: a made telephone-event, or always transcode; else
    # the events pass as they came, as 10.5 passes them)
    assert negotiation.conversions(browser, phone) == ()
    assert negotiation.conversions(phone, browser) == ()
    # events to a party without telephone-event: tones; its audio on the same clock
    assert negotiation.conversions(browser, phone, dtmf=True) == (
        (0, 0, "PCMU", "PCMU", 160), (96, 0, "TELEPHONE-EVENT/8000", "TONES/PCMU", 160))
    # tones from a party without telephone-event: detected, sent as the receiver's events
    assert negotiation.conversions(phone, browser, dtmf=True) == (
        (0, 0, "PCMU", "PCMU", 160, None, 96),)


def _tone_packets(code: int, volume: int, frames: int, first_seq: int, first_ts: int) -> list:
    samples = dtmf.tone(code, volume, 0, 160 * frames)
    return [rtp(0, first_seq + n, first_ts + 160 * n,
                bytes(g711.linear_to_ulaw(v) for v in samples[160 * n:160 * (n + 1)]))
            for n in range(frames)]


def test_detected_tones_go_out_as_events_from_the_frame_after_the_report():
    table = {0: (0, g711.ROUND_TRIP["PCMU"], 160, None, 96)}
    direction = Direction()
    silence = b"\xff" * 160
    packets = ([rtp(0, 1, 3000, silence), rtp(0, 2, 3160, silence)]
               + _tone_packets(8, 15, 3, 3, 3320)
               + [rtp(0, 6 + n, 3800 + 160 * n, silence) for n in range(3)])
    out = [[(fields(p)[:3], p[1] & 0x80, p[12:]) for p in direction.rewrite(packet, table)]
           for packet in packets]
    # spandsp (blocks of 102 samples) reports key 8 at sample 510, -14 dBm0, within the
    # second tone frame, and no key at sample 1020, within the second frame after it
    assert [len(o) for o in out] == [1, 1, 1, 1, 1, 1, 1, 3]
    assert out[3][0][0][0] == 0  # (the report came within this frame: audio still)
    assert out[4] == [((0x80 | 96, 5, 3640), 0x80, b"\x08\x0e\x00\xa0")]
    assert out[5] == [((96, 6, 3640), 0, b"\x08\x0e\x01\x40")]
    assert out[6] == [((96, 7, 3640), 0, b"\x08\x0e\x01\xe0")]
    assert out[7] == [((96, 8 + n, 3640), 0, b"\x08\x8e\x02\x80") for n in range(3)]


def test_detection_for_reporting_only_sends_the_audio_as_it_came():
    # (``detect DTMF`` towards a party without telephone-event: 10.5 logs the key, the
    # tones go on; the received SSRC kept)
    table = {0: (0, None, 160, None, -1, "PCMU", "PCMU")}
    keys: list = []
    direction = Direction(keep_ssrc=True, keys=keys, owner=3)
    silence = b"\xff" * 160
    packets = ([rtp(0, 1, 3000, silence), rtp(0, 2, 3160, silence)]
               + _tone_packets(8, 15, 3, 3, 3320)
               + [rtp(0, 6 + n, 3800 + 160 * n, silence) for n in range(3)])
    assert [out for packet in packets for out in direction.rewrite(packet, table)] == packets
    assert keys == [(3, 8, 14, 510)]  # (reported from sample 510 to 1020, at -14 dBm0)


def test_events_to_a_party_without_telephone_event_become_tones():
    table = {0: (0, g711.ROUND_TRIP["PCMU"], 160, None, None),
             96: (0, Tones("PCMU"), 160, None, None)}
    direction = Direction()
    silence = b"\xff" * 160
    packets = [rtp(0, 1, 4000, silence), rtp(0, 2, 4160, silence),
               rtp(96, 3, 4320, b"\x08\x10\x00\xa0"), rtp(96, 4, 4320, b"\x08\x10\x01\x40"),
               rtp(96, 5, 4320, b"\x08\x90\x01\xe0"), rtp(96, 6, 4320, b"\x08\x90\x01\xe0"),
               rtp(0, 7, 4960, silence)]
    out = [[fields(p)[:3] + (p[12:],) for p in direction.rewrite(packet, table)]
           for packet in packets]
    expected = [bytes(g711.linear_to_ulaw(v) for v in dtmf.tone(8, 16, 160 * n, 160))
                for n in range(3)]
    assert [o[0][3] for o in out[2:5]] == expected
    assert [o[0][:3] for o in out[2:5]] == [(0, 3, 4320), (0, 4, 4480), (0, 5, 4640)]
    assert out[5] == []  # a repeated end adds nothing
    assert out[6][0][:3] == (0, 6, 4800)  # the audio goes on on the same clock


def test_an_event_whose_duration_jumps_renders_at_most_a_second():
    table = {96: (0, Tones("PCMU"), 160, None, None)}
    direction = Direction()
    out = direction.rewrite(rtp(96, 1, 4000, b"\x01\x0a\xff\xff"), table)
    assert len(out) == 50  # 8000 samples, not 65535
    assert direction.rewrite(rtp(96, 2, 4000, b"\x01\x8a\xff\xff"), table) == []


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(st.lists(st.tuples(st.sampled_from([0, 8, 96, 101]), st.integers(0, 0xFFFF),
                                     st.integers(0, 0xFFFFFFFF), st.binary(max_size=200)),
                           max_size=30))
def test_dtmf_paths_take_any_packets(packets):
    """Detection and tone rendering on whatever arrives: no exception, and nothing but
    whole RTP packets out."""
    table = {0: (0, g711.ROUND_TRIP["PCMU"], 160, None, 96),
             8: (0, g711.ALAW_TO_ULAW, 160, None, 96),
             101: (0, Tones("PCMU"), 160, None, None)}
    direction = Direction()
    for pt, seq, ts, payload in packets:
        for out in direction.rewrite(rtp(pt, seq, ts, payload), table):
            assert len(out) >= 12 and out[0] == 0x80


def test_g711_at_another_clock_rate_is_another_codec():
    """PCMU/16000 is not PCMU: converted through libavcodec's resampler, named with its
    rate in the conversion (and in the statistics' chains), never by the 8 kHz tables."""
    wide = codecs.codec("PCMU/16000")
    assert (wide.clock_rate, wide.sample_rate, wide.rtpmap) == (16000, 16000, "PCMU/16000")
    assert codecs.codec("pcma/8000") is codecs.codec("PCMA")
    assert codecs.codec("G722/16000") is None and codecs.codec("PCMU/0") is None
    assert codecs.convertible("PCMU/16000", "PCMA") and codecs.convertible("PCMU/16000", "PCMU")
    assert not codecs.convertible("PCMU/16000", "pcmu/16000")
    entries = negotiation.conversions([("100", "PCMU/16000"), ("101", "telephone-event/16000")],
                                      [("8", "PCMA/8000"), ("96", "telephone-event/8000")])
    assert entries == ((100, 8, "PCMU/16000", "PCMA", 160),
                       (101, 96, "TELEPHONE-EVENT/16000", "TELEPHONE-EVENT/8000", 0))
    back = negotiation.conversions([("8", "PCMA/8000")], [("100", "PCMU/16000")])
    assert back == ((8, 100, "PCMA", "PCMU/16000", 320),)
    converter = transcoding.Codecs(codecs.codec("PCMU/16000"), codecs.codec("PCMA"), 160).new()
    assert converter.push(b"\x00" * 320) == []  # (the resampler's delay: a frame late)
    assert converter.push(b"\x00" * 320) == [b"\x2a" * 160]
