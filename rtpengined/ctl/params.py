"""``params start|current|diff|revert``: the settings at start-up against the current ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import LOG_SUBSYSTEMS
from ..redis.address import RedisAddress
from .parser import Table
from .state import CliState, apply_log_level, log_level_of

if TYPE_CHECKING:
    from ..core import Core


# -- params -------------------------------------------------------------------------------


def _hundredths(value: float) -> int:
    return round(value * 100)


def _diffable(core: Core, state: CliState) -> dict[str, Any]:
    """The settings ``params diff``/``revert`` cover, in their order, as stored integers."""
    config = core.config
    values: dict[str, Any] = {f"log-level-{sub}": log_level_of(core, sub) for sub in LOG_SUBSYSTEMS}
    values.update({
        "max-sessions": config.max_sessions,
        "max-cpu": _hundredths(config.max_cpu),
        "max-load": _hundredths(config.max_load),
        "max-bw": config.max_bandwidth,
        "timeout": config.timeout,
        "silent-timeout": config.silent_timeout,
        "final-timeout": config.final_timeout,
        "control-tos": config.control_tos,
        "redis_allowed_errors": state.redis_allowed_errors,
        "redis_disable_time": state.redis_disable_time,
        "redis_cmd_timeout": state.redis_cmd_timeout,
        "redis_connect_timeout-db": state.redis_connect_timeout,  # sic (defect D8)
    })
    return values


def _restore(core: Core, state: CliState, values: dict[str, Any]) -> None:
    config = core.config
    for sub in LOG_SUBSYSTEMS:
        level = values[f"log-level-{sub}"]
        if level != log_level_of(core, sub):
            apply_log_level(core, sub, level)
    config.max_sessions = values["max-sessions"]
    config.max_cpu = values["max-cpu"] / 100
    config.max_load = values["max-load"] / 100
    config.max_bandwidth = values["max-bw"]
    config.timeout = values["timeout"]
    config.silent_timeout = values["silent-timeout"]
    config.final_timeout = values["final-timeout"]
    config.control_tos = values["control-tos"]
    state.redis_allowed_errors = values["redis_allowed_errors"]
    state.redis_disable_time = values["redis_disable_time"]
    state.redis_cmd_timeout = values["redis_cmd_timeout"]
    state.redis_connect_timeout = values["redis_connect_timeout-db"]


def _listen_slots(addresses: list[Any]) -> list[str]:
    """Two lines per listener kind: the IPv4 slot, then the IPv6 slot."""
    v4 = next((str(a) for a in addresses if ":" not in a.host), "")
    v6 = next((str(a) for a in addresses if ":" in a.host), "")
    return [v4, v6]


def _redis_address(text: str | None) -> RedisAddress | None:
    return RedisAddress.parse(text) if text else None


def _redis_text(address: RedisAddress | None) -> str:
    """``IP:PORT/DB`` as 10.5 prints its redis endpoints (``:0/-1`` when unset)."""
    return f"{address.host}:{address.port}/{address.db}" if address else ":0/-1"


def _params(core: Core, state: CliState, start: bool) -> str:
    config = core.config
    lines = [f"log-level-{sub} = {log_level_of(core, sub)}" for sub in LOG_SUBSYSTEMS]
    lines += [
        f"table = {config.table}",
        f"max-sessions = {config.max_sessions}",
        f"timeout = {config.timeout}",
        f"silent-timeout = {config.silent_timeout}",
        f"final-timeout = {config.final_timeout}",
        f"offer-timeout = {config.offer_timeout}",
        f"delete-delay = {config.delete_delay}",
        f"redis-expires = {config.redis_expires}",
        f"tos = {config.tos}",
        f"control-tos = {config.control_tos}",
        f"graphite-interval = {config.graphite_interval}",
        "redis-num-threads = 4",
        # (10.5 shows the socket type: SOCK_STREAM 1 for tcp, SOCK_DGRAM 2 for udp)
        f"homer-protocol = {1 if config.homer_protocol == 'tcp' else 2}",
        f"homer-id = {config.homer_id}",
        "no-fallback = 0",
        f"port-min = {config.port_min}",
        f"port-max = {config.port_max}",
    ]
    redis, redis_write = _redis_address(config.redis), _redis_address(config.redis_write)
    if start:
        lines += [f"redis = {_redis_text(redis)}", f"redis-write = {_redis_text(redis_write)}"]
    else:
        lines += [f"redis-db = {redis.db if redis else -1}",
                  f"redis-write-db = {redis_write.db if redis_write else -1}"]
    lines += [
        f"no-redis-required = {int(config.no_redis_required)}",
        f"num-threads = {config.relay_worker_count(core.host.cpu_count())}",
        f"xmlrpc-format = {config.xmlrpc_format}",
        f"log_format = {int(config.log_format == 'parsable')}",
        f"redis_allowed_errors = {state.redis_allowed_errors}",
        f"redis_disable_time = {state.redis_disable_time}",
        f"redis_cmd_timeout = {state.redis_cmd_timeout}",
        f"redis_connect_timeout = {state.redis_connect_timeout}",
        "max-cpu = %.1f" % config.max_cpu,
        "max-load = %.2f" % config.max_load,
        f"{'max-bandwidth' if start else 'max-bw'} = {config.max_bandwidth}",
    ]
    lines += [f"interface[{i}] = {iface.name}\\{iface.address} " for i, iface in enumerate(config.interfaces)]
    lines += [f"keyspace[{i}] = {db} " for i, db in enumerate(core.store.keyspaces())]
    lines += [
        f"b2b_url = {config.b2b_url or '(null)'}",
        f"redis-auth = {(redis and redis.password) or '(null)'}",
        f"redis-write-auth = {(redis_write and redis_write.password) or '(null)'}",
        "recording-dir = (null)",
        "recording-method = pcap",
        "recording-format = raw",
        "iptables-chain = (null)",
        "listen-tcp = ",
        "listen-tcp = ",
        "listen-udp = ",
        "listen-udp = ",
    ]
    lines += [f"listen-ng = {slot}" for slot in _listen_slots(config.listen_ng)]
    lines += [f"listen-cli = {slot}" for slot in _listen_slots(config.listen_cli)]
    return "".join(line + "\n" for line in lines)


def _params_start(core: Core, rest: str) -> str:
    return cli_state(core).initial_params


def _params_current(core: Core, rest: str) -> str:
    return _params(core, cli_state(core), start=False)


def _params_diff(core: Core, rest: str) -> str:
    state = cli_state(core)
    now = _diffable(core, state)
    return "".join(
        f"{name}: {state.initial[name]} => {value}\n"
        for name, value in now.items()
        if value != state.initial[name]
    )


def _params_revert(core: Core, rest: str) -> str:
    state = cli_state(core)
    _restore(core, state, state.initial)
    return ""


PARAMS: Table = [
    ("start", _params_start),
    ("current", _params_current),
    ("diff", _params_diff),
    ("revert", _params_revert),
]


def cli_state(core: Core) -> CliState:
    """The CLI state of ``core``; the first call records the startup settings."""
    state = core.ctl_state
    if state is None:
        config = core.config
        state = core.ctl_state = CliState(
            redis_allowed_errors=config.redis_allowed_errors,
            redis_disable_time=config.redis_disable_time,
            redis_connect_timeout=config.redis_connect_timeout,
            redis_cmd_timeout=config.redis_cmd_timeout)
        state.initial = _diffable(core, state)
        state.initial_params = _params(core, state, start=True)
    return state
