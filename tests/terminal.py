"""Run a real `annctl` process on a pseudo-terminal, the way a person does, and read what they would see."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SHOW_CURSOR = "\x1b[?25h"
HIDE_CURSOR = "\x1b[?25l"
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


@dataclass
class TerminalRun:
    returncode: int
    raw: str  # everything the terminal received, escape sequences included

    @property
    def screen_lines(self) -> list[str]:
        """The text lines without escape sequences; a carriage return starts the line anew, as on a screen."""
        lines = []
        for line in _ESCAPES.sub("", self.raw).replace("\r\n", "\n").split("\n"):
            lines.append(line.rsplit("\r", 1)[-1])
        return [line for line in lines if line.strip()]

    @property
    def text(self) -> str:
        return "\n".join(self.screen_lines)


def annctl_command() -> list[str]:
    """The installed `annctl` script beside this Python (what a user types), else `python -m annctl`."""
    script = Path(sys.executable).with_name("annctl")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "annctl"]


def run_on_terminal(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 180,
    interrupt_when: str | None = None,
    interrupt_signal: int = signal.SIGINT,
    columns: int = 100,
) -> TerminalRun:
    """Run ``annctl ARGS`` with stdin, stdout and stderr on a pseudo-terminal; return its exit code and output.

    ``interrupt_when``: send ``interrupt_signal`` to the process group (as the terminal does for Ctrl-C) the
    first time this text appears in the output.
    """
    primary, secondary = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    full_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), **(env or {})}
    full_env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [*annctl_command(), *args],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=full_env,
        cwd=cwd,
        start_new_session=True,
        close_fds=True,
    )
    os.close(secondary)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    interrupted = interrupt_when is None
    try:
        while True:
            if time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                raise TimeoutError(
                    f"annctl {' '.join(args)} did not finish in {timeout} s: {b''.join(chunks)[-2000:]!r}"
                )
            ready, _, _ = select.select([primary], [], [], 0.1)
            if ready:
                try:
                    data = os.read(primary, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    data = b""
                if not data:
                    break
                chunks.append(data)
                if not interrupted and interrupt_when.encode() in b"".join(chunks):
                    os.killpg(process.pid, interrupt_signal)
                    interrupted = True
            elif process.poll() is not None and not ready:
                # drain what is left, then stop
                continue
    finally:
        os.close(primary)
    returncode = process.wait(timeout=30)
    return TerminalRun(returncode, b"".join(chunks).decode("utf-8", errors="replace"))
