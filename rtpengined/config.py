"""Daemon configuration with rtpengine's option names, from the command line and INI files.

Sans-I/O apart from reading the config file. ``parse_args`` accepts rtpengine's
GLib-style syntax (``--opt=value``, ``--opt value``, ``-o value``, ``-ovalue``) and the
``[rtpengine]`` section of an INI file; command-line values win over the file. Options
rtpengine knows but we do not implement are accepted and reported once as warnings;
unknown options are errors. Over 400 lines because the option table is rtpengine's list,
kept whole so it can be compared with ``rtpengine --help``.
"""

from __future__ import annotations

import configparser
import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Any

from .model import Interface
from .protocol import cliwords
from .protocol.schemes import DEFAULT_HOST, SCHEMES
from .rtpengine_options import RTPENGINE_OPTIONS

# 10.5's defaults of --dtls-mtu (the size OpenSSL fragments handshake messages for, and
# what a flight's datagrams are packed up to: Chrome's) and --dtls-ciphers; the DTLS code
# (``secure.dtls``) takes them from here.
DTLS_MTU = 1200
DTLS_CIPHERS = "DEFAULT:!NULL:!aNULL:!SHA256:!SHA384:!aECDH:!AESGCM+AES256:!aPSK"


def dtls_cert_key(name: str) -> str | None:
    """The key a ``--dtls-cert-cipher`` value names, ``rsa`` or ``prime256v1``, as 10.5
    spells them (any case, ``ec-``/``ec_`` before prime256v1); None for another."""
    name = name.lower().replace("_", "-")
    if name == "rsa":
        return "rsa"
    return "prime256v1" if name in ("prime256v1", "ec-prime256v1") else None


class ConfigError(ValueError):
    """An option or value the daemon cannot start with."""


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass
class Option:
    name: str
    short: str
    kind: str  # str, int, float, bool, list, listen, listen-list, interface-list, destination
    dest: str
    help: str
    metavar: str = ""


