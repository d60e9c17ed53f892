"""bencode's two implementations side by side, for the tests that run both.

``bencode.py`` is the reference (``pure_decode``, ``pure_decode_prefix``, ``pure_encode``);
the C helper ``_bencode`` (built by setup.py, optional) is what ``bencode.decode`` and
``encode`` use when it is importable. ``IMPLEMENTATIONS`` parametrizes a test over both; the
C one is skipped when the helper is not built (``test_bencode_c`` then fails where a
compiler is at hand, so a broken build does not go unnoticed).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rtpengined.protocol import bencode

try:
    from rtpengined.protocol import _bencode
except ImportError:
    _bencode = None

PURE = SimpleNamespace(name="pure", decode=bencode.pure_decode,
                       decode_prefix=bencode.pure_decode_prefix, encode=bencode.pure_encode)
C = None
if _bencode is not None and getattr(_bencode, "API", None) == 1:
    # bencode.py does this itself unless RTPENGINED_PURE_BENCODE is set; tests run the
    # helper whatever the environment says.
    _bencode.setup(bencode.BencodeError, bencode.pure_encode, bencode._encode_key)
    C = SimpleNamespace(name="c", decode=_bencode.decode, decode_prefix=_bencode.decode_prefix,
                        encode=_bencode.encode)

IMPLEMENTATIONS = [
    pytest.param(PURE, id="pure"),
    pytest.param(C, id="c", marks=pytest.mark.skipif(C is None, reason="the C helper is not built")),
]
