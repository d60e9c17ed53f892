"""``list``/``get``: the read-only views (sessions, totals, counters, limits, log levels)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import query, statsview
from ..config import LOG_SUBSYSTEMS
from .params import cli_state
from .parser import LOG_DESCRIPTIONS, MORE, Handler, Table, _argument
from .state import log_level_of

if TYPE_CHECKING:
    from ..core import Core
    from ..model import Call, Monologue



# -- list / get ---------------------------------------------------------------------------


def _list_numsessions(core: Core, rest: str) -> str:
    return statsview.render_numsessions(core)


def _session_line(core: Core, call: Call) -> str:
    return (
        f"callid: {call.call_id:>60} | deletionmark:{'yes' if call.deletion_mark else 'no':>4} "
        f"| created:{int(call.created):12d} | proxy:{call.proxy} "
        f"| redis_keyspace:{core.store.keyspace_of(call)} "
        f"| foreign:{'yes' if call.foreign else 'no'}\n"
    )


def _list_sessions(core: Core, rest: str) -> str:
    argument = _argument(rest)
    if not argument:
        return MORE
    calls = list(core.calls.calls.values())
    if argument in ("all", "own", "foreign"):
        wanted = {"all": None, "own": False, "foreign": True}[argument]
        lines = [_session_line(core, c) for c in calls if wanted is None or c.foreign == wanted]
        if lines:
            return "".join(lines)
        qualifier = {"all": "", "own": "own ", "foreign": "foreign "}[argument]
        return f"No {qualifier}sessions on this media relay.\n"
    call = core.calls.calls.get(argument)
    if call is None:
        return f"\nCall ID not found ({argument}).\n\n"
    return call_info(core, call)


def _endpoint_text(endpoint: Any) -> str:
    if endpoint is None or not endpoint.address:
        return f"{'':>15}:{0:<5}"
    return f"{endpoint.address:>15}:{endpoint.port:<5}"


def _duration_text(seconds: float) -> str:
    micros = max(0, int(seconds * 1_000_000))
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def tag_info(core: Core, call: Call, monologue: Monologue) -> str:
    """The tag block of ``list sessions <id>`` (whole reply of ``call <id> tag <t> info``)."""
    end = monologue.terminated
    if not end:
        end = call.terminated or core.clock()
    # A party whose tag is not known yet (offered to, not answered) is UNKNOWN in 10.5.
    tag_type = monologue.tag_type if monologue.tag else "UNKNOWN"
    out = [
        f"--- Tag '{monologue.tag}', type: {tag_type}, label '{monologue.label}', "
        f"branch '{monologue.via_branch}', callduration {_duration_text(end - monologue.created)}\n"
    ]
    # 10.5 prints the subscriptions under both headings (defect D6); reproduced.
    out += [f"---     subscribed to '{other.tag}'\n" for other in monologue.subscriptions]
    out += [f"---     subscription of '{other.tag}'\n" for other in monologue.subscriptions]
    for media in monologue.medias:
        codec = media.codec or "unknown codec"
        out.append(f"------ Media #{media.index} ({media.type} over {media.protocol}) using {codec}\n")
        for stream in sorted(media.streams, key=lambda s: s.rtcp):
            stats = stream.stats
            remote = stream.endpoint if stream.endpoint is not None else stream.advertised
            last = int(stats.last_packet or stream.created or monologue.created)
            out.append(
                f"-------- Port {stream.interface.address:>15}:{stream.port:<5} <> "
                f"{_endpoint_text(remote)}{' (RTCP)' if stream.rtcp else ''}, "
                f"SSRC {stats.ssrc:x}, {stats.packets} p, {stats.bytes} b, {stats.errors} e, "
                f"{last} ts\n"
            )
    return "".join(out)


def call_info(core: Core, call: Call) -> str:
    """The call block of ``list sessions <id>`` and ``call <id> info``."""
    query.refresh(core, call)  # counters, and the codec seen once media flowed
    head = (
        f"\ncallid: {call.call_id}\n"
        f"deletionmark: {'yes' if call.deletion_mark else 'no'}\n"
        f"created: {int(call.created)}\n"
        f"proxy: {call.proxy}\n"
        f"tos: {call.tos}\n"
        f"last_signal: {int(call.last_signal)}\n"
        f"redis_keyspace: {core.store.keyspace_of(call)}\n"
        f"foreign: {'yes' if call.foreign else 'no'}\n\n"
    )
    return head + "".join(tag_info(core, call, m) for m in call.monologues) + "\n"


def _list_totals(core: Core, rest: str) -> str:
    return statsview.render_totals(core)


def _list_counters(core: Core, rest: str) -> str:
    return statsview.render_counters(core)


def _list_maxopenfiles(core: Core, rest: str) -> str:
    pid = core.host.pid()
    try:
        soft = core.host.open_files_limit()
    except (OSError, ValueError):
        return f"Fail getting rtpengine configured limits; cat /proc/{pid}/limits\n"
    value = "infinite" if soft is None else str(soft)
    return f"Maximum open-files configured on rtpengine: {value}; cat /proc/{pid}/limits\n"


def _list_maxsessions(core: Core, rest: str) -> str:
    return f"Maximum sessions configured on rtpengine: {core.config.max_sessions}\n"


def _list_maxcpu(core: Core, rest: str) -> str:
    return "Maximum CPU usage configured on rtpengine: %.1f\n" % core.config.max_cpu


def _list_maxload(core: Core, rest: str) -> str:
    return "Maximum load average configured on rtpengine: %.2f\n" % core.config.max_load


def _list_maxbw(core: Core, rest: str) -> str:
    return f"Maximum bandwidth configured on rtpengine: {core.config.max_bandwidth}\n"


def _getter(text: Callable[[Core], str]) -> Handler:
    return lambda core, rest: text(core) + "\n"


def _list_loglevels(core: Core, rest: str) -> str:
    return "".join(f"{name} - {LOG_DESCRIPTIONS.get(name, name)}\n" for name in LOG_SUBSYSTEMS)


def _list_loglevel(core: Core, rest: str) -> str:
    name = _argument(rest)
    if not name:
        return "".join(f"{sub} = {log_level_of(core, sub)}\n" for sub in LOG_SUBSYSTEMS)
    if name in LOG_SUBSYSTEMS:
        return f"{log_level_of(core, name)}\n"
    return ""


def _list_interfaces(core: Core, rest: str) -> str:
    return statsview.render_interfaces(core)


def _list_jsonstats(core: Core, rest: str) -> str:
    return statsview.render_jsonstats(core)


def _list_transcoders(core: Core, rest: str) -> str:
    return "No stats entries\n"


LIST: Table = [
    ("numsessions", _list_numsessions),
    ("sessions", _list_sessions),
    ("totals", _list_totals),
    ("counters", _list_counters),
    ("maxopenfiles", _list_maxopenfiles),
    ("maxsessions", _list_maxsessions),
    ("maxcpu", _list_maxcpu),
    ("maxload", _list_maxload),
    ("maxbw", _list_maxbw),
    ("timeout", _getter(lambda core: f"TIMEOUT={core.config.timeout}")),
    ("silenttimeout", _getter(lambda core: f"SILENT_TIMEOUT={core.config.silent_timeout}")),
    ("offertimeout", _getter(lambda core: f"OFFER_TIMEOUT={core.config.offer_timeout}")),
    ("finaltimeout", _getter(lambda core: f"FINAL_TIMEOUT={core.config.final_timeout}")),
    ("loglevels", _list_loglevels),
    ("loglevel", _list_loglevel),
    ("redisallowederrors", _getter(lambda core: str(cli_state(core).redis_allowed_errors))),
    ("redisdisabletime", _getter(lambda core: str(cli_state(core).redis_disable_time))),
    ("redisconnecttimeout", _getter(lambda core: str(cli_state(core).redis_connect_timeout))),
    ("rediscmdtimeout", _getter(lambda core: str(cli_state(core).redis_cmd_timeout))),
    ("controltos", _getter(lambda core: str(core.config.control_tos))),
    ("deletedelay", _getter(lambda core: str(core.config.delete_delay))),
    ("interfaces", _list_interfaces),
    ("jsonstats", _list_jsonstats),
    ("transcoders", _list_transcoders),
]
