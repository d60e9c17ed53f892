"""``rtpctl``: one client for rtpengine's CLI and ng commands over every transport.

CLI commands are the top-level words, as with rtpengine-ctl (``rtpctl list totals``);
ng commands live under ``rtpctl ng``. Exit status: 0 ok, 1 the daemon answered an
error, 2 usage, 3 no answer (cannot connect, timed out). Over 400 lines because it is the
click command tree (one decorated function per word); settings, targets, transports,
rendering and completion live in their own modules.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import click
import trio
from rich.console import Console, Group, RenderableType

from . import argv, cliparse, complete, ng, render, shells, transport
from .settings import OneLineUsageError, Settings
from .target import CLI, NG, TRANSPORTS, Target, TargetError

EXIT_OK, EXIT_DAEMON_ERROR, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
shells.register()
OUTPUTS = ("auto", "rich", "plain", "json")


class Failure(click.ClickException):
    """Ends rtpctl with one line on stderr and a specific exit status.

    ``quiet``: the reason is already on the screen (a live view's last frame), so it is not
    printed a second time; only the exit status tells.
    """

    def __init__(self, message: str, exit_code: int, quiet: bool = False) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.quiet = quiet

    def show(self, file: Any = None) -> None:
        if not self.quiet:
            click.echo(click.style(f"rtpctl: {self.message}", fg="red", bold=True), err=True)


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_root().obj


def _target(settings: Settings, kind: str) -> Target:
    try:
        return settings.target(kind)
    except TargetError as exc:
        raise OneLineUsageError(str(exc)) from None


def _call(func: Callable[[], Awaitable[Any]]) -> Any:
    """Run one client exchange under trio, mapping failures onto exit statuses."""
    try:
        return trio.run(func)
    except transport.Unreachable as exc:
        raise Failure(str(exc), EXIT_UNREACHABLE) from None
    except transport.Refused as exc:
        raise Failure(str(exc), EXIT_DAEMON_ERROR) from None
    except transport.NotAvailable as exc:
        raise OneLineUsageError(str(exc)) from None
    except ng.ReplyError as exc:
        raise Failure(f"bad reply: {exc}", EXIT_DAEMON_ERROR) from None


def _write_text(text: str) -> None:
    """Write text whose odd bytes (kept as surrogates by the codec) go out unchanged."""
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    sys.stdout.buffer.flush()


def _console() -> Console:
    return Console(highlight=False)


def _repeat(settings: Settings, fetch: Callable[[], Any], show: Callable[[Any], RenderableType | None],
            emit: Callable[[Any], None], title: str = "") -> Any:
    """Fetch once, or every ``--watch`` seconds (``--count`` times) with a live view on a terminal."""
    if settings.watch is None:
        result = _call(fetch)
        emit(result)
        return result
    try:
        return _watch(settings, fetch, show, emit, title)
    except KeyboardInterrupt:  # Ctrl-C is how a watch normally ends
        sys.exit(EXIT_OK)


def _watch(settings: Settings, fetch: Callable[[], Any], show: Callable[[Any], RenderableType | None],
           emit: Callable[[Any], None], title: str) -> Any:
    count = settings.count
    result = None
    done = 0
    if settings.output == "rich":
        from rich.live import Live
        from rich.text import Text

        with Live(console=_console(), auto_refresh=False, transient=False) as live:
            while True:
                result = _call(fetch)
                done += 1
                header = Text(f"rtpctl {title}", style="bold")
                header.append(f"   every {settings.watch:g}s   {time.strftime('%H:%M:%S')}   "
                              f"refresh {done}" + (f"/{count}" if count else "   Ctrl-C to stop"), style="dim")
                live.update(Group(header, show(result) or Text("")), refresh=True)
                if count is not None and done >= count:
                    return result
                trio.run(trio.sleep, settings.watch)
    while True:
        result = _call(fetch)
        emit(result)
        sys.stdout.flush()
        done += 1
        if count is not None and done >= count:
            return result
        trio.run(trio.sleep, settings.watch)


# -- CLI commands ---------------------------------------------------------------------------


def run_cli(ctx: click.Context, words: tuple[str, ...]) -> None:
    """Send the words as one CLI line (joined by spaces and trimmed, as rtpengine-ctl does)."""
    settings = _settings(ctx)
    command = " ".join(words).strip()
    if not command:
        raise OneLineUsageError("no command given")
    target = _target(settings, CLI)

    async def fetch() -> bytes:
        return await transport.cli_request(target, command, settings.client)

    def show(raw: bytes) -> RenderableType:
        return render.rich_cli(command, raw.decode("utf-8", "surrogateescape"))

    def emit(raw: bytes) -> None:
        text = raw.decode("utf-8", "surrogateescape")
        if settings.output == "json":
            compact = settings.watch is not None
            data = render.cli_json(command, text)
            click.echo(json.dumps(data, ensure_ascii=False) if compact else render.to_json(data), nl=compact)
        elif settings.output == "plain":
            sys.stdout.buffer.write(raw)
            sys.stdout.buffer.flush()
        elif cliparse.error_line(text) is None:
            _console().print(show(raw))
        # else: on a terminal the error is said once, by the line on stderr

    raw = _repeat(settings, fetch, show, emit, command)
    error = cliparse.error_line(raw.decode("utf-8", "surrogateescape"))
    if error is not None:
        raise Failure(f"daemon error: {error}", EXIT_DAEMON_ERROR, quiet=settings.live)


CLI_HELP = {
    "list": "Show sessions, totals, counters, limits, log levels (list help: all words).",
    "get": "Alias of list.",
    "set": "Change a limit, timeout or log level at run time.",
    "terminate": "End a call (terminate CALLID) or all/own/foreign calls.",
    "params": "Show start/current/diff of settings, or revert them.",
    "call": "Per-call commands: call CALLID info|terminate|debug|tag TAG info.",
    "debug": "Turn debug logging of one call on or off: debug CALLID [on|off].",
    "ksadd": "Subscribe to a redis keyspace.",
    "ksrm": "Unsubscribe from a redis keyspace.",
    "kslist": "List subscribed redis keyspaces.",
    "active": "Mark every call as owned.",
    "standby": "Mark every call as foreign.",
    "help": "The daemon's own list of commands.",
}

_CLI_SETTINGS = {"ignore_unknown_options": True, "allow_interspersed_args": False,
                 "help_option_names": ["-h", "--help"]}


def make_cli_command(word: str, help_text: str | None = None) -> click.Command:
    """A top-level word whose arguments go, unparsed, into the CLI line."""

    @click.pass_context
    def callback(ctx: click.Context, words: tuple[str, ...]) -> None:
        run_cli(ctx, (word, *words))

    return click.Command(
        word, callback=callback, help=(help_text or f"Send '{word} ...' to the CLI.")
        + "\n\nThe words are sent as one CLI line, as rtpengine-ctl sends them. rtpctl's own options"
        " (rtpctl --help) may come before or after them; words after '--' are all sent.",
        short_help=help_text, context_settings=_CLI_SETTINGS,
        params=[click.Argument(["words"], nargs=-1, type=click.UNPROCESSED,
                               shell_complete=complete.complete_cli_words)])


def _option_table(command: click.Command, ctx: click.Context) -> argv.OptionTable:
    return argv.OptionTable.build(
        ((*param.opts, *param.secondary_opts), not (param.is_flag or param.count))
        for param in command.get_params(ctx) if isinstance(param, click.Option))


def _sends_words(command: click.Command) -> bool:
    return any(isinstance(param, click.Argument) and param.type is click.UNPROCESSED for param in command.params)


class FullHelpGroup(click.Group):
    """Lists its sub-commands with their whole one-line help, wrapped, never cut with '...'."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.commands[name].get_short_help_str(limit=1 << 16)) for name in self.list_commands(ctx)
                if not self.commands[name].hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class RtpctlGroup(FullHelpGroup):
    """Known commands first; any other word is a CLI command, so every CLI command works."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Move rtpctl's options found after the command word to where click reads them."""

        def resolve(words: list[str]) -> tuple[int, argv.Leaf] | None:
            command = self.get_command(ctx, words[0])
            depth = 1
            if isinstance(command, click.Group):
                index = argv.skip_options(words, 1, _option_table(command, ctx))
                if index >= len(words) or words[index] == "--":
                    return None
                command, depth = command.get_command(ctx, words[index]), index + 1
            if command is None:
                return None
            leaf_ctx = click.Context(command, parent=ctx, info_name=words[depth - 1])
            return depth, argv.Leaf(_option_table(command, leaf_ctx), _sends_words(command))

        try:
            args = argv.arrange(list(args), _option_table(self, ctx), resolve, strict=not ctx.resilient_parsing)
        except argv.ArgvError as exc:
            raise click.UsageError(str(exc), ctx) from None
        return super().parse_args(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        if cmd_name.startswith("-"):
            return None
        return make_cli_command(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        own = [(name, self.commands[name]) for name in ("ng", "watch") if name in self.commands]
        cli = [(name, self.commands[name]) for name in CLI_HELP if name in self.commands]
        with formatter.section("CLI commands (sent as text, any other word works too)"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit=1 << 16)) for name, cmd in cli])
        with formatter.section("Other commands"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit=1 << 16)) for name, cmd in own])


