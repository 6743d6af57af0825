"""Crash-safe file writes: write a temp file in the same directory, flush, fsync, rename over the target.

A reader (or a process killed mid-write) sees either the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside ``target``; on success it is renamed onto ``target``, on error removed.

    An OSError names ``target`` (the path the user gave), never the hidden temp file.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(error.errno, f"cannot create its folder: {error.strerror}", str(target)) from None
    refuse_symlinks(target)
    from annctl.faults import write_fault

    write_fault(target)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    except OSError as error:
        raise OSError(error.errno, f"cannot write in {target.parent}: {error.strerror}", str(target)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a finished file gets the usual permissions
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename == str(tmp):
            error.filename, error.filename2 = str(target), None
        raise


def refuse_symlinks(target: Path) -> None:
    """A file annctl writes, and the folder it goes in, must not be symlinks: one planted in a run directory
    (e.g. `plots -> /etc`) would otherwise redirect the write outside the runs root."""
    for path in (target, target.parent):
        if path.is_symlink():
            raise OSError(errno.ELOOP, "refusing to write through a symbolic link", str(path))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(target: Path, data: Any) -> None:
    atomic_write_text(target, json_text(data) + "\n")


def json_text(data: Any) -> str:
    """Standard JSON that jq, pandas and browsers read: NaN and infinities (not JSON) become null."""
    return json.dumps(_finite(data), indent=2, sort_keys=False, default=_json_default, allow_nan=False)


def _finite(value: Any) -> Any:
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalars and arrays
        value = value.tolist()
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def atomic_save_npy(target: Path, array: Any) -> None:
    import numpy as np

    with atomic_path(target, suffix=".npy") as tmp:
        np.save(tmp, array)


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays reach the JSON writers from metrics; everything else is a bug
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def sha256_file(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an advisory lock on ``path`` (created if needed) for the block; a second holder gets a UsageError
    naming the process that has it. The lock goes with the process, however it ends (even SIGKILL).

    The file is removed as the block ends, while still locked, so a finished run or search keeps no lock file
    (one left behind names a process that was killed). A process that opened the file before it was removed
    and locks it afterwards holds a lock on a file that is gone: it sees that and takes the lock anew.
    """
    import fcntl
    import socket

    from annctl.errors import UsageError

    while True:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise UsageError(f"{what} is in use by {holder}; wait for it to finish or stop it") from None
        if _same_file(handle, path):
            break
        handle.close()  # the previous holder removed it as it finished: lock the one at ``path`` now
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"annctl pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        yield
    finally:
        if _same_file(handle, path):  # never another process's lock (someone removed ours and it made a new one)
            with contextlib.suppress(OSError):
                path.unlink()
        handle.close()


def _same_file(handle, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file's object, or {} when it is missing, unreadable, not JSON or not an object (readers of run and
    tune directories that another process may be writing or that a user may have edited)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """TensorFlow's and LiteRT's C++ logs kept off the terminal, as at import (annctl.training.tf_setup);
    ANNCTL_TF_LOGS=1 shows them."""
    import sys

    if os.environ.get("ANNCTL_TF_LOGS"):
        yield
        return
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
