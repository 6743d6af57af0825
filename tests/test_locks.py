"""Issue 29, item 19: the lock of a run or tune directory is held while a process works in it, and no lock
file is left once it has finished; removing it never lets two processes hold the lock at once."""

from __future__ import annotations

import fcntl
import os

import pytest

from annctl.errors import UsageError
from annctl.fileio import exclusive_lock


def test_the_lock_file_is_there_while_held_and_gone_after(tmp_path):
    path = tmp_path / ".lock"
    with exclusive_lock(path, "run x"):
        assert path.read_text() == f"annctl pid {os.getpid()} on {os.uname().nodename}"
        with pytest.raises(UsageError, match=f"run x is in use by annctl pid {os.getpid()}"):
            with exclusive_lock(path, "run x"):
                pass
        assert path.exists()
    assert not path.exists()
    with pytest.raises(RuntimeError):  # an error in the block removes it too
        with exclusive_lock(path, "run x"):
            raise RuntimeError
    assert not path.exists()


def test_a_process_that_opened_the_removed_file_does_not_share_the_lock(tmp_path, monkeypatch):
    """B opens the lock file while A holds it, A finishes (removing it), then B locks what it opened: B must
    notice that the file is gone and lock a new one, else a third process C would lock that new one too."""
    path = tmp_path / ".lock"
    opened = []
    real_open = open

    def open_then_let_the_holder_finish(file, *args, **kwargs):
        handle = real_open(file, *args, **kwargs)
        if not opened:  # B's first open, then A (who held it all along) finishes and removes the file
            opened.append(handle)
            a_handle = real_open(path, "a+")
            os.unlink(path)
            a_handle.close()
        return handle

    monkeypatch.setattr("builtins.open", open_then_let_the_holder_finish)
    with exclusive_lock(path, "run x"):
        monkeypatch.setattr("builtins.open", real_open)
        with real_open(path) as c_handle:  # C: the file at the path is the one B locked
            with pytest.raises(BlockingIOError):
                fcntl.flock(c_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_holder_whose_file_was_replaced_leaves_the_new_holders_lock(tmp_path):
    """Someone removes a held lock file and a second process locks a new one: when the first finishes it must
    not remove the second's file, else a third process could lock beside the second."""
    path = tmp_path / ".lock"
    with exclusive_lock(path, "run x"):
        os.unlink(path)
        with open(path, "a+") as second:  # the second process's lock, on the new file
            fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
            second.write("annctl pid 1 on elsewhere")
            second.flush()
    assert path.read_text() == "annctl pid 1 on elsewhere"