OPTIONS: list[Option] = [
    Option("config-file", "", "str", "config_file", "Load config from this INI file ('none': no file)", "FILE"),
    Option("config-section", "", "str", "config_section", "Config file section to use (default rtpengine)", "NAME"),
    Option("interface", "i", "interface-list", "interfaces", "Local interface for RTP, repeatable", "[NAME/]IP[!ADVERTISED]"),
    Option("listen-ng", "n", "listen-list", "listen_ng", "UDP ng control listener, repeatable", "[IP:]PORT"),
    Option("listen-tcp-ng", "N", "listen-list", "listen_tcp_ng", "TCP ng control listener, repeatable (default: none)", "[IP:]PORT"),
    Option("listen-cli", "c", "listen-list", "listen_cli", "TCP CLI listener (rtpengine-ctl), repeatable", "[IP:]PORT"),
    Option("listen-http", "", "listen-list", "listen_http", "HTTP and WebSocket listener, repeatable", "[IP:]PORT"),
    Option("listen-https", "", "listen-list", "listen_https", "HTTPS and secure WebSocket listener, repeatable", "[IP:]PORT"),
    Option("https-cert", "", "str", "https_cert", "Certificate (PEM) for HTTPS and WSS", "FILE"),
    Option("https-key", "", "str", "https_key", "Private key (PEM) for HTTPS and WSS", "FILE"),
    Option("http-auth-token", "", "str", "http_auth_token", "Require 'Authorization: Bearer TOKEN' for HTTP/WS control", "TOKEN"),
    Option("http-auth-metrics", "", "bool", "http_auth_metrics", "Require the HTTP auth token for /ping and /metrics too", ""),
    Option("https-client-ca", "", "str", "https_client_ca", "Require HTTPS/WSS client certificates signed by this CA (PEM)", "FILE"),
    Option("janus-secret", "", "str", "janus_secret", "Admin secret of the Janus videoroom interface (its add_token request)", "SECRET"),
    Option("http-idle-timeout", "", "int", "http_idle_timeout", "Close idle HTTP/WS connections after this many seconds", "SECS"),
    Option("port-min", "m", "int", "port_min", "Lowest port to use for RTP", "INT"),
    Option("port-max", "M", "int", "port_max", "Highest port to use for RTP", "INT"),
    Option("timeout", "o", "int", "timeout", "End a call after this long without media", "SECS"),
    Option("silent-timeout", "s", "int", "silent_timeout", "Media timeout for held/inactive calls", "SECS"),
    Option("final-timeout", "a", "int", "final_timeout", "End every call after this long (0: never)", "SECS"),
    Option("offer-timeout", "", "int", "offer_timeout", "End calls that got no answer after this long", "SECS"),
    Option("delete-delay", "d", "int", "delete_delay", "Keep deleted calls this long before removing them", "INT"),
    Option("max-sessions", "", "int", "max_sessions", "Refuse new calls beyond this many (-1: no limit)", "INT"),
    Option("max-load", "", "float", "max_load", "Refuse new calls above this load average (0: off)", "FLOAT"),
    Option("max-cpu", "", "float", "max_cpu", "Refuse new calls above this CPU usage in percent (0: off)", "FLOAT"),
    Option("max-bandwidth", "", "int", "max_bandwidth", "Refuse new calls above this many bytes per second (0: off)", "INT"),
    Option("endpoint-learning", "", "str", "endpoint_learning", "RTP endpoint learning: delayed, immediate, off, heuristic", "MODE"),
    Option("sip-source", "", "bool", "sip_source", "Use the SIP source address by default", ""),
    Option("tos", "T", "int", "tos", "TOS value to set on media sockets", "INT"),
    Option("dtls-cert-cipher", "", "str", "dtls_cert_cipher", "Key of the DTLS certificate: prime256v1 (default) or RSA", "CIPHER"),
    Option("dtls-rsa-key-size", "", "int", "dtls_rsa_key_size", "Size of an RSA DTLS certificate's key", "INT"),
    Option("dtls-mtu", "", "int", "dtls_mtu", "Largest DTLS handshake packet (at least 576)", "INT"),
    Option("dtls-ciphers", "", "str", "dtls_ciphers", "OpenSSL cipher list for DTLS", "STRING"),
    Option("mos", "", "str", "mos", "MOS type: CQ (conversational, the default: none without a round-trip time) or LQ (listening)", "CQ|LQ"),
    Option("version", "v", "bool", "version", "Print the version and exit", ""),
    Option("codecs", "", "bool", "codecs", "Print the codecs the relay converts here and exit", ""),
    Option("save-interface-ports", "S", "bool", "save_interface_ports", "Bind ports on the first address of a logical interface only: no ICE candidates on its other addresses", ""),
    Option("reject-invalid-sdp", "", "bool", "reject_invalid_sdp", "Refuse SDP with an empty line (without it the body ends there, as in rtpengine)", ""),
    Option("software-id", "", "str", "software_id", "Name of this software in STUN SOFTWARE, the s= line of SDP it makes and its DTLS certificate (characters other than letters, digits and '-' become '-')", "STRING"),
    Option("log-srtp-keys", "", "bool", "log_srtp_keys", "Log the SRTP keys each DTLS handshake yields (at error level)", ""),
    Option("dtls-passive", "", "bool", "dtls_passive", "Prefer the passive DTLS role where the peer leaves it open (the default of DTLS=passive and DTLS-reverse=passive)", ""),
    Option("control-tos", "", "int", "control_tos", "TOS value to set on ng control sockets", "INT"),
    Option("scheduling", "", "str", "scheduling", "Scheduling policy of the relay workers, as of rtpengine's media threads: default, none, fifo, rr, other, batch or idle", "POLICY"),
    Option("priority", "", "int", "priority", "Their real-time priority (fifo, rr) or nice value (the others, and without --scheduling)", "INT"),
    Option("relay-workers", "", "int", "relay_workers", "Media relay worker processes (default: --num-threads, else one per CPU core)", "INT"),
    Option("num-threads", "", "int", "num_threads", "rtpengine's media threads: the relay workers here, where --relay-workers does not say", "INT"),
    Option("log-level", "L", "int", "log_level", "Log level (syslog numbering: 3 error … 7 debug)", "INT"),
    Option("log-stderr", "E", "bool", "log_stderr", "Log to stderr also with --log-facility (without it the log always goes to stderr)", ""),
    Option("split-logs", "", "bool", "split_logs", "Write each line of a message with several (a traceback) as a log line of its own", ""),
    Option("max-log-line-length", "", "int", "max_log_line_length", "Break log lines longer than this (0: the default, none to stderr and 500 to syslog; negative: none)", "INT"),
    Option("no-log-timestamps", "", "bool", "no_log_timestamps", "No timestamps on the log lines to stderr", ""),
    Option("log-format", "", "str", "log_format", "How a line names its call: default [CALL-ID], parsable [ID=\"CALL-ID\"]", "default|parsable"),
    Option("log-mark-prefix", "", "str", "log_mark_prefix", "Written before what a log line holds that is private (tags, a request's bytes)", "STRING"),
    Option("log-mark-suffix", "", "str", "log_mark_suffix", "Written after it", "STRING"),
    Option("log-facility", "", "facility", "log_facility", "Send the daemon's log to syslog at this facility instead of stderr (unless --log-stderr)", "daemon|local0|...|local7"),
    Option("foreground", "f", "bool", "foreground", "Stay in the foreground (always: use a service manager to detach)", ""),
    Option("pidfile", "p", "str", "pidfile", "Write the daemon's PID to this file", "FILE"),
    Option("table", "t", "int", "table", "Kernel forwarding: nftables table rtpengined_N for N >= 0 (needs CAP_NET_ADMIN; without it, or without libnftables, relays in userspace and says so); -1 (default, unlike rtpengine's 0: a NAT table turns on conntrack for the whole host, so a root daemon does not do it unasked): userspace only", "INT"),
    Option("no-fallback", "F", "bool", "no_fallback", "With --table >= 0: exit at start when kernel forwarding cannot be set up, instead of relaying in userspace", ""),
    # Calls in Redis (rtpengine 10.5's options and defaults; see rtpengined.redis).
    Option("redis", "r", "str", "redis", "Redis to store calls in and restore them from", "[PW@]IP:PORT/DB"),
    Option("redis-write", "w", "str", "redis_write", "Redis to write calls to (default: --redis)", "[PW@]IP:PORT/DB"),
    Option("redis-expires", "", "int", "redis_expires", "Expiry of stored calls in seconds", "INT"),
    Option("redis-connect-timeout", "", "int", "redis_connect_timeout", "Redis connect timeout in ms", "INT"),
    Option("redis-cmd-timeout", "", "int", "redis_cmd_timeout", "Redis command timeout in ms (0: none)", "INT"),
    Option("redis-allowed-errors", "", "int", "redis_allowed_errors", "Redis errors before it is disabled (-1: never)", "INT"),
    Option("redis-disable-time", "", "int", "redis_disable_time", "Seconds Redis stays disabled after too many errors", "INT"),
    Option("no-redis-required", "q", "bool", "no_redis_required", "Start and run even when Redis is unreachable", ""),
    Option("subscribe-keyspace", "k", "int-list", "subscribe_keyspace", "Follow another node's Redis DB as a standby, repeatable", "INT"),
    Option("active-switchover", "", "bool", "active_switchover", "Take over a foreign call when signalling for it arrives", ""),
    # Comfort noise (rtpengine 10.5's options): silence in converted audio towards a party
    # whose CN is transcoded goes out as a CN packet.
    Option("silence-detect", "", "float", "silence_detect", "Audio below this level (percent of full scale) is silence: sent as comfort noise where CN is transcoded (0: off)", "FLOAT"),
    Option("cn-payload", "", "int-list", "cn_payload", "The comfort noise payload that replaces silence, byte by byte (default 32: -32 dBov)", "INT"),
    # DTX (rtpengine 10.5's options, see media/dtx.py): converted audio held this long and
    # released on a timer; a gap is filled with comfort noise (--dtx-cn-params) or silence.
    Option("dtx-delay", "", "int", "dtx_delay", "Hold converted audio this many ms and fill transmission gaps (0: off)", "INT"),
    Option("max-dtx", "", "int", "max_dtx", "Stop filling a gap after this many seconds (0 or less: never)", "INT"),
    Option("dtx-buffer", "", "int", "dtx_buffer", "Packets held before the DTX timer speeds up (with --dtx-lag)", "INT"),
    Option("dtx-lag", "", "int", "dtx_lag", "Audio in ms held before the DTX timer speeds up (with --dtx-buffer)", "INT"),
    Option("dtx-shift", "", "int", "dtx_shift", "Ms the DTX timer moves on an underflow or overflow (0: drop or step the clock instead)", "INT"),
    Option("dtx-cn-params", "", "int-list", "dtx_cn_params", "Comfort noise payload for DTX gaps, byte by byte (none: silence)", "INT"),
    # DTMF events (rtpengine 10.5's options, see rtpengined.dtmf_log): each key a party sends
    # as telephone-event, as a JSON line to a UDP address and/or to the TCP ng clients.
    Option("dtmf-log-dest", "", "destination", "dtmf_log_dest", "Send each DTMF key a party sends (RFC 4733 events) as a JSON line to this UDP address", "IP46|HOSTNAME:PORT"),
    Option("dtmf-log-ng-tcp", "", "bool", "dtmf_log_ng_tcp", "Send each DTMF key a party sends to every TCP ng client as an onDTMF notification", ""),
    Option("log-facility-dtmf", "", "facility", "log_facility_dtmf", "Log each DTMF key a party sends (RFC 4733 events) as a JSON line to syslog, at priority info of this facility", "daemon|local0|...|local7"),
    Option("log-facility-cdr", "", "facility", "log_facility_cdr", "Log a call detail record (parties, times, why it ended, addresses and counters of every stream) to syslog as each call ends, at priority info of this facility", "daemon|local0|...|local7"),
    Option("log-facility-rtcp", "", "facility", "log_facility_rtcp", "Log each RTCP report a party sends (sender and receiver reports, source description headers, extended reports) to syslog, at priority info of this facility", "daemon|local0|...|local7"),
    Option("graphite", "g", "destination", "graphite", "Send the daemon's figures to this Graphite server (plaintext protocol over TCP) every --graphite-interval seconds", "IP46|HOSTNAME:PORT"),
    Option("graphite-interval", "G", "int", "graphite_interval", "Seconds between two reports to Graphite (default and below 1: 1)", "INT"),
    Option("graphite-prefix", "", "str", "graphite_prefix", "Put this before the name of every line sent to Graphite (a trailing '.' is not added)", "STRING"),
    Option("graphite-timeout", "", "int", "graphite_timeout", "Drop the Graphite connection when what is sent stays unacknowledged this many seconds (TCP_USER_TIMEOUT; 0: the system's)", "INT"),
    Option("b2b-url", "b", "str", "b2b_url", "XML-RPC URL that is asked to end the SIP dialogs of a call whose media timed out ('%%': the address of the ng client that created the call)", "URL"),
    Option("xmlrpc-format", "x", "int", "xmlrpc_format", "Its requests: 0 SEMS (di ... teardown, the default), 1 teardown(call-id), 2 Kamailio (dlg.terminate_dlg)", "INT"),
    Option("homer", "", "destination", "homer", "Send each RTCP report a party sends to this Homer capture server (HEPv3, the report as JSON)", "IP46|HOSTNAME:PORT"),
    Option("homer-protocol", "", "str", "homer_protocol", "Transport protocol for Homer (default udp)", "udp|tcp"),
    Option("homer-id", "", "int", "homer_id", "'Capture ID' to use within the HEP protocol (default 2001)", "INT"),
    Option("syslog-socket", "", "str", "syslog_socket", "The local syslog socket --log-facility, -dtmf, -cdr and -rtcp write to (default /dev/log)", "PATH"),
    Option("dtmf-no-suppress", "", "bool", "dtmf_no_suppress", "When transcoding, send on the audio a party sends during its DTMF events too (default: only the events)", ""),
    # Jitter buffer (rtpengine 10.5's options): read and checked as 10.5 checks them, and no
    # more. 10.5.3.5 creates a buffer per stream but never holds a packet in it (from a
    # stream's 31st packet on it reads the packet before it is filled in, finds no RTP
    # header and relays it at once): every packet goes out as it comes, as here.
    Option("jitter-buffer", "", "int", "jitter_buffer", "Jitter buffer size, not negative (read and checked only: 10.5.3.5's buffer holds no packet either, see README)", "INT"),
    Option("jb-clock-drift", "", "bool", "jb_clock_drift", "Clock drift compensation of the jitter buffer (no effect, as in 10.5.3.5)", ""),
]
OPTIONS_BY_NAME = {o.name: o for o in OPTIONS}
# The facility names 10.5 takes (glibc's list), by their numbers.
SYSLOG_FACILITIES = {"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "security": 4,
                     "syslog": 5, "lpr": 6, "news": 7, "uucp": 8, "cron": 9, "authpriv": 10,
                     "ftp": 11, "mark": 24, **{f"local{n}": 16 + n for n in range(8)}}
