"""Which streams cut RTCP feedback out of what they relay: AVPF legs to legs that are not.

rtpengine 10.5 picks how RTCP goes from one leg to the other by the two legs' transport
protocols, as both parties' SDP (and ``transport-protocol``) left them: from an AVPF profile
(RTP/AVPF, RTP/SAVPF, UDP/TLS/RTP/SAVPF) to one that is not (RTP/AVP, RTP/SAVP, UDP/TLS/RTP/
SAVP), the compounds lose their RTPFB and PSFB packets (``media.rtcp_feedback``), after
SRTCP is decrypted and before it is encrypted again. Found by experiment with 10.5: every
such pair does it, no other pair does (the reverse direction, AVPF to AVPF, AVP to
anything), and an a=rtcp-fb in the non-AVPF party's SDP changes nothing.

The decision is made for the whole call after every offer and answer (and a restore from
Redis), when both legs' protocols are settled: each stream that carries its party's RTCP
(an RTCP stream, or an RTP stream with rtcp-mux) gets ``Stream.strip_feedback``. The relay
worker cuts in its per-packet drains and in its C loop (a browser's muxed RTP stays there);
the kernel, which cannot, leaves such streams to it.
"""

from __future__ import annotations

from collections.abc import Callable

from ..model import Call, Stream, media_by_stream


def is_avpf(protocol: str | None) -> bool:
    """Whether a media's transport protocol is an AVPF profile (RFC 4585, RFC 5124)."""
    return protocol is not None and protocol.endswith("AVPF")


def apply(call: Call, update: Callable[[Stream], None]) -> None:
    """Set each stream's ``strip_feedback`` from its leg's and its sink's protocols;
    ``update`` gets the streams that changed. A call without AVPF media and without a
    stream that strips (nearly every call) is passed over."""
    medias = [media for party in call.monologues for media in party.medias]
    if not any(is_avpf(media.protocol) for media in medias) and not any(
            stream.strip_feedback for media in medias for stream in media.streams):
        return
    media_of = media_by_stream(call.monologues)
    for media in medias:
        avpf = is_avpf(media.protocol)
        for stream in media.streams:
            sink = stream.sink
            sink_media = media_of.get(sink.id) if sink is not None else None
            strip = (avpf and (stream.rtcp or stream.rtcp_mux) and sink_media is not None
                     and not is_avpf(sink_media.protocol))
            if stream.strip_feedback != strip and not stream.closed:
                stream.strip_feedback = strip
                update(stream)
