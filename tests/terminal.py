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
_TOKENS = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07]*\x07|\r\n|\r|\n|[^\x1b\r\n]+")


@dataclass
class TerminalRun:
    returncode: int
    raw: str  # everything the terminal received, escape sequences included

    @property
    def screen_lines(self) -> list[str]:
        """The text left on the screen at the end: a carriage return goes back to the line's start, cursor-up
        and erase-line sequences (how rich removes a finished bar or spinner) are applied, other escape
        sequences (colours, cursor visibility) dropped; blank lines left out. Lines wider than the terminal
        stay one line."""
        lines, row, column = [""], 0, 0
        for match in _TOKENS.finditer(self.raw):
            token, (parameter, command) = match.group(0), match.groups()
            if token in ("\r\n", "\n"):
                row, column = row + 1, 0
                if row == len(lines):
                    lines.append("")
            elif token == "\r":
                column = 0
            elif command == "A":  # cursor up
                row = max(0, row - int(parameter or 1))
            elif command == "K":  # erase in line: 2 = all of it, else from the cursor on
                lines[row] = "" if parameter == "2" else lines[row][:column]
            elif not token.startswith("\x1b"):
                line = lines[row].ljust(column)
                lines[row] = line[:column] + token + line[column + len(token) :]
                column += len(token)
        return [line.rstrip() for line in lines if line.strip()]

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
