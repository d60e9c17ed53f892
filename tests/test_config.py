"""Configuration: rtpengine's option names on the command line and in INI files."""

import pytest

from rtpengined.config import ConfigError, ListenAddress, parse_args
from rtpengined.log_setup import LogSettings
from rtpengined.media.worker import LOG_SETTINGS
from rtpengined.model import Interface


def test_defaults_are_loopback_only():
    config = parse_args([])
    assert config.interfaces == [Interface("default", "127.0.0.1", "127.0.0.1")]
    assert config.listen_ng == [ListenAddress("127.0.0.1", 22222)]
    assert config.listen_tcp_ng == []  # as rtpengine: no TCP ng unless asked for
    assert config.listen_cli == [ListenAddress("127.0.0.1", 9900)]
    assert config.listen_http == [ListenAddress("127.0.0.1", 8080)]
    assert (config.port_min, config.port_max) == (30000, 40000)
    assert config.warnings == []


def test_glib_style_syntax():
    config = parse_args(["-i", "pub/10.0.0.1!203.0.113.1", "--interface=priv/192.168.1.1",
                         "-n127.0.0.1:2223", "--listen-cli", "9901", "-m", "20000",
                         "--port-max=20100", "-fE", "-L", "7", "--delete-delay=0",
                         "--listen-ng=[::1]:2224"])
    assert config.interfaces == [Interface("pub", "10.0.0.1", "203.0.113.1"),
                                 Interface("priv", "192.168.1.1", "192.168.1.1")]
    assert config.listen_ng == [ListenAddress("127.0.0.1", 2223), ListenAddress("::1", 2224)]
    assert config.listen_cli == [ListenAddress("0.0.0.0", 9901)]  # bare port: every address
    assert (config.port_min, config.port_max, config.log_level, config.delete_delay) == (20000, 20100, 7, 0)
    assert config.foreground and config.log_stderr


def test_ini_file_and_command_line_give_the_same_result(tmp_path):
    argv = ["--interface=10.0.0.1!203.0.113.1", "--listen-ng=127.0.0.1:2223",
            "--timeout=30", "--max-sessions=10", "--listen-http=127.0.0.1:8081",
            "--log-level-core=7"]
    ini = tmp_path / "rtpengine.conf"
    ini.write_text("[rtpengine]\n" + "\n".join(
        arg[2:].replace("=", " = ", 1) for arg in argv) + "\n")
    from_file = parse_args([f"--config-file={ini}"])
    from_argv = parse_args(argv)
    for field in ("interfaces", "listen_ng", "timeout", "max_sessions", "listen_http", "log_levels"):
        assert getattr(from_file, field) == getattr(from_argv, field)


def test_command_line_overrides_file_and_sections(tmp_path):
    ini = tmp_path / "rtpengine.conf"
    ini.write_text("[rtpengine]\ntimeout = 30\n[other]\ntimeout = 45\ninterface = a/10.0.0.1;b/10.0.0.2\n")
    assert parse_args([f"--config-file={ini}", "--timeout=50"]).timeout == 50
    other = parse_args([f"--config-file={ini}", "--config-section=other"])
    assert other.timeout == 45
    assert [i.name for i in other.interfaces] == ["a", "b"]
    assert parse_args(["--config-file=none"]).config_file is None


def test_unsupported_rtpengine_option_warns_once():
    config = parse_args(["--media-num-threads=4", "--media-num-threads", "8", "-y",
                         "--recording-dir=/tmp"])
    assert config.warnings == [
        "option --media-num-threads is an rtpengine option that rtpengined does not support; ignored",
        "option --redis-delete-async is an rtpengine option that rtpengined does not support; ignored",
        "option --recording-dir is an rtpengine option that rtpengined does not support; ignored",
    ]
    assert parse_args(["-S"]).save_interface_ports and parse_args(["-S"]).warnings == []


