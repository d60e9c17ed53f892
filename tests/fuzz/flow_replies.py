"""Every reply of a random call flow, with what is random in it masked, as JSON lines.

``flows.py`` looks for replies saying the core caught an exception; this prints all of
them, so that two builds of the core (the pure sources and what ``pip install .`` compiles
from them, see ``test_differential_compiled_core.py``) can be held to the same answers for
the same requests, whatever the requests are. Masked: numbers (ports, times, counters,
session versions), and the values each build draws at random (SDES keys, ICE
credentials and foundations, DTLS fingerprints, tags and labels the core makes up); dict
entries are sorted by their masked key, so that a made-up key does not reorder them.

Run: ``python tests/fuzz/flow_replies.py SEED STEPS`` from the tree whose core to run (it
imports the ``rtpengined`` beside its ``tests`` directory).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from typing import Any

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.dirname(_TESTS), _TESTS]

from fuzz import flows  # noqa: E402

_DRAWN = re.compile(
    r"(fingerprint:\S+ |ice-ufrag:|ice-pwd:|rtpengine:|tls-id:|candidate:|cname:|msid:|label:)"
    r"[^\s/|]+")
_KEY = re.compile(r"inline:[^\s|]+")
_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{16,}")  # (hex tags, base64 keys and passwords)
_NUMBER = re.compile(r"\d+")


def mask(value: Any) -> Any:
    """``value`` with what a build draws at random replaced (see the module's docstring)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        value = _KEY.sub("inline:*", _DRAWN.sub(r"\1*", value))
        return _NUMBER.sub("#", _TOKEN.sub("*", value))
    if isinstance(value, list):
        return [mask(item) for item in value]
    if isinstance(value, dict):
        return sorted(([mask(key), mask(item)] for key, item in value.items()), key=repr)
    if isinstance(value, int):
        return "#"
    return type(value).__name__


def replies(seed: int, steps: int) -> list:
    """(request number, command, masked reply) for ``steps`` requests of ``flows``'
    generator."""
    core = flows.new_core()
    try:
        return [[number, message["command"],
                 "undecodable" if reply is not None and decoded is None else mask(decoded)]
                for number, message, reply, decoded in flows.exchanges(seed, steps, core)]
    finally:
        core.shutdown()


def main() -> None:
    logging.disable(logging.CRITICAL)
    for entry in replies(int(sys.argv[1]), int(sys.argv[2])):
        print(json.dumps(entry))


if __name__ == "__main__":
    main()
