"""Stateful ng fuzzing: random call flows, not random bytes.

``campaign.py`` mutates single messages, so a command only ever meets a call in the state
one message leaves it. Bugs that need a history (a subscription to a party with a refused
media, a re-offer after an unanswered fork...) take a sequence. This generator sends
random commands over a few call-ids and tags, with random flags and options from the ng
vocabulary and random SDP (several media, refused ones, SRTP, ICE, DTLS, T.38, odd
families and lines), to a core in this process (null media plane) and reports every
reply that says the core caught an exception, with the history that led to it, cut down
to the requests that still reproduce it.

Run: ``python tests/fuzz/flows.py --seed 1 --steps 20000`` (``--seeds 1-40`` for several).
The CI runs a short fixed-seed campaign (``tests/test_fuzz.py``).
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import random
import sys
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.dirname(_TESTS), _TESTS]

from rtpengined.config import Config  # noqa: E402
from rtpengined.core import Core  # noqa: E402
from rtpengined.protocol import bencode  # noqa: E402

# Media ports of the cores made here: a range of their own, away from the daemons' and
# from targets.FUZZ_PORTS.
FLOW_PORTS = (56000, 57999)
INTERNAL = b"Internal error"
SOURCE = ("10.0.0.9", 5060)

_KEY = base64.b64encode(bytes(range(30))).decode()
PROTOCOLS = ["RTP/AVP", "RTP/SAVP", "RTP/AVPF", "RTP/SAVPF", "UDP/TLS/RTP/SAVPF",
             "UDP/TLS/RTP/SAVP", "udptl", "UDPTL", "RTP/AVP/TCP", "TCP/RTP/AVP", "application/x", ""]
CODECS = [("0", "PCMU/8000"), ("8", "PCMA/8000"), ("9", "G722/8000"), ("18", "G729/8000"),
          ("101", "telephone-event/8000"), ("96", "opus/48000/2"), ("97", "AMR/8000"),
          ("13", "CN/8000"), ("100", "speex/16000"), ("110", "telephone-event/48000"),
          ("98", "AMR-WB/16000")]
ATTRIBUTES = [
    "a=rtcp-mux", "a=sendonly", "a=recvonly", "a=inactive", "a=sendrecv", "a=ptime:20",
    "a=ptime:30", "a=rtcp:{p1}", "a=rtcp:{p1} IN IP4 10.0.0.1", "a=ice-ufrag:abcd",
    "a=ice-pwd:abcdefghijklmnopqrstuvwx", "a=candidate:1 1 UDP 2130706431 10.0.0.1 {p} typ host",
    "a=candidate:2 2 UDP 2130706430 10.0.0.1 {p1} typ host",
    "a=candidate:3 1 UDP 1694498815 1.2.3.4 {p} typ srflx raddr 10.0.0.1 rport {p}",
    "a=end-of-candidates", "a=ice-options:trickle", "a=ice-lite",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass", "a=setup:active",
    "a=setup:passive", "a=setup:holdconn",
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + _KEY,
    "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:" + _KEY,
    "a=crypto:3 AEAD_AES_256_GCM inline:" + _KEY + _KEY[:20], "a=crypto:x bad",
    "a=mid:0", "a=mid:1", "a=mid:audio", "a=group:BUNDLE 0 1", "a=rtcp-fb:96 nack",
    "a=fmtp:101 0-15", "a=fmtp:96 useinbandfec=1", "a=fmtp:97 mode-set=0,2,5;octet-align=1",
    "a=T38FaxVersion:0", "a=T38FaxRateManagement:transferredTCF", "a=T38FaxMaxDatagram:400",
    "a=ssrc:1234 cname:x", "a=label:1", "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=maxptime:40", "a=silenceSupp:off", "a=rtpmap:96", "a=rtpmap:xx y", "a=fmtp:", "a=",
    "a=msid-semantic: WMS", "a=x-foo:bar", "b=AS:64", "a=tls-id:abc", "a=connection:new"]
CONNECTIONS = ["IN IP4 10.0.0.1", "IN IP4 0.0.0.0", "IN IP6 ::1", "IN IP6 2001:db8::1",
               "IN IP4 10.0.0.1/127", "IN IP4 host.example", "IN IP4", "IN IP4 256.1.1.1", "IN IP6 ::"]
MEDIA_TYPES = ["audio", "video", "image", "application", "text", "message"]
SESSION_ATTRIBUTES = ["a=group:BUNDLE 0 1", "a=ice-lite", "a=msid-semantic: WMS", "a=sendonly",
                      "a=fingerprint:sha-1 " + ":".join(["AB"] * 20)]
FLAGS = [
    "trust-address", "symmetric", "asymmetric", "unidirectional", "strict-source",
    "media-handover", "reset", "port-latching", "no-rtcp-attribute", "full-rtcp-attribute",
    "loop-protect", "record-call", "always-transcode", "generate-mid", "strip-extmap", "all",
    "pad-crypto", "SDES-off", "SDES-unencrypted_srtp", "SDES-no-AES_CM_128_HMAC_SHA1_80",
    "SDES-only-AES_CM_128_HMAC_SHA1_32", "SDES-nonew", "SDES-pad", "SDES-lifetime", "SDES-static",
    "SDES-prefer", "inject-DTMF", "detect-DTMF", "single-codec", "reorder-codecs",
    "allow-transcoding", "block-short", "early-media", "passthrough", "debug", "generate-RTCP",
    "trickle-ICE", "reject-ICE", "recrypt", "no-passthrough", "original-sendrecv",
    "symmetric-codecs", "asymmetric-codecs", "T.38", "directional", "siprec", "fatal", "egress",
    "ICE-reject", "strip-all", "mirror-RTCP", "all-streams", "codec-strip-all",
    "codec-transcode-PCMA", "transcode-opus", "codec-mask-PCMU", "codec-except-PCMA",
    "codec-offer-G722", "codec-consume-CN", "codec-accept-PCMU", "OSRTP-accept", "OSRTP-offer",
    "OSRTP-offer-legacy", "new-branch", "no-codec-renegotiation", "block-egress",
    "allow-no-codec-media", "media-echo", "nat-wait", "provisional", "SIPREC",
    "drop-traffic-start", "drop-traffic-stop"]
# Option keys and the values tried for each (None: the key is left out).
OPTIONS: dict[str, list[Any]] = {
    "ICE": ["remove", "force", "default", "optional", "force-relay", "lite", "backwards", "garbage"],
    "DTLS": ["off", "passive", "active", "no", "garbage"],
    "SDES": [["off"], ["no-AES_CM_128_HMAC_SHA1_80"], ["unencrypted_srtp"]],
    "rtcp-mux": [["demux"], ["offer"], ["require"], ["accept"], ["reject"], ["garbage"]],
    "transport-protocol": ["RTP/AVP", "RTP/SAVP", "RTP/SAVPF", "UDP/TLS/RTP/SAVPF", "RTP/AVPF", "x"],
    "direction": [["internal", "external"], ["x", "y"], ["a"]],
    "address-family": ["IP4", "IP6", "x"], "media-address": ["1.2.3.4", "::1", "x"],
    "ptime": [0, 20, 30, -1, "20", 999999], "ptime-reverse": [20, 30],
    "codec": [{"strip": ["all"], "offer": ["PCMA"]},
              {"transcode": ["PCMA", "opus", "G722", "CN", "telephone-event"]},
              {"mask": ["PCMU"], "accept": ["PCMA"]}, {"except": ["PCMU"], "consume": ["CN"]},
              {"set": ["opus/48000/2"]}, "x"],
    "T.38": [["decode"], ["force"], ["stop"], ["no-ECM"], ["FEC"]],
    "replace": [["origin"], ["session-connection"], ["sdp-version"], ["username"],
                ["session-name"], ["zero-address"]],
    "OSRTP": [["offer"], ["accept"], ["offer-legacy"]],
    "DTMF-security": ["drop", "silence", "tone", "random", "zero", "DTMF", "off"],
    "delay-buffer": [0, 100, 5000],
    "media-echo": ["both", "forward", "backward", "blackhole", "x"],
    "received-from": [["IP4", "10.0.0.5"], ["IP6", "::2"], ["x"]],
    "record call": ["yes", "no"], "metadata": ["a|b"], "label": ["l1", "l2"],
    "set-label": ["l1"], "from-label": ["l1"], "to-label": ["l2"], "interface": ["x", "default"],
    "sdp-attr": [{"audio": {"add": ["foo:bar"], "remove": ["rtcp"]}},
                 {"global": {"substitute": [["s", "t"]]}}],
    "frequency": [1000, "x"], "code": ["1", "#", "x", 17], "duration": [100, 999999],
    "volume": [-10, 5], "blob": ["QUJD"], "file": ["/nonexistent"], "repeat-times": [2, -1],
    "start-pos": [100], "trigger": ["123"], "trigger-end": ["#"],
    "all": ["all", "offer-answer", "except-offer-answer", "flows", "none"],
    "from-tags": [["a", "b"], ["c"]], "supports": [["load limit"]], "template": ["WebRTC", "x"],
    "digit": ["5", "x"], "pause": [100], "DTMF-delay": [100], "via-branch": ["z1", "z2"],
    "generate RTCP": ["on", "off"], "ICE-lite": ["forward", "backward", "both", "off"],
    "dtmf-log-dest": ["127.0.0.1:9"]}
COMMANDS = (["offer"] * 8 + ["answer"] * 6 + ["delete"] * 2 + [
    "query", "list", "statistics", "ping", "start recording", "stop recording",
    "block DTMF", "unblock DTMF", "block media", "unblock media", "silence media",
    "unsilence media", "start forwarding", "stop forwarding", "play media", "stop media",
    "play DTMF", "subscribe request", "subscribe answer", "unsubscribe", "publish"])
WITH_SDP = {"offer", "answer", "publish", "subscribe answer"}
TAGS = ["a", "b", "c", "d", "e"]


def random_sdp(rng: random.Random) -> str:
    lines = ["v=0", f"o=- {rng.randint(1, 9)} {rng.randint(1, 9)} IN IP4 10.0.0.1", "s=-"]
    if rng.random() < 0.9:
        lines.append("c=" + rng.choice(CONNECTIONS))
    lines.append("t=0 0")
    for _ in range(rng.choice([0, 0, 1])):
        lines.append(rng.choice(SESSION_ATTRIBUTES))
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
        port = rng.choice([0, 9, 1, 65535, 30000 + 2 * rng.randint(0, 1000), 30001])
        protocol = rng.choice(PROTOCOLS)
        kind = rng.choice(MEDIA_TYPES) if rng.random() < 0.3 else "audio"
        fax = protocol.lower() == "udptl" or kind == "image"
        picked = [] if fax else rng.sample(CODECS, rng.randint(0, 5))
        formats = ["t38"] if fax else [pt for pt, _ in picked]
        if rng.random() < 0.05:
            formats = ["*"]
        count = "/2" if rng.random() < 0.05 else ""
        lines.append(f"m={kind} {port}{count} {protocol} {' '.join(formats)}".rstrip())
        if rng.random() < 0.4:
            lines.append("c=" + rng.choice(CONNECTIONS))
        lines += [f"a=rtpmap:{pt} {name}" for pt, name in picked if rng.random() < 0.9]
        for attribute in rng.sample(ATTRIBUTES, rng.randint(0, 8)):
            lines.append(attribute.replace("{p1}", str(port + 1)).replace("{p}", str(port)))
    return "\r\n".join(lines) + ("\r\n" if rng.random() < 0.95 else "")


def random_message(rng: random.Random, call_ids: list[str], sdps: dict[str, str]) -> dict:
    command = rng.choice(COMMANDS)
    message: dict[str, Any] = {"command": command}
    if rng.random() < 0.97:
        message["call-id"] = rng.choice(call_ids)
    if rng.random() < 0.9:
        message["from-tag"] = rng.choice(TAGS)
    if command in ("answer", "subscribe answer") or rng.random() < 0.3:
        message["to-tag"] = rng.choice(TAGS)
    if command in WITH_SDP or rng.random() < 0.05:
        # now and then an SDP the daemon produced (its own ports, keys, ICE) comes back
        reuse = sdps and rng.random() < 0.15
        message["sdp"] = rng.choice(list(sdps.values())) if reuse else random_sdp(rng)
    if rng.random() < 0.8:
        message["flags"] = rng.sample(FLAGS, rng.randint(0, 5))
    for key in rng.sample(list(OPTIONS), rng.randint(0, 5)):
        message[key] = rng.choice(OPTIONS[key])
    return message


def new_core() -> Core:
    return Core(Config(port_min=FLOW_PORTS[0], port_max=FLOW_PORTS[1]))


def _send(core: Core, message: dict, number: int) -> bytes | None:
    return core.handle_ng(b"f%d " % number + bencode.encode(message), SOURCE)


def run_flows(seed: int, steps: int, core: Core | None = None) -> list[list[dict]]:
    """``steps`` random requests; for each internal error, the call's requests up to it."""
    own = core is None
    core = core or new_core()
    try:
        return _internal_errors(exchanges(seed, steps, core))
    finally:
        if own:
            core.shutdown()


