"""A warm trial worker: the long-lived process behind one `--workers` slot (``python -m annctl.tuning.worker``).

It imports TensorFlow once, then runs the trials its parent sends on stdin (one JSON line each), one after
another: each trial trains into its own run directory with its output in that directory's ``trial.log``,
leaves ``trial.json`` there, and is answered by one JSON line on stdout (the trial number, whether the worker
is still fit for another trial, and its resident memory). After answering, the worker drops the Keras session
(`train` seeds everything again for the next one), so a trial gets the same numbers as in a fresh process.
Loaded datasets are kept per (dataset spec, seed), read-only, so a search loads its data once per worker.

A trial that crashes the process, is killed or runs past its timeout costs that trial and this process; the
parent starts another (see workers.py).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from annctl.fileio import atomic_write_json
from annctl.records import TrialOutcome
from annctl.rundir import RunPaths
from annctl.tuning.trial import run


def main() -> None:
    _die_with_parent(int(sys.argv[1]))
    replies = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")  # the channel to the parent
    _redirect_output(os.devnull)  # stray output between trials goes nowhere; during a trial, to trial.log
    warm_up_error = _warm_up()
    # TensorFlow's and Keras' modules are a heap of millions of long-lived objects: moved out of the collector's
    # sight, the collection after each trial takes ~0.07 s instead of ~0.3 s (measured on the iris MLP)
    gc.collect()
    gc.freeze()
    cache = DataCache()
    trials = 0
    try:
        while line := sys.stdin.readline():  # EOF: the search is done with this worker
            payload = json.loads(line)
            trials += 1
            outcome = run_one(payload, cache, warm_up_error, trials)
            reply = {"number": payload["number"], "fit": outcome.pop("fit"), "rss_bytes": resident_bytes()}
            replies.write(json.dumps(reply) + "\n")
            if not reply["fit"]:
                break
            _forget_session()  # while the tune process records this trial and asks for the next
    except KeyboardInterrupt:  # SIGINT while waiting for a trial: the search is stopping
        os._exit(130)
    replies.close()
    os._exit(0)  # no interpreter teardown: TensorFlow's can take seconds and has nothing to save


def _die_with_parent(parent_pid: int) -> None:
    """Linux: be killed when the tune process dies (e.g. SIGKILL), instead of training on."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:  # pragma: no cover - no libc.so.6 (e.g. musl): the worker's heartbeat still goes stale
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _warm_up() -> str | None:
    """Import what every trial needs (TensorFlow without running an op: `train` still sizes its thread
    pools); return the traceback of a failure, which each trial then reports."""
    try:
        from annctl.training.tf_setup import import_tensorflow

        import_tensorflow()
        import keras  # noqa: F401

        # Every trial builds new tf.functions; TensorFlow counts them per process and would warn from the
        # second trial on that they "triggered tf.function retracing", which is expected here.
        logging.getLogger("tensorflow").addFilter(lambda record: "tf.function retracing" not in record.getMessage())

        import annctl.training.fit  # noqa: F401
        import annctl.training.lifecycle  # noqa: F401
        from annctl.plots import _pyplot
        from annctl.tuning.study import quiet_optuna

        quiet_optuna()
        _pyplot()
    except Exception:  # noqa: BLE001 - reported in the first trial's log, which fails with it
        return traceback.format_exc()
    return None


def run_one(payload: dict[str, Any], cache: DataCache, warm_up_error: str | None, nth: int = 1) -> dict[str, Any]:
    """Run one trial (this worker's ``nth``) with its output in its trial.log and leave its trial.json (with
    which worker ran it, and its resident memory then); return the outcome, with ``fit`` saying whether this
    process may run another trial."""
    run_dir = Path(payload["run_dir"])
    outcome: dict[str, Any]
    with _output_to(RunPaths(run_dir).trial_log):
        if warm_up_error:
            print(warm_up_error, file=sys.stderr)
            outcome = {"state": "fail", "reason": f"the trial worker could not start: {warm_up_error.splitlines()[-1]}"}
        else:
            try:
                outcome = run(payload, load_data=cache.load)
            except KeyboardInterrupt:  # a stop signal outside training's own handler
                outcome = {"state": "fail", "reason": "interrupted", "exit_code": 130}
            except Exception as error:  # noqa: BLE001 - a bug or a broken install: this trial fails, with its trace
                traceback.print_exc()
                outcome = {"state": "fail", "reason": f"{type(error).__name__}: {error}".splitlines()[0]}
    # Interrupted: the search is stopping (or the trial timed out); any other unexpected end may have left
    # TensorFlow in a state the next trial should not inherit.
    fit = outcome["state"] != "fail" or bool(outcome.pop("clean", False))
    outcome.pop("exit_code", None)
    outcome["worker"] = {"pid": os.getpid(), "trial": nth, "rss_bytes": resident_bytes()}
    atomic_write_json(RunPaths(run_dir).trial, TrialOutcome.model_validate(outcome).model_dump(mode="json"))
    return {**outcome, "fit": fit and outcome.get("reason") != "interrupted"}


def _forget_session() -> None:
    """Drop the finished trial's models, graphs and Keras' global state (and collect them: free_memory);
    `train` seeds the next trial."""
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
    if "keras" in sys.modules:
        import keras

        keras.backend.clear_session(free_memory=True)
    else:
        gc.collect()


class DataCache:
    """Datasets loaded in this worker, by (dataset spec, seed), the most recently used few (a search over
    dataset settings would otherwise keep every variant); their arrays are made read-only, so a trial that
    tried to change them in place would fail instead of changing the next trial's data."""

    KEEP = 4

    def __init__(self) -> None:
        self.loaded: dict[tuple[str, int], Any] = {}

    def load(self, spec) -> Any:
        key = (spec.dataset.model_dump_json(), spec.seed)
        data = self.loaded.pop(key, None)
        if data is None:
            data = spec.dataset.load(spec.seed)
            for split in (data.train, data.validation, data.test):
                for name in ("x", "y"):  # in-memory splits; a split read from files holds no arrays
                    _freeze(getattr(split, name, None))
        self.loaded[key] = data  # now the most recent
        while len(self.loaded) > self.KEEP:
            del self.loaded[next(iter(self.loaded))]
        return data


def _freeze(value: Any) -> None:
    if isinstance(value, dict):
        for column in value.values():
            _freeze(column)
    elif hasattr(value, "flags"):
        value.flags.writeable = False


def resident_bytes() -> int:
    """This process's resident set size now (Linux), else its peak."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _redirect_output(path: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """File descriptors 1 and 2 (Python's and TensorFlow's output) into ``path`` for one trial."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


if __name__ == "__main__":
    main()