OPTIONS_BY_SHORT = {o.short: o for o in OPTIONS if o.short}
LOG_SUBSYSTEMS = list(cliwords.SUBSYSTEMS)
_UNSUPPORTED_SHORT = {
    short: name for name, (short, _) in RTPENGINE_OPTIONS.items() if short
}


@dataclass
class Config:
    """Everything the daemon is configured with. Defaults are safe: loopback only."""

    config_file: str | None = None
    config_section: str = "rtpengine"
    interfaces: list[Interface] = field(
        default_factory=lambda: [Interface("default", "127.0.0.1", "127.0.0.1")]
    )
    listen_ng: list[ListenAddress] = field(
        default_factory=lambda: [ListenAddress(DEFAULT_HOST, SCHEMES["udp"].default_port)]
    )
    # Off unless asked for, as in rtpengine: a TCP ng listener on a fixed default address
    # would also clash with a second daemon that moved only --listen-ng.
    listen_tcp_ng: list[ListenAddress] = field(default_factory=list)
    listen_cli: list[ListenAddress] = field(
        default_factory=lambda: [ListenAddress(DEFAULT_HOST, SCHEMES["cli"].default_port)]
    )
    listen_http: list[ListenAddress] = field(
        default_factory=lambda: [ListenAddress(DEFAULT_HOST, SCHEMES["http"].default_port)]
    )
    listen_https: list[ListenAddress] = field(default_factory=list)
    https_cert: str | None = None
    https_key: str | None = None
    http_idle_timeout: int = 60
    http_auth_token: str | None = None  # off by default; also RTPENGINED_HTTP_AUTH_TOKEN
    http_auth_metrics: bool = False
    janus_secret: str | None = None  # Janus interface: add_token needs it (none: refused)
    https_client_ca: str | None = None
    port_min: int = 30000
    port_max: int = 40000
    timeout: int = 60
    silent_timeout: int = 3600
    final_timeout: int = 0
    offer_timeout: int = 3600
    delete_delay: int = 30
    max_sessions: int = -1
    max_load: float = 0.0
    max_cpu: float = 0.0
    max_bandwidth: int = 0
    endpoint_learning: str = "delayed"
    sip_source: bool = False
    tos: int = 0
    dtls_cert_cipher: str = "prime256v1"
    dtls_rsa_key_size: int = 2048
    dtls_mtu: int = DTLS_MTU
    dtls_ciphers: str = DTLS_CIPHERS
    dtls_passive: bool = False
    log_srtp_keys: bool = False
    reject_invalid_sdp: bool = False
    save_interface_ports: bool = False
    mos: str = "CQ"  # (upper case: ``validate``)
    version: bool = False  # (``--version``: print it and exit)
    codecs: bool = False  # (``--codecs``: list them and exit)
    software_id: str | None = None  # (canonical: see ``canonical_software_id``)
    control_tos: int = 0
    relay_workers: int = 0
    num_threads: int = 0
    scheduling: str | None = None  # (``media.scheduling.POLICIES``; 10.5 warns at others)
    priority: int = 0
    log_level: int = 6
    log_levels: dict[str, int] = field(default_factory=dict)
    log_stderr: bool = False  # (-E given: with --log-facility, still to stderr)
    log_facility: int | None = None  # (a syslog facility's number: the daemon's own log)
    no_log_timestamps: bool = False
    log_format: str = "default"
    log_mark_prefix: str = ""
    log_mark_suffix: str = ""
    split_logs: bool = False
    max_log_line_length: int = 0
    foreground: bool = True
    pidfile: str | None = None
    table: int = -1
    no_fallback: bool = False
    redis: str | None = None
    redis_write: str | None = None
    redis_expires: int = 86400
    redis_connect_timeout: int = 1000
    redis_cmd_timeout: int = 0
    redis_allowed_errors: int = -1
    redis_disable_time: int = 10
    no_redis_required: bool = False
    subscribe_keyspace: list[int] = field(default_factory=list)
    active_switchover: bool = False
    silence_detect: float = 0.0
    cn_payload: list[int] = field(default_factory=lambda: [32])
    dtx_delay: int = 0
    max_dtx: int = 30
    dtx_buffer: int = 10
    dtx_lag: int = 100
    dtx_shift: int = 5
    dtx_cn_params: list[int] = field(default_factory=list)
    dtmf_log_dest: ListenAddress | None = None
    dtmf_log_ng_tcp: bool = False
    dtmf_no_suppress: bool = False
    log_facility_dtmf: int | None = None  # (a syslog facility's number: local5 is 21)
    log_facility_cdr: int | None = None
    log_facility_rtcp: int | None = None
    graphite: ListenAddress | None = None
    graphite_interval: int = 0
    graphite_prefix: str = ""
    graphite_timeout: int = 0
    b2b_url: str | None = None
    xmlrpc_format: int = 0
    homer: ListenAddress | None = None
    homer_protocol: str = "udp"
    homer_id: int = 2001
    syslog_socket: str = "/dev/log"
    jitter_buffer: int = 0
    jb_clock_drift: bool = False
    unsupported: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def relay_worker_count(self, cpu_count: int) -> int:
        """How many relay workers run: --relay-workers, else --num-threads (rtpengine's
        media threads), else one per CPU core."""
        return self.relay_workers or self.num_threads or cpu_count

    @property
    def graphite_seconds(self) -> int:
        """The Graphite report interval: --graphite-interval, 1 s where it is not above 0
        (10.5 warns and does the same)."""
        return self.graphite_interval if self.graphite_interval > 0 else 1


