"""Reading the daemon's CLI text: error detection and parsing into tables. Sans-I/O.

The formats are rtpengine 10.5's (as its CLI prints them; the captured outputs are in tests/fixtures/). Each parser returns
``None`` when the text is not in its shape, so rendering can fall back to the text.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: First-line prefixes by which the CLI says "that did not work" (cli.md §2-§3).
ERROR_PREFIXES = (
    "Unknown or incomplete command:",
    "More parameters required.",
    "Call ID not found (",
    "Call Id not found (",
    "Fail ",
    "Invalid ",
    "No call ID specified",
    "No such call '",
    "No such tag '",
    "No tag specified",
)
_DEBUG_NOT_FOUND = re.compile(r"Call ID '.*' not found$")


def error_line(text: str) -> str | None:
    """The line that reports an error, if the reply is one; else ``None``."""
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith(ERROR_PREFIXES) or _DEBUG_NOT_FOUND.match(line):
            return line
        return None
    return None


def json_key(text: str) -> str:
    """A stable snake_case key for a human label: ``Total timed-out sessions via TIMEOUT`` →
    ``total_timed_out_sessions_via_timeout``, ``Packets per second (userspace)`` →
    ``packets_per_second_userspace``, ``BlkDTMF`` → ``blk_dtmf``, ``Min/Max/Avg`` → ``min_max_avg``.

    CamelCase words are split, every run of other characters becomes one ``_``, all lower case.
    """
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()


#: Section titles whose snake_case form would be long-winded; every other title is
#: ``json_key`` of itself without its parenthesised remark.
SECTION_KEYS = {"Statistics over currently running sessions": "current_sessions"}


def section_key(title: str) -> str:
    """``Total statistics (does not include current running sessions)`` → ``total_statistics``."""
    if title in SECTION_KEYS:
        return SECTION_KEYS[title]
    return json_key(re.sub(r"\s*\([^)]*\)", "", title)) or json_key(title)


def _number(value: str) -> Any:
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if re.fullmatch(r"-?\d+\.\d+", value):
        return float(value)
    return value


_METRIC = re.compile(r"^ (.+?)\s*:(.*)$")


def parse_totals(text: str, typed: bool = True) -> dict[str, Any] | None:
    """``list totals`` / ``list counters``: {section title: {description: value}}.

    The proxy table of "Control statistics" becomes a list of row dicts.
    """
    sections: dict[str, Any] = {}
    current: dict[str, Any] | list | None = None
    header: list[str] | None = None
    for line in text.split("\n"):
        if not line.strip():
            continue
        if not line.startswith(" "):
            if not line.endswith(":"):
                return None
            current = sections.setdefault(line[:-1], {})
            header = None
            continue
        if current is None:
            return None
        if "|" in line:
            cells = [cell.strip() for cell in line.split("|")]
            if header is None:
                header = cells
                current = sections[list(sections)[-1]] = []
            else:
                current.append({name: _number(cell) if typed else cell
                                for name, cell in zip(header, cells, strict=False)})
            continue
        match = _METRIC.match(line)
        if not match or not isinstance(current, dict):
            return None
        current[match.group(1)] = _number(match.group(2)) if typed else match.group(2)
    return sections or None


_SESSION_ROW = re.compile(
    r"^callid: *(?P<callid>.*?) \| deletionmark: *(?P<deletionmark>\S+) \| created: *(?P<created>\d+)"
    r" \| proxy:(?P<proxy>.*?) \| redis_keyspace:(?P<redis_keyspace>-?\d+) \| foreign:(?P<foreign>\S+)$")


def parse_session_rows(text: str) -> list[dict[str, Any]] | None:
    """``list sessions all|own|foreign``: one dict per call (empty list for "No ... sessions")."""
    lines = [line for line in text.split("\n") if line]
    if len(lines) == 1 and lines[0].startswith("No ") and lines[0].endswith("sessions on this media relay."):
        return []
    rows = []
    for line in lines:
        match = _SESSION_ROW.match(line)
        if not match:
            return None
        row: dict[str, Any] = dict(match.groupdict())
        row["created"] = int(row["created"])
        row["redis_keyspace"] = int(row["redis_keyspace"])
        rows.append(row)
    return rows or None


_TAG = re.compile(r"^--- Tag '(?P<tag>.*)', type: (?P<type>\S+), label '(?P<label>.*)', "
                  r"branch '(?P<branch>.*)', callduration (?P<callduration>[\d.]+)$")
_SUB = re.compile(r"^---     (subscribed to|subscription of) '(.*)'$")
_MEDIA = re.compile(r"^------ Media #(?P<index>\d+) \((?P<type>.*) over (?P<protocol>.*)\) using (?P<codec>.*)$")
_PORT = re.compile(
    r"^-------- Port +(?P<local>\S*):(?P<local_port>\d+) *<> +(?P<remote>\S*):(?P<remote_port>\d+) *"
    r"(?P<rtcp>\(RTCP\))?, SSRC (?P<ssrc>[0-9a-f]+), (?P<packets>\d+) p, (?P<bytes>\d+) b, "
    r"(?P<errors>\d+) e, (?P<last>\d+) ts")


def parse_call(text: str) -> dict[str, Any] | None:
    """``list sessions <id>`` / ``call <id> info``: the call, its tags, media and ports."""
    call: dict[str, Any] = {}
    tags: list[dict[str, Any]] = []
    for line in text.split("\n"):
        if not line:
            continue
        if match := _TAG.match(line):
            tag = match.groupdict()
            tag["callduration"] = float(tag["callduration"])
            tag.update({"subscribed to": [], "subscription of": [], "media": []})
            tags.append(tag)
        elif match := _SUB.match(line):
            if not tags:
                return None
            tags[-1][match.group(1)].append(match.group(2))
        elif match := _MEDIA.match(line):
            if not tags:
                return None
            media = match.groupdict()
            media["index"] = int(media["index"])
            media["ports"] = []
            tags[-1]["media"].append(media)
        elif match := _PORT.match(line):
            if not tags or not tags[-1]["media"]:
                return None
            port = {key: (value if key in ("ssrc", "local", "remote", "rtcp") else _number(value))
                    for key, value in match.groupdict().items()}
            port["rtcp"] = bool(match.group("rtcp"))
            tags[-1]["media"][-1]["ports"].append(port)
        elif not tags and ": " in line and not line.startswith("-"):
            key, _, value = line.partition(": ")
            call[key] = _number(value)
        else:
            return None
    if "callid" not in call and not tags:
        return None
    if call:
        call["tags"] = tags
        return call
    return {"tags": tags}


def parse_pairs(text: str) -> dict[str, Any] | None:
    """Replies made of ``key: value`` or ``key = value`` lines (numsessions, loglevel, params)."""
    result: dict[str, Any] = {}
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return None
    for line in lines:
        match = re.match(r"^(\S.*?)(?::|\s=)\s?(.*)$", line)
        if not match:
            return None
        result[match.group(1).strip()] = _number(match.group(2).strip())
    return result


_IFACE = re.compile(r"^Interface '(?P<name>.*)' address '(?P<address>.*)' \((?P<family>IPv[46])\)$")


def parse_interfaces(text: str) -> list[dict[str, Any]] | None:
    rows: list[dict[str, Any]] = []
    for line in text.split("\n"):
        if not line:
            continue
        if match := _IFACE.match(line):
            rows.append(dict(match.groupdict()))
        elif rows and (match := re.match(r"^ Port range: *(\d+) - *(\d+)$", line)):
            rows[-1]["port_min"], rows[-1]["port_max"] = int(match.group(1)), int(match.group(2))
        elif rows and (match := re.match(r"^ Ports used: *(\d+) / *(\d+) \( *([\d.]+)%\)$", line)):
            rows[-1]["used"], rows[-1]["total"] = int(match.group(1)), int(match.group(2))
            rows[-1]["used_pct"] = float(match.group(3))
        elif rows and (match := re.match(r"^ Last port used: *(\d+)$", line)):
            rows[-1]["last"] = int(match.group(1))
        else:
            return None
    return rows or None


def parse(command: str, text: str) -> tuple[str, Any]:
    """Best structured reading of a reply: ``(shape, data)``; shape ``text`` if none fits."""
    words = command.split()
    head = words[:2]
    if error_line(text) is None:
        if text.startswith("{"):
            try:
                return "json", json.loads(text)
            except ValueError:
                pass
        if head in (["list", "totals"], ["get", "totals"], ["list", "counters"], ["get", "counters"]):
            if (data := parse_totals(text)) is not None:
                return "totals", data
        if head in (["list", "sessions"], ["get", "sessions"]) and words[2:3] in (["all"], ["own"], ["foreign"]):
            if (data := parse_session_rows(text)) is not None:
                return "sessions", data
        if head in (["list", "interfaces"], ["get", "interfaces"]):
            if (data := parse_interfaces(text)) is not None:
                return "interfaces", data
        if head[:1] in (["list"], ["get"], ["call"]):
            if (data := parse_call(text)) is not None:
                return "call", data
        if (data := parse_pairs(text)) is not None:
            return "pairs", data
    return "text", text


def call_ids_from_rows(text: str) -> list[str]:
    """Call-ids of a ``list sessions all`` reply (for completion)."""
    return [row["callid"] for row in parse_session_rows(text) or []]


def tags_from_call(text: str) -> list[str]:
    """Tags of a ``list sessions <id>`` reply (for completion); the empty tag is skipped."""
    data = parse_call(text) or {}
    return [tag["tag"] for tag in data.get("tags", []) if tag["tag"]]