def exchanges(seed: int, steps: int, core: Core) -> Iterator[tuple[int, dict, bytes | None, Any]]:
    """(number, request, raw reply, decoded reply) for ``steps`` random requests to ``core``.

    The decoded reply is None when there is none or it does not decode. The SDP of each
    reply is fed back into later requests for its call, so that offers meet answers the
    core wrote. ``run_flows`` looks through these for internal errors, and
    ``flow_replies.py`` prints them all to compare two builds of the core.
    """
    rng = random.Random(seed)
    call_ids = [f"flow{seed}-{n}" for n in range(6)]
    sdps: dict[str, str] = {}
    for number in range(steps):
        message = random_message(rng, call_ids, sdps)
        reply = _send(core, message, number)
        decoded: Any = None
        if reply is not None:
            try:
                decoded = bencode.decode(reply.split(b" ", 1)[1])
            except bencode.BencodeError:
                pass
        if isinstance(decoded, dict) and isinstance(decoded.get("sdp"), str):
            sdps[message.get("call-id", "")] = decoded["sdp"]
        yield number, message, reply, decoded


def _internal_errors(flow: Iterator[tuple[int, dict, bytes | None, Any]]) -> list[list[dict]]:
    history: dict[str, list[dict]] = defaultdict(list)
    found = []
    for _number, message, reply, _decoded in flow:
        call_id = message.get("call-id", "")
        history[call_id].append(message)
        if reply is None:
            continue
        if INTERNAL in reply:
            found.append(list(history[call_id]))
        elif message["command"] == "delete" and "from-tag" not in message:
            history[call_id].clear()  # (a new call under this id starts from nothing)
    return found


