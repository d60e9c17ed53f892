"""TAB completion in real shells: bash (with bash-completion), zsh and fish, driven through tmux.

Each shell starts with a fresh HOME where the checked-in script is installed the way the
README says, and completes against a real daemon: command words, options, live call-ids
and tags. Comparing a script with what click generates cannot catch a script that breaks
the shell (click 8.4.0's fish script printed ``string split: missing argument`` on every
TAB); typing TAB into the shell can.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from rtpctl_helpers import SDP_DIR, clean_env, rtpctl, running_daemon

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PROMPT = "RTPCTL-TEST> "
SHELLS = ["bash", "zsh", "fish"]
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
#: Shell output that means the completion script itself failed.
SCRIPT_ERRORS = ("string split", "Unknown command", "missing argument", "command not found",
                 "parse error", "syntax error", "_rtpctl_completion:")

CALL = "call-abc@1234567890.example.com"
ODD_CALL = "odd:call,id@host.example"  # ':' and '@' split bash words; ',' split fish's reply lines
SPACE_CALL = "has space;x@host"  # each shell must quote it on the command line


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (.ci/run installs it)")
    return path


class TmuxShell:
    """One interactive shell in a private tmux server; what it shows is read with capture-pane."""

    def __init__(self, shell: str, home: str, env: dict[str, str]) -> None:
        self.socket = os.path.join(home, "tmux.sock")
        self.shell = shell
        command = {
            "bash": [_tool("bash"), "--noprofile", "--rcfile", os.path.join(home, ".bashrc"), "-i"],
            "zsh": [_tool("zsh"), "-i"],
            "fish": [_tool("fish"), "-i"],
        }[shell]
        self.env = env
        try:
            self._tmux("new-session", "-d", "-x", "200", "-y", "50", "-s", "t", *command)
            self.wait_for(lambda screen: screen.rstrip().endswith(PROMPT.rstrip()), "the first prompt")
        except BaseException:
            self.close()  # a shell that never showed its prompt must not stay behind
            raise

    def _tmux(self, *args: str) -> str:
        result = subprocess.run([_tool("tmux"), "-S", self.socket, *args], capture_output=True,
                                env=self.env, timeout=30)
        assert result.returncode == 0, result.stderr.decode()
        return result.stdout.decode()

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, condition: Callable[[str], bool], what: str, timeout: float = 60) -> str:
        """Poll the screen until ``condition`` holds (the timeout only guards against a hang)."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.shell}: no {what} on screen:\n{screen}")
            time.sleep(0.1)

    def reset(self) -> None:
        """Drop the line being edited and clear the screen, back to a bare prompt."""
        # C-c may be ignored (as in a CI job); Enter on the emptied line ends zsh's completion
        # state, else its next TAB may just redo the previous completion
        self._tmux("send-keys", "-t", "t", "C-e", "C-u", "Enter")
        self._tmux("send-keys", "-t", "t", "C-l")
        self._tmux("clear-history", "-t", "t")
        self.wait_for(lambda screen: screen.strip() == PROMPT.strip(), "bare prompt after reset")

    def tab(self, text: str, until: Callable[[str], bool], what: str, tabs: int = 1) -> str:
        """Type ``text`` and TAB ``tabs`` times; wait until the screen satisfies ``until``.

        Keys are queued by the shell, so a second TAB is taken only after the first one's
        completion has run. No sleeping: the wait ends as soon as the screen is right.
        """
        self.reset()
        self._tmux("send-keys", "-t", "t", "-l", text)
        self.wait_for(lambda screen: text.rstrip() in screen, "typed text")
        self._tmux("send-keys", "-t", "t", *["Tab"] * tabs)
        screen = self.wait_for(lambda screen: until(screen) or any(error in screen for error in SCRIPT_ERRORS),
                               what)
        for error in SCRIPT_ERRORS:
            assert error not in screen, f"{self.shell}: completion script error {error!r}:\n{screen}"
        return screen

    @staticmethod
    def command_line(screen: str) -> str:
        lines = [line for line in screen.splitlines() if line.startswith(PROMPT)]
        return lines[-1][len(PROMPT):].rstrip() if lines else ""

    def completes(self, text: str, expected: str) -> None:
        """One TAB after ``text`` turns the command line into ``expected``."""
        self.tab(text, lambda screen: self.command_line(screen) == expected, f"command line {expected!r}")

    def lists(self, text: str, *words: str) -> None:
        """TAB TAB after ``text`` shows every one of ``words``."""
        below = PROMPT + text.rstrip()
        self.tab(text, lambda screen: all(word in screen.split(below, 1)[-1] for word in words),
                 f"listing of {words}", tabs=2)

    def close(self) -> None:
        subprocess.run([_tool("tmux"), "-S", self.socket, "kill-server"], capture_output=True, env=self.env,
                       timeout=30)