def _host_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return value


@click.group(cls=RtpctlGroup, context_settings={"help_option_names": ["-h", "--help"],
                                                "max_content_width": 100})
@click.option("--url", "-u", envvar="RTPCTL_URL", metavar="URL",
              help="Target as one URL: udp:// tcp:// cli:// http(s):// ws(s)://HOST:PORT.")
@click.option("--transport", "-t", envvar="RTPCTL_TRANSPORT", type=click.Choice(TRANSPORTS),
              help="Transport (default: cli for CLI commands, udp for ng).")
@click.option("--host", "-ip", "host", envvar="RTPCTL_HOST", metavar="HOST[:PORT]",
              help="Daemon address (default 127.0.0.1).")
@click.option("--port", "-port", "port", envvar="RTPCTL_PORT", type=click.IntRange(1, 65535),
              help="Daemon port (default: the daemon's for the transport: 9900 cli, 22222 udp/tcp, 8080 http/ws).")
@click.option("--config-file", "-config-file", "config_file", envvar="RTPCTL_CONFIG_FILE",
              metavar="FILE", help="Take listen-cli/listen-ng/listen-http from this rtpengine.conf.")
@click.option("--config-section", envvar="RTPCTL_CONFIG_SECTION", default="rtpengine", show_default=True,
              help="Section of the config file.")
