"""bencode decode and encode of real ng messages: bencode.py's Python code beside the C helper.

The messages are what a lifecycle carries: an offer request as a SIP proxy sends it (flags,
an SDP with three codecs), and the replies rtpengined makes to an offer, an answer and a
delete (the last with its nested statistics), produced by the ng core in process (null
media plane). Prints µs per call, the minimum of ``--repeat`` timings of ``--number`` calls.
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from rtpengined.config import Config  # noqa: E402
from rtpengined.core import Core  # noqa: E402
from rtpengined.media import NullMediaPlane  # noqa: E402
from rtpengined.protocol import bencode  # noqa: E402


def sdp(port: int) -> str:
    return ("v=0\r\no=- 3865312811 3865312811 IN IP4 192.0.2.10\r\ns=pjmedia\r\n"
            "c=IN IP4 192.0.2.10\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 8 9 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:8 PCMA/8000\r\na=rtpmap:9 G722/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
            "a=sendrecv\r\na=rtcp:" + str(port + 1) + "\r\n")


def messages() -> dict[str, bytes]:
    core = Core(Config(port_min=45000, port_max=45999, delete_delay=0), media=NullMediaPlane())
    offer = {"command": "offer", "call-id": "a84b4c76e66710@192.0.2.10", "from-tag": "1928301774",
             "via-branch": "z9hG4bK776asdhds", "flags": ["trust-address", "SIP-source-address"],
             "replace": ["origin", "session-connection"], "ICE": "remove",
             "rtcp-mux": ["demux"], "received-from": ["IP4", "192.0.2.10"], "sdp": sdp(30000)}
    answer = {"command": "answer", "call-id": offer["call-id"], "from-tag": "1928301774",
              "to-tag": "a6c85cf", "flags": ["trust-address"], "replace": ["origin"],
              "ICE": "remove", "sdp": sdp(30002)}
    delete = {"command": "delete", "call-id": offer["call-id"], "from-tag": "1928301774"}
    found = {"offer request": bencode.pure_encode(offer)}
    for index, (name, request) in enumerate((("offer", offer), ("answer", answer), ("delete", delete))):
        reply = core.handle_ng(b"b%d " % index + bencode.pure_encode(request))
        found[f"{name} reply"] = reply[reply.find(b" ") + 1:]
    return found


def per_call(func, arg, number: int, repeat: int) -> float:
    return min(timeit.repeat(lambda: func(arg), number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    try:
        from rtpengined.protocol import _bencode
    except ImportError:
        sys.exit("the C helper is not built: python setup.py build_ext --inplace")
    _bencode.setup(bencode.BencodeError, bencode.pure_encode, bencode._encode_key)
    print(f"{'message':<16} {'bytes':>6}  {'decode py':>9} {'C':>6} {'ratio':>6}  "
          f"{'encode py':>9} {'C':>6} {'ratio':>6}  (µs per call)")
    for name, raw in messages().items():
        value = bencode.pure_decode(raw)
        assert _bencode.decode(raw) == value and _bencode.encode(value) == bencode.pure_encode(value)
        decode_py = per_call(bencode.pure_decode, raw, args.number, args.repeat)
        decode_c = per_call(_bencode.decode, raw, args.number, args.repeat)
        encode_py = per_call(bencode.pure_encode, value, args.number, args.repeat)
        encode_c = per_call(_bencode.encode, value, args.number, args.repeat)
        print(f"{name:<16} {len(raw):>6}  {decode_py:>9.2f} {decode_c:>6.2f} {decode_py / decode_c:>5.1f}x"
              f"  {encode_py:>9.2f} {encode_c:>6.2f} {encode_py / encode_c:>5.1f}x")


if __name__ == "__main__":
    main()