def reproduces(messages: list[dict]) -> bool:
    """Whether ``messages`` on a fresh core end in an internal error at the last one."""
    core = new_core()
    try:
        for number, message in enumerate(messages):
            reply = _send(core, message, number)
            if reply is not None and INTERNAL in reply:
                return number == len(messages) - 1
        return False
    finally:
        core.shutdown()  # (its ports go back at once: the next trial binds them again)


def minimise(messages: list[dict]) -> list[dict]:
    """Drop requests, then keys and flags, while the error still comes at the end."""
    if not reproduces(messages):
        return messages  # (it needed other calls' state: left as it came)
    changed = True
    while changed:
        changed = False
        for index in range(len(messages) - 2, -1, -1):
            trial = messages[:index] + messages[index + 1:]
            if reproduces(trial):
                messages, changed = trial, True
    for index in range(len(messages)):
        for key in [k for k in messages[index] if k != "command"]:
            trial = [dict(m) for m in messages]
            del trial[index][key]
            if reproduces(trial):
                messages = trial
        for flag in list(messages[index].get("flags", [])):
            trial = [dict(m) for m in messages]
            trial[index]["flags"] = [f for f in trial[index]["flags"] if f != flag]
            if reproduces(trial):
                messages = trial
    return messages


def _seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seeds", default="1", help="a seed or a range, e.g. 1-40")
    parser.add_argument("--steps", type=int, default=20000, help="requests per seed")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    failed = 0
    for seed in _seeds(args.seeds):
        found = run_flows(seed, args.steps)
        print(f"seed {seed}: {args.steps} requests, {len(found)} internal errors", flush=True)
        for messages in found[:3]:
            failed += 1
            print("  reproduction:")
            for message in minimise(messages):
                print("   ", message)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