@click.option("--timeout", envvar="RTPCTL_TIMEOUT", type=click.FloatRange(min=0.01), default=3.0,
              show_default=True, help="Seconds to wait for each reply (per UDP attempt).")
@click.option("--retries", envvar="RTPCTL_RETRIES", type=click.IntRange(min=0), default=2, show_default=True,
              help="UDP retransmissions (same cookie) after a timeout.")
@click.option("--insecure", "-k", envvar="RTPCTL_INSECURE", is_flag=True,
              help="Do not verify the TLS certificate (https, wss).")
@click.option("--cacert", envvar="RTPCTL_CACERT", type=click.Path(dir_okay=False),
              help="CA certificate (PEM) to verify the daemon's TLS certificate.")
@click.option("--auth-token", envvar="RTPCTL_AUTH_TOKEN", metavar="TOKEN",
              help="Send 'Authorization: Bearer TOKEN' (http, ws; daemon's --http-auth-token).")
@click.option("--json", "json_output", is_flag=True, help="Machine-readable JSON output.")
@click.option("--output", "-o", envvar="RTPCTL_OUTPUT", type=click.Choice(OUTPUTS), default="auto",
              show_default=True, help="rich on a terminal, plain (the daemon's exact text) when piped.")
@click.option("--encoding", envvar="RTPCTL_ENCODING", type=click.Choice(("bencode", "json")),
              default="bencode", show_default=True, help="Payload encoding of ng requests.")
@click.option("--watch", "-w", type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="Repeat the command every SECONDS (a live view on a terminal).")
@click.option("--count", "-n", type=click.IntRange(min=1), help="With --watch: stop after N refreshes.")
@click.version_option(package_name="rtpengined", prog_name="rtpctl")
@click.pass_context
def cli(ctx: click.Context, **params: Any) -> None:
    """Control rtpengine / rtpengined: CLI commands over cli/http/ws, ng commands over udp/tcp/http/ws.

    \b
    Examples:
      rtpctl list totals                      # like rtpengine-ctl list totals
      rtpctl list sessions all
      rtpctl set maxsessions 100
      rtpctl --transport http list numsessions
      rtpctl ng ping
      rtpctl ng offer --call-id c1 --from-tag t1 offer.sdp
      rtpctl --json ng query --call-id c1
      rtpctl watch list totals

    The options below may also follow the command words (rtpctl list totals --json); any
    other --word there is refused, and words after '--' all go to the daemon.

    Settings also come from RTPCTL_URL, RTPCTL_TRANSPORT, RTPCTL_HOST, RTPCTL_PORT,
    RTPCTL_TIMEOUT, RTPCTL_RETRIES, RTPCTL_CONFIG_FILE, RTPCTL_CONFIG_SECTION,
    RTPCTL_OUTPUT, RTPCTL_CACERT, RTPCTL_INSECURE, RTPCTL_AUTH_TOKEN, RTPCTL_ENCODING.

    Exit status: 0 ok, 1 the daemon answered an error, 2 usage, 3 no answer.
    """
    ctx.obj = Settings.from_params(params)


