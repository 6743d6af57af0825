"""The committed JSON Schema and YAML reference are generated from the spec models and must be up to date."""

import json

from typer.testing import CliRunner

from annctl.cli import app
from annctl.reference import json_schema_text, markdown_reference

from .conftest import EXPERIMENTS, REPO

runner = CliRunner()
REGENERATE = "regenerate with: python -m annctl.reference (from the repository root)"


def test_committed_schema_is_up_to_date():
    assert (REPO / "experiment.schema.json").read_text() == json_schema_text(), REGENERATE


def test_committed_reference_is_up_to_date():
    assert (REPO / "docs" / "reference.md").read_text() == markdown_reference(), REGENERATE


def test_schema_command_and_contents():
    result = runner.invoke(app, ["schema"])
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False and schema["required"] == ["name", "dataset", "model"]
    assert set(schema["properties"]) == {
        "name",
        "seed",
        "dataset",
        "model",
        "training",
        "output",
        "search",
        "tracking",
    }
    assert "learning_rate" in json.dumps(schema["$defs"]["TrainingSpec"])
    result = runner.invoke(app, ["schema", "--markdown"])
    assert "### `architecture: wide_deep`" in result.stdout and "`learning_rate`" in result.stdout


def test_every_shipped_experiment_points_editors_at_the_schema():
    for path in EXPERIMENTS.glob("*.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=../experiment.schema.json\n"), path


REGENERATE_RECORD = REGENERATE


def test_one_command_regenerates_every_generated_file(tmp_path):
    from annctl.reference import generated_files, regenerate

    assert regenerate(tmp_path) == list(generated_files())  # every generated file, from nothing
    assert regenerate(tmp_path) == []  # and nothing when they are up to date
    stale = tmp_path / "schemas" / "dataset.schema.json"
    stale.write_text("{}")
    assert regenerate(tmp_path) == ["schemas/dataset.schema.json"]
    assert all((tmp_path / name).read_text() == text for name, text in generated_files().items())


def test_committed_record_schemas_are_up_to_date():
    from annctl.records import RECORDS
    from annctl.reference import record_schema_text

    for name in RECORDS:
        assert (REPO / "schemas" / f"{name}.schema.json").read_text() == record_schema_text(name), REGENERATE_RECORD


def test_files_a_run_writes_validate_against_the_committed_schemas(tmp_path):
    """An independent validator (jsonschema) accepts what a real training writes, so scripts can rely on them."""
    import jsonschema

    from annctl.config import load_spec
    from annctl.training import train

    from .conftest import write_experiment

    run_dir = tmp_path / "runs"
    summary = train(load_spec(write_experiment(tmp_path, "classification")), run_dir)
    files = {"summary": "summary.json", "dataset": "dataset.json", "manifest": "checkpoints/manifest.json"}
    files["env"] = "env.json"
    for name, relative in files.items():
        schema = json.loads((REPO / "schemas" / f"{name}.schema.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        document = json.loads((tmp_path / "runs" / summary.run_dir.rsplit("/", 1)[-1] / relative).read_text())
        jsonschema.Draft202012Validator(schema).validate(document)
    bad = json.loads((REPO / "schemas" / "summary.schema.json").read_text())
    try:
        jsonschema.Draft202012Validator(bad).validate({"name": "x", "status": "exploded"})
    except jsonschema.ValidationError as error:
        assert "exploded" in str(error)
    else:
        raise AssertionError("the summary schema accepted an unknown status")
