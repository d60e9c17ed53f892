"""Differential call flows: random offer/answer/re-offer flows to rtpengine 10.5 and to us.

``flows.py`` looks for crashes; this looks for differences. Each seed is one call: an
offer with a random SDP (one or two media, RTP/AVP(F), SDES, DTLS, ICE, rtcp-mux, refused
media, IPv6, directions) and random options, an answer built from what rtpengine 10.5
sent (its protocol, a subset of its codecs, a key for a line it offered, the other DTLS
role, its ICE), now and then a re-offer by either party and its answer, a ``query`` or a
``delete``. Both daemons get the same requests; their replies are normalised
(``differential.Normaliser``: ports, ICE credentials; here also keys, fingerprints,
o= ids) and the first step that differs is reported, grouped by the first lines of the
difference.

Run (root: a private network namespace keeps the daemons' loopback to themselves)::

    ip netns add dflows; ip netns exec dflows ip link set lo up
    ip netns exec dflows python tests/fuzz/diff_flows.py --seeds 1-400 --options real
    ip netns exec dflows python tests/fuzz/diff_flows.py --seeds 1-400 --show 37

``--options real`` draws from what proxies commonly send; ``wide`` from most of the ng
vocabulary, one option per message (``--per-message``). Not a CI test: it lists the known
differences too (README, "Compatibility"); each one fixed gets a differential test.
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import os
import random
import re
import sys
from typing import Any

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.dirname(_TESTS), _TESTS]

from differential import (  # noqa: E402
    DaemonPair,
    Normaliser,
    describe_difference,
)
from differential import mask_own_values as mask  # noqa: E402

CODECS = [("0", "PCMU/8000"), ("8", "PCMA/8000"), ("9", "G722/8000"), ("18", "G729/8000"),
          ("96", "opus/48000/2"), ("3", "GSM/8000")]
EVENT, COMFORT_NOISE = ("101", "telephone-event/8000"), ("13", "CN/8000")
PROTOCOLS = ["RTP/AVP"] * 6 + ["RTP/SAVP", "RTP/AVPF", "RTP/SAVPF", "UDP/TLS/RTP/SAVPF"]
OFFER_KEY = base64.b64encode(bytes(range(1, 31))).decode()
FINGERPRINT = "a=fingerprint:sha-256 " + ":".join(["AB"] * 32)
ANSWER_FINGERPRINT = "a=fingerprint:sha-256 " + ":".join(["CD"] * 32)
KEY_BYTES = {"AEAD_AES_256_GCM": 44, "AEAD_AES_128_GCM": 28, "AES_256_CM_HMAC_SHA1_80": 46,
             "AES_256_CM_HMAC_SHA1_32": 46, "AES_192_CM_HMAC_SHA1_80": 38,
             "AES_192_CM_HMAC_SHA1_32": 38}


def random_sdp(rng: random.Random, host: str, port: int, family: int = 4,
               medias: int | None = None) -> str:
    medias = medias or rng.choice([1, 1, 1, 2])
    address = host if family == 4 else f"2001:db8::{rng.randint(1, 99):x}"
    lines = ["v=0", f"o=- {rng.randint(1, 10**6)} {rng.randint(1, 9)} IN IP{family} {address}",
             "s=tester"]
    session_c = rng.random() < 0.8
    if session_c:
        lines.append(f"c=IN IP{family} {address}")
    lines.append("t=0 0")
    for index in range(medias):
        kind = "audio" if index == 0 else rng.choice(["audio", "video"])
        protocol = rng.choice(PROTOCOLS)
        media_port = 0 if rng.random() < 0.05 else port + index * 2
        if kind == "audio":
            codecs = rng.sample(CODECS, rng.randint(1, 4))
            codecs += [EVENT] if rng.random() < 0.5 else []
            codecs += [COMFORT_NOISE] if rng.random() < 0.15 else []
        else:
            codecs = rng.choice([[("97", "H264/90000")], [("98", "VP8/90000"), ("97", "H264/90000")]])
        lines.append(f"m={kind} {media_port} {protocol} " + " ".join(pt for pt, _ in codecs))
        if not session_c or rng.random() < 0.1:
            lines.append(f"c=IN IP{family} {address}")
        for pt, name in codecs:
            if int(pt) >= 96 or rng.random() < 0.5:
                lines.append(f"a=rtpmap:{pt} {name}")
            if name.startswith("telephone") and rng.random() < 0.7:
                lines.append(f"a=fmtp:{pt} 0-16")
            if name.startswith("opus") and rng.random() < 0.5:
                lines.append(f"a=fmtp:{pt} useinbandfec=1")
        if rng.random() < 0.3:
            lines.append("a=ptime:" + rng.choice(["20", "30", "40"]))
        if rng.random() < 0.3:
            lines.append("a=" + rng.choice(["sendonly", "recvonly", "inactive", "sendrecv"]))
        if rng.random() < 0.25:
            lines.append("a=rtcp-mux")
        if rng.random() < 0.15:
            lines.append(f"a=rtcp:{media_port + 1}")
        if ("SAVP" in protocol and "TLS" not in protocol) or rng.random() < 0.05:
            lines.append(f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{OFFER_KEY}")
            if rng.random() < 0.5:
                lines.append(f"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{OFFER_KEY}")
        if "TLS" in protocol:
            lines += [FINGERPRINT, "a=setup:" + rng.choice(["actpass", "active", "passive"])]
        if "TLS" in protocol or rng.random() < 0.15:
            lines += ["a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx",
                      f"a=candidate:1 1 UDP 2130706431 {address} {media_port} typ host"]
            if rng.random() < 0.5:
                lines.append(f"a=candidate:1 2 UDP 2130706430 {address} {media_port + 1} typ host")
        if rng.random() < 0.1:
            lines.append(f"a=mid:{index}")
    return "\r\n".join(lines) + "\r\n"


def real_options(rng: random.Random, kind: str) -> dict[str, Any]:
    """Options as SIP proxies commonly send them."""
    options: dict[str, Any] = {}
    if rng.random() < 0.15:
        options["ICE"] = rng.choice(["remove", "force"])
    if rng.random() < 0.1:
        options["rtcp-mux"] = [rng.choice(["demux", "offer", "accept"])]
    if kind == "offer" and rng.random() < 0.2:
        options["transport-protocol"] = rng.choice(
            ["RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", "RTP/SAVPF"])
    if rng.random() < 0.1:
        options["replace"] = rng.sample(["origin", "session-connection"], rng.randint(1, 2))
    if rng.random() < 0.05:
        options["SDES"] = ["off"]
    if rng.random() < 0.05:
        options["DTLS"] = "off"
    if rng.random() < 0.15:
        verb = rng.choice(["strip", "offer", "transcode", "mask"])
        options["codec"] = {verb: rng.sample(["PCMU", "PCMA", "G722", "telephone-event"], 1)}
    flags = [f for f in ["trust-address", "symmetric", "strict-source", "generate-mid",
                         "pad-crypto", "media-handover", "asymmetric"] if rng.random() < 0.03]
    if flags:
        options["flags"] = flags
    return options


WIDE_FLAGS = ["trust-address", "symmetric", "asymmetric", "strict-source", "media-handover",
              "port-latching", "no-rtcp-attribute", "full-rtcp-attribute", "loop-protect",
              "generate-mid", "strip-extmap", "pad-crypto", "reset", "single-codec",
              "reorder-codecs", "allow-transcoding", "early-media", "original-sendrecv",
              "symmetric-codecs", "asymmetric-codecs", "always-transcode", "SDES-off",
              "SDES-pad", "SDES-nonew", "inject-DTMF", "generate-RTCP", "trickle-ICE",
              "no-passthrough", "passthrough"]


def wide_options(rng: random.Random, kind: str) -> dict[str, Any]:
    """Most of the ng vocabulary, a few at a time."""
    options = real_options(rng, kind)
    flags = [f for f in WIDE_FLAGS if rng.random() < 0.04]
    if flags:
        options["flags"] = flags
    if rng.random() < 0.2:
        options["ICE"] = rng.choice(["remove", "force", "default", "force-relay", "optional"])
    if rng.random() < 0.1:
        options["direction"] = ["priv", "priv"]
    if rng.random() < 0.1:
        options["address-family"] = rng.choice(["IP4", "IP6"])
    if rng.random() < 0.1:
        options["media-address"] = rng.choice(["1.2.3.4", "2001:db8::5"])
    if rng.random() < 0.1:
        options["DTLS"] = rng.choice(["off", "passive", "active"])
    if rng.random() < 0.08:
        options["OSRTP"] = [rng.choice(["offer", "accept"])]
    if rng.random() < 0.08:
        options["ptime"] = rng.choice([20, 30, 40])
    if rng.random() < 0.1:
        options["media-echo"] = rng.choice(["blackhole", "forward", "backwards", "both"])
    return options


def answer_to(rng: random.Random, offered: str, host: str, port: int) -> str:
    """What a phone would answer to the SDP the (reference) daemon sent it."""
    lines = ["v=0", f"o=- {rng.randint(1, 10**6)} 1 IN IP4 {host}", "s=tester",
             f"c=IN IP4 {host}", "t=0 0"]
    for index, section in enumerate(offered.split("\r\nm=")[1:]):
        media = section.split("\r\n")
        kind, media_port, protocol, *formats = media[0].split()
        if media_port == "0" or not formats or rng.random() < 0.03:
            lines.append(f"m={kind} 0 {protocol} {formats[0] if formats else '0'}")
            continue
        rtpmaps = {ln.split()[0][9:]: ln for ln in media if ln.startswith("a=rtpmap:")}
        fmtps = {ln.split()[0][7:]: ln for ln in media if ln.startswith("a=fmtp:")}
        voice = [f for f in formats if not re.search("telephone-event|CN/", rtpmaps.get(f, ""))]
        if not voice:
            keep = formats[:1]
        elif rng.random() < 0.6:
            keep = voice[:1]
        else:
            keep = rng.sample(voice, min(len(voice), rng.randint(1, 3)))
        keep += [f for f in formats if "telephone-event" in rtpmaps.get(f, "")
                 and rng.random() < 0.7][:1]
        lines.append(f"m={kind} {port + 2 * index} {protocol} " + " ".join(keep))
        for pt in keep:
            lines += [rtpmaps[pt]] if pt in rtpmaps else []
            lines += [fmtps[pt]] if pt in fmtps and rng.random() < 0.7 else []
        if rng.random() < 0.2:
            lines.append("a=ptime:" + rng.choice(["20", "30"]))
        direction = next((ln for ln in media if ln in ("a=sendonly", "a=recvonly", "a=inactive")),
                         None)
        if direction is not None:
            lines.append({"a=sendonly": "a=recvonly", "a=recvonly": "a=sendonly"}.get(
                direction, direction))
        if "a=rtcp-mux" in media and rng.random() < 0.8:
            lines.append("a=rtcp-mux")
        cryptos = [ln for ln in media if ln.startswith("a=crypto:")]
        if cryptos and "TLS" not in protocol:
            tag, suite = rng.choice(cryptos[:2]).split()[:2]
            key = bytes((i * 7 + 3) % 256 for i in range(KEY_BYTES.get(suite, 30)))
            lines.append(f"{tag} {suite} inline:{base64.b64encode(key).decode()}")
        elif any(ln.startswith("a=fingerprint") for ln in media):
            setup = next((ln for ln in media if ln.startswith("a=setup:")), "a=setup:actpass")
            lines += [ANSWER_FINGERPRINT, "a=setup:" + (
                "passive" if setup == "a=setup:active" else "active")]
        if any(ln.startswith("a=ice-ufrag") for ln in media) and rng.random() < 0.8:
            lines += ["a=ice-ufrag:efgh", "a=ice-pwd:zyxwvutsrqponmlkjihgfedc",
                      f"a=candidate:1 1 UDP 2130706431 {host} {port + 2 * index} typ host"]
    return "\r\n".join(lines) + "\r\n"


def flow(rng: random.Random, options):
    """The call's steps; an answer step is None: built from the reference's last reply."""
    family = 6 if rng.random() < 0.1 else 4
    yield {"command": "offer", "from-tag": "A", **options(rng, "offer"),
           "sdp": random_sdp(rng, "198.51.100.1", 2000, family)}
    yield None, ("A", "B", "198.51.100.2", 3000)
    if rng.random() < 0.6:
        who, other = rng.choice([("A", "B"), ("B", "A")])
        host, port = ("198.51.100.3", 4000) if who == "A" else ("198.51.100.4", 5000)
        yield {"command": "offer", "from-tag": who, "to-tag": other, **options(rng, "offer"),
               "sdp": random_sdp(rng, host, port, family if who == "A" else 4)}
        yield None, (who, other, "198.51.100.9", 6000)
    if rng.random() < 0.3:
        yield {"command": "query"}
    if rng.random() < 0.3:
        yield {"command": "delete", "from-tag": "A"}


def run_seed(pair: DaemonPair, seed: int, options) -> tuple[list[dict], str] | None:
    """The seed's steps up to the first that differs and the difference; None: none."""
    rng = random.Random(seed)
    call_id = f"diff-flow-{seed}"
    references, ours = Normaliser(pair.reference.port_range), Normaliser(pair.ours.port_range)
    steps: list[dict] = []
    last: dict = {}
    try:
        for step in flow(rng, options):
            if isinstance(step, tuple):
                _, (offerer, answerer, host, port) = step
                step = {"command": "answer", "from-tag": offerer, "to-tag": answerer,
                        **options(rng, "answer"),
                        "sdp": answer_to(rng, last.get("sdp", ""), host, port)}
            step = {**step, "call-id": call_id}
            steps.append(step)
            want, have = pair.reference.request(step), pair.ours.request(step)
            last = want if isinstance(want, dict) else {}
            want, have = mask(references.value(want)), mask(ours.value(have))
            if want != have:
                return steps, describe_difference(want, have)
    finally:
        for daemon in (pair.reference, pair.ours):
            daemon.request({"command": "delete", "call-id": call_id})
    return None


