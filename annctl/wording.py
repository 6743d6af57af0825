"""How messages write counts and file names: one helper each, so every message says `1 epoch` and `2 epochs`,
and a file name with a newline or another control character in it cannot split a one-line message."""

from __future__ import annotations

import os
from pathlib import PurePath


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 epoch`, `30 epochs` (``nouns``: an irregular plural)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def shown_path(path: str | os.PathLike | None) -> str:
    """A file name as messages print it: as it is, unless it holds a character that is not printable (a newline,
    a tab, an escape sequence), then quoted with that character escaped (`'a\\nb.jpg'`), as `ls` does."""
    text = str(path) if not isinstance(path, PurePath) else os.fspath(path)
    if text.isprintable():
        return text
    return repr(text)
