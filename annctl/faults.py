"""Deterministic fault injection for the reliability tests: ``ANNCTL_FAULT=POINT:N`` makes the process kill
itself with SIGKILL the N-th time it reaches POINT. Points: `epoch_end` (after every file of epoch N is
written) and `checkpoint_write` (during epoch N's checkpoint write, after the temp file is complete and
before it replaces `last.keras`), `mid_epoch` (at a batch end), `tune_trial_start` (a tune worker, as a
trial starts); `enospc:N` makes the N-th atomic file write fail with "No space left on device" instead.
Unset (always, outside tests) it costs one dictionary lookup."""

from __future__ import annotations

import errno
import os
import signal

_counts: dict[str, int] = {}


def fault_point(name: str) -> None:
    spec = os.environ.get("ANNCTL_FAULT")
    if not spec:
        return
    point, _, count = spec.partition(":")
    if point != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def write_fault(path) -> None:
    """`ANNCTL_FAULT=enospc:N`: the N-th atomic write raises ENOSPC, as on a full disk."""
    spec = os.environ.get("ANNCTL_FAULT")
    if not spec or not spec.startswith("enospc:"):
        return
    _counts["enospc"] = _counts.get("enospc", 0) + 1
    if _counts["enospc"] >= int(spec.partition(":")[2] or 1):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
