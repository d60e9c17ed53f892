"""ng ``delete``: end a call or one branch of it, now or after the delete delay.

Reads the same literal keys as ``query`` (``call-id``, ``from-tag``, ``to-tag``,
``via-branch``) and answers with the call's statistics (``query.call_stats``) when a party
is named. Which party that is, and whether ending it ends the call, is ``branches``' (SIP
forking: deleting one fork by its via-branch leaves the call to the others).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .branches import delete_target, teardown
from .log_context import CONTEXT
from .log_lines import write_line
from .model import Monologue
from .ngoptions import get_int, get_list, get_str, require_call_id
from .playback import stop_players
from .protocol.ngcodec import NgError
from .query import NOT_FOUND, tagged_stats
from .request import Request

if TYPE_CHECKING:
    from .calls import CallManager
    from .core import Core

log = logging.getLogger("rtpengined")


def delete(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    call_id = require_call_id(message)
    manager: CallManager = core.calls
    fatal = "fatal" in get_list(message, "flags")
    delay = get_int(message, "delete-delay", "delete delay")
    if delay is None:
        delay = core.config.delete_delay
    call = manager.calls.get(call_id)
    from_tag = get_str(message, "from-tag")
    to_tag = get_str(message, "to-tag")
    party: Monologue | None = None
    via_branch = get_str(message, "via-branch")
    if call is not None and from_tag:
        party = delete_target(call, from_tag, to_tag, via_branch)
        if party is None:
            # (the tag looked for: the to-tag where there is one, as 10.5 names it)
            log.info("Tag '%s' in delete message not found, ignoring", to_tag or from_tag)
            call = None
    elif call is None:
        log.info("Call-ID to delete not found")
    if call is None:
        if fatal:
            raise NgError(NOT_FOUND)
        return {"warning": NOT_FOUND, "result": "ok"}
    now = core.clock()
    reply: dict[str, Any] = {}
    if party is not None:
        # The statistics of the dialogue the tags name (as query), whatever party goes.
        reply = tagged_stats(core, call, from_tag, to_tag)
        logged = log.isEnabledFor(logging.INFO)
        if logged:  # (10.5 names the branch by the to-tag where there is one)
            branch = (CONTEXT.mark(to_tag or from_tag or ""), CONTEXT.mark(via_branch or ""))
            if delay > 0:
                write_line(log, logging.INFO, f"Scheduling deletion of call branch '{branch[0]}' "
                           f"(via-branch '{branch[1]}') in {delay} seconds")
            else:
                write_line(log, logging.INFO,
                           f"Deleting call branch '{branch[0]}' (via-branch '{branch[1]}')")
        gone, ends = teardown(call, party)
        if logged and delay <= 0:
            write_line(log, logging.INFO, f"Call branch '{branch[0]}' (via-branch '{branch[1]}') "
                       f"deleted{', no more branches remaining' if ends else ''}")
        if not ends:  # the call goes on without this branch
            if delay > 0:  # the branch keeps its ports until the delay is over (10.5)
                stop_players(core, (party, *party.subscribers))
                party.delete_at = now + delay
                party.terminated = now  # its call duration stops here (CLI)
            else:
                manager.end_branch(call, party)
            reply["result"] = "ok"
            return reply
    if delay > 0:
        if party is None:
            write_line(log, logging.INFO, f"Scheduling deletion of entire call in {delay} seconds")
        # What is played to the parties stops now, the relay goes on until the delay ends
        # (10.5; a new call on the same addresses would get the rest of the media).
        stop_players(core, call.monologues)
        # 10.5 shows "deletionmark: yes" in the CLI only when the delete named a tag; the
        # parties it named end first when the delay is over (``CallManager.tick``).
        call.deletion_mark = party is not None
        if party is not None:
            for named in gone:
                named.terminated = now
        call.delete_at = now + delay
        call.terminated = now  # durations shown by the CLI stop growing
    else:
        if party is not None and manager.on_end is not None:
            # 10.5 closes the ports of the parties a tag names before the call goes: the
            # call's detail record shows them closed (only it could tell the difference).
            manager.close_parties(gone)
        write_line(log, logging.INFO, "Deleting entire call")
        manager.destroy(call, "regular")
    reply["result"] = "ok"
    return reply