def _install(shell: str, home: str) -> None:
    """Put the checked-in script where the README says, and a quiet prompt."""
    script = os.path.join(REPO, "completions", f"rtpctl.{shell}")
    if shell == "bash":
        target = os.path.join(home, ".local", "share", "bash-completion", "completions", "rtpctl")
        rc = os.path.join(home, ".bashrc")
        if not os.path.exists(BASH_COMPLETION):
            pytest.fail("bash-completion is not installed (.ci/run installs it)")
        with open(rc, "w") as handle:
            handle.write(f"PS1='{PROMPT}'\nsource {BASH_COMPLETION}\n")
    elif shell == "zsh":
        target = os.path.join(home, ".zfunc", "_rtpctl")
        with open(os.path.join(home, ".zshrc"), "w") as handle:
            handle.write(f"fpath=(~/.zfunc $fpath); autoload -Uz compinit && compinit -u\nPROMPT='{PROMPT}'\n")
    else:
        target = os.path.join(home, ".config", "fish", "completions", "rtpctl.fish")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(os.path.join(home, ".config", "fish", "config.fish"), "w") as handle:
            handle.write(f"set -g fish_greeting ''\nfunction fish_prompt; printf '%s' '{PROMPT}'; end\n")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(script, target)


@pytest.fixture(scope="module")
def daemon():
    with running_daemon() as proc:
        ng = ["--port", str(proc.ng_port), "ng"]
        for call_id, tags in ((CALL, ("alice-tag", "bob-tag")), (ODD_CALL, ("t1", "t2")), (SPACE_CALL, ("t3", "t4"))):
            assert rtpctl(*ng, "offer", "-c", call_id, "-f", tags[0],
                          os.path.join(SDP_DIR, "offer1.sdp")).returncode == 0
            assert rtpctl(*ng, "answer", "-c", call_id, "-f", tags[0], "--to-tag", tags[1],
                          os.path.join(SDP_DIR, "answer1.sdp")).returncode == 0
        yield proc


@pytest.fixture(scope="module", params=SHELLS)
def shell(request, tmp_path_factory) -> Iterator[TmuxShell]:
    name = request.param
    home = str(tmp_path_factory.mktemp(f"{name}-home"))
    _install(name, home)
    bin_dir = os.path.join(home, "bin")
    os.makedirs(bin_dir)
    wrapper = os.path.join(bin_dir, "rtpctl")
    with open(wrapper, "w") as handle:  # this checkout's rtpctl, whatever is installed
        handle.write(f"#!/bin/sh\nexec {sys.executable} -m rtpctl \"$@\"\n")
    os.chmod(wrapper, 0o755)
    env = clean_env(HOME=home, ZDOTDIR=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
                    XDG_DATA_HOME=os.path.join(home, ".local", "share"), TERM="xterm-256color",
                    PATH=f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                    PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])),
                    TMUX_TMPDIR=home, SHELL=_tool(name),
                    # the look-ups must not give up because two cores are busy with other tests
                    RTPCTL_COMPLETION_TIMEOUT="20")
    env.pop("TMUX", None)
    proc = TmuxShell(name, home, env)
    try:
        yield proc
    finally:
        proc.close()


def test_command_words(shell):
    shell.completes("rtpctl li", "rtpctl list")
    shell.completes("rtpctl list tot", "rtpctl list totals")
    shell.completes("rtpctl ng q", "rtpctl ng query")
    shell.lists("rtpctl list sessions ", "all", "own", "foreign")


def test_options(shell):
    shell.completes("rtpctl --trans", "rtpctl --transport")
    shell.completes("rtpctl --transport c", "rtpctl --transport cli")
    shell.completes("rtpctl --output j", "rtpctl --output json")
    shell.completes("rtpctl ng query --call", "rtpctl ng query --call-id")


def test_live_call_ids(shell, daemon):
    cli = f"rtpctl --port {daemon.cli_port} "
    shell.completes(cli + "terminate call-a", cli + "terminate " + CALL)
    shell.completes(cli + "terminate call-abc@12", cli + "terminate " + CALL)  # after bash's '@' break
    shell.completes(cli + "list sessions odd", cli + "list sessions " + ODD_CALL)
    ng = f"rtpctl --port {daemon.ng_port} ng "
    shell.completes(ng + "query --call-id call-", ng + "query --call-id " + CALL)
    shell.completes(ng + "delete -c odd:ca", ng + "delete -c " + ODD_CALL)


def test_live_tags(shell, daemon):
    cli = f"rtpctl --port {daemon.cli_port} call {CALL} tag "
    shell.completes(cli + "al", cli + "alice-tag")
    shell.lists(cli, "alice-tag", "bob-tag")
    ng = f"rtpctl --port {daemon.ng_port} ng delete --call-id {CALL} --from-tag "
    shell.completes(ng + "b", ng + "bob-tag")


def test_a_stopped_daemon_leaves_the_static_words(shell):
    with running_daemon() as gone:
        port = gone.cli_port
    shell.lists(f"rtpctl --port {port} terminate ", "all", "own", "foreign")


def test_a_completed_call_id_with_blanks_reaches_rtpctl_whole(shell, daemon):
    cli = f"rtpctl --port {daemon.cli_port} -o plain list sessions "
    shell.tab(cli + "has", lambda screen: shell.command_line(screen).endswith("x@host"), "the completed call-id")
    shell._tmux("send-keys", "-t", "t", "Enter")  # run it: the shell must pass one word, unquoted
    shell.wait_for(lambda screen: f"callid: {SPACE_CALL}" in screen, "the call's info")
