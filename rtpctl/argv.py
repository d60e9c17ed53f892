"""Where rtpctl's own options may go: before the command word, and among the words after it.

rtpengine-ctl stops reading options at the first command word, so everything after it is the
CLI line. rtpctl keeps that for the daemon's words (``set loglevel internals -1``) but
recognises its own options wherever they are (``rtpctl list totals --json``,
``rtpctl watch list totals --count 2``): before click parses anything, they are moved to where
click looks for them. A ``--word`` that is no rtpctl option is refused instead of being sent
to the daemon, which would answer as if it were not there. After ``--`` every word is the
command's, whatever it looks like. Plain data in, plain data out: no click here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


class ArgvError(ValueError):
    """A misplaced or unknown option among the command words (a usage error)."""


@dataclass(frozen=True)
class OptionTable:
    """The option names a command accepts, each with whether it takes a value."""

    takes_value: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def build(cls, options: Iterable[tuple[Iterable[str], bool]]) -> OptionTable:
        return cls({name: value for names, value in options for name in names})

    def match(self, token: str) -> int:
        """How many tokens this option uses (1 or 2), or 0 if ``token`` is not one of ours."""
        if token in self.takes_value:
            return 2 if self.takes_value[token] else 1
        name, eq, _ = token.partition("=")
        if eq and name.startswith("-") and self.takes_value.get(name):
            return 1
        return 0


@dataclass(frozen=True)
class Leaf:
    """The command that takes the remaining words: its options, and whether it sends words."""

    options: OptionTable
    #: True for CLI commands and watch (the words are a CLI line); False for ng commands.
    words: bool


def skip_options(args: list[str], start: int, table: OptionTable) -> int:
    """Index of the first word at or after ``start`` that is not an option (or its value)."""
    index = start
    while index < len(args):
        token = args[index]
        if token == "--" or not token.startswith("-") or token == "-":
            return index
        index += table.match(token) or 1
    return index


def arrange(args: list[str], root: OptionTable, resolve: Callable[[list[str]], tuple[int, Leaf] | None],
            strict: bool = True) -> list[str]:
    """``args`` with rtpctl's own options moved to where click reads them.

    ``resolve(words)`` is given the arguments from the command word on and returns how many
    of them name the command (``["ng", "query"]`` → 2) and its ``Leaf``, or ``None`` when
    there is no such command (click then reports it). Root options found after the command
    go just before the command word; a CLI command's own options go right after its name,
    followed by ``--`` and the words, so click never mistakes a word such as ``-1`` for an
    option. ``strict=False`` (shell completion) never raises.
    """
    start = skip_options(args, 0, root)
    if start >= len(args) or args[start] == "--":
        return args
    resolved = resolve(args[start:])
    if resolved is None:
        return args
    depth, leaf = resolved
    head, path, rest = args[:start], args[start:start + depth], args[start + depth:]
    hoisted: list[str] = []
    own: list[str] = []
    words: list[str] = []
    index = 0
    while index < len(rest):
        token = rest[index]
        if token == "--":
            words.extend(rest[index + 1:] if leaf.words else rest[index:])
            break
        for table, target in ((leaf.options, own if leaf.words else words), (root, hoisted)):
            used = table.match(token)
            if used:
                if index + used > len(rest):
                    if strict:
                        raise ArgvError(f"option {token} needs a value")
                    used = len(rest) - index
                target.extend(rest[index:index + used])
                index += used
                break
        else:
            if leaf.words and strict and token.startswith("--") and len(token) > 2:
                name = token.partition("=")[0]
                raise ArgvError(f"no such option: {name} (to send a word that starts with '--' to the "
                                f"daemon, put it after a '--' word: rtpctl {' '.join(path)} -- {token})")
            words.append(token)
            index += 1
    if leaf.words:
        return [*head, *hoisted, *path, *own, "--", *words]
    return [*head, *hoisted, *path, *words]
