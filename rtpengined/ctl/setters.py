"""``set``: the setters; every number goes through ``numbers`` the way 10.5 reads it."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..config import LOG_SUBSYSTEMS
from ..log_context import syslog_to_logging
from .numbers import INT_MAX, NO_DIGITS, c_atoi, c_strtod, c_strtol, c_strtoul, wrap32
from .params import cli_state
from .parser import MORE, Handler, Table, _argument, _token
from .state import apply_log_level, log_level_of

if TYPE_CHECKING:
    from ..core import Core


# -- set ----------------------------------------------------------------------------------


def _setter(body: Callable[[Core, str], str]) -> Handler:
    """A setter: nothing after the keyword → ``More parameters required.``."""

    def handler(core: Core, rest: str) -> str:
        argument = _argument(rest)
        if argument is None:
            return MORE
        cli_state(core)  # record startup values before the first change
        return body(core, argument)

    return handler


def _set_maxopenfiles(core: Core, arg: str) -> str:
    value, error = c_strtoul(arg)
    if value is None:
        return f"Fail setting open_files to {arg}; {NO_DIGITS}\n"
    if error:
        return f"Fail setting open_files to {arg}; errno={error}\n"
    if value < 65536:
        return f"Fail setting open_files to {value}; can't set it under 65536\n"
    try:
        core.host.set_open_files_limit(value)
    except (OSError, ValueError) as exc:
        return f"Fail setting open_files to {value}; errno = {getattr(exc, 'errno', None) or 1}\n"
    return f"Success setting open_files to {value}; cat /proc/{core.host.pid()}/limits\n"


def _set_maxsessions(core: Core, arg: str) -> str:
    value, error = c_strtol(arg)
    if value is None:
        return f"Fail setting maxsessions to {arg}; {NO_DIGITS}\n"
    if error:
        return f"Fail setting maxsessions to {arg}; errno={error}\n"
    if value < -1:
        return f"Fail setting maxsessions to {value}; either positive or -1 values allowed\n"
    core.config.max_sessions = wrap32(value)
    if value == -1:
        return "Success setting maxsessions to -1; disable feature\n"
    return f"Success setting maxsessions to {value}\n"


def _float_setter(name: str, attribute: str, precision: int) -> Callable[[Core, str], str]:
    def body(core: Core, arg: str) -> str:
        value, error = c_strtod(arg)
        if value is None:
            return f"Fail setting {name} to {arg}; {NO_DIGITS}\n"
        if error or math.isnan(value) or math.isinf(value):
            return f"Fail setting {name} to {arg}; errno={error}\n"
        # rtpengine stores hundredths, truncated: 2.555 is kept as 2.55.
        setattr(core.config, attribute, int(value * 100) / 100)
        return f"Success setting {name} to %.{precision}f\n" % value

    return body


def _set_maxbw(core: Core, arg: str) -> str:
    value, error = c_strtoul(arg)
    if value is None:
        return f"Fail setting maxbw to {arg}; {NO_DIGITS}\n"
    if error:
        return f"Fail setting maxbw to {arg}; errno={error}\n"
    core.config.max_bandwidth = (value * 100) % 2**64  # 10.5 stores n*100 (defect D5)
    return f"Success setting maxbw to {value}\n"


def _timeout_setter(attribute: str) -> Callable[[Core, str], str]:
    def body(core: Core, arg: str) -> str:
        value, error = c_strtol(arg)
        if value is None:
            return f"Fail setting timeout to {arg}; {NO_DIGITS}\n"
        if error or value < 0 or value >= INT_MAX:
            return f"Fail setting timeout to {arg}; errno={error}\n"
        setattr(core.config, attribute, value)
        return f"Success setting timeout to {value}\n"  # always "timeout" (defect D7)

    return body


def _set_loglevel(core: Core, arg: str) -> str:
    if not arg:
        return MORE
    if arg[0] in "0123456789":
        subsystem, level_text = "", arg
    else:
        subsystem, level_text = _token(arg)
        if not level_text:
            return MORE
    level = c_atoi(level_text)
    targets = LOG_SUBSYSTEMS if not subsystem else [s for s in LOG_SUBSYSTEMS if s == subsystem]
    for name in targets:
        apply_log_level(core, name, level)
    if not subsystem:
        core.config.log_level = level
    return f"Success setting loglevel to {level}\n"


def shift_log_levels(core: Core, step: int) -> None:
    """SIGUSR2 (``step`` 1) and SIGUSR1 (-1), as 10.5 takes them: every subsystem's level
    one up or down (no bound, as 10.5), each change logged at the level it is now."""
    for name in LOG_SUBSYSTEMS:
        level = log_level_of(core, name) + step
        apply_log_level(core, name, level)
        logging.getLogger(f"rtpengined.{name}").log(
            syslog_to_logging(level), "%s '%s' log level to %d",
            "Increased" if step > 0 else "Decreased", name, level)


def _apply_redis(core: Core) -> None:
    """Hand the CLI's redis settings to the running call store (new connections use them)."""
    state = cli_state(core)
    core.store.configure(
        allowed_errors=state.redis_allowed_errors, disable_time=state.redis_disable_time,
        connect_timeout_ms=state.redis_connect_timeout, cmd_timeout_ms=state.redis_cmd_timeout)


