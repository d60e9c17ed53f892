"""The words 10.5 knows in a request, and what it logs for the others; sans-I/O.

10.5 reads the dictionary of the commands that take offer/answer options (offer, answer,
publish, subscriptions, block/silence, forwarding, play media/DTMF) key by key, and the
``flags`` list item by item; a key or a flag it does not know is logged as a warning
(``Unknown dictionary key encountered: 'X'``, ``Unknown flag encountered: 'X'``) and
otherwise ignored. A proxy's typo (``strict_source``, ``ICE_lite``) shows up in the log
that way. Flags with a prefix (``SDES-``, ``OSRTP-``, ``endpoint-learning-``, ``T38-``)
name an option of their own vocabulary, with a warning of their own for a word outside it.

The words are 10.5.3.5's, as it matches them: exactly, case and spelling as listed (a
flag's spaces read as dashes first). ``warnings`` gives the lines for one request, in the
order 10.5 writes them (its keys in order, the flags where the ``flags`` key is).
"""

from __future__ import annotations

from typing import Any

# The commands whose dictionary 10.5 reads this way (delete, query, list, statistics,
# ping and the recording commands read only their own keys, and warn of nothing).
COMMANDS = frozenset({
    "offer", "answer", "publish", "subscribe request", "subscribe answer", "unsubscribe",
    "block media", "unblock media", "block DTMF", "unblock DTMF", "silence media",
    "unsilence media", "start forwarding", "stop forwarding", "play media", "stop media",
    "play DTMF"})
# The commands whose flags may name codecs to transcode to or T.38 options.
_OFFERING = frozenset({"offer", "subscribe request", "publish"})

KEYS = frozenset({
    "call-id", "call-ID", "call id", "call ID", "from-tag", "to-tag", "via-branch",
    "from-label", "label", "to-label", "set-label", "address", "SDP", "sdp", "interface",
    "flags", "replace", "supports", "from-tags", "rtcp-mux", "RTCP-mux", "SDES", "sdes",
    "OSRTP", "osrtp", "endpoint-learning", "endpoint learning", "direction", "received from",
    "received-from", "drop-traffic", "drop traffic", "ICE", "ice", "ICE-lite", "ice-lite",
    "ICE lite", "ice lite", "DTLS", "dtls", "DTLS-reverse", "dtls-reverse", "DTLS reverse",
    "dtls reverse", "passthrough", "passthru", "transport protocol", "transport-protocol",
    "media address", "media-address", "record call", "record-call", "address family",
    "address-family", "metadata", "DTLS fingerprint", "DTLS-fingerprint", "dtls fingerprint",
    "dtls-fingerprint", "TOS", "tos", "ptime", "ptime-reverse", "ptime reverse",
    "reverse ptime", "reverse-ptime", "xmlrpc-callback", "XMLRPC-callback", "codec",
    "generate RTCP", "generate-RTCP", "generate rtcp", "generate-rtcp", "media echo",
    "media-echo", "frequency", "volume", "code", "digit", "trigger", "trigger-end",
    "trigger end", "end trigger", "end-trigger", "trigger-end-time", "trigger end time",
    "end-trigger-time", "end trigger time", "trigger-end-digits", "trigger end digits",
    "end-trigger-digits", "end trigger digits", "DTMF-delay", "DTMF delay", "dtmf-delay",
    "dtmf delay", "T38", "T.38", "t38", "t.38", "DTMF-security", "dtmf-security",
    "DTMF security", "dtmf security", "DTMF-security-trigger", "dtmf-security-trigger",
    "DTMF security trigger", "dtmf security trigger", "DTMF-security-trigger-end",
    "dtmf-security-trigger-end", "DTMF security trigger end", "dtmf security trigger end",
    "delay-buffer", "delay buffer", "repeat-times", "file", "blob", "db-id", "duration",
    "pause", "command"})

FLAGS = frozenset({
    "trust-address", "SIP-source-address", "sip-source-address", "asymmetric",
    "no-redis-update", "unidirectional", "strict-source", "media-handover", "reset", "all",
    "egress", "SIPREC", "siprec", "fragment", "port-latching", "no-port-latching",
    "generate-mid", "strip-extmap", "record-call", "debug", "debugging", "no-rtcp-attribute",
    "no-RTCP-attribute", "full-rtcp-attribute", "full-RTCP-attribute", "generate-RTCP",
    "generate-rtcp", "trickle-ICE", "trickle-ice", "ICE-reject", "reject-ICE", "ice-reject",
    "reject-ice", "loop-protect", "original-sendrecv", "always-transcode", "reuse-codecs",
    "no-codec-renegotiation", "single-codec", "allow-transcoding", "inject-DTMF",
    "inject-dtmf", "detect-DTMF", "detect-dtmf", "pad-crypto", "passthrough",
    "no-passthrough", "no-jitter-buffer", "pierce-NAT", "pierce-nat", "NAT-wait", "nat-wait",
    "RTCP-mirror", "mirror-RTCP", "rtcp-mirror", "mirror-rtcp"})
