"""Deterministic fault injection for the reliability tests: ``ANNCTL_FAULT=POINT:N`` makes the process kill
itself with SIGKILL the N-th time it reaches POINT. Points: `epoch_end` (after every file of epoch N is
written) and `checkpoint_write` (during epoch N's checkpoint write, after the temp file is complete and
before it replaces `last.keras`). Unset (always, outside tests) it costs one dictionary lookup."""

from __future__ import annotations

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
