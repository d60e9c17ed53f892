"""Shell completion: the CLI's keyword tables, plus live call-ids and tags from the daemon.

Live look-ups get a short deadline (``LIVE_TIMEOUT``, or ``RTPCTL_COMPLETION_TIMEOUT``
seconds) and no retransmission; any failure just leaves the static words, so a stopped
daemon never makes the shell hang.
"""

from __future__ import annotations

import os
from typing import Any

import click
import trio
from click.shell_completion import CompletionItem

from rtpengined.protocol import cliwords as words

from . import cliparse
from .settings import Settings
from .target import CLI, NG, TargetError

LIVE_TIMEOUT = 0.3

# The daemon's words (one list for both sides) and, at every level, ``help``.
TOP = (*words.TOP, "help")
LIST = (*words.LIST, "help")
SET = (*words.SET, "help")
PARAMS = (*words.PARAMS, "help")
SUBSYSTEMS = words.SUBSYSTEMS
CALL = (*words.CALL, "help")
TAG = (*words.TAG, "help")
ON_OFF = ("on", "off")

CALL_ID = object()  # markers for live look-ups
TAG_OF = object()


def cli_candidates(words: list[str]) -> tuple[tuple[str, ...], Any]:
    """Static words for the next position after ``words`` (the first is the command)."""
    if not words:
        return TOP, None
    head, rest = words[0], words[1:]
    if head in ("list", "get"):
        if not rest:
            return LIST, None
        if rest[0] == "sessions" and len(rest) == 1:
            return ("all", "own", "foreign"), CALL_ID
        if rest[0] == "loglevel" and len(rest) == 1:
            return SUBSYSTEMS, None
        return (), None
    if head == "set":
        if not rest:
            return SET, None
        if rest[0] == "loglevel" and len(rest) == 1:
            return SUBSYSTEMS, None
        return (), None
    if head == "params":
        return (PARAMS, None) if not rest else ((), None)
    if head == "terminate":
        return (("all", "own", "foreign"), CALL_ID) if not rest else ((), None)
    if head == "debug":
        if not rest:
            return (), CALL_ID
        return (ON_OFF, None) if len(rest) == 1 else ((), None)
    if head == "call":
        if not rest:
            return (), CALL_ID
        if len(rest) == 1:
            return CALL, None
        if rest[1] == "debug" and len(rest) == 2:
            return ON_OFF, None
        if rest[1] == "tag":
            if len(rest) == 2:
                return (), (TAG_OF, rest[0])
            if len(rest) == 3:
                return TAG, None
        return (), None
    return (), None


# -- live look-ups ------------------------------------------------------------------------


def _settings(ctx: click.Context):
    try:
        timeout = float(os.environ.get("RTPCTL_COMPLETION_TIMEOUT") or LIVE_TIMEOUT)
    except ValueError:
        timeout = LIVE_TIMEOUT
    return Settings.from_params(ctx.find_root().params, timeout=max(timeout, 0.01), retries=0)


def _quietly(func, *args) -> list[str]:
    try:
        return trio.run(func, *args)
    except BaseException as exc:  # noqa: BLE001 - completion must never fail the shell
        if isinstance(exc, KeyboardInterrupt):
            raise
        return []


async def _cli_text(settings, command: str) -> str:
    from . import transport

    raw = await transport.cli_request(settings.target(CLI), command, settings.client)
    return raw.decode("utf-8", "surrogateescape")


async def _ng_reply(settings, message: dict[str, Any]) -> dict[str, Any]:
    from . import transport

    return await transport.ng_request(settings.target(NG), message, settings.client, settings.encoding)


async def _live_call_ids(settings, prefer: str) -> list[str]:
    order = (CLI, NG) if prefer == CLI else (NG, CLI)
    for kind in order:
        try:
            settings.target(kind)
        except TargetError:
            continue
        if kind == CLI:
            return cliparse.call_ids_from_rows(await _cli_text(settings, "list sessions all"))
        reply = await _ng_reply(settings, {"command": "list"})
        return [str(call_id) for call_id in reply.get("calls") or []]
    return []


async def _live_tags(settings, call_id: str, prefer: str) -> list[str]:
    order = (CLI, NG) if prefer == CLI else (NG, CLI)
    for kind in order:
        try:
            settings.target(kind)
        except TargetError:
            continue
        if kind == CLI:
            return cliparse.tags_from_call(await _cli_text(settings, f"list sessions {call_id}"))
        reply = await _ng_reply(settings, {"command": "query", "call-id": call_id})
        tags = reply.get("tags") or {}
        # rtpengine lists a monologue without a tag under a made-up "<untagged N>" key
        return [str(info.get("tag", key)) if isinstance(info, dict) else str(key)
                for key, info in tags.items()
                if key and not (isinstance(info, dict) and not info.get("tag", key))]
    return []


def live_call_ids(ctx: click.Context, prefer: str) -> list[str]:
    return _quietly(_live_call_ids, _settings(ctx), prefer)


def live_tags(ctx: click.Context, call_id: str, prefer: str) -> list[str]:
    return _quietly(_live_tags, _settings(ctx), call_id, prefer)


def _items(words, incomplete: str, help_text: str | None = None) -> list[CompletionItem]:
    return [CompletionItem(word, help=help_text) for word in words if word.startswith(incomplete)]


def complete_cli_words(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Completion of the words after a CLI command (``list <TAB>``, ``terminate <TAB>``...)."""
    words = [ctx.info_name or "", *(ctx.params.get(param.name) or ())]
    static, live = cli_candidates(words)
    items = _items(static, incomplete)
    if live is CALL_ID:
        items += _items(live_call_ids(ctx, CLI), incomplete, "call-id")
    elif isinstance(live, tuple) and live[0] is TAG_OF:
        items += _items(live_tags(ctx, live[1], CLI), incomplete, "tag")
    return items


def complete_call_id(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    return _items(live_call_ids(ctx, NG), incomplete, "call-id")


def complete_tag(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    call_id = ctx.params.get("call_id")
    if not call_id:
        return []
    return _items(live_tags(ctx, call_id, NG), incomplete, "tag")


# The T.38 list's names (rtpengine 10.5 takes these; ``offer_answer.t38`` acts on them).
T38_NAMES = ("decode", "force", "stop", "FEC", "no-ECM", "no-V.17", "no-V.27ter", "no-V.29",
             "no-V.34", "no-IAF")


def complete_t38(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    return _items(T38_NAMES, incomplete, "T.38 gateway")
