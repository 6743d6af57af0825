"""Paths of the files annctl reads, checked the same way everywhere: a symbolic-link loop (`ln -s b.jpg a.jpg;
ln -s a.jpg b.jpg`) is a file that cannot be read, named in one line, never a traceback.

Python 3.11's ``Path.resolve`` raises RuntimeError on a loop (3.13 an OSError), ``Path.exists`` says False as
for a missing file, and ``os.DirEntry.is_dir`` raises OSError(ELOOP): each caller would otherwise meet a
different one.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from annctl.errors import DataError

LOOP = "a symbolic link loop"


def resolved(path: Path) -> Path:
    """``path`` made absolute with its symbolic links followed; a loop is a DataError (exit 2) naming it."""
    try:
        return path.resolve()
    except RuntimeError:  # Python 3.11: "Symlink loop from ..."
        raise DataError(f"{path}: {LOOP}; remove or fix the link") from None
    except OSError as error:  # Python 3.13
        if error.errno == errno.ELOOP:
            raise DataError(f"{path}: {LOOP}; remove or fix the link") from None
        raise


def why_unreadable(path: Path) -> str | None:
    """Why ``path`` cannot be opened as a file or folder (`no such file or folder`, a link loop, a link to
    nothing), or None when it exists."""
    try:
        os.stat(path)
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            return LOOP
        if os.path.islink(path):
            return f"a symbolic link to nothing ({os.readlink(path)})"
        return "no such file or folder"
