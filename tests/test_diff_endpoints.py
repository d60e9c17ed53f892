"""Differential: offers and answers as real SIP endpoints write them, through both daemons.

SDP bodies are modelled on what Kamailio/OpenSIPS pass through from common user agents
(desk phones, softphones, PBXs, browsers). Replies are compared after normalising ports,
ICE credentials and timestamps (see ``differential.py``).
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    offer,
    query,
    sdp,
)

POLYCOM = sdp("v=0", "o=- 1700000000 1700000000 IN IP4 10.1.1.50", "s=Polycom IP Phone",
              "c=IN IP4 10.1.1.50", "t=0 0", "a=sendrecv", "m=audio 2222 RTP/AVP 9 102 0 8 18 127",
              "a=rtpmap:9 G722/8000", "a=rtpmap:102 G7221/16000", "a=fmtp:102 bitrate=32000",
              "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=rtpmap:18 G729/8000",
              "a=fmtp:18 annexb=no", "a=rtpmap:127 telephone-event/8000")
CISCO = sdp("v=0", "o=Cisco-SIPUA 12345 0 IN IP4 10.1.1.60", "s=SIP Call", "t=0 0",
            "m=audio 16384 RTP/AVP 0 8 18 101", "c=IN IP4 10.1.1.60", "b=TIAS:64000",
            "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=rtpmap:18 G729/8000",
            "a=fmtp:18 annexb=no", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15",
            "a=sendrecv")
YEALINK = sdp("v=0", "o=- 20023 20023 IN IP4 10.1.1.70", "s=SDP data", "c=IN IP4 10.1.1.70",
              "t=0 0", "m=audio 11780 RTP/AVP 0 8 18 9 101", "a=rtpmap:0 PCMU/8000",
              "a=rtpmap:8 PCMA/8000", "a=rtpmap:18 G729/8000", "a=fmtp:18 annexb=no",
              "a=rtpmap:9 G722/8000", "a=fmtp:101 0-15", "a=rtpmap:101 telephone-event/8000",
              "a=ptime:20", "a=sendrecv")
SNOM = sdp("v=0", "o=root 1006233345 1006233345 IN IP4 10.1.1.80", "s=call",
           "c=IN IP4 10.1.1.80", "t=0 0", "m=audio 60010 RTP/AVP 9 0 8 3 99 18 101",
           "a=rtpmap:9 G722/8000", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
           "a=rtpmap:3 GSM/8000", "a=rtpmap:99 G726-32/8000", "a=rtpmap:18 G729/8000",
           "a=fmtp:18 annexb=no", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15",
           "a=ptime:20", "a=rtcp-xr:rcvr-rtt=all voip-metrics", "a=sendrecv")
ASTERISK = sdp("v=0", "o=- 1863396373 1863396373 IN IP4 10.0.0.5", "s=Asterisk",
               "c=IN IP4 10.0.0.5", "t=0 0", "m=audio 17054 RTP/AVP 9 0 8 101",
               "a=rtpmap:9 G722/8000", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
               "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20",
               "a=maxptime:150", "a=sendrecv")
ASTERISK_VIDEO = sdp("v=0", "o=- 1863396373 1863396374 IN IP4 10.0.0.5", "s=Asterisk",
                     "c=IN IP4 10.0.0.5", "t=0 0", "m=audio 17054 RTP/AVP 0 8 101",
                     "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
                     "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20",
                     "a=maxptime:150", "a=sendrecv", "m=video 14330 RTP/AVP 99 34",
                     "a=rtpmap:99 H264/90000", "a=fmtp:99 packetization-mode=1",
                     "a=rtpmap:34 H263/90000", "a=sendrecv")
FREESWITCH = sdp("v=0", "o=FreeSWITCH 1700000000 1700000001 IN IP4 10.0.0.6",
                 "s=FreeSWITCH", "c=IN IP4 10.0.0.6", "t=0 0",
                 "m=audio 24580 RTP/AVP 0 8 101 13", "a=rtpmap:0 PCMU/8000",
                 "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000",
                 "a=fmtp:101 0-16", "a=rtpmap:13 CN/8000", "a=ptime:20", "a=sendrecv",
                 "a=rtcp:24581 IN IP4 10.0.0.6")
FREESWITCH_OPUS = sdp("v=0", "o=FreeSWITCH 1700000000 1700000001 IN IP4 10.0.0.6",
                      "s=FreeSWITCH", "c=IN IP4 10.0.0.6", "t=0 0",
                      "m=audio 24590 RTP/AVP 102 9 0 8 101", "a=rtpmap:102 opus/48000/2",
                      "a=fmtp:102 useinbandfec=1; maxplaybackrate=16000; stereo=0",
                      "a=rtpmap:9 G722/8000", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
                      "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20",
                      "a=sendrecv", "a=rtcp:24591 IN IP4 10.0.0.6")
LINPHONE = sdp("v=0", "o=alice 3421 2131 IN IP4 10.1.1.90", "s=Talk", "c=IN IP4 10.1.1.90",
               "t=0 0", "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics",
               "a=record:off", "m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100",
               "a=rtpmap:96 opus/48000/2", "a=fmtp:96 useinbandfec=1", "a=rtpmap:97 speex/16000",
               "a=fmtp:97 vbr=on", "a=rtpmap:98 speex/8000", "a=fmtp:98 vbr=on",
               "a=fmtp:18 annexb=yes", "a=rtpmap:101 telephone-event/48000",
               "a=rtpmap:99 telephone-event/16000", "a=rtpmap:100 telephone-event/8000",
               "a=rtcp-fb:* trr-int 1000", "a=rtcp-fb:* ccm tmmbr")
MICROSIP = sdp("v=0", "o=- 3910483950 3910483950 IN IP4 192.168.1.33", "s=pjmedia",
               "b=AS:84", "t=0 0", "a=X-nat:0", "m=audio 4000 RTP/AVP 8 0 101",
               "c=IN IP4 192.168.1.33", "b=TIAS:64000", "a=rtcp:4001 IN IP4 192.168.1.33",
               "a=sendrecv", "a=rtpmap:8 PCMA/8000", "a=rtpmap:0 PCMU/8000",
               "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ssrc:1427265553 cname:5a9c1b2a0c3f4d3e")
ZOIPER_LF = ("v=0\no=Z 0 0 IN IP4 192.168.1.40\ns=Z\nc=IN IP4 192.168.1.40\nt=0 0\n"
             "m=audio 8000 RTP/AVP 3 110 8 0 98 101\na=rtpmap:110 speex/8000\n"
             "a=rtpmap:98 iLBC/8000\na=fmtp:98 mode=20\na=rtpmap:101 telephone-event/8000\n"
             "a=fmtp:101 0-15\na=sendrecv\n")
GATEWAY_G729 = sdp("v=0", "o=AudiocodesGW 1001 1 IN IP4 172.16.0.2", "s=Phone-Call",
                   "c=IN IP4 172.16.0.2", "t=0 0", "m=audio 6000 RTP/AVP 18 8 101",
                   "a=rtpmap:18 G729/8000", "a=fmtp:18 annexb=no", "a=rtpmap:8 PCMA/8000",
                   "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=ptime:20",
                   "a=sendrecv", "a=silenceSupp:off - - - -")
T38_REINVITE = sdp("v=0", "o=AudiocodesGW 1001 2 IN IP4 172.16.0.2", "s=Phone-Call",
                   "c=IN IP4 172.16.0.2", "t=0 0", "m=image 6004 udptl t38",
                   "a=T38FaxVersion:0", "a=T38MaxBitRate:14400", "a=T38FaxFillBitRemoval:0",
                   "a=T38FaxTranscodingMMR:0", "a=T38FaxTranscodingJBIG:0",
                   "a=T38FaxRateManagement:transferredTCF", "a=T38FaxMaxBuffer:200",
                   "a=T38FaxMaxDatagram:72", "a=T38FaxUdpEC:t38UDPRedundancy")
T38_ANSWER = sdp("v=0", "o=- 2 3 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
                 "m=image 7004 udptl t38", "a=T38FaxVersion:0", "a=T38MaxBitRate:14400",
                 "a=T38FaxRateManagement:transferredTCF", "a=T38FaxMaxDatagram:72",
                 "a=T38FaxUdpEC:t38UDPRedundancy")
IPV6 = sdp("v=0", "o=- 1 1 IN IP6 2001:db8::10", "s=-", "c=IN IP6 2001:db8::10", "t=0 0",
           "m=audio 2000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=sendrecv")
IPV6_ANSWER = sdp("v=0", "o=- 2 2 IN IP6 2001:db8::20", "s=-", "c=IN IP6 2001:db8::20", "t=0 0",
                  "m=audio 3000 RTP/AVP 8 101", "a=rtpmap:101 telephone-event/8000", "a=sendrecv")
MEDIA_LEVEL_C = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "t=0 0",
                    "m=audio 2000 RTP/AVP 0", "c=IN IP4 192.0.2.10",
                    "m=video 2002 RTP/AVP 31", "c=IN IP4 192.0.2.11")

BOB = sdp("v=0", "o=bob 2808844564 2808844564 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20",
          "t=0 0", "m=audio 3000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000",
          "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=sendrecv")
BOB_PCMA = sdp("v=0", "o=bob 1 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
               "m=audio 3000 RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000",
               "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=ptime:20", "a=sendrecv")
BOB_G729 = sdp("v=0", "o=bob 1 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
               "m=audio 3000 RTP/AVP 18 0 101", "a=rtpmap:18 G729/8000", "a=fmtp:18 annexb=no",
               "a=rtpmap:101 telephone-event/8000", "a=sendrecv")
BOB_AV = sdp("v=0", "o=bob 1 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
             "m=audio 3000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000",
             "m=video 3002 RTP/AVP 99", "a=rtpmap:99 H264/90000",
             "a=fmtp:99 packetization-mode=1")
BOB_OPUS = sdp("v=0", "o=bob 1 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
               "m=audio 3000 RTP/AVP 96 0 97", "a=rtpmap:96 opus/48000/2",
               "a=fmtp:96 useinbandfec=1", "a=rtpmap:97 telephone-event/48000", "a=sendrecv")

KAMAILIO = {"replace": ["origin", "session-connection"], "ICE": "remove",
            "flags": ["trust-address"]}
OPENSIPS = {"flags": ["trust-address", "replace-origin", "replace-session-connection"],
            "ICE": "remove"}

SCENARIOS: dict[str, list[dict]] = {
    "Polycom to Asterisk": [offer(POLYCOM, **KAMAILIO), answer(ASTERISK, **KAMAILIO), query(),
                            delete()],
    "Cisco media-level c=": [offer(CISCO, **KAMAILIO), answer(BOB, **KAMAILIO), query(), delete()],
    "Yealink ptime": [offer(YEALINK), answer(BOB_PCMA), query(), delete()],
    "Snom rtcp-xr": [offer(SNOM, **OPENSIPS), answer(BOB_G729, **OPENSIPS), delete()],
    "Asterisk to phone": [offer(ASTERISK), answer(BOB), delete()],
    "Asterisk video offer, audio only answer": [offer(ASTERISK_VIDEO), answer(BOB), query(),
                                                delete()],
    "Asterisk video offer, video answer": [offer(ASTERISK_VIDEO), answer(BOB_AV), query(), delete()],
    "FreeSWITCH a=rtcp with address": [offer(FREESWITCH, flags=["trust-address"]), answer(BOB),
                                       query(), delete()],
    "FreeSWITCH opus answered with opus": [offer(FREESWITCH_OPUS), answer(BOB_OPUS), delete()],
    "Linphone many codecs": [offer(LINPHONE), answer(BOB_OPUS), query(), delete()],
    "MicroSIP session bandwidth and ssrc": [offer(MICROSIP), answer(BOB_PCMA), delete()],
    "Zoiper LF line endings": [offer(ZOIPER_LF), answer(BOB_PCMA), delete()],
    "gateway G.729 then T.38 re-INVITE": [offer(GATEWAY_G729), answer(BOB_G729),
                                          offer(T38_REINVITE), answer(T38_ANSWER), query(),
                                          delete()],
    "T.38 offer straight away": [offer(T38_REINVITE), answer(T38_ANSWER), query(), delete()],
    "IPv6 SDP on IPv4 interface": [offer(IPV6), answer(IPV6_ANSWER), query(), delete()],
    "media-level connections": [offer(MEDIA_LEVEL_C), query(), delete()],
    "answer with codecs never offered": [offer(GATEWAY_G729), answer(BOB_OPUS), delete()],
    "answer renumbers telephone-event": [offer(POLYCOM), answer(BOB), delete()],
}


@pytest.fixture
def pair(default_pair):
    return default_pair


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_endpoint_sdp(pair, name):
    pair.compare(SCENARIOS[name], name)
