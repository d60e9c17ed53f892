"""The text CLI (rtpengine-ctl's language): one command table shared by every transport.

Sans-I/O: ``handle_cli(core, line)`` takes one command line and returns the complete
reply text. The parser reproduces rtpengine 10.5 exactly (cli.md §2): keyword tables
matched by prefix in table order, exactly one separator byte dropped before an
argument, ``help`` at every level, and ``Unknown or incomplete command::<rest>`` with the
raw remainder. Numbers are parsed the way C's strtol/strtoul/strtod/atoi parse them,
because the replies echo those results. Deliberate differences from 10.5 (documented in
the README): ``terminate`` matches ``all``/``own``/``foreign`` exactly, and the inputs
that crash 10.5 (``set controltos``, ``ksadd`` without redis) get their success reply.

``TOP`` below lists every top-level CLI word and its handler. Where the rest lives:
``parser`` (keyword tables, ``help``, arguments), ``numbers`` (C number parsing for
the setters), ``state`` and ``params`` (what the CLI keeps in ``Core.ctl_state``, the
start-up settings), ``views`` (``list``/``get``), ``setters`` (``set``), ``control``
(``terminate``, ``active``/``standby``, keyspaces) and ``calls`` (``debug``, ``call``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .calls import _call, _debug
from .control import _active, _ksadd, _kslist, _ksrm, _standby, _terminate
from .params import PARAMS
from .parser import Table, _sub, dispatch
from .setters import SET
from .views import LIST

if TYPE_CHECKING:
    from ..core import Core

log = logging.getLogger("rtpengined.cli")


def handle_cli(core: Core, line: str) -> str:
    """Run one CLI command line and return its complete reply text."""
    try:
        return dispatch(core, TOP, line)
    except Exception:
        log.exception("CLI command %r failed", line)
        return "Internal error while processing the command\n"


TOP: Table = [
    ("list", _sub(lambda: LIST)),
    ("terminate", _terminate),
    ("set", _sub(lambda: SET)),
    ("get", _sub(lambda: LIST)),
    ("params", _sub(lambda: PARAMS)),
    ("ksadd", _ksadd),
    ("ksrm", _ksrm),
    ("kslist", _kslist),
    ("active", _active),
    ("standby", _standby),
    ("debug", _debug),
    ("call", _call),
]
