"""SDES (RFC 4568) `a=crypto` attributes, shaped the way rtpengine 10.5 writes them.

rtpengine formats every line from the parsed values, so what it echoes differs from what it was
given: the key is base64 without `=` padding, a lifetime is dropped, an MKI is kept as
`|value:length`, session parameters follow separated by spaces. Offers carry every suite it knows
in one fixed order (strongest first); an answer takes the first offered suite it knows, keeps
the offered tag and session parameters and brings its own key.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace


class SdesError(ValueError):
    """An `a=crypto` value that cannot be used (bad syntax, unknown suite, wrong key size)."""


@dataclass(frozen=True)
class Suite:
    name: str
    key_len: int
    salt_len: int
    rtp_tag_len: int  # bytes appended to SRTP packets (AEAD: the GCM tag)
    aead: bool = False


# rtpengine 10.5's offer order (tests/fixtures/rtpengine-10.5/secure/captures.json).
SUITES: tuple[Suite, ...] = (
    Suite("AEAD_AES_256_GCM", 32, 12, 16, aead=True),
    Suite("AEAD_AES_128_GCM", 16, 12, 16, aead=True),
    Suite("AES_256_CM_HMAC_SHA1_80", 32, 14, 10),
    Suite("AES_256_CM_HMAC_SHA1_32", 32, 14, 4),
    Suite("AES_192_CM_HMAC_SHA1_80", 24, 14, 10),
    Suite("AES_192_CM_HMAC_SHA1_32", 24, 14, 4),
    Suite("AES_CM_128_HMAC_SHA1_80", 16, 14, 10),
    Suite("AES_CM_128_HMAC_SHA1_32", 16, 14, 4),
    Suite("F8_128_HMAC_SHA1_80", 16, 14, 10),
    Suite("F8_128_HMAC_SHA1_32", 16, 14, 4),
    Suite("NULL_HMAC_SHA1_80", 16, 14, 10),
    Suite("NULL_HMAC_SHA1_32", 16, 14, 4),
)
SUITES_BY_NAME = {s.name: s for s in SUITES}

SESSION_FLAGS = ("UNENCRYPTED_SRTP", "UNENCRYPTED_SRTCP", "UNAUTHENTICATED_SRTP")

_LIFETIME = re.compile(r"(?:2\^(\d+)|(\d+))\Z")
_MKI = re.compile(r"(\d+):(\d+)\Z")


@dataclass(frozen=True)
class Crypto:
    """One `a=crypto` attribute: tag, suite, master key and salt, and its parameters."""

    tag: int
    suite: Suite
    key: bytes
    salt: bytes
    lifetime: int | None = None
    mki: tuple[int, int] | None = None  # (value, length in bytes)
    flags: frozenset[str] = field(default_factory=frozenset)  # SESSION_FLAGS present
    other_params: tuple[str, ...] = ()  # e.g. KDR=, FEC_ORDER=: kept, not interpreted
    # How rtpengine prints a line it generated under the `SDES` list's `pad` (base64 `=`
    # padding kept) and `lifetime` (`|2^31`) options; parsed lines print without either.
    pad: bool = False
    show_lifetime: bool = False

    @property
    def key_salt(self) -> bytes:
        """key||salt, as libsrtp and the `inline:` field want it."""
        return self.key + self.salt

    def same_keys(self, other: Crypto) -> bool:
        """The same suite and master key and salt (the tag and parameters aside)."""
        return self.suite is other.suite and self.key_salt == other.key_salt

    def format(self) -> str:
        """The attribute value (after `a=`) as rtpengine 10.5 prints it."""
        inline = base64.b64encode(self.key_salt).decode()
        if not self.pad:
            inline = inline.rstrip("=")
        text = f"crypto:{self.tag} {self.suite.name} inline:{inline}"
        if self.show_lifetime and self.lifetime is not None:
            exponent = self.lifetime.bit_length() - 1
            text += (f"|2^{exponent}" if self.lifetime == 1 << exponent
                     else f"|{self.lifetime}")
        if self.mki is not None:
            text += f"|{self.mki[0]}:{self.mki[1]}"
        params = [f for f in SESSION_FLAGS if f in self.flags] + list(self.other_params)
        return " ".join([text, *params])


def parse(value: str) -> Crypto:
    """Parse an attribute value: `crypto:<tag> <suite> inline:<b64>[|lifetime][|mki:len] [params]`.

    Accepts the value with or without a leading `a=` / `crypto:`. Only the first key-param is
    used (rtpengine uses one key per line too).
    """
    text = value.strip()
    if text.startswith("a="):
        text = text[2:]
    if text.lower().startswith("crypto:"):
        text = text[7:]
    return parse_value(text)


def parse_value(value: str) -> Crypto:
    """The value of an SDP's a=crypto attribute, as it is (``parse`` also takes a line
    with its ``a=crypto:``): a value that starts with ``crypto:`` again has no numeric
    tag, and 10.5 skips such a line."""
    parts = value.split()
    if len(parts) < 3:
        raise SdesError(f"crypto attribute needs tag, suite and key: {value!r}")
    tag_s, suite_name, key_param, *params = parts
    if not tag_s.isdigit() or len(tag_s) > 9:
        raise SdesError(f"crypto tag is not a number: {tag_s!r}")
    suite = SUITES_BY_NAME.get(suite_name.upper())
    if suite is None:
        raise SdesError(f"unknown crypto suite {suite_name!r}")
    key_param = key_param.split(";", 1)[0]
    if not key_param.lower().startswith("inline:"):
        raise SdesError(f"crypto key method is not inline: {key_param!r}")
    b64, *extra = key_param[7:].split("|")
    try:
        material = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SdesError(f"crypto key is not base64: {b64!r}") from exc
    want = suite.key_len + suite.salt_len
    if len(material) != want:
        raise SdesError(f"{suite.name} needs {want} bytes of key and salt, got {len(material)}")
    lifetime = mki = None
    for item in extra:
        if (m := _MKI.match(item)) and mki is None:
            length = int(m.group(2))
            if not 1 <= length <= 128:
                raise SdesError(f"MKI length out of range: {item!r}")
            mki = (int(m.group(1)), length)
        elif (m := _LIFETIME.match(item)) and lifetime is None and mki is None:
            lifetime = 2 ** int(m.group(1)) if m.group(1) else int(m.group(2))
        else:
            raise SdesError(f"bad crypto key parameter {item!r}")
    flags = frozenset(p.upper() for p in params if p.upper() in SESSION_FLAGS)
    others = tuple(p for p in params if p.upper() not in SESSION_FLAGS)
    return Crypto(int(tag_s), suite, material[: suite.key_len], material[suite.key_len :],
                  lifetime, mki, flags, others)


def generate(tag: int, suite: Suite | str, flags: frozenset[str] | set[str] = frozenset()) -> Crypto:
    """A fresh attribute with a random master key and salt (the proxy's own side)."""
    if isinstance(suite, str):
        suite = SUITES_BY_NAME[suite]
    material = secrets.token_bytes(suite.key_len + suite.salt_len)
    return Crypto(tag, suite, material[: suite.key_len], material[suite.key_len :],
                  flags=frozenset(flags))


def sdes_flags(options: list[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Split the ng `SDES` list into (session flags to add, suites excluded with `no-`)."""
    add, excluded = set(), set()
    for opt in options:
        up = opt.upper().replace("-", "_")
        if up in SESSION_FLAGS:
            add.add(up)
        elif opt.lower().startswith("no-") and opt[3:].upper() in SUITES_BY_NAME:
            excluded.add(opt[3:].upper())
    return frozenset(add), frozenset(excluded)


def excluded_suites(options: list[str]) -> frozenset[str]:
    """The suites an `SDES` list removes with `no-<suite>`."""
    return sdes_flags(list(options))[1]


DEFAULT_LIFETIME = 1 << 31  # what `SDES: lifetime` announces on our lines (10.5)


def offer(received: Sequence[Crypto], options: Sequence[str] = (),
          kept: Sequence[Crypto] = ()) -> list[Crypto]:
    """The `a=crypto` list rtpengine offers on the SRTP side of a call.

    `received` are the attributes the offerer sent (empty when it offered plain RTP). Those
    come first, unchanged (so an SRTP peer that forwards keys end to end keeps them); then
    `kept`, the lines the party already has from us (a re-offer), of the suites not there
    yet, keys unchanged, each tag raised past the ones before it if lower (10.5: a key a
    party uses stays while its suite is offered); then one fresh attribute for every known
    suite not offered yet, tags counting on from the highest.
    `options` is the ng `SDES` list: session flags (`unencrypted_srtp`, ...), added to the
    offerer's lines too; `no-<suite>`, which drops the offerer's lines of that suite as well
    (new tags then count on from the highest kept one); `pad` and `lifetime`, how every
    line is printed (base64 padding kept; `|2^31` whatever lifetime the offerer gave; 10.5).
    """
    flags, excluded = sdes_flags(list(options))
    lowered = {o.lower() for o in options}
    style = {"pad": "pad" in lowered, "show_lifetime": "lifetime" in lowered}
    lifetime = {"lifetime": DEFAULT_LIFETIME} if style["show_lifetime"] else {}
    out = [replace(c, flags=c.flags | flags, **style, **lifetime)
           for c in received if c.suite.name not in excluded]
    have = {c.suite.name for c in out}
    tag = max((c.tag for c in out), default=0)
    for line in kept:
        if line.suite.name in have:
            continue
        tag = max(line.tag, tag + 1)
        out.append(replace(line, tag=tag))
        have.add(line.suite.name)
    for suite in SUITES:
        if suite.name in have or suite.name in excluded:
            continue
        tag += 1
        out.append(replace(generate(tag, suite, flags), **style, **lifetime))
    return out


def reoffer(kept: list[Crypto]) -> list[Crypto]:
    """A re-offer to a party that answered SDES: the lines of ours its answer kept (the one
    of its tag and suite: rtpengine 10.5 drops the others), their tags and keys unchanged,
    then a fresh line for every other suite, tags counting on from the highest kept."""
    out = list(kept)
    have = {c.suite.name for c in out}
    tag = max((c.tag for c in out), default=0)
    for suite in SUITES:
        if suite.name in have:
            continue
        tag += 1
        out.append(generate(tag, suite))
    return out


def answer(offered: Sequence[Crypto], supported: tuple[str, ...] | None = None) -> Crypto | None:
    """rtpengine's answer to an SDES offer: the first offered suite it can do, with a new key.

    The answer keeps the offer's tag and session parameters (RFC 4568 6.1). `supported`
    restricts the choice (e.g. to what the SRTP context implements); None means every suite.
    Returns None when nothing offered is usable: the answer then has no `a=crypto`.
    """
    for crypto in offered:
        if supported is not None and crypto.suite.name not in supported:
            continue
        return replace(generate(crypto.tag, crypto.suite, crypto.flags), other_params=())
    return None


def accept_answer(offered: list[Crypto], answered: Crypto) -> Crypto:
    """The attribute of ours an SDES answer chose.

    RFC 4568 6.1 says by tag, but rtpengine 10.5 also takes an answer whose tag names another
    suite (captured: tag 1 was AEAD_AES_256_GCM in its offer, the answer's tag 1
    AES_CM_128_HMAC_SHA1_80, and the call went on), so the suite decides: same tag and suite
    first, else our first offered attribute of that suite. The answerer's key (`answered`) is
    what it protects with (our inbound context); the returned one is our outbound key.
    (An offer/answer leg keyed by the relay takes only the same tag and suite: 10.5 keeps
    no line to encrypt with otherwise and drops what goes to the answerer; see
    offer_answer/sdes.py. Subscriptions still use this.)
    """
    for crypto in offered:
        if crypto.tag == answered.tag and crypto.suite is answered.suite:
            return crypto
    for crypto in offered:
        if crypto.suite is answered.suite:
            return crypto
    raise SdesError(f"answer chose {answered.suite.name}, which was not offered")