def _set_redisallowederrors(core: Core, arg: str) -> str:
    value, _ = c_strtol(arg)
    value = value or 0
    cli_state(core).redis_allowed_errors = wrap32(value)
    _apply_redis(core)
    return f"Success setting redis-allowed-errors to {value}\n"


def _set_redisdisabletime(core: Core, arg: str) -> str:
    value = c_strtol(arg)[0] or 0
    if value < 0:
        return f"Invalid redis-disable-time value {value}, must be >= 0\n"
    cli_state(core).redis_disable_time = wrap32(value)
    _apply_redis(core)
    return f"Success setting redis-disable-time to {value}\n"


def _set_redisconnecttimeout(core: Core, arg: str) -> str:
    value = c_strtol(arg)[0] or 0
    if value <= 0:
        return f"Invalid redis-connect-timeout value {value}, must be > 0\n"
    cli_state(core).redis_connect_timeout = wrap32(value)
    _apply_redis(core)
    return f"Success setting redis-connect-timeout to {value}\n"


def _set_rediscmdtimeout(core: Core, arg: str) -> str:
    value = c_strtol(arg)[0] or 0
    if value < 0:
        return f"Invalid redis-cmd-timeout value {value}, must be >= 0\n"
    state = cli_state(core)
    reply = ""
    if value != state.redis_cmd_timeout and value == 0:
        reply = "Warning: Setting redis-cmd-timeout to 0 (no timeout) will require a redis reconnect\n"
    state.redis_cmd_timeout = wrap32(value)
    _apply_redis(core)
    return reply + f"Success setting redis-cmd-timeout to {value}\n"


def _set_controltos(core: Core, arg: str) -> str:
    value = c_atoi(arg)
    if not 0 <= value <= 255:
        return f"Invalid control-tos value {value}, must be between 0 and 255\n"
    # 10.5 crashes here with a single ng listener (defect D1); the ng transports read
    # config.control_tos. The reply text is 10.5's (sic).
    core.config.control_tos = value
    return f"Success setting redis-connect-timeout to {value}\n"


def _set_deletedelay(core: Core, arg: str) -> str:
    value, error = c_strtol(arg)
    if value is None or error or value == -1 or not -(2**31) <= value <= INT_MAX:
        return "Invalid delete-delay value\n"
    core.config.delete_delay = value
    return f"Success setting delete-delay to {value}\n"


SET: Table = [
    ("maxopenfiles", _setter(_set_maxopenfiles)),
    ("maxsessions", _setter(_set_maxsessions)),
    ("maxcpu", _setter(_float_setter("maxcpu", "max_cpu", 1))),
    ("maxload", _setter(_float_setter("maxload", "max_load", 2))),
    ("maxbw", _setter(_set_maxbw)),
    ("timeout", _setter(_timeout_setter("timeout"))),
    ("silenttimeout", _setter(_timeout_setter("silent_timeout"))),
    ("offertimeout", _setter(_timeout_setter("offer_timeout"))),
    ("finaltimeout", _setter(_timeout_setter("final_timeout"))),
    ("loglevel", _setter(_set_loglevel)),
    ("redisallowederrors", _setter(_set_redisallowederrors)),
    ("redisdisabletime", _setter(_set_redisdisabletime)),
    ("redisconnecttimeout", _setter(_set_redisconnecttimeout)),
    ("rediscmdtimeout", _setter(_set_rediscmdtimeout)),
    ("controltos", _setter(_set_controltos)),
    ("deletedelay", _setter(_set_deletedelay)),
]
