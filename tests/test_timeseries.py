"""The `timeseries` dataset on tiny generated series: windows, chronological splits without leakage, scaling
from the training part, missing values, time order, horizon > 1, classification, the naive forecast, and
`predict`/`evaluate` on recent rows, edge cases included."""

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import spec_from_text
from annctl.datasets.timeseries import TimeSeries, WindowSplit
from annctl.errors import DataError
from annctl.training import train

runner = CliRunner()


def write_series(path: Path, rows: int = 40, *, values=None, start=date(2024, 1, 1), step=1, text=True) -> Path:
    """day, value (= the row index unless given), other (= 100 + row), label (a text cycle of three)."""
    values = list(range(rows)) if values is None else values
    lines = ["day,value,other" + (",label" if text else "")]
    for i, value in enumerate(values):
        day = (start + timedelta(days=i * step)).isoformat()
        lines.append(f"{day},{value},{100 + i}" + (f",{['a', 'b', 'c'][i % 3]}" if text else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def series_spec(path: Path, **fields) -> TimeSeries:
    settings = {"name": "timeseries", "path": str(path), "time": "day", "target": "value", "window": 4, **fields}
    return TimeSeries.model_validate(settings)


def window_rows(split: WindowSplit) -> np.ndarray:
    """Each window's input rows, read from a feature whose value is its row index."""
    (batch,) = list(split.x_batches(split.size))
    return np.asarray(batch)[:, :, 0]


def test_windows_follow_the_rows_and_the_parts_are_chronological(tmp_path):
    data = series_spec(write_series(tmp_path / "s.csv", 40, text=False), features=["value"], horizon=2).load(0)
    assert data.description.details["rows"] == {"train": 28, "validation": 6, "test": 6}
    # the training part is rows 0..27: window i is rows i..i+3, its targets rows i+4, i+5
    rows = window_rows(data.train)
    assert (
        rows.shape == (28 - 4 - 2 + 1, 4) and rows[0].tolist() == [0, 1, 2, 3] and rows[-1].tolist() == [22, 23, 24, 25]
    )
    assert data.train.labels()[0].tolist() == [4, 5] and data.train.labels()[-1].tolist() == [26, 27]
    assert window_rows(data.validation)[0].tolist() == [28, 29, 30, 31]
    assert data.test.labels()[-1].tolist() == [38, 39]


def test_no_test_or_validation_window_sees_a_training_target(tmp_path):
    """Leakage: every row a validation or test window reads as input comes after every training target."""
    data = series_spec(write_series(tmp_path / "s.csv", 60, text=False), features=["value"], horizon=3).load(0)
    train_targets = set(np.ravel(data.train.labels()).astype(int))
    for part in (data.validation, data.test):
        inputs = set(np.ravel(window_rows(part)).astype(int))
        assert not inputs & train_targets
        assert min(inputs) > max(train_targets)
    assert not set(np.ravel(window_rows(data.test))) & set(np.ravel(data.validation.labels()))


def test_scaling_statistics_come_from_the_training_part_only(tmp_path):
    data = series_spec(write_series(tmp_path / "s.csv", 40), features=["value", "other", "label"]).load(0)
    value, other, label = data.description.features
    assert value.mean == pytest.approx(np.mean(range(28))) and value.variance == pytest.approx(np.var(range(28)))
    assert other.mean == pytest.approx(100 + np.mean(range(28)))
    assert label.type == "text" and label.vocabulary == ["a", "b", "c"]
    scale = data.description.details["target_scale"]
    assert scale == {"mean": pytest.approx(13.5), "std": pytest.approx(np.std(range(28)))}


def test_outputs_are_in_the_targets_units(tmp_path):
    """The output layer adds the training part's target mean back: zero weights predict exactly that mean."""
    from annctl.training.assemble import build_model

    spec = spec_from_text(
        f"name: u\ndataset: {{name: timeseries, path: {write_series(tmp_path / 's.csv', 40)}, time: day, "
        "target: value, window: 4}\nmodel: {architecture: rnn, cell: gru, units: [3]}\n",
        "<u>",
    )
    data = spec.dataset.load(0)
    model = build_model(spec, data.description)
    output = model.get_layer("output")
    output.set_weights([np.zeros_like(w) for w in output.get_weights()])
    (batch,) = list(data.test.x_batches(data.test.size))
    np.testing.assert_allclose(model.predict(batch, verbose=0)[:, 0], 13.5, rtol=1e-6)
    output.set_weights([np.zeros_like(output.get_weights()[0]), np.ones(1)])  # one standard deviation up
    np.testing.assert_allclose(model.predict(batch, verbose=0)[:, 0], 13.5 + np.std(range(28)), rtol=1e-6)


def test_memory_does_not_grow_with_the_window(tmp_path):
    path = write_series(tmp_path / "s.csv", 600, text=False)
    small, large = (series_spec(path, features=["value", "other"], window=w).load(0).train for w in (2, 50))
    assert small.numbers.nbytes == large.numbers.nbytes == 420 * 2 * 4  # the training rows, once
    assert large.size == 420 - 50


def test_missing_value_policies(tmp_path):
    values = [0, 1, "", 3, 4, "NA", "", 7] + list(range(8, 40))
    path = write_series(tmp_path / "s.csv", 40, values=values, text=False)
    with pytest.raises(DataError, match=r"missing values in value \(3\) \(first on line 4\).*drop, interpolate"):
        series_spec(path, features=["value"]).load(0)
    dropped = series_spec(path, features=["value"], missing="drop").load(0)
    assert sum(dropped.description.details["rows"].values()) == 37
    assert dropped.description.details["time"]["regular"] is False  # the dropped days are gaps
    interpolated = series_spec(path, features=["value"], missing="interpolate").load(0)
    assert window_rows(interpolated.train)[0].tolist() == [0, 1, 2, 3]
    assert window_rows(interpolated.train)[3].tolist() == [3, 4, 5, 6]  # a straight line over the gap
    assert interpolated.description.details["filled"] == {"value": 3}
    filled = series_spec(path, features=["value"], missing="ffill").load(0)
    assert window_rows(filled.train)[3].tolist() == [3, 4, 4, 4]
    leading = write_series(tmp_path / "l.csv", 40, values=["", ""] + list(range(2, 40)), text=False)
    assert window_rows(series_spec(leading, features=["value"], missing="ffill").load(0).train)[0].tolist() == [
        2,
        2,
        2,
        3,
    ]


def test_time_is_sorted_duplicates_refused_gaps_reported(tmp_path, capsys):
    path = write_series(tmp_path / "s.csv", 40, text=False)
    lines = path.read_text().splitlines()
    (tmp_path / "shuffled.csv").write_text("\n".join([lines[0], *lines[1:][::-1]]) + "\n")
    data = series_spec(tmp_path / "shuffled.csv", features=["value"]).load(0)
    assert window_rows(data.train)[0].tolist() == [0, 1, 2, 3]
    assert "not in time order" in capsys.readouterr().err
    (tmp_path / "dup.csv").write_text("\n".join([*lines[:5], lines[4], *lines[5:]]) + "\n")
    with pytest.raises(DataError, match=r"dup.csv:6: column 'day': duplicate time 2024-01-04 \(lines 5 and 6\)"):
        series_spec(tmp_path / "dup.csv", features=["value"]).load(0)
    (tmp_path / "gap.csv").write_text("\n".join([*lines[:10], *lines[13:]]) + "\n")
    gaps = series_spec(tmp_path / "gap.csv", features=["value"]).load(0).description.details["time"]
    assert gaps["regular"] is False and gaps["irregular_steps"] == 1 and gaps["largest_step"] == 4 * 86400
    assert "1 step(s) differ from the usual 1 day(s) (largest: 4 day(s))" in capsys.readouterr().err


def test_classification_target_predicts_the_next_rows_class(tmp_path):
    data = series_spec(write_series(tmp_path / "s.csv", 40), target="label", window=3).load(0)
    assert data.task == "classification" and data.class_names == ["a", "b", "c"]
    assert data.description.features[0].name == "label" and data.description.dtype == "mixed"
    assert data.train.labels()[:4].tolist() == [0, 1, 2, 0]  # rows 3, 4, 5, 6: a, b, c, a
    with pytest.raises(ValueError, match="horizon: a classification predicts the next row's class"):
        series_spec(tmp_path / "s.csv", target="label", task="classification", horizon=2)
    with pytest.raises(DataError, match="set dataset.horizon to 1"):
        series_spec(tmp_path / "s.csv", target="label", horizon=2).load(0)


def test_parts_too_short_for_a_window_say_what_to_change(tmp_path):
    with pytest.raises(DataError, match=r"the validation part has 6 of the 40 rows, fewer than window \+ horizon = 11"):
        series_spec(write_series(tmp_path / "s.csv", 40), window=10).load(0)


def test_naive_forecast_repeats_the_last_value(tmp_path):
    values = [float(v * v) for v in range(40)]
    data = series_spec(write_series(tmp_path / "s.csv", 40, values=values), horizon=2).load(0)
    naive = data.test.naive_forecast()
    assert naive[0].tolist() == [values[34 + 3]] * 2  # the test part starts at row 34; window 0 ends at row 37


def test_validate_checks_the_header(tmp_path):
    path = write_series(tmp_path / "s.csv", 40)
    experiment = tmp_path / "e.yaml"
    experiment.write_text(
        f"name: e\ndataset: {{name: timeseries, path: {path.name}, time: dat, target: valeu}}\n"
        "model: {architecture: rnn}\n"
    )
    result = runner.invoke(app, ["validate", str(experiment)])
    assert result.exit_code == 2
    assert "dataset.target: no column 'valeu' (did you mean `value`?)" in result.stderr
    assert "dataset.time: no column 'dat' (did you mean `day`?)" in result.stderr


@pytest.fixture(scope="module")
def forecast_run(tmp_path_factory):
    """A tiny trained forecast of a random walk (horizon 2, a text feature) and its data folder."""
    base = tmp_path_factory.mktemp("forecast")
    rng = np.random.default_rng(0)
    walk = 10 + np.cumsum(rng.normal(0, 0.5, 60))  # a random walk: the naive forecast is hard to beat
    path = write_series(base / "s.csv", 60, values=walk.round(3))
    text = (
        f"name: forecast\ndataset: {{name: timeseries, path: {path}, time: day, target: value, "
        "features: [value, label], window: 5, horizon: 2}\n"
        "model: {architecture: rnn, cell: lstm, units: [4]}\ntraining: {epochs: 2, batch_size: 8}\n"
    )
    summary = train(spec_from_text(text, "<forecast>"), base / "runs")
    return Path(summary.run_dir), base, summary


def test_summary_has_the_naive_forecast_and_the_skill(forecast_run):
    run_dir, base, summary = forecast_run
    metrics = summary.test_metrics
    assert {"mse", "naive_mse", "naive_rmse", "naive_mae", "skill"} <= set(metrics)
    values = np.loadtxt(base / "s.csv", delimiter=",", skiprows=1, usecols=1)
    test = values[60 - 9 :]  # the last 9 rows: windows end at rows 4, 5, 6 of the part, targets after them
    naive = [(test[end + 1 : end + 3] - test[end]) ** 2 for end in range(4, 7)]
    assert metrics["naive_mse"] == pytest.approx(float(np.mean(naive)), rel=1e-5)
    assert metrics["skill"] == pytest.approx(1 - metrics["mse"] / metrics["naive_mse"])
    assert summary.beats_naive is (metrics["mse"] < metrics["naive_mse"])


def test_a_model_worse_than_the_naive_forecast_is_flagged(forecast_run):
    run_dir, base, summary = forecast_run
    assert summary.beats_naive is False  # two epochs on 60 rows: far from the naive forecast
    result = runner.invoke(app, ["evaluate", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "NOT beaten" in result.stdout and "naive_mse" in result.stdout
    result = runner.invoke(app, ["evaluate", str(run_dir), "--data", str(base / "s.csv"), "--json"])
    metrics = json.loads(result.stdout)["metrics"]
    assert metrics["samples"] == 60 - 5 - 2 + 1 and metrics["beats_naive"] is False and "skill" in metrics


def test_the_report_says_when_the_naive_forecast_is_not_beaten(forecast_run, tmp_path):
    run_dir, _, _ = forecast_run
    result = runner.invoke(app, ["report", str(run_dir), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert "does <strong>not</strong> beat the naive forecast" in page and "naive_mse" in page


def test_predict_gives_one_row_per_step_ahead_with_its_time(forecast_run, tmp_path):
    run_dir, base, _ = forecast_run
    recent = tmp_path / "recent.csv"
    recent.write_text("\n".join((base / "s.csv").read_text().splitlines()[:11]) + "\n")  # 2024-01-01 … 01-10
    result = runner.invoke(app, ["predict", str(run_dir), "--input", str(recent)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["step"], r["time"]) for r in rows] == [("1", "2024-01-11"), ("2", "2024-01-12")]
    import keras

    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    lines = [line.split(",") for line in recent.read_text().splitlines()[1:]][-5:]
    import tensorflow as tf

    x = {
        "series": np.array([[[float(r[1])] for r in lines]], "float32"),
        "label": tf.constant([[[r[3]] for r in lines]]),
    }
    expected = np.asarray(model.predict_on_batch(x))[0]
    assert [float(r["prediction"]) for r in rows] == pytest.approx(expected.tolist(), abs=1e-5)


def test_rolling_forecasts_every_complete_window(forecast_run, tmp_path):
    run_dir, base, _ = forecast_run
    result = runner.invoke(
        app, ["predict", str(run_dir), "--input", str(base / "s.csv"), "--rolling", "--format", "jsonl"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == (60 - 5 + 1) * 2
    first, last = rows[0], rows[-1]
    assert first == {**first, "row": 6, "step": 1, "time": "2024-01-06"}
    assert first["actual"] == pytest.approx(float((base / "s.csv").read_text().splitlines()[6].split(",")[1]))
    assert last["row"] == 62 and last["time"] == "2024-03-02" and last["actual"] is None


def test_predict_edge_cases_exit_2_naming_the_problem(forecast_run, tmp_path):
    run_dir, base, _ = forecast_run
    lines = (base / "s.csv").read_text().splitlines()
    cases = {
        "short.csv": (lines[:5], "4 row(s); this model needs at least 5 (dataset.window)"),
        "nolabel.csv": ([",".join(line.split(",")[:3]) for line in lines[:10]], "no column 'label'"),
        "unsorted.csv": ([lines[0], *lines[1:4], lines[5], lines[4], *lines[6:10]], "unsorted.csv:6: column 'day'"),
        "notime.csv": ([",".join(line.split(",")[1:]) for line in lines[:10]], "no column 'day'"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_text("\n".join(content) + "\n")
        result = runner.invoke(app, ["predict", str(run_dir), "--input", str(tmp_path / name)])
        assert result.exit_code == 2, (name, result.output)
        assert message in result.stderr and "Traceback" not in result.output, (name, result.stderr)
    assert (
        "the rows must be in time order"
        in runner.invoke(app, ["predict", str(run_dir), "--input", str(tmp_path / "unsorted.csv")]).stderr
    )


def test_rolling_is_for_forecasts_only(tmp_path):
    from annctl.config import load_spec

    from .conftest import write_experiment

    run_dir = train(load_spec(write_experiment(tmp_path, "regression", epochs=1)), tmp_path / "runs").run_dir
    result = runner.invoke(app, ["predict", run_dir, "--input", str(tmp_path / "regression.csv"), "--rolling"])
    assert result.exit_code == 2 and "--rolling applies to forecasts (a timeseries run)" in result.stderr


@pytest.mark.slow
def test_gym_example_learns_the_schedule_past_a_missed_day(tmp_path):
    """The course's gym schedule (a short version of experiments/data/gym.csv's rule): after a missed day
    the exercise that was due comes next, which only a window longer than one day can know."""
    import random

    rng, due, lines = random.Random(3), 0, ["day,exercise"]
    for day in range(240):
        stamp = (date(2024, 1, 1) + timedelta(days=day)).isoformat()
        if rng.random() < 1 / 6:
            lines.append(f"{stamp},missed")
            continue
        lines.append(f"{stamp},{['shoulders', 'biceps', 'cardio'][due]}")
        due = (due + 1) % 3
    (tmp_path / "gym.csv").write_text("\n".join(lines) + "\n")
    text = (
        f"name: gym\ndataset: {{name: timeseries, path: {tmp_path / 'gym.csv'}, time: day, target: exercise, "
        "window: 4}\nmodel: {architecture: rnn, cell: simple_rnn, units: [8]}\n"
        "training: {epochs: 40, learning_rate: 0.02, batch_size: 16}\n"
    )
    summary = train(spec_from_text(text, "<gym>"), tmp_path / "runs")
    per_class = json.loads(runner.invoke(app, ["evaluate", summary.run_dir, "--json", "--split", "train"]).stdout)[
        "metrics"
    ]["per_class"]
    for exercise in ("shoulders", "biceps", "cardio"):  # attended days are predictable, missed ones are not
        assert per_class[exercise]["recall"] > 0.9, per_class


# --- recent rows as other programs write them (issue 29) ------------------------------------------------------


def test_recent_rows_with_a_byte_order_mark_crlf_and_an_extra_column_forecast_the_same(forecast_run, tmp_path):
    """Notepad, PowerShell and Excel's "CSV UTF-8" begin the file with a byte-order mark: the header's first
    name is still `day`. A column the model does not use is named on stderr, as CSV predict does."""
    run_dir, base, _ = forecast_run
    lines = (base / "s.csv").read_text().splitlines()[:11]
    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join(lines) + "\n")
    expected = runner.invoke(app, ["predict", str(run_dir), "--input", str(plain)])
    assert expected.exit_code == 0, expected.output
    assert expected.stderr == f"warning: {plain}: ignoring column(s) the model does not use: 'other'\n"
    excel = tmp_path / "excel.csv"
    excel.write_bytes(
        b"\xef\xbb\xbf" + "\r\n".join(f"{line},x" if i else f"{line},notes" for i, line in enumerate(lines)).encode()
    )
    result = runner.invoke(app, ["predict", str(run_dir), "--input", str(excel)])
    assert result.exit_code == 0, result.output
    assert result.stdout == expected.stdout
    assert result.stderr.strip().splitlines() == [
        f"warning: {excel}: ignoring column(s) the model does not use: 'other', 'notes'"
    ]
    evaluated = runner.invoke(app, ["evaluate", str(run_dir), "--data", str(excel), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "ignoring column(s) the model does not use: 'other', 'notes'" in evaluated.stderr


@pytest.mark.slow
def test_a_forecast_of_times_with_offsets_keeps_the_inputs_offset(tmp_path):
    """Hourly rows across the spring change to summer time (+01:00 → +02:00) train, and predict says the next
    hours in the last row's offset, written as the input writes it."""
    start = datetime(2024, 3, 30, 12, tzinfo=timezone.utc)
    stamps = [start + timedelta(hours=i) for i in range(48)]
    local = [
        t.astimezone(timezone(timedelta(hours=2 if t >= datetime(2024, 3, 31, 1, tzinfo=timezone.utc) else 1)))
        for t in stamps
    ]
    path = tmp_path / "hours.csv"
    path.write_text("time,value\n" + "".join(f"{t.isoformat()},{i % 5}\n" for i, t in enumerate(local)))
    text = (
        f"name: hours\ndataset: {{name: timeseries, path: {path}, time: time, target: value, window: 4}}\n"
        "model: {architecture: rnn, units: [4]}\ntraining: {epochs: 1, batch_size: 8}\n"
    )
    summary = train(spec_from_text(text, "<hours>"), tmp_path / "runs")
    recent = tmp_path / "recent.csv"
    recent.write_text("\n".join(["time,value", *path.read_text().splitlines()[-6:]]) + "\n")
    result = runner.invoke(app, ["predict", summary.run_dir, "--input", str(recent)])
    assert result.exit_code == 0, result.output
    (row,) = list(csv.DictReader(io.StringIO(result.stdout)))
    assert row["time"] == "2024-04-01T14:00:00+02:00"


def test_interpolation_draws_the_line_over_time_not_over_rows(tmp_path):
    """A gap between days 1 and 10 (rows 1 and 3) is filled on the line through those days: day 2 gets 2, not
    the rows' midpoint 5.5."""
    days = [0, 1, 2] + list(range(10, 50))
    lines = ["day,value"] + [
        f"{(date(2024, 1, 1) + timedelta(days=d)).isoformat()},{'' if d == 2 else d}" for d in days
    ]
    path = tmp_path / "irregular.csv"
    path.write_text("\n".join(lines) + "\n")
    data = series_spec(path, features=["value"], missing="interpolate").load(0)
    assert window_rows(data.train)[0].tolist() == [0, 1, 2, 10]