for _word, _help in CLI_HELP.items():
    cli.add_command(make_cli_command(_word, _help))


@cli.command("watch", context_settings=_CLI_SETTINGS)
@click.option("--interval", "-i", type=click.FloatRange(min=0.1), default=None,
              help="Seconds between refreshes (default: --watch, else 2).")
@click.option("--count", "-n", type=click.IntRange(min=1), help="Stop after N refreshes.")
@click.argument("words", nargs=-1, required=True, type=click.UNPROCESSED,
                shell_complete=complete.complete_cli_words)
@click.pass_context
def watch(ctx: click.Context, interval: float | None, count: int | None, words: tuple[str, ...]) -> None:
    """Repeat a CLI command, refreshing in place: rtpctl watch list totals."""
    settings = _settings(ctx)
    settings.watch = interval or settings.watch or 2.0
    settings.count = count or settings.count
    run_cli(ctx, words)


# -- ng commands ----------------------------------------------------------------------------


@cli.group("ng", cls=FullHelpGroup, context_settings={"help_option_names": ["-h", "--help"]})
def ng_group() -> None:
    """ng protocol commands (udp, tcp, http(s), ws(s); default udp://127.0.0.1:22222)."""


def run_ng(ctx: click.Context, command: str, message: dict[str, Any] | None, payload: bytes | None = None,
           sdp_only: bool = False) -> None:
    settings = _settings(ctx)
    target = _target(settings, NG)

    async def fetch() -> dict[str, Any]:
        return await transport.ng_request(target, message, settings.client, settings.encoding, payload)

    def show(reply: dict[str, Any]) -> RenderableType:
        return render.rich_ng(command, reply)

    def emit(reply: dict[str, Any]) -> None:
        if settings.output == "json":
            compact = settings.watch is not None
            click.echo(json.dumps(reply, ensure_ascii=False) if compact else render.to_json(reply),
                       nl=compact)
        elif ng.is_error(reply):
            return  # the one-line message on stderr says it all
        elif sdp_only and isinstance(reply.get("sdp"), str):
            _write_text(reply["sdp"])
        elif settings.output == "plain":
            _write_text(render.plain_ng(reply))
        else:
            _console().print(show(reply))

    reply = _repeat(settings, fetch, show, emit, f"ng {command}")
    if ng.is_error(reply):
        raise Failure(f"daemon error: {ng.error_text(reply)}", EXIT_DAEMON_ERROR, quiet=settings.live)


def _message_options(*names: str, call_id_required: bool = True):
    """The option set shared by ng commands that address a call."""
    def decorate(func):
        options = []
        if "call" in names:
            options += [
                click.option("--call-id", "-c", required=call_id_required, shell_complete=complete.complete_call_id,
                             help="Call-ID of the call."),
                click.option("--from-tag", "-f", shell_complete=complete.complete_tag, help="From-tag."),
                click.option("--to-tag", shell_complete=complete.complete_tag, help="To-tag."),
                click.option("--via-branch", help="Via branch."),
            ]
        if "sdp" in names:
            options += [
                click.option("--replace", multiple=True, metavar="WHAT",
                             help="replace list entry (origin, session-connection, ...); repeatable."),
                click.option("--direction", multiple=True, metavar="IFACE",
                             help="direction list entry (logical interface); give twice."),
                click.option("--t38", multiple=True, metavar="NAME", shell_complete=complete.complete_t38,
                             help="T.38 gateway list entry (decode, force, stop, FEC, no-ECM, "
                                  "no-V.17, ...); repeatable."),
                click.option("--sdp-only", is_flag=True, help="Print only the rewritten SDP."),
                click.argument("sdp_file", required=False, type=click.File("r", encoding="utf-8",
                                                                           errors="surrogateescape")),
            ]
        options += [
            click.option("--flag", "flags", multiple=True, metavar="FLAG",
                         help="flags list entry (trust-address, symmetric, ...); repeatable."),
            click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
                         help="Any other key; JSON values ([..], {..}, numbers) keep their type; repeatable."),
        ]
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


def _build(command: str, **kwargs: Any) -> dict[str, Any]:
    try:
        return ng.build_message(command, **kwargs)
    except ng.MessageError as exc:
        raise OneLineUsageError(str(exc)) from None


