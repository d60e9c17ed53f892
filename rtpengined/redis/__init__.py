"""Calls in Redis, as rtpengine keeps them: the call store's interface and its null double.

The control plane tells a ``CallStore`` that a call changed or ended; it never waits for
the store. Implementations: ``NullCallStore`` (no ``--redis``: stores nothing) and
``store.RedisCallStore`` (writes rtpengine 10.5's layout in the background, restores at
start-up, follows other nodes' keyspaces). Both methods are synchronous and cheap, so
the sans-I/O command code can call them on every request.
"""

from __future__ import annotations

from typing import Protocol

from ..model import Call


class CallStore(Protocol):
    def changed(self, call: Call) -> None:
        """``call`` changed (signalling or media): store its new state soon."""

    def deleted(self, call: Call) -> None:
        """``call`` ended: remove its stored copy soon."""

    def keyspaces(self) -> list[int]:
        """The keyspaces (Redis DBs) followed as a standby, in subscription order."""

    def keyspace_of(self, call: Call) -> int:
        """The Redis DB ``call`` is stored in (the CLI's ``redis_keyspace``; 0 without)."""

    def configure(self, *, allowed_errors: int, disable_time: int, connect_timeout_ms: int,
                  cmd_timeout_ms: int) -> None:
        """New error/timeout settings (CLI ``set redis…``) for the connections from now on."""

    def subscribe(self, keyspace: int) -> None:
        """Follow another node's keyspace (``ksadd``)."""

    def unsubscribe(self, keyspace: int) -> None:
        """Stop following a keyspace (``ksrm``); its foreign calls end."""


class NullCallStore:
    """No Redis: nothing is stored; the keyspace list is kept for ``kslist``."""

    def __init__(self) -> None:
        self._keyspaces: list[int] = []

    def changed(self, call: Call) -> None:
        return None

    def deleted(self, call: Call) -> None:
        return None

    def keyspaces(self) -> list[int]:
        return list(self._keyspaces)

    def keyspace_of(self, call: Call) -> int:
        return 0

    def configure(self, *, allowed_errors: int, disable_time: int, connect_timeout_ms: int,
                  cmd_timeout_ms: int) -> None:
        return None

    def subscribe(self, keyspace: int) -> None:
        if keyspace not in self._keyspaces:
            self._keyspaces.append(keyspace)

    def unsubscribe(self, keyspace: int) -> None:
        if keyspace in self._keyspaces:
            self._keyspaces.remove(keyspace)
