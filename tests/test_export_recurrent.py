"""`annctl export --format tflite` of recurrent models (issue 29, item 5): SimpleRNN, LSTM and GRU (stacked,
bidirectional) become built-in TFLite operators by writing the window's loop out, and the file is verified
where annctl is not installed, as every export is; the light prediction engine uses the same conversion."""

import json

import pytest

from annctl.config import spec_from_text
from annctl.datasets.timeseries import TimeSeries
from annctl.export.exporter import export_run
from annctl.training import train

CELLS = {
    "simple_rnn": {"cell": "simple_rnn", "units": [4]},
    "lstm_stacked": {"cell": "lstm", "units": [4, 3]},
    "gru_bidirectional": {"cell": "gru", "units": [3], "bidirectional": True, "dense_units": [4]},
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CELLS))
def test_recurrent_model_exports_to_tflite_and_is_verified_without_annctl(case, tmp_path):
    example = TimeSeries.example(tmp_path)  # a window of 6 days, numbers and a text column, 2 days ahead
    document = {
        "name": case,
        "dataset": example.fields,
        "model": {"architecture": "rnn", **CELLS[case]},
        "training": {"epochs": 1, "batch_size": 8},
    }
    summary = train(spec_from_text(json.dumps(document), f"<{case}>"), tmp_path / "runs")
    assert summary.status == "completed", summary.error
    manifest = export_run(summary.run_dir, "tflite")
    check = manifest.verification
    assert check.passed and not check.annctl_importable and check.loader.endswith("Interpreter")
    assert check.max_abs_difference <= check.tolerance and check.rows > 0
    shapes = {item.name: item.shape for item in manifest.inputs}
    assert shapes == {"series": [None, 6, 2], "weekday": [None, 6, 1]}, shapes  # numbers, and words
