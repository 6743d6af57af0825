"""Issue 29, item 20: a file name with a newline in it is quoted in messages (annctl.wording.shown_path), so a
one-line message stays one line: one `error:` line, never two."""

from __future__ import annotations

import subprocess
from pathlib import Path

from PIL import Image

from annctl.wording import shown_path
from tests.terminal import annctl_command


def annctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*annctl_command(), *args], capture_output=True, text=True, timeout=120)


def one_error_line(result: subprocess.CompletedProcess, quoted: str) -> None:
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert quoted in result.stderr, result.stderr


def test_shown_path():
    assert shown_path(Path("photos/cat 1.jpg")) == "photos/cat 1.jpg"  # printable: as it is
    assert shown_path("a\nb.jpg") == "'a\\nb.jpg'"
    assert shown_path("tab\there\x1b[31m") == "'tab\\there\\x1b[31m'"


def test_an_experiment_file_name_with_a_newline(tmp_path):
    one_error_line(annctl("validate", str(tmp_path / "my\nexperiment.yaml")), "experiment.yaml': no such file")


def test_a_class_folder_name_with_a_newline(tmp_path):
    for name in ("cats", "dogs\nold"):
        (tmp_path / "photos" / name).mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "photos" / "cats" / "a.png")
    experiment = tmp_path / "pets.yaml"
    experiment.write_text(
        "name: pets\ndataset: {name: image_folder, path: photos, image_size: [8, 8]}\nmodel: {architecture: cnn}\n"
    )
    one_error_line(annctl("validate", str(experiment)), "photos/dogs\\nold': empty class folder")


def test_a_run_reference_with_a_newline(tmp_path):
    (tmp_path / "runs").mkdir()
    one_error_line(annctl("runs", "show", "no\nsuch", "--runs-dir", str(tmp_path / "runs")), "'no\\nsuch': no such run")


def test_an_output_path_with_a_newline(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "spec.yaml").write_text("name: run\n")
    (run_dir / "metrics.csv").write_text("epoch,loss\n1,0.5\n")
    (tmp_path / "file").write_text("a file where a folder should be")
    output = tmp_path / "file" / "my\nplot.png"
    one_error_line(annctl("plot", str(run_dir), "--metric", "loss", "-o", str(output)), "my\\nplot.png': cannot")


def test_dataset_files_with_a_newline_in_their_names(tmp_path):
    """The readers of every kind of dataset file name it the same way (csv, timeseries): one error line."""
    table = tmp_path / "my\ndata.csv"
    table.write_bytes(b"x,z\n1,\xff\n2,b\n")  # not UTF-8 on line 2
    experiment = tmp_path / "table.yaml"
    experiment.write_text(
        "name: table\n"
        'dataset: {name: csv, path: "' + str(table).replace("\n", "\\n") + '", target: z}\n'
        "model: {architecture: mlp}\n"
    )
    series = tmp_path / "my\nseries.csv"
    series.write_text("")  # empty
    experiment_series = tmp_path / "series.yaml"
    experiment_series.write_text(
        "name: series\n"
        'dataset: {name: timeseries, path: "' + str(series).replace("\n", "\\n") + '", target: v}\n'
        "model: {architecture: rnn}\n"
    )
    one_error_line(annctl("validate", str(experiment)), "my\\ndata.csv'")
    one_error_line(annctl("validate", str(experiment_series)), "my\\nseries.csv'")
