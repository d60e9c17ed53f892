"""One object for equal immutable values that many open calls keep.

Nearly every call of a deployment offers the same codec list and the same rtcp-mux
options; keeping one record per call cost hundreds of bytes of every open call. The
table is bounded because the values come from requests: past ``limit`` distinct values a
new one is returned as it is (correct, only not shared).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class SharedValues(Generic[T]):
    __slots__ = ("table", "limit")

    def __init__(self, limit: int) -> None:
        self.table: dict[T, T] = {}
        self.limit = limit

    def __call__(self, value: T) -> T:
        """The object equal to ``value`` handed out before, else ``value`` itself."""
        shared = self.table.get(value)
        if shared is None:
            if len(self.table) < self.limit:
                self.table[value] = value
            return value
        return shared