def parse_listen(value: str, option: str) -> ListenAddress:
    """Parse ``[IP46|HOSTNAME:]PORT``; a bare port means every address, as in rtpengine."""
    text = value.strip()
    host = ""
    port_text = text
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            raise ConfigError(f"--{option}: bad address {value!r} (expected [IPv6]:PORT)")
        host, port_text = text[1:end], text[end + 2 :]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif text.count(":") > 1:
        raise ConfigError(f"--{option}: bad address {value!r} (write IPv6 as [ADDR]:PORT)")
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"--{option}: bad port in {value!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--{option}: port out of range in {value!r}")
    if not host:
        host = "0.0.0.0"
    elif host == "localhost":
        host = "127.0.0.1"
    return ListenAddress(host, port)


def parse_interface(value: str) -> Interface:
    """Parse ``[NAME/]IP[!ADVERTISED]``."""
    name, _, rest = value.strip().rpartition("/")
    address, _, advertised = rest.partition("!")
    for what in filter(None, (address, advertised)):
        try:
            ipaddress.ip_address(what)
        except ValueError:
            raise ConfigError(f"--interface: {what!r} is not an IP address (in {value!r})") from None
    if not address:
        raise ConfigError(f"--interface: no address in {value!r}")
    return Interface(name or "default", address, advertised or address)


