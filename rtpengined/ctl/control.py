"""``terminate``, ``active``/``standby`` and the Redis keyspaces (``ksadd``/``ksrm``/``kslist``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .numbers import NO_DIGITS, c_strtoul
from .parser import MORE, _argument

if TYPE_CHECKING:
    from ..core import Core
    from ..model import Call


# -- terminate, active/standby, keyspaces ----------------------------------------------------


def destroy_call(core: Core, call: Call, reason: str | None) -> None:
    """End ``call`` now. A call with the delete of a named party pending (an ng delete
    with a tag and a delay) keeps that delete's regular reason, as 10.5 keeps it; one
    deleted by its call-id alone with a delay is forced now (10.5 tells the two apart)."""
    if reason == "forced" and (call.deletion_mark
                               or any(m.delete_at is not None for m in call.monologues)):
        reason = "regular"
    core.calls.destroy(call, reason)


def _terminate(core: Core, rest: str) -> str:
    argument = _argument(rest)
    if not argument:  # 10.5 ends every call on an empty argument (defect D4)
        return MORE
    calls = core.calls.calls
    # Exact match (10.5 compares by prefix, so "terminate a" ended all calls: D4).
    if argument in ("all", "own", "foreign"):
        for call in list(calls.values()):
            if argument == "all" or call.foreign == (argument == "foreign"):
                destroy_call(core, call, "forced")
        what = {"all": "All", "own": "All own", "foreign": "All foreign"}[argument]
        return f"{what} calls terminated by operator.\n"
    call = calls.get(argument)
    if call is None:
        return f"\nCall Id not found ({argument}).\n\n"
    destroy_call(core, call, "forced")
    return f"\nCall Id ({argument}) successfully terminated by operator.\n\n"


def _active(core: Core, rest: str) -> str:
    now = core.clock()
    for call in core.calls.calls.values():
        call.foreign = False
        call.last_signal = max(call.last_signal, now + 1)
        core.store.changed(call)  # ours now: stored in our own DB from here on
    return "Ok, all calls set to 'owned (active)'\n"


def _standby(core: Core, rest: str) -> str:
    now = core.clock()
    for call in core.calls.calls.values():
        call.foreign = True
        call.last_signal = max(call.last_signal, now)
    return "Ok, all calls set to 'foreign (standby)'\n"


def _keyspace(rest: str, verb: str) -> tuple[int | None, str]:
    """The keyspace number given to ksadd/ksrm, or else the reply refusing the argument."""
    argument = _argument(rest)
    if argument is None:
        return None, MORE
    value, error = c_strtoul(argument)
    if value is None:
        return None, f"Fail {verb} keyspace {argument} to redis notifications; {NO_DIGITS}\n"
    if error:
        return None, f"Fail {verb} keyspace {argument} to redis notifications; errono={error}\n"
    return value, ""


def _ksadd(core: Core, rest: str) -> str:
    value, refusal = _keyspace(rest, "adding")
    if value is None:
        return refusal
    if value in core.store.keyspaces():
        return f"Keyspace {value} is already among redis notifications.\n"
    # 10.5 crashes here without redis (defect D2); we keep the list.
    core.store.subscribe(value)  # with --redis: follow it (PSUBSCRIBE)
    return f"Success adding keyspace {value} to redis notifications.\n"


def _ksrm(core: Core, rest: str) -> str:
    value, refusal = _keyspace(rest, "removing")
    if value is None:
        return refusal
    if value not in core.store.keyspaces():
        return f"Keyspace {value} is not among redis notifications.\n"
    core.store.unsubscribe(value)  # ends the foreign calls restored from that keyspace
    return (
        f"Successfully unsubscribed from keyspace {value}.\n"
        f"Successfully removed all foreign calls for keyspace {value}.\n"
    )


def _kslist(core: Core, rest: str) -> str:
    spaces = "".join(f"{db} " for db in core.store.keyspaces())
    return f"\nSubscribed-on keyspaces:\n{spaces}\n"
