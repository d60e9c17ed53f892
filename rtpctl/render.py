"""Output: rich renderables for a terminal, a plain text form for pipes, JSON for programs.

Builders here return strings or rich renderables and never print, so the command
layer decides where things go (stdout, stderr, a Live view). Over 400 lines: one
renderer per reply shape, each in three forms (rich, plain, JSON) kept together.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from . import cliparse


class _Table(Table):
    """A table that never cuts a value short: narrow columns fold onto more lines instead of
    ending in '…', because operators copy call-ids, tags and addresses off the screen."""

    def add_column(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("overflow", "fold")
        super().add_column(*args, **kwargs)


class _Rows:
    """Rows as a table when every cell fits on one line, else one block per row.

    A table squeezed into a narrow terminal folds call-ids and addresses across lines (or
    cuts them), and those are what an operator copies. When the one-line table is wider than
    the terminal, each row becomes its first cell on a line of its own, then ``column value``
    pairs that wrap between pairs, never inside a value shorter than the terminal.
    """

    def __init__(self, title: str | None, columns: list[tuple[str, str]], rows: list[list[str]],
                 title_style: str = "bold") -> None:
        self.title, self.columns, self.rows, self.title_style = title, columns, rows, title_style

    def table(self) -> Table:
        table = _Table(title=self.title, box=box.SIMPLE_HEAD, title_justify="left", title_style=self.title_style)
        for name, justify in self.columns:
            table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
        for row in self.rows:
            table.add_row(*row)
        return table

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        table = self.table()
        if Measurement.get(console, options.update_width(1 << 16), table).maximum <= options.max_width:
            yield table
            return
        if self.title:
            yield Text(self.title, style=self.title_style)
        from rich.columns import Columns
        from rich.padding import Padding

        for row in self.rows:
            yield Text(row[0], style="bold", overflow="fold")
            pairs = []
            for (name, _), value in zip(self.columns[1:], row[1:], strict=False):
                if value:
                    pair = Text(f"{name} " if name else "", style="dim", overflow="fold", no_wrap=True)
                    pair.append(value, style="default")
                    pairs.append(pair)
            yield Padding(Columns(pairs, padding=(0, 3)), (0, 0, 0, 2))


# -- JSON ---------------------------------------------------------------------------------


def to_json(value: Any) -> str:
    """Indented JSON; byte strings that are not UTF-8 keep their bytes as escapes."""
    return json.dumps(value, indent=2, ensure_ascii=False,
                      default=lambda obj: obj.decode("utf-8", "backslashreplace")) + "\n"


def cli_json(command: str, text: str) -> Any:
    """``--json`` for a CLI reply: the parsed table, or ``{"output": text}`` if it has no shape.

    Keys that are the daemon's human wording (section titles, metric descriptions, column
    headings) become snake_case keys (``cliparse.json_key``), so scripts do not depend on
    spelling and spacing meant for people. ``params`` keys are rtpengine's option names and
    ``list jsonstats`` is the daemon's own JSON: both are kept as they are.
    """
    shape, data = cliparse.parse(command, text)
    if shape == "text":
        result: dict[str, Any] = {"output": text}
        error = cliparse.error_line(text)
        if error is not None:
            result["error"] = error
        return result
    if shape == "totals":
        return _keyed({cliparse.section_key(title): values for title, values in data.items()})
    if shape in ("call", "sessions", "interfaces") or (shape == "pairs" and command.split()[:1] != ["params"]):
        return _keyed(data)
    return data


def _keyed(value: Any) -> Any:
    if isinstance(value, dict):
        keyed: dict[str, Any] = {}
        for key, item in value.items():
            name = base = cliparse.json_key(str(key)) or "_"
            number = 1
            while name in keyed:  # two labels that differ only in punctuation keep both values
                number += 1
                name = f"{base}_{number}"
            keyed[name] = _keyed(item)
        return keyed
    if isinstance(value, list):
        return [_keyed(item) for item in value]
    return value


# -- plain ng replies -----------------------------------------------------------------------


def _plain_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:")
                lines.extend(_plain_lines(item, indent + 2))
            elif isinstance(item, str) and "\n" in item:
                lines.append(f"{pad}{key}: |")
                lines.extend(pad + "  " + line for line in item.replace("\r\n", "\n").rstrip("\n").split("\n"))
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}-")
                lines.extend(_plain_lines(item, indent + 2))
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(pad + _scalar(value))
    return lines


def _scalar(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return str(value)


def plain_ng(reply: dict[str, Any]) -> str:
    """``key: value`` lines, nesting by indentation, SDP as an indented block."""
    return "\n".join(_plain_lines(reply, 0)) + "\n"


# -- SDP ------------------------------------------------------------------------------------

_SDP_STYLES = {"v": "dim", "o": "cyan", "s": "cyan", "c": "yellow", "t": "dim", "m": "bold magenta",
               "a": "green", "b": "yellow", "i": "cyan", "k": "red"}


def sdp_text(sdp: str) -> Text:
    """SDP with each line coloured by its type; attribute names stand out from values."""
    text = Text()
    for line in sdp.replace("\r\n", "\n").rstrip("\n").split("\n"):
        kind, eq, rest = line.partition("=")
        if len(kind) != 1 or not eq:
            text.append(line + "\n", style="red")
            continue
        style = _SDP_STYLES.get(kind, "white")
        text.append(kind, style="bold " + style)
        text.append("=", style="dim")
        if kind == "a":
            name, colon, value = rest.partition(":")
            text.append(name, style="bold green")
            if colon:
                text.append(":", style="dim")
                text.append(value, style="default")
        elif kind == "m":
            text.append(rest, style=style)
        else:
            text.append(rest, style=style if kind in "cm" else "default")
        text.append("\n")
    return text


# -- rich: ng -------------------------------------------------------------------------------


def _kv_table(title: str | None, items: dict[str, Any]) -> Table:
    table = _Table(title=title, box=box.SIMPLE_HEAD, show_header=False, title_justify="left",
                  title_style="bold")
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in items.items():
        table.add_row(str(key), _cell(value))
    return table


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_cell(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}={_cell(item)}" for key, item in value.items())
    return str(value)


def _when(value: Any) -> str:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return str(value)
    if seconds <= 0:
        return str(value)
    return datetime.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")


def _endpoint(value: Any) -> str:
    if isinstance(value, dict):
        address = value.get("address", "")
        if ":" in str(address):
            address = f"[{address}]"
        return f"{address}:{value.get('port', '')}"
    return _cell(value)


def _result_line(reply: dict[str, Any]) -> Text:
    result = str(reply.get("result", "?"))
    if result == "error":
        return Text(f"error: {reply.get('error-reason', '')}", style="bold red")
    line = Text(result, style="bold green")
    if "warning" in reply:
        line.append(f"  warning: {reply['warning']}", style="yellow")
    return line


def _query_renderables(reply: dict[str, Any]) -> list[RenderableType]:
    parts: list[RenderableType] = []
    header = {key: value for key, value in reply.items()
              if not isinstance(value, (dict, list)) and key not in ("result",)}
    for key in ("created", "last signal", "last redis update"):
        if key in header:
            header[key] = f"{header[key]}  ({_when(header[key])})"
    parts.append(_kv_table("Call", header))
    for tag_name, tag in (reply.get("tags") or {}).items():
        if not isinstance(tag, dict):
            continue
        title = f"Tag {tag_name!r}"
        if tag.get("label"):
            title += f" label {tag['label']!r}"
        if tag.get("in dialogue with"):
            title += f" ↔ {tag['in dialogue with']!r}"
        rows = []
        for media in tag.get("medias") or []:
            for stream in media.get("streams") or []:
                stats = stream.get("stats") or {}
                kind = "RTCP" if "RTCP" in (stream.get("flags") or []) else "RTP"
                rows.append([f"#{media.get('index', '')} {media.get('type', '')} {media.get('protocol', '')} {kind}",
                             str(stream.get("local port", "")), _endpoint(stream.get("endpoint")),
                             str(stats.get("packets", "")), str(stats.get("bytes", "")),
                             str(stats.get("errors", "")), _when(stream.get("last packet"))[-8:]])
        parts.append(_Rows(title, [(column, "right" if column in ("packets", "bytes", "errors") else "left")
                                   for column in ("media", "local", "endpoint", "packets", "bytes", "errors",
                                                  "last packet")], rows, title_style="bold cyan"))
    totals = reply.get("totals")
    if isinstance(totals, dict):
        table = _Table(title="Totals", box=box.SIMPLE_HEAD, title_justify="left", title_style="bold")
        table.add_column("")
        for column in ("packets", "bytes", "errors"):
            table.add_column(column, justify="right")
        for name, counts in totals.items():
            if isinstance(counts, dict):
                table.add_row(name, *(str(counts.get(column, "")) for column in ("packets", "bytes", "errors")))
        parts.append(table)
    return parts


def _rows_table(title: str, rows: list[dict[str, Any]]) -> RenderableType:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    return _Rows(title, [(column, "right" if all(isinstance(r.get(column), (int, float)) for r in rows
                                                  if column in r) else "left") for column in columns],
                 [[_cell(row.get(column, "")) for column in columns] for row in rows])


def _statistics_renderables(reply: dict[str, Any]) -> list[RenderableType]:
    stats = reply.get("statistics")
    if not isinstance(stats, dict):
        return [JSON(to_json(reply))]
    parts: list[RenderableType] = []
    for group, values in stats.items():
        if isinstance(values, dict):
            scalars = {key: value for key, value in values.items() if not isinstance(value, (dict, list))}
            if scalars:
                parts.append(_kv_table(group, scalars))
            for key, value in values.items():
                if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                    parts.append(_rows_table(f"{group}: {key}", value))
        elif isinstance(values, list) and values and all(isinstance(v, dict) for v in values):
            flat = [{key: (_cell(value) if isinstance(value, (dict, list)) else value)
                     for key, value in row.items()} for row in values]
            parts.append(_rows_table(group, flat))
        else:
            parts.append(_kv_table(None, {group: values}))
    return parts


def rich_ng(command: str, reply: dict[str, Any]) -> RenderableType:
    """A terminal view of an ng reply, shaped by the command that asked for it."""
    parts: list[RenderableType] = [_result_line(reply)]
    if reply.get("result") == "error":
        return Group(*parts)
    if command == "query":
        parts.extend(_query_renderables(reply))
    elif command == "statistics":
        parts.extend(_statistics_renderables(reply))
    elif command == "list" and isinstance(reply.get("calls"), list):
        table = _Table(box=box.SIMPLE_HEAD)
        table.add_column(f"call-id ({len(reply['calls'])})")
        for call_id in reply["calls"]:
            table.add_row(str(call_id))
        parts.append(table)
    else:
        rest = {key: value for key, value in reply.items() if key not in ("result", "sdp", "warning")}
        if rest:
            parts.append(_kv_table(None, rest))
        if isinstance(reply.get("sdp"), str):
            parts.append(Panel(sdp_text(reply["sdp"]), title="SDP", title_align="left", box=box.ROUNDED))
    return Group(*parts)


# -- rich: CLI ------------------------------------------------------------------------------


def _proxy_table(title: str, rows: list[dict[str, Any]]) -> RenderableType:
    """The per-client command counts, turned on their side: one row per command."""
    if not rows:
        return Text(f"{title}: no ng client yet", style="bold cyan")
    proxies = [str(row.get("Proxy", "?")) for row in rows]
    table = _Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", title_style="bold cyan")
    table.add_column("command")
    for proxy in proxies:
        table.add_column(proxy, justify="right")
    for command in rows[0]:
        if command == "Proxy" or not command:
            continue
        counts = [str(row.get(command, "")) for row in rows]
        table.add_row(command, *counts, style=None if any(c not in ("0", "") for c in counts) else "dim")
    return table


def _totals_renderables(data: dict[str, Any]) -> list[RenderableType]:
    parts: list[RenderableType] = []
    for title, values in data.items():
        if isinstance(values, list):
            parts.append(_proxy_table(title, values))
            continue
        table = _Table(title=title, box=box.SIMPLE_HEAD, show_header=False, title_justify="left",
                      title_style="bold cyan")
        table.add_column("metric")
        table.add_column("value", justify="right", style="bold")
        for key, value in values.items():
            table.add_row(key, str(value))
        parts.append(table)
    return parts


def _call_renderable(data: dict[str, Any]) -> RenderableType:
    header = {key: value for key, value in data.items() if key != "tags"}
    for key in ("created", "last_signal"):
        if key in header:
            header[key] = f"{header[key]}  ({_when(header[key])})"
    tree = Tree(Text(f"Call {header.get('callid', '')}", style="bold"))
    if header:
        tree.add(_kv_table(None, header))
    for tag in data.get("tags", []):
        label = Text(f"Tag '{tag['tag']}'", style="bold cyan")
        label.append(f"  {tag['type']}  {tag['callduration']:.3f} s", style="default")
        for relation in ("subscribed to", "subscription of"):
            if tag[relation]:
                label.append(f"  {relation} {', '.join(repr(t) for t in tag[relation])}", style="dim")
        node = tree.add(label)
        for media in tag["media"]:
            rows = [[f"{port['local']}:{port['local_port']}", f"{port['remote']}:{port['remote_port']}",
                     "RTCP" if port["rtcp"] else "RTP", port["ssrc"], str(port["packets"]),
                     str(port["bytes"]), str(port["errors"]), _when(port["last"])] for port in media["ports"]]
            node.add(_Rows(f"Media #{media['index']} {media['type']} over {media['protocol']} "
                           f"using {media['codec']}",
                           [(column, "right" if column in ("packets", "bytes", "errors") else "left")
                            for column in ("local", "remote", "", "SSRC", "packets", "bytes", "errors", "last")],
                           rows, title_style=""))
    return tree


def rich_cli(command: str, text: str) -> RenderableType:
    """A terminal view of a CLI reply: a table where the text has a known shape."""
    error = cliparse.error_line(text)
    if error is not None:
        return Text(text.strip("\n"), style="bold red")
    shape, data = cliparse.parse(command, text)
    if shape == "totals":
        return Group(*_totals_renderables(cliparse.parse_totals(text, typed=False) or data))
    if shape == "sessions":
        if not data:
            return Text(text.rstrip("\n"), style="dim")
        rows = [dict(row, created=_when(row["created"])) for row in data]
        return _rows_table(f"{len(rows)} session(s)", rows)
    if shape == "call":
        return _call_renderable(data)
    if shape == "interfaces":
        return _rows_table("Interfaces", data)
    if shape == "pairs":
        return _kv_table(None, data)
    if shape == "json":
        return JSON(json.dumps(data))
    return Text(text.rstrip("\n"))
