"""An ng message as 10.5 writes it into its debug log (``Dump for 'offer' from ...: {...}``).

JSON-like, but not JSON: strings go between quotes as they are (an SDP's newlines
included, nothing escaped), a dictionary is ``{ "key": value, ... }``, a list
``[ value, ... ]``, and an empty one keeps its two spaces (``{  }``, ``[  ]``).
"""

from __future__ import annotations

from typing import Any


def dump(value: Any) -> str:
    parts: list[str] = []
    _dump(value, parts)
    return "".join(parts)


def _dump(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append("{ ")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(", ")
            out.append(f'"{_text(key)}": ')
            _dump(item, out)
        out.append(" }")
    elif isinstance(value, list):
        out.append("[ ")
        for index, item in enumerate(value):
            if index:
                out.append(", ")
            _dump(item, out)
        out.append(" ]")
    elif isinstance(value, int):
        out.append(str(value))
    else:
        out.append(f'"{_text(value)}"')


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