def _read_sdp(sdp_file) -> str:
    if sdp_file is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise OneLineUsageError("give the SDP as a file argument or on standard input ('-')")
        sdp_file = click.get_text_stream("stdin")
    sdp = sdp_file.read()
    if not sdp.strip():
        raise OneLineUsageError("the SDP is empty")
    if "\r\n" not in sdp:
        sdp = sdp.replace("\n", "\r\n")
    return sdp


@ng_group.command("ping")
@click.pass_context
def ng_ping(ctx: click.Context) -> None:
    """Check the daemon answers (expects 'pong')."""
    run_ng(ctx, "ping", {"command": "ping"})


def _sdp_command(name: str, doc: str):
    @_message_options("call", "sdp")
    @click.pass_context
    def command(ctx: click.Context, call_id, from_tag, to_tag, via_branch, replace, direction, t38,
                sdp_only, sdp_file, flags, options) -> None:
        if name == "answer" and not to_tag:
            raise OneLineUsageError("answer needs --to-tag")
        if not from_tag:
            raise OneLineUsageError(f"{name} needs --from-tag")
        message = _build(name, call_id=call_id, from_tag=from_tag, to_tag=to_tag, via_branch=via_branch,
                         sdp=_read_sdp(sdp_file), flags=flags, replace=replace, direction=direction,
                         options=options, t38=t38)
        run_ng(ctx, name, message, sdp_only=sdp_only)

    command.__doc__ = doc
    return ng_group.command(name)(command)


_sdp_command("offer", "Send an offer: SDP from SDP_FILE or standard input.")
_sdp_command("answer", "Send an answer (needs --to-tag): SDP from SDP_FILE or standard input.")


def _call_command(name: str, doc: str, call_id_required: bool = True):
    @_message_options("call", call_id_required=call_id_required)
    @click.pass_context
    def command(ctx: click.Context, call_id, from_tag, to_tag, via_branch, flags, options) -> None:
        message = _build(name, call_id=call_id, from_tag=from_tag, to_tag=to_tag, via_branch=via_branch,
                         flags=flags, options=options)
        run_ng(ctx, name, message)

    command.__doc__ = doc
    return ng_group.command(name)(command)


_call_command("delete", "Delete a call (or one branch of it with --from-tag/--to-tag).")
_call_command("query", "Show a call: tags, media, streams and packet counters.")


def _media_command(name: str, doc: str, play: bool):
    """``play media`` / ``stop media``: the party by --from-tag, --to-tag, --label or --all."""
    options = [click.option("--label", help="The party's label (instead of a tag)."),
               click.option("--all", "all_parties", is_flag=True,
                            help="Every party of the call.")]
    if play:
        options += [
            click.option("--file", "media_file", metavar="NAME",
                         help="A media file on the daemon's machine (its name there)."),
            click.option("--blob", "blob_file", type=click.File("rb"), metavar="FILE",
                         help="A local media file, sent inside the request (over UDP up to "
                              "about 64 kB)."),
            click.option("--repeat-times", type=click.IntRange(min=1),
                         help="How many times to play it (default 1)."),
        ]

    @_message_options("call")
    @click.pass_context
    def command(ctx: click.Context, call_id, from_tag, to_tag, via_branch, flags, options,
                label=None, all_parties=False, media_file=None, blob_file=None,
                repeat_times=None) -> None:
        if play and (media_file is None) == (blob_file is None):
            raise OneLineUsageError(f"{name} needs --file or --blob (one of them)")
        if all_parties:
            flags = (*flags, "all")
        message = _build(name, call_id=call_id, from_tag=from_tag, to_tag=to_tag,
                         via_branch=via_branch, flags=flags, options=options)
        if label is not None:
            message["label"] = label
        if media_file is not None:
            message["file"] = media_file
        if blob_file is not None:  # (bytes as text the way the ng codecs carry them)
            message["blob"] = blob_file.read().decode("utf-8", "surrogateescape")
        if repeat_times is not None:
            message["repeat-times"] = repeat_times
        run_ng(ctx, name, message)

    for option in reversed(options):
        command = option(command)
    command.__doc__ = doc
    return ng_group.command(name.replace(" ", "-"))(command)


_media_command("play media", "Play a media file to a call party (--from-tag, --to-tag, --label "
               "or --all); the reply gives its duration in ms.", play=True)
_media_command("stop media", "Stop the media playing to a call party.", play=False)


