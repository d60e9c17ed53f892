"""``debug`` and ``call <id> ...``: the per-call and per-tag tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import dtmf_block
from .control import destroy_call
from .numbers import c_strtol, wrap32
from .parser import MORE, Table, _argument, _token, dispatch
from .views import call_info, tag_info

if TYPE_CHECKING:
    from ..core import Core
    from ..model import Call, Monologue


# -- debug and call <id> ------------------------------------------------------------------


def _debug_flag(flag: str | None) -> bool | None:
    if flag is None or flag in ("on", "enable"):
        return True
    if flag in ("off", "disable"):
        return False
    return None


def _set_debug(call: Call, flag: str | None) -> str:
    enabled = _debug_flag(flag)
    if enabled is None:
        return f"Invalid on/off flag ('{flag}') specified\n"
    call.debug = enabled
    word = "Enabled" if enabled else "Disabled"
    return f"{word} debugging for call '{call.call_id}'\n"


def _debug(core: Core, rest: str) -> str:
    argument = _argument(rest)
    if not argument:
        return "No call ID specified\n"
    call_id, flag = _token(argument)
    if not call_id:
        return "No call ID specified\n"
    if flag is not None and _debug_flag(flag) is None:
        return f"Invalid on/off flag ('{flag}') specified\n"
    call = core.calls.calls.get(call_id)
    if call is None:
        return f"Call ID '{call_id}' not found\n"
    return _set_debug(call, flag)


def _call(core: Core, rest: str) -> str:
    argument = _argument(rest)
    if argument is None:
        return MORE
    call_id, remainder = _token(argument)
    if not call_id:
        return "No call ID specified\n"
    call = core.calls.calls.get(call_id)
    if call is None:
        return f"No such call '{call_id}'\n"
    return dispatch(core, _call_table(call), remainder or "")


def _call_table(call: Call) -> Table:
    def info(core: Core, rest: str) -> str:
        return call_info(core, call)

    def terminate(core: Core, rest: str) -> str:
        destroy_call(core, call, None)  # no termination reason, as in 10.5
        return f"\nCall '{call.call_id}' terminated.\n\n"

    def debug(core: Core, rest: str) -> str:
        return _set_debug(call, _argument(rest))

    def tag(core: Core, rest: str) -> str:
        argument = _argument(rest)
        if argument is None:
            return MORE
        tag_name, remainder = _token(argument)
        if not tag_name:
            return "No tag specified\n"
        monologue = next((m for m in call.monologues
                          if m.tag == tag_name and not m.destroyed), None)
        if monologue is None:
            return f"No such tag '{tag_name}'\n"
        return dispatch(core, _tag_table(call, monologue), remainder or "")

    return [("info", info), ("terminate", terminate), ("debug", debug), ("tag", tag)]


def _tag_table(call: Call, monologue: Monologue) -> Table:
    def info(core: Core, rest: str) -> str:
        return tag_info(core, call, monologue)

    def delay(core: Core, rest: str) -> str:
        argument = _argument(rest)
        if argument is None:
            return MORE
        value, _ = c_strtol(argument)
        value = 1 if value is None else wrap32(value)
        if value < 0:
            return f"Invalid delay {value}\n"
        # (10.5: the party's delay buffer, as ``block DTMF``'s ``delay-buffer`` sets it)
        dtmf_block.set_delay(monologue, value)
        dtmf_block.apply(call, core.media.update_stream)
        return f"Setting delay to {value}\n"

    def detect_dtmf(core: Core, rest: str) -> str:
        argument = _argument(rest)
        if argument is None:
            return MORE
        value, _ = c_strtol(argument)
        value = 1 if value is None else wrap32(value)
        if value not in (0, 1):
            return f"Invalid setting {value}\n"
        monologue.detect_dtmf = bool(value)
        dtmf_block.apply(call, core.media.update_stream)
        return "Enabling audio DTMF detection\n" if value else "Disabling audio DTMF detection\n"

    return [("info", info), ("delay", delay), ("detect-dtmf", detect_dtmf)]