OBSOLETE_FLAGS = ("asymmetric-codecs", "symmetric-codecs", "reorder-codecs")

_SDES = frozenset({
    "no", "off", "disabled", "disable", "unencrypted_srtp", "UNENCRYPTED_SRTP",
    "unencrypted_srtcp", "UNENCRYPTED_SRTCP", "unauthenticated_srtp", "UNAUTHENTICATED_SRTP",
    "encrypted_srtp", "ENCRYPTED_SRTP", "encrypted_srtcp", "ENCRYPTED_SRTCP",
    "authenticated_srtp", "AUTHENTICATED_SRTP", "lifetime", "pad", "static"})
_OSRTP = frozenset({"accept", "offer"})
_LEARNING = frozenset({"off", "immediate", "delayed", "heuristic"})
_T38 = frozenset({
    "decode", "force", "stop", "no-ecm", "no-ECM", "no-V17", "no-V.17", "no-v17", "no-v.17",
    "no-V.27ter", "no-V27ter", "no-v.27ter", "no-v27ter", "no-V29", "no-V.29", "no-v29",
    "no-v.29", "no-V34", "no-V.34", "no-v34", "no-v.34", "no-IAF", "no-iaf", "FEC", "fec"})


def _sdes(word: str) -> str | None:
    word = word.replace(" ", "-")
    if word.startswith("no-") or word in _SDES:
        return None
    return f"Unknown 'SDES' flag encountered: '{word}'"


def _in(vocabulary: frozenset[str], name: str, hyphenate: bool = False):
    def check(word: str) -> str | None:
        if hyphenate:
            word = word.replace(" ", "-")
        return None if word in vocabulary else f"Unknown '{name}' flag encountered: '{word}'"
    return check


def _anything(word: str) -> None:
    return None


# (prefix, what the rest must be, only in offering commands), in 10.5's order of trying.
_PREFIXES = (
    ("from-tags-", _anything, False), ("SDES-no-", _anything, False), ("SDES-", _sdes, False),
    ("OSRTP-", _in(_OSRTP, "OSRTP"), False),
    ("codec-strip-", _anything, False), ("codec-offer-", _anything, False),
    ("codec-except-", _anything, False),
    ("endpoint-learning-", _in(_LEARNING, "endpoint-learning"), False),
    ("transcode-", _anything, True), ("codec-transcode-", _anything, True),
    ("codec-mask-", _anything, True), ("T38-", _in(_T38, "T.38", True), True),
    ("T.38-", _in(_T38, "T.38", True), True),
    ("codec-set-", _anything, False), ("codec-accept-", _anything, False),
    ("codec-consume-", _anything, False))


def _flag(flag: str, offering: bool) -> tuple[int, str] | None:
    """(level, line) 10.5 logs for one flag, or None."""
    flag = flag.replace(" ", "-")
    if flag in FLAGS:
        return None
    if flag in OBSOLETE_FLAGS:
        return 20, f"Ignoring obsolete flag `{flag}`"  # (info)
    for prefix, rest, offering_only in _PREFIXES:
        if flag.startswith(prefix) and (offering or not offering_only):
            line = rest(flag[len(prefix):])
            return None if line is None else (30, line)
    return 30, f"Unknown flag encountered: '{flag}'"


_RTCP_MUX = frozenset({"offer", "require", "demux", "accept", "reject"})
_REPLACE = frozenset({"origin", "session-connection", "session-name", "sdp-version",
                      "SDP-version", "username", "zero-address"})
_BLOCK_MODES = frozenset({"off", "drop", "silence", "tone", "random", "zero", "DTMF", "dtmf"})


def _block_mode(word: str) -> str | None:
    return None if word in _BLOCK_MODES else f"Unknown DTMF block mode encountered: '{word}'"