def _dtmf_command(name: str, doc: str, block: bool):
    """``block DTMF`` / ``unblock DTMF``: the party by --from-tag (none: the whole call)."""
    options = [click.option("--delay-buffer", type=click.IntRange(min=0), metavar="MS",
                            help="Hold what the party sends this long and replace its DTMF "
                                 "in the audio too (0 ends the buffer).")]
    if block:
        modes = click.Choice(["drop", "silence", "tone", "random", "zero", "DTMF", "off"])
        options += [
            click.option("--mode", type=modes, help="DTMF-security: what the DTMF becomes."),
            click.option("--dtmf-delay", type=click.IntRange(min=0), metavar="MS",
                         help="Replace keys by silence and play them this much later."),
            click.option("--trigger", metavar="KEYS", help="Keys that switch to --trigger-mode."),
            click.option("--trigger-mode", type=modes, help="DTMF-security-trigger."),
            click.option("--trigger-end", metavar="KEYS",
                         help="Keys that then switch to --trigger-end-mode."),
            click.option("--trigger-end-mode", type=modes, help="DTMF-security-trigger-end."),
            click.option("--frequency", type=click.IntRange(min=1), metavar="HZ",
                         help="The tone of --mode tone (400)."),
            click.option("--volume", type=click.IntRange(min=0, max=63), metavar="DB",
                         help="Tones this many dB below full scale (10)."),
            click.option("--digit", metavar="KEY", help="The key --mode DTMF plays."),
        ]

    @_message_options("call")
    @click.pass_context
    def command(ctx: click.Context, call_id, from_tag, to_tag, via_branch, flags, options,
                **settings) -> None:
        message = _build(name, call_id=call_id, from_tag=from_tag, to_tag=to_tag,
                         via_branch=via_branch, flags=flags, options=options)
        keys = {"delay_buffer": "delay-buffer", "mode": "DTMF-security",
                "dtmf_delay": "DTMF-delay", "trigger": "trigger",
                "trigger_mode": "DTMF-security-trigger", "trigger_end": "trigger-end",
                "trigger_end_mode": "DTMF-security-trigger-end", "frequency": "frequency",
                "volume": "volume", "digit": "digit"}
        for option, value in settings.items():
            if value is not None:
                message[keys[option]] = value
        run_ng(ctx, name, message)

    for option in reversed(options):
        command = option(command)
    command.__doc__ = doc
    return ng_group.command(name.replace(" ", "-").lower())(command)


_dtmf_command("block DTMF", "Block a party's DTMF (--from-tag; none: the call): dropped, or "
              "replaced in its audio with --delay-buffer.", block=True)
_dtmf_command("unblock DTMF", "Let a party's DTMF through again.", block=False)


@ng_group.command("list")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many call-ids.")
@_message_options()
@click.pass_context
def ng_list(ctx: click.Context, limit: int | None, flags, options) -> None:
    """List the call-ids the daemon knows."""
    message = _build("list", flags=flags, options=options)
    if limit is not None:
        message["limit"] = limit
    run_ng(ctx, "list", message)


@ng_group.command("statistics")
@_message_options()
@click.pass_context
def ng_statistics(ctx: click.Context, flags, options) -> None:
    """The statistics model (the same numbers as list totals)."""
    run_ng(ctx, "statistics", _build("statistics", flags=flags, options=options))


@ng_group.command("raw")
@click.argument("message", required=False)
@click.pass_context
def ng_raw(ctx: click.Context, message: str | None) -> None:
    """Send a hand-written message: JSON '{"command":"ping"}' or bencode 'd7:command4:pinge'.

    Without MESSAGE (or with '-') it is read from standard input. JSON is sent in the
    --encoding (bencode by default); bencode is sent exactly as typed.
    """
    if message is None or message == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise OneLineUsageError("give the message as an argument or on standard input")
        message = sys.stdin.read()
    try:
        as_dict, as_bytes = ng.parse_raw(message)
    except ng.MessageError as exc:
        raise OneLineUsageError(str(exc)) from None
    command = str((as_dict or {}).get("command", "")) if as_dict else ""
    if as_bytes is not None:
        try:
            command = str(ng.decode_payload(as_bytes).get("command", ""))
        except ng.ReplyError:
            command = ""
    run_ng(ctx, command, as_dict, payload=as_bytes)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: usage errors exit 2, daemon errors 1, no answer 3."""
    if shells.handle(cli, "rtpctl", "_RTPCTL_COMPLETE"):
        return
    cli.main(args=argv, prog_name="rtpctl")


if __name__ == "__main__":
    main()
