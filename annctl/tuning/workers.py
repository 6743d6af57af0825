"""The tune process's handle on a warm trial worker (worker.py): start it, hand it a trial, wait for the answer,
stop it, and say when it has served long enough.

A worker is replaced after a crash, a kill or a timeout (its trial fails), after a trial that left it unfit,
after $ANNCTL_TUNE_WORKER_TRIALS trials, or once its resident memory has grown by more than
$ANNCTL_TUNE_WORKER_RSS_MB since its first trial, so memory cannot creep up across a long search.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from typing import Any

from annctl.wording import plural

TRIALS_ENV, RSS_ENV = "ANNCTL_TUNE_WORKER_TRIALS", "ANNCTL_TUNE_WORKER_RSS_MB"
# Measured (benchmarks/tune_worker_memory.py, 2026-11-30, the iris search's MLPs, 5 epochs, 40 trials in one
# worker): RSS 796 MB after the first trial, 1,028 MB after the 40th, +5.7 MB per trial and not levelling off.
# A plain Keras loop (build, fit, clear_session(free_memory=True), gc) grows ~4 MB per model too, and
# malloc_trim does not return it: TensorFlow keeps per-model state that only a new process frees. After 50
# trials a worker has grown ~300 MB, and a new one costs one TensorFlow start-up (a few seconds: a few percent
# of 50 trials even at 1-2 s each). The memory bound, half a fresh worker's size, replaces a worker sooner when
# its trials leak faster (bigger graphs).
DEFAULT_TRIALS = 50
DEFAULT_RSS_GROWTH_MB = 400


def recycle_limits() -> tuple[int, int]:
    """(trials per worker, allowed RSS growth in MB) from the environment, else the defaults."""

    def positive(name: str, default: int) -> int:
        value = os.environ.get(name, "")
        return int(value) if value.isdigit() and int(value) > 0 else default

    return positive(TRIALS_ENV, DEFAULT_TRIALS), positive(RSS_ENV, DEFAULT_RSS_GROWTH_MB)


class WorkerGone(Exception):
    """The worker process ended without answering."""


class TrialWorker:
    """One warm worker process, started from the thread that will use it (Linux kills it when that thread's
    process dies: PR_SET_PDEATHSIG)."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "annctl.tuning.worker", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # each trial's output goes to its trial.log
            env=env,
            start_new_session=True,  # Ctrl-C reaches the tune process, which stops its trials in order
        )
        if self.process.stdin is None or self.process.stdout is None:  # pragma: no cover - PIPE gives both
            raise RuntimeError("the worker process has no pipes")
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self.trials = 0
        self.first_rss: int | None = None
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, payload: dict[str, Any]) -> None:
        """Hand over a trial; raises OSError (BrokenPipeError) if the process has already ended."""
        self.stdin.write(json.dumps(payload).encode() + b"\n")
        self.stdin.flush()

    def answer(self, timeout: float) -> dict[str, Any] | None:
        """The worker's answer to the current trial, or None if none came within ``timeout`` seconds.
        Raises WorkerGone if the process ended without one."""
        fd = self.stdout.fileno()
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise WorkerGone()
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        reply = json.loads(line)
        self.trials += 1
        if self.first_rss is None:
            self.first_rss = reply["rss_bytes"]
        return reply

    def worn_out(self, reply: dict[str, Any]) -> str | None:
        """Why this worker should be replaced after answering ``reply``, or None."""
        max_trials, max_growth_mb = recycle_limits()
        if not reply["fit"]:
            return "unfit"
        if self.trials >= max_trials:
            return plural(self.trials, "trial")
        growth = (reply["rss_bytes"] - (self.first_rss or reply["rss_bytes"])) / 2**20
        if growth > max_growth_mb:
            return f"memory grew {growth:.0f} MB"
        return None

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signum)

    def stop(self, grace: float = 30.0) -> int:
        """SIGTERM (the trial stops at a batch boundary and records itself), SIGKILL after ``grace`` seconds;
        return the exit status."""
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
        return self.close()

    def close(self, wait: float = 0.0) -> int:
        """End the worker (an idle one holds nothing worth a clean exit) and return its exit status; ``wait``:
        seconds to let a process that is already ending exit by itself (its status tells how it ended)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=wait)
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.stdin.close()
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        returncode = self.process.wait()
        for pipe in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        return returncode