# Keys whose list 10.5 reads word by word, each word checked (a word that is no string
# skipped, as 10.5 skips it).
_LISTS = {
    "replace": _in(_REPLACE, "replace", True),
    **dict.fromkeys(("rtcp-mux", "RTCP-mux"), _in(_RTCP_MUX, "rtcp-mux")),
    **dict.fromkeys(("SDES", "sdes"), _sdes),
    **dict.fromkeys(("OSRTP", "osrtp"), _in(_OSRTP, "OSRTP")),
    **dict.fromkeys(("endpoint-learning", "endpoint learning"),
                    _in(_LEARNING, "endpoint-learning")),
    **dict.fromkeys(("T38", "T.38", "t38", "t.38"), _in(_T38, "T.38", True)),
}
# Keys with one word 10.5 knows only from a vocabulary (a value that is no string counts
# as the empty word).
_WORDS = {
    **dict.fromkeys(("drop-traffic", "drop traffic"),
                    _in(frozenset({"start", "stop"}), "drop-traffic")),
    **dict.fromkeys(("ICE", "ice"), _in(frozenset({
        "remove", "force", "default", "optional", "force_relay", "force-relay",
        "force relay"}), "ICE")),
    **dict.fromkeys(("ICE-lite", "ice-lite", "ICE lite", "ice lite"), _in(frozenset({
        "off", "none", "no", "forward", "offer", "fwd", "fw", "backward", "backwards",
        "reverse", "answer", "back", "bkw", "bk", "both"}), "ICE-lite")),
    **dict.fromkeys(("DTLS", "dtls"), _in(frozenset({
        "passive", "active", "no", "off", "disabled", "disable"}), "DTLS")),
    **dict.fromkeys(("DTLS-reverse", "dtls-reverse", "DTLS reverse", "dtls reverse"),
                    _in(frozenset({"passive", "active"}), "DTLS-reverse")),
    **dict.fromkeys(("passthrough", "passthru"), _in(frozenset({
        "on", "yes", "enable", "enabled", "no", "off", "disable", "disabled"}), "passthrough")),
    **dict.fromkeys(("media echo", "media-echo"), _in(frozenset({
        "blackhole", "sinkhole", "forward", "fwd", "fw", "backward", "backwards", "reverse",
        "back", "bkw", "bk", "both"}), "media-echo")),
    **{key: _block_mode for key in (
        "DTMF-security", "dtmf-security", "DTMF security", "dtmf security",
        "DTMF-security-trigger", "dtmf-security-trigger", "DTMF security trigger",
        "dtmf security trigger", "DTMF-security-trigger-end", "dtmf-security-trigger-end",
        "DTMF security trigger end", "dtmf security trigger end")},
}
_CODEC_OPERATIONS = frozenset({"strip", "offer", "except"})
_CODEC_OFFERING_OPERATIONS = frozenset({"transcode", "mask", "set", "accept", "consume"})


def _value_lines(key: str, value: Any, offering: bool) -> list[tuple[int, str]]:
    """What 10.5 warns about in the value of a key it knows."""
    if key == "flags":
        if not isinstance(value, list):
            return []
        return [line for flag in value if isinstance(flag, str)
                for line in (_flag(flag, offering),) if line is not None]
    check = _LISTS.get(key)
    if check is not None:
        if not isinstance(value, list):
            return []
        return [(30, line) for word in value if isinstance(word, str)
                for line in (check(word),) if line is not None]
    check = _WORDS.get(key)
    if check is not None:
        line = check(value if isinstance(value, str) else "")
        return [] if line is None else [(30, line)]
    if key == "codec" and isinstance(value, dict):
        # (transcode, mask, set, accept and consume outside an offer: silently ignored)
        return [(30, f"Unknown 'codec' operation encountered: '{operation}'")
                for operation in value if operation not in _CODEC_OPERATIONS
                and operation not in _CODEC_OFFERING_OPERATIONS]
    return []


def warnings(command: str, message: dict[str, Any]) -> list[tuple[int, str, bool]]:
    """The (logging level, line, limited) 10.5 logs for the words of ``message`` it does not
    know (none for a command that does not read them), in the message's order. A limited
    line is one 10.5 writes at most once in a while (``log_context.Limiter``): a
    ``supports`` word other than the one it has, "load limit"."""
    if command not in COMMANDS:
        return []
    offering = command in _OFFERING
    out: list[tuple[int, str, bool]] = []
    for key, value in message.items():
        if key not in KEYS:
            out.append((30, f"Unknown dictionary key encountered: '{key}'", False))
        elif key == "supports" and isinstance(value, list):
            out += [(20, f"Optional feature '{word}' not supported", True) for word in value
                    if isinstance(word, str) and word != "load limit"]
        elif key == "flags" or key in _LISTS or key in _WORDS or key == "codec":
            out += [(level, line, False) for level, line in _value_lines(key, value, offering)]
    return out