def _convert(option: Option, value: str) -> Any:
    if option.kind == "int":
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"--{option.name}: {value!r} is not a whole number") from None
    if option.kind == "float":
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"--{option.name}: {value!r} is not a number") from None
    if option.kind == "bool":
        lowered = value.strip().lower()
        if lowered in ("", "1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"--{option.name}: {value!r} is not true or false")
    if option.kind == "listen-list":
        return [parse_listen(v, option.name) for v in value.split(";") if v.strip()]
    if option.kind == "facility":
        if value not in SYSLOG_FACILITIES:
            raise ConfigError(f"--{option.name}: {value!r} is not a syslog facility "
                              "(daemon, user, local0 … local7, …)")
        return SYSLOG_FACILITIES[value]
    if option.kind == "destination":  # (an address to send to: a host is needed)
        if ":" not in value.strip():
            raise ConfigError(f"--{option.name}: {value!r} names no host (IP46|HOSTNAME:PORT)")
        return parse_listen(value, option.name)
    if option.kind == "int-list":
        try:
            return [int(v) for v in value.replace(",", ";").split(";") if v.strip()]
        except ValueError:
            raise ConfigError(f"--{option.name}: {value!r} is not a whole number") from None
    if option.kind == "interface-list":
        return [parse_interface(v) for v in value.split(";") if v.strip()]
    if option.name == "homer-protocol" and value not in ("udp", "tcp"):
        raise ConfigError(f"--homer-protocol: invalid protocol {value!r} (udp or tcp)")
    if option.name == "endpoint-learning" and value not in ("delayed", "immediate", "off", "heuristic"):
        raise ConfigError(f"--endpoint-learning: {value!r} is not delayed, immediate, off or heuristic")
    return value


def _tokenize(argv: list[str]) -> list[tuple[str, str | None]]:
    """Turn argv into (long option name, value or None) pairs, GLib style."""
    pairs: list[tuple[str, str | None]] = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            name = canonical_name(name)
            takes = _takes_value(name)
            if takes is None:
                raise ConfigError(f"unknown option --{name} (not an rtpengine option; see --help)")
            if eq:
                pairs.append((name, value))
            elif takes:
                if not args:
                    raise ConfigError(f"--{name} needs a value")
                pairs.append((name, args.pop(0)))
            else:
                pairs.append((name, None))
        elif arg.startswith("-") and len(arg) > 1:
            letter, rest = arg[1], arg[2:]
            name = _short_name(letter)
            if name is None:
                raise ConfigError(f"unknown option -{letter} (not an rtpengine option; see --help)")
            if _takes_value(name):
                if rest.startswith("="):
                    rest = rest[1:]
                if not rest:
                    if not args:
                        raise ConfigError(f"-{letter} (--{name}) needs a value")
                    rest = args.pop(0)
                pairs.append((name, rest))
            else:
                pairs.append((name, None))
                if rest:
                    args.insert(0, "-" + rest)
        else:
            raise ConfigError(f"unexpected argument {arg!r}")
    return pairs


def canonical_name(name: str) -> str:
    """``silent_timeout`` → ``silent-timeout``: newer rtpengine releases (and their test
    suites) accept underscores in long option names; 10.5 rejects them. We take both."""
    return name.replace("_", "-")


def _short_name(letter: str) -> str | None:
    if letter in OPTIONS_BY_SHORT:
        return OPTIONS_BY_SHORT[letter].name
    return _UNSUPPORTED_SHORT.get(letter)


def _takes_value(name: str) -> bool | None:
    option = OPTIONS_BY_NAME.get(name)
    if option is not None:
        return option.kind != "bool"
    if name in RTPENGINE_OPTIONS:
        return RTPENGINE_OPTIONS[name][1]
    return None


def _apply(config: Config, name: str, value: str | None, explicit: set[str]) -> None:
    option = OPTIONS_BY_NAME.get(name)
    if name.startswith("log-level-") and name[10:] in LOG_SUBSYSTEMS:
        try:
            config.log_levels[name[10:]] = int(value or "")
        except ValueError:
            raise ConfigError(f"--{name}: {value!r} is not a whole number") from None
        return
    if option is None:
        if name not in config.unsupported:
            config.warnings.append(
                f"option --{name} is an rtpengine option that rtpengined does not support; ignored"
            )
        config.unsupported[name] = value
        return
    converted = _convert(option, "" if value is None else value)
    if option.kind.endswith("-list"):
        # Repeated options accumulate; the first explicit one replaces the default.
        if option.dest not in explicit:
            setattr(config, option.dest, [])
            explicit.add(option.dest)
        getattr(config, option.dest).extend(converted)
    else:
        setattr(config, option.dest, converted)


def read_config_file(path: str, section: str) -> list[tuple[str, str | None]]:
    """Read ``section`` of an INI file into option pairs (list values split on ``;``)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except configparser.Error as exc:
        raise ConfigError(f"config file {path} is not valid INI: {exc}") from None
    if not parser.has_section(section):
        raise ConfigError(f"config file {path} has no [{section}] section")
    pairs: list[tuple[str, str | None]] = []
    for key, value in parser.items(section):
        key = canonical_name(key)
        if _takes_value(key) is None:
            raise ConfigError(f"config file {path}: unknown option {key!r} in [{section}]")
        pairs.append((key, value))
    return pairs


def parse_args(argv: list[str], environ: dict[str, str] | None = None) -> Config:
    """Build a ``Config`` from rtpengine-style arguments (and the file they name)."""
    del environ
    pairs = _tokenize(argv)
    config = Config()
    file_path: str | None = None
    for name, value in pairs:
        if name == "config-file":
            file_path = value
        elif name == "config-section":
            config.config_section = value or "rtpengine"
    explicit: set[str] = set()
    if file_path and file_path != "none":
        config.config_file = os.path.abspath(file_path)
        file_pairs = read_config_file(file_path, config.config_section)
        file_explicit: set[str] = set()
        for name, value in file_pairs:
            if name in ("config-file", "config-section"):
                continue
            _apply(config, name, value, file_explicit)
    for name, value in pairs:
        if name in ("config-file", "config-section"):
            continue
        _apply(config, name, value, explicit)
    if not (config.version or config.codecs):  # (10.5 answers those before its checks)
        validate(config)
    return config


def validate(config: Config) -> None:
    if not config.interfaces:
        raise ConfigError("at least one --interface is needed")
    if not 1 <= config.port_min <= config.port_max <= 65535:
        raise ConfigError(
            f"--port-min/--port-max: {config.port_min}-{config.port_max} is not a valid port range"
        )
    if config.listen_https and not (config.https_cert and config.https_key):
        raise ConfigError("--listen-https needs --https-cert and --https-key")
    if not 0 <= config.silence_detect <= 100:
        raise ConfigError("--silence-detect: a level in percent (0 to 100)")
    cn = config.cn_payload
    if not cn or not all(0 <= b <= 254 for b in cn) or cn[0] > 127:
        raise ConfigError("--cn-payload: bytes 0-254, the first (the noise level) at most 127")
    cn = config.dtx_cn_params
    if cn and (not all(0 <= b <= 254 for b in cn) or cn[0] > 127):
        raise ConfigError("--dtx-cn-params: bytes 0-254, the first (the noise level) at most 127")
    if config.dtx_delay < 0 or config.dtx_buffer < 0 or config.dtx_lag < 0:
        raise ConfigError("--dtx-delay, --dtx-buffer, --dtx-lag: not negative")
    if config.jitter_buffer < 0:  # (10.5 refuses it too, and exits)
        raise ConfigError(f"--jitter-buffer: {config.jitter_buffer} is negative")
    _validate_dtls(config)
    if config.log_format not in ("default", "parsable"):
        raise ConfigError("Invalid --log-format option")
    if config.mos.upper() not in ("CQ", "LQ"):
        raise ConfigError(f"Invalid --mos option ('{config.mos}')")
    config.mos = config.mos.upper()
    if config.software_id is not None:
        config.software_id = canonical_software_id(config.software_id)
    _validate_redis(config)


def canonical_software_id(value: str) -> str:
    """``--software-id`` as 10.5 keeps it: every byte that is not an ASCII letter, digit or
    '-' made '-' (a UTF-8 character thus becomes several)."""
    return re.sub(rb"[^A-Za-z0-9-]", b"-", value.encode()).decode()


def _validate_dtls(config: Config) -> None:
    """The DTLS options, refused at start as 10.5 refuses them (a cipher list OpenSSL
    matches nothing in too: 10.5 would go on with OpenSSL's own list unsaid)."""
    if dtls_cert_key(config.dtls_cert_cipher) is None:
        raise ConfigError(f"--dtls-cert-cipher: {config.dtls_cert_cipher!r} is not RSA or "
                          "prime256v1")
    if config.dtls_rsa_key_size < 1024:
        raise ConfigError(f"--dtls-rsa-key-size: {config.dtls_rsa_key_size} is too small "
                          "(OpenSSL refuses keys under 1024 bits)")
    if config.dtls_mtu < 576:
        raise ConfigError(f"--dtls-mtu: {config.dtls_mtu} is below 576, the smallest "
                          "datagram every IPv4 host takes")
    if config.dtls_ciphers != Config.dtls_ciphers:
        from OpenSSL import SSL

        try:
            SSL.Context(SSL.DTLS_METHOD).set_cipher_list(config.dtls_ciphers.encode())
        except SSL.Error:
            raise ConfigError(f"--dtls-ciphers: OpenSSL knows no cipher in "
                              f"{config.dtls_ciphers!r}") from None


def silence_threshold(config: Config) -> int:
    """The largest 16-bit sample that counts as silence for ``--silence-detect`` (as 10.5
    reckons it: the percentage of the 32-bit range, shifted down), 0 when off."""
    if config.silence_detect <= 0:
        return 0
    return min(int(config.silence_detect / 100.0 * 0xFFFFFFFF), 0x7FFFFFFF) >> 16


def _validate_redis(config: Config) -> None:
    from .redis.address import RedisAddress

    for name in ("redis", "redis-write"):
        value = getattr(config, name.replace("-", "_"))
        if value is not None:
            try:
                RedisAddress.parse(value)
            except ValueError as exc:
                raise ConfigError(f"--{name}: {exc}") from None
    if config.redis_write and not config.redis:
        raise ConfigError("--redis-write needs --redis")
    if any(k < 0 for k in config.subscribe_keyspace):
        raise ConfigError("--subscribe-keyspace: keyspaces are Redis DB numbers (>= 0)")


def options_help() -> str:
    """The option list shown by ``rtpengined run --help``."""
    lines = []
    for option in OPTIONS:
        flag = (f"-{option.short}, " if option.short else "    ") + f"--{option.name}"
        if option.metavar:
            flag += f"={option.metavar}"
        lines.append(f"  {flag:<48} {option.help}")
    lines.append(f"  {'    --log-level-SUBSYSTEM=INT':<48} Log level of one subsystem")
    return "\n".join(lines)
