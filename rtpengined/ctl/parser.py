"""The CLI's keyword tables: prefix matching in table order, one separator byte, ``help``.

Shared by every level of the command tree (``TOP`` in the package, ``list``, ``set``,
``params``, ``call``), so each table module only lists keywords and handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core import Core


MORE = "More parameters required.\n"
HELP_TITLE = "Available sub-commands at this level:\n"

Handler = Callable[["Core", str], str]
Table = list[tuple[str, Handler]]


def dispatch(core: Core, table: Table, rest: str) -> str:
    """Match ``rest`` against ``table`` by prefix, in order; ``help`` lists the table."""
    if rest == "help":
        return HELP_TITLE + "".join(f"\t{keyword}\n" for keyword, _ in table)
    for keyword, handler in table:
        if rest.startswith(keyword):
            return handler(core, rest[len(keyword):])
    return f"Unknown or incomplete command::{rest}\n"


def _argument(rest: str) -> str | None:
    """Drop exactly one separator byte; ``None`` when there is none."""
    return rest[1:] if rest else None


def _token(text: str) -> tuple[str, str | None]:
    """Split at the first space: (token, remainder after the space or None)."""
    head, space, tail = text.partition(" ")
    return head, (tail if space else None)


def _sub(table_getter: Callable[[], Table]) -> Handler:
    def handler(core: Core, rest: str) -> str:
        argument = _argument(rest)
        if argument is None:
            return MORE
        return dispatch(core, table_getter(), argument)

    return handler
