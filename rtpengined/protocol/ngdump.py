"""An ng message as 10.5 writes it into its debug log (``Dump for 'offer' from ...: {...}``).

JSON-like, but not JSON: strings go between quotes as they are (an SDP's newlines
included, nothing escaped), a dictionary is ``{ "key": value, ... }``, a list
``[ value, ... ]``, and an empty one keeps its two spaces (``{  }``, ``[  ]``).

Without recursion: a request may nest as deep as the decoder takes (``bencode.MAX_DEPTH``),
far deeper than Python's call stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def dump(value: Any) -> str:
    parts: list[str] = []
    # A stack of iterators over what is left to write of each open container.
    stack: list[Iterator[str | tuple[Any]]] = [iter([(value,)])]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
        elif isinstance(item, str):
            parts.append(item)  # (punctuation and keys, ready made)
        else:
            stack.append(_pieces(item[0]))
    return "".join(parts)


def _pieces(value: Any) -> Iterator[str | tuple[Any]]:
    """What ``value`` is written as: text, and each member as ``(member,)`` to expand."""
    if isinstance(value, dict):
        yield "{ "
        for index, (key, item) in enumerate(value.items()):
            yield f'{", " if index else ""}"{_text(key)}": '
            yield (item,)
        yield " }"
    elif isinstance(value, list):
        yield "[ "
        for index, item in enumerate(value):
            if index:
                yield ", "
            yield (item,)
        yield " ]"
    elif isinstance(value, int):
        yield str(value)
    else:
        yield f'"{_text(value)}"'


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
