"""annctl.tuning.space: the search space's checks and how one trial's experiment is made (unit level, no TF)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from annctl.tuning.space import FloatParam, IntParam, set_path, trial_data


def test_a_range_of_one_value_is_allowed():
    # low == high pins a parameter while keeping it in the space (a user narrowing a search)
    assert FloatParam(low=0.5, high=0.5).extremes() == [0.5, 0.5]
    assert IntParam(low=3, high=3).extremes() == [3, 3]
    with pytest.raises(ValidationError, match=r"low \(4\) is greater than high \(3\)"):
        IntParam(low=4, high=3)


def test_a_step_on_a_log_scale_is_refused_naming_the_field():
    with pytest.raises(ValidationError, match=r"Value error, step: cannot be combined with log \["):
        FloatParam(low=0.001, high=0.1, log=True, step=0.01)
    with pytest.raises(ValidationError, match=r"Value error, step: cannot be combined with log \["):
        IntParam(low=1, high=64, log=True, step=2)
    assert IntParam(low=1, high=64, log=True, step=1).log  # step 1 is every integer: no grid to refuse


def test_set_path_reaches_any_depth_and_makes_missing_sections():
    data = {"model": {"cell": "lstm"}}
    set_path(data, "dataset.augmentation.zoom", 0.2)
    set_path(data, "model.cell", "gru")
    set_path(data, "seed", 3)
    assert data == {"model": {"cell": "gru"}, "dataset": {"augmentation": {"zoom": 0.2}}, "seed": 3}


def test_a_trials_experiment_has_the_params_and_no_search_and_leaves_the_base_alone():
    base = {"name": "x", "search": {"space": {}}, "training": {"epochs": 5, "learning_rate": 0.1}}
    data = trial_data(base, {"training.learning_rate": 0.01, "model.hidden_units": [8, 8]})
    assert data == {"name": "x", "training": {"epochs": 5, "learning_rate": 0.01}, "model": {"hidden_units": [8, 8]}}
    assert base["search"] == {"space": {}} and base["training"]["learning_rate"] == 0.1