def test_no_fallback_is_rtpengines_short_flag():
    assert parse_args(["-t", "0", "-F"]).no_fallback is True
    assert parse_args([]).no_fallback is False and parse_args([]).table == -1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--no-such-option"], "unknown option --no-such-option"),
        (["-Z"], "unknown option -Z"),
        (["--port-min=abc"], "--port-min: 'abc' is not a whole number"),
        (["--interface=not-an-ip"], "--interface: 'not-an-ip' is not an IP address"),
        (["--listen-ng=1.2.3.4:99999"], "--listen-ng: port out of range"),
        (["--port-min=5000", "--port-max=4000"], "is not a valid port range"),
        (["--listen-https=8443"], "--listen-https needs --https-cert and --https-key"),
        (["--timeout"], "--timeout needs a value"),
        (["--dtls-mtu=500"], "--dtls-mtu: 500 is below 576"),
        (["--dtls-ciphers=NO-SUCH-CIPHER"], "--dtls-ciphers: OpenSSL knows no cipher"),
        (["--dtls-cert-cipher=dsa"], "--dtls-cert-cipher: 'dsa' is not RSA or prime256v1"),
        (["--dtls-rsa-key-size=512"], "--dtls-rsa-key-size: 512 is too small"),
        (["--jitter-buffer=-1"], "--jitter-buffer: -1 is negative"),
        (["--jitter-buffer=ten"], "--jitter-buffer: 'ten' is not a whole number"),
    ],
)
def test_bad_options_fail_clearly(argv, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_args(argv)


def test_jitter_buffer_options_are_read_without_a_warning():
    """``--jitter-buffer``/``--jb-clock-drift`` are declared (10.5's buffer relays every
    packet unbuffered, as we do), so they start the daemon without the "not supported"
    warning other rtpengine options get."""
    config = parse_args(["--jitter-buffer=10", "--jb-clock-drift"])
    assert (config.jitter_buffer, config.jb_clock_drift, config.warnings) == (10, True, [])
    assert (parse_args([]).jitter_buffer, parse_args([]).jb_clock_drift) == (0, False)


def test_dtmf_no_suppress_reaches_the_relay_workers_command_line():
    from rtpengined.media.plane import RelayPlane
    from rtpengined.media.worker import NO_SUPPRESS

    config = parse_args(["--dtmf-no-suppress"])
    assert (config.dtmf_no_suppress, config.warnings, parse_args([]).dtmf_no_suppress) == (
        True, [], False)
    assert NO_SUPPRESS in RelayPlane(config, workers=0).worker_options
    # (without it, only where their log goes: every worker gets that)
    options = RelayPlane(parse_args([]), workers=0).worker_options
    assert len(options) == 1 and LogSettings.from_arg(options[0][len(LOG_SETTINGS):]) == \
        LogSettings.of(parse_args([]))


def test_the_log_settings_reach_the_relay_workers():
    from rtpengined.media.plane import RelayPlane

    config = parse_args(["-L", "7", "--split-logs", "--max-log-line-length=80",
                         "--no-log-timestamps"])
    first = RelayPlane(config, workers=0).worker_options[0]
    assert first.startswith(LOG_SETTINGS)
    assert LogSettings.from_arg(first[len(LOG_SETTINGS):]) == LogSettings(
        level=7, stderr=False, timestamps=False, max_length=80, split=True)


def test_unknown_key_in_config_file_fails(tmp_path):
    ini = tmp_path / "bad.conf"
    ini.write_text("[rtpengine]\ntimeuot = 5\n")
    with pytest.raises(ConfigError, match="unknown option 'timeuot'"):
        parse_args([f"--config-file={ini}"])
    with pytest.raises(ConfigError, match="cannot read config file"):
        parse_args([f"--config-file={tmp_path}/missing.conf"])


def test_underscores_in_long_options_as_newer_rtpengine_and_its_test_suites():
    config = parse_args(["--silent_timeout=1", "--port_min", "44000", "--port-max=44010",
                         "--log_level_internals=7", "-t", "-1", "-u", "2222",
                         "--listen_ng=127.0.0.1:2223"])
    assert (config.silent_timeout, config.port_min, config.port_max) == (1, 44000, 44010)
    assert config.log_levels["internals"] == 7 and config.table == -1
    assert config.listen_ng[0].port == 2223 and "listen-udp" in config.unsupported


def test_example_systemd_unit_and_config_file_are_usable():
    """contrib/systemd: the unit is Type=notify, and its ExecStart options (with the example
    config file) are what ``rtpengined run`` accepts, without warnings."""
    import configparser
    import shlex
    from pathlib import Path

    contrib = Path(__file__).resolve().parent.parent / "contrib" / "systemd"
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str
    unit.read(contrib / "rtpengined.service")
    service = unit["Service"]
    assert (service["Type"], service["NotifyAccess"], service["KillMode"]) == ("notify", "main", "mixed")
    assert "ExecReload" not in service  # SIGHUP reloads nothing
    command = shlex.split(service["ExecStart"])
    assert command[:2] == ["/usr/local/bin/rtpengined", "run"]
    options = [arg.replace("/etc/rtpengined/rtpengine.conf", str(contrib / "rtpengine.conf"))
               for arg in command[2:]]
    config = parse_args(options)
    assert config.warnings == []
    assert config.listen_ng == [ListenAddress("127.0.0.1", 22222)] and config.listen_tcp_ng == []
    assert config.log_level == 6


def test_dtls_options_as_rtpengine_takes_them():
    config = parse_args(["--dtls-mtu=1400", "--dtls-ciphers=HIGH", "--dtls-cert-cipher=RSA",
                         "--dtls-rsa-key-size=3072"])
    assert (config.dtls_mtu, config.dtls_ciphers, config.dtls_cert_cipher,
            config.dtls_rsa_key_size) == (1400, "HIGH", "RSA", 3072)
    assert parse_args(["--dtls-cert-cipher=ec_prime256v1"]).dtls_cert_cipher == "ec_prime256v1"
    assert not any("dtls" in warning for warning in config.warnings)
