"""The Optuna side of `annctl tune`: storage, sampler, pruner, asking for trials and telling their results.

Storage is Optuna's RDBStorage with heartbeats: SQLite inside the tune directory by default, or any database
URL (PostgreSQL for workers on several machines). A worker records a heartbeat for its running trial; a trial
whose worker stopped beating (killed, machine lost) is marked failed by the next worker or resume, and retried
once with the same parameters.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
from typing import Any

from annctl import compat
from annctl.errors import UsageError
from annctl.tuning.space import ChoiceParam, FloatParam, IntParam

SAMPLERS = ("random", "tpe")
PRUNERS = ("none", "median", "hyperband")
RETRY_ATTR = "retry_of"
REASON_ATTR = "fail_reason"
# Reasons that say nothing about the parameters: such a trial is retried once with the same parameters.
RETRIABLE = ("interrupted", "worker lost")


def heartbeat_seconds() -> int:
    """Seconds between heartbeats ($ANNCTL_TUNE_HEARTBEAT, default 10); a trial is stale after 3 missed."""
    value = os.environ.get("ANNCTL_TUNE_HEARTBEAT", "10")
    return int(value) if value.isdigit() and int(value) > 0 else 10


def redact(url: str) -> str:
    """A storage URL without its password, for files and messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


# SQLAlchemy's PostgreSQL drivers (the `+driver` of a URL) and the module each imports.
POSTGRES_DRIVERS = {"psycopg": "psycopg", "psycopg2": "psycopg2"}


def database_url(url: str) -> str:
    """``url`` with a PostgreSQL driver that is installed. A bare ``postgresql://`` URL means SQLAlchemy's
    default driver: psycopg (3) from SQLAlchemy 2.1, psycopg2 before. When that one is missing and the other is
    installed, the URL names the other (``postgresql+psycopg2://``), so the README's URL works with either
    driver and any SQLAlchemy; a URL that names its driver is left alone."""
    import importlib

    scheme, _, rest = url.partition("://")
    if scheme != "postgresql":
        return url
    try:
        from sqlalchemy.engine import make_url

        default = make_url(url).get_dialect().driver
    except Exception:  # noqa: BLE001 - a malformed URL: opening it says what is wrong
        return url

    def installed(driver: str) -> bool:
        try:
            importlib.import_module(POSTGRES_DRIVERS[driver])
        except ImportError:
            return False
        return True

    if default not in POSTGRES_DRIVERS or installed(default):
        return url
    for driver in POSTGRES_DRIVERS:
        if driver != default and installed(driver):
            return f"postgresql+{driver}://{rest}"
    raise UsageError(
        f"storage {redact(url)}: no PostgreSQL driver is installed; install one with: pip install 'annctl[postgres]'"
    )


