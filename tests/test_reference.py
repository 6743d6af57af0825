"""The committed JSON Schema and YAML reference are generated from the spec models and must be up to date."""

import json

from typer.testing import CliRunner

from annctl.cli import app
from annctl.reference import json_schema_text, markdown_reference

from .conftest import EXPERIMENTS, REPO

runner = CliRunner()
REGENERATE = "regenerate with: annctl schema > experiment.schema.json && annctl schema --markdown > docs/reference.md"


def test_committed_schema_is_up_to_date():
    assert (REPO / "experiment.schema.json").read_text() == json_schema_text(), REGENERATE


def test_committed_reference_is_up_to_date():
    assert (REPO / "docs" / "reference.md").read_text() == markdown_reference(), REGENERATE


def test_schema_command_and_contents():
    result = runner.invoke(app, ["schema"])
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False and schema["required"] == ["name", "dataset", "model"]
    assert set(schema["properties"]) == {"name", "seed", "dataset", "model", "training", "output", "search"}
    assert "learning_rate" in json.dumps(schema["$defs"]["TrainingSpec"])
    result = runner.invoke(app, ["schema", "--markdown"])
    assert "### `architecture: wide_deep`" in result.stdout and "`learning_rate`" in result.stdout


def test_every_shipped_experiment_points_editors_at_the_schema():
    for path in EXPERIMENTS.glob("*.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=../experiment.schema.json\n"), path
