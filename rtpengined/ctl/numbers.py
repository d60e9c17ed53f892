"""C number parsing: the CLI echoes what strtol/strtoul/strtod/atoi made of its input.

rtpengine parses setter arguments with the C library, and its replies show the result
(a wrapped ``int``, a clamped ``long``, ``no digists found``), so the setters use these
and nothing else to read a number.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

NO_DIGITS = "no digists found"  # sic: rtpengine's spelling, part of the output
INT_MAX = 2**31 - 1
ERANGE = 34


# -- C number parsing ---------------------------------------------------------------------

_SPACE = " \t\n\v\f\r"
_INT_RE = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)")
_FLOAT_RE = re.compile(
    r"[ \t\n\v\f\r]*([+-]?)(?:"
    r"(0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?[0-9]+)?)"
    r"|((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?)"
    r"|(inf(?:inity)?|nan(?:\([0-9a-z_]*\))?))",
    re.IGNORECASE,
)


def c_strtol(text: str) -> tuple[int | None, int]:
    """C ``strtol(text, NULL, 10)`` on 64-bit: (value or None without digits, errno)."""
    match = _INT_RE.match(text)
    if match is None:
        return None, 0
    value = int(match.group(2))
    if match.group(1) == "-":
        value = -value
    if value > 2**63 - 1:
        return 2**63 - 1, ERANGE
    if value < -(2**63):
        return -(2**63), ERANGE
    return value, 0


def c_strtoul(text: str) -> tuple[int | None, int]:
    """C ``strtoul``: a minus sign wraps modulo 2**64, as in C."""
    match = _INT_RE.match(text)
    if match is None:
        return None, 0
    value = int(match.group(2))
    if value > 2**64 - 1:
        return 2**64 - 1, ERANGE
    if match.group(1) == "-":
        value = (-value) % 2**64
    return value, 0


def c_strtod(text: str) -> tuple[float | None, int]:
    """C ``strtod``: decimal, hex floats, inf and nan; ERANGE on overflow."""
    match = _FLOAT_RE.match(text)
    if match is None:
        return None, 0
    sign = -1.0 if match.group(1) == "-" else 1.0
    hexa, decimal, special = match.group(2), match.group(3), match.group(4)
    if special:
        return sign * float("nan" if special.lower().startswith("nan") else "inf"), 0
    try:
        value = float.fromhex(hexa) if hexa else float(decimal)
    except OverflowError:
        return sign * math.inf, ERANGE
    if math.isinf(value):
        return sign * value, ERANGE
    return sign * value, 0


def wrap32(value: int) -> int:
    """Store a C ``long`` into an ``int`` the way rtpengine does (two's complement)."""
    return (value + 2**31) % 2**32 - 2**31


def c_atoi(text: str) -> int:
    value, _ = c_strtol(text)
    return wrap32(value or 0)