def _seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1-200", help="A-B or one seed")
    parser.add_argument("--options", choices=["real", "wide"], default="real")
    parser.add_argument("--per-message", type=int, default=0,
                        help="keep at most this many options per message (0: all drawn)")
    parser.add_argument("--show", type=int, help="print this seed's steps and difference")
    parser.add_argument("--json", help="write the differences here")
    args = parser.parse_args()
    draw = real_options if args.options == "real" else wide_options

    def options(rng: random.Random, kind: str) -> dict[str, Any]:
        chosen = draw(rng, kind)
        if args.per_message:
            keys = list(chosen)
            rng.shuffle(keys)
            chosen = {k: chosen[k] for k in keys[:args.per_message]}
        return chosen

    seeds = [args.show] if args.show is not None else _seeds(args.seeds)
    groups: dict[tuple, list] = collections.defaultdict(list)
    pair = DaemonPair(ranges=((30000, 34999), (35000, 39999)))
    try:
        for seed in seeds:
            try:
                found = run_seed(pair, seed, options)
            except OSError as exc:  # (a daemon that stopped answering: say which, and why)
                for name, daemon in (("rtpengine", pair.reference), ("ours", pair.ours)):
                    print(f"seed {seed}: {exc!r}; {name} exit code {daemon.proc.poll()}")
                raise
            if found is None:
                continue
            steps, difference = found
            if args.show is not None:
                for number, step in enumerate(steps):
                    print(f"--- step {number}", {k: v for k, v in step.items() if k != "sdp"})
                    print(step.get("sdp", ""))
                print(difference)
            changed = [ln for ln in difference.splitlines()
                       if ln[:1] in "+-" and not ln.startswith(("---", "+++"))]
            groups[tuple(ln[:90] for ln in changed[:2])].append((seed, steps, difference))
    finally:
        pair.stop()
    print(f"{len(seeds)} flows, {sum(len(v) for v in groups.values())} differ")
    for lines, found in sorted(groups.items(), key=lambda item: -len(item[1])):
        print(f"== {len(found)}: seeds {[seed for seed, _, _ in found][:12]}")
        for line in lines:
            print("   ", line)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({" | ".join(k): v for k, v in groups.items()}, out)


if __name__ == "__main__":
    main()
