"""What a search leaves in its tune directory besides the trials: leaderboard.csv, best.yaml, summary.json.

All three are rewritten (atomically) after every trial, so a killed search still leaves an up-to-date record.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from annctl.fileio import atomic_write_json, atomic_write_text
from annctl.records import TuneConfig, TuneSummary
from annctl.rundir import TunePaths
from annctl.tuning.space import trial_data
from annctl.tuning.study import REASON_ATTR, RETRY_ATTR, counts, decode_params, redact

STATE_NAMES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}
STATE_ORDER = {"complete": 0, "pruned": 1, "running": 2, "waiting": 3, "failed": 4}


def leaderboard(study, space: dict, metric: str, direction: str) -> list[dict[str, Any]]:
    """One row per trial (discarded surplus trials left out), best first: complete by value, then pruned,
    running, failed."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("discarded"):
            continue
        state = STATE_NAMES.get(trial.state.name, trial.state.name.lower())
        value = trial.value if trial.state.name == "COMPLETE" else _last_intermediate(trial)
        row: dict[str, Any] = {"trial": trial.number, "state": state}
        row.update(decode_params(space, trial.params))
        row[metric] = value
        row["epochs"] = trial.user_attrs.get("epochs")
        row["seconds"] = trial.user_attrs.get("seconds")
        row["retry_of"] = trial.user_attrs.get(RETRY_ATTR)
        row["reason"] = trial.user_attrs.get(REASON_ATTR)
        rows.append(row)
    sign = 1 if direction == "minimize" else -1

    def key(row):
        value = row[metric]
        finite = isinstance(value, (int, float)) and math.isfinite(value)
        return (STATE_ORDER.get(row["state"], 9), sign * value if finite else math.inf, row["trial"])

    return sorted(rows, key=key)


def _last_intermediate(trial) -> float | None:
    values = trial.intermediate_values
    return values[max(values)] if values else None


def leaderboard_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: json.dumps(v) if isinstance(v, (list, dict)) else ("" if v is None else v) for k, v in row.items()}
        )
    return buffer.getvalue()


def read_leaderboard(tune_dir: Path) -> list[dict[str, str]]:
    try:
        with open(TunePaths(tune_dir).leaderboard, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except OSError:
        return []


def write_outputs(tune_dir: Path, study, config: TuneConfig, base: dict, space: dict, extra: dict) -> TuneSummary:
    """Rewrite leaderboard.csv, best.yaml and summary.json from the study; return the summary."""
    from annctl.rundir import spec_to_yaml
    from annctl.spec import ExperimentSpec

    paths = TunePaths(tune_dir)
    metric, direction = config.metric, config.direction
    rows = leaderboard(study, space, metric, direction)
    columns = ["trial", "state", *space, metric, "epochs", "seconds", "retry_of", "reason"]
    atomic_write_text(paths.leaderboard, leaderboard_csv(rows, columns))
    state = counts(study)
    best = next((row for row in rows if row["state"] == "complete"), None)
    pruned_saved = sum(
        max(0, config.epochs - (trial.user_attrs.get("epochs") or 0))
        for trial in study.get_trials(deepcopy=False)
        if trial.state.name == "PRUNED"
    )
    summary = TuneSummary(
        tune_dir=str(tune_dir),
        study=config.study,
        storage=redact(config.storage) if config.storage else None,  # the URL Optuna's tools open (no password)
        sampler=config.sampler,
        pruner=config.pruner,
        metric=metric,
        direction=direction,
        trials_requested=config.trials,
        trials_finished=state["finished"],
        trials_complete=state["complete"],
        trials_failed=state["failed"],
        trials_pruned=state["pruned"],
        trials_running=state["running"],
        epochs_saved_by_pruning=pruned_saved,
        best_trial=best["trial"] if best else None,
        best_value=best[metric] if best else None,
        best_params={path: best[path] for path in space} if best else None,
        best_run_dir=str(paths.trial(best["trial"])) if best else None,
        **extra,
    )
    if best:
        spec = ExperimentSpec.model_validate(trial_data(base, summary.best_params or {}))
        header = (
            f"# Best of {state['complete']} complete trial(s) of {tune_dir.name}: trial {best['trial']:03d}, "
            f"{metric} = {best[metric]:.6g}.\n# Train it with: annctl train {paths.best}\n"
        )
        atomic_write_text(paths.best, header + spec_to_yaml(spec))
    atomic_write_json(paths.summary, summary.model_dump(mode="json"))
    return summary