def quiet_optuna():
    """Import Optuna with its log lines and experimental-feature warnings off (annctl prints its own)."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # ask/tell with heartbeats is what annctl does on purpose: each trial runs in a child process
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    return optuna


def open_storage(url: str, heartbeat: bool = True):
    quiet_optuna()
    from optuna.storages import RDBStorage

    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": 60}  # workers and trials share one file: wait, do not fail
    else:
        engine_kwargs["pool_pre_ping"] = True
    interval = heartbeat_seconds()
    for attempt in range(5):
        try:
            return RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=interval if heartbeat else None,
                grace_period=3 * interval if heartbeat else None,
                heartbeat_stale_trial_callback=enqueue_retry if heartbeat else None,
            )
        except Exception as error:  # noqa: BLE001 - SQLAlchemy/driver errors: one clear line, not a traceback
            # Workers starting together on an empty database race to create Optuna's tables and types; the
            # loser's transaction fails (unique violation, "type ... already exists") and rolls back, and the
            # next try finds the schema there.
            if type(error).__name__ in ("IntegrityError", "ProgrammingError") and attempt < 4:
                time.sleep(0.5 + attempt)
                continue
            raise UsageError(
                f"storage {redact(url)}: cannot open: {type(error).__name__}: {first_line(error)}"
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def derive_seed(*parts: Any) -> int:
    """A 32-bit seed from the experiment seed and e.g. a trial number: stable across processes and machines."""
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:4], "big")


def make_sampler(kind: str, seed: int, trials_so_far: int):
    optuna = quiet_optuna()

    if kind == "tpe":
        # seeded by how far the study has got, so a resumed or extended study does not replay its start
        return optuna.samplers.TPESampler(seed=derive_seed(seed, "tpe", trials_so_far))
    return TrialSeededRandomSampler(seed)


def make_pruner(kind: str, epochs: int):
    optuna = quiet_optuna()

    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1), reduction_factor=3)
    return optuna.pruners.NopPruner()


def _random_sampler_class():
    import optuna

    class _Sampler(optuna.samplers.BaseSampler):
        """Random search where trial k's values depend only on (seed, k, parameter): reproducible, and a
        resumed or extended study continues the sequence instead of replaying it."""

        def __init__(self, seed: int):
            self.seed = seed

        def infer_relative_search_space(self, study, trial):
            return {}

        def sample_relative(self, study, trial, search_space):
            return {}

        def sample_independent(self, study, trial, param_name, param_distribution):
            rng_seed = derive_seed(self.seed, trial.number, param_name)
            sampler = optuna.samplers.RandomSampler(seed=rng_seed)
            return sampler.sample_independent(study, trial, param_name, param_distribution)

    return _Sampler


def TrialSeededRandomSampler(seed: int):  # noqa: N802 - a class made on demand, so Optuna loads lazily
    return _random_sampler_class()(seed)


def suggest(trial, space: dict) -> dict[str, Any]:
    """Sample (or, for an enqueued retry, repeat) every parameter; choices come back as their YAML values."""
    params: dict[str, Any] = {}
    for path, param in space.items():
        if isinstance(param, FloatParam):
            params[path] = trial.suggest_float(path, param.low, param.high, log=param.log, step=param.step)
        elif isinstance(param, IntParam):
            params[path] = trial.suggest_int(path, param.low, param.high, log=param.log, step=param.step)
        elif isinstance(param, ChoiceParam):
            # Optuna's choices must be scalars; lists such as [30, 30] travel as their JSON text
            keys = [json.dumps(value) for value in param.values]
            params[path] = json.loads(trial.suggest_categorical(path, keys))
    return params


def decode_params(space: dict, raw: dict[str, Any]) -> dict[str, Any]:
    """A frozen trial's params as YAML values (choices decoded from their JSON text)."""
    return {
        path: json.loads(raw[path])
        if isinstance(param, ChoiceParam) and isinstance(raw.get(path), str)
        else raw.get(path)
        for path, param in space.items()
    }


def enqueue_retry(study, trial) -> None:
    """Queue one more try with the same parameters for a trial that failed through no fault of its own."""
    if trial.user_attrs.get(RETRY_ATTR) is not None:
        return  # already a retry: at most one per original trial
    if any(other.user_attrs.get(RETRY_ATTR) == trial.number for other in study.get_trials(deepcopy=False)):
        return
    study.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: trial.number}, skip_if_exists=False)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def fail_lost_trials(study, this_host_only_dead: bool = True) -> list[int]:
    """Mark failed (reason "worker lost") the running trials whose worker process on this host is gone;
    return their numbers. Trials of other machines are left to the heartbeat check."""
    from optuna.trial import TrialState

    from annctl.runs import process_alive

    host = socket.gethostname()
    lost = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(trial.user_attrs.get("worker", ""))
        worker_host, _, pid = worker.rpartition(":")
        if worker_host == host and pid.isdigit() and not process_alive(int(pid)):
            storage = compat.study_storage(study)
            storage.set_trial_user_attr(compat.trial_id(trial), REASON_ATTR, "worker lost")
            if storage.set_trial_state_values(compat.trial_id(trial), TrialState.FAIL):
                lost.append(trial.number)
    return lost


def retry_failed(study) -> list[int]:
    """Enqueue a retry for each failed trial whose failure was not its parameters' fault; return their numbers."""
    from optuna.trial import TrialState

    queued = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        reason = str(trial.user_attrs.get(REASON_ATTR, "worker lost"))  # stale trials carry no reason
        if reason.startswith(RETRIABLE) and trial.user_attrs.get("discarded") is None:
            before = len(study.get_trials(deepcopy=False))
            enqueue_retry(study, trial)
            if len(study.get_trials(deepcopy=False)) > before:
                queued.append(trial.number)
    return queued


def counts(study) -> dict[str, int]:
    """Trials by state; `finished` = complete + pruned (what --trials counts)."""
    from optuna.trial import TrialState

    result = {"complete": 0, "pruned": 0, "failed": 0, "running": 0, "waiting": 0}
    names = {
        TrialState.COMPLETE: "complete",
        TrialState.PRUNED: "pruned",
        TrialState.FAIL: "failed",
        TrialState.RUNNING: "running",
        TrialState.WAITING: "waiting",
    }
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("discarded"):
            continue
        result[names[trial.state]] += 1
    result["finished"] = result["complete"] + result["pruned"]
    return result
