"""Property-based fuzzing of spec loading: whatever the bytes, only annctl's own SpecError escapes, and each of
its problems is one line naming the file."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annctl.config import load_spec, spec_from_text
from annctl.errors import SpecError

VALID = (
    "name: t\ndataset: {name: iris, test_split: 0.2}\nmodel: {architecture: mlp, hidden_units: [4]}\n"
    "training: {epochs: 2, learning_rate: 1e-3}\n"
)
yaml_scalars = st.one_of(
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.text(max_size=20),
    st.sampled_from(["1e-3", ".inf", "-.nan", "~", "yes", "0x1f", "*a"]),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20,
)


def only_spec_errors(text: str) -> None:
    try:
        spec_from_text(text, "<fuzz>")
    except SpecError as error:
        assert error.exit_code == 2 and error.problems
        for problem in error.problems:
            assert problem.startswith("<fuzz>:") and problem.isprintable(), problem


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_arbitrary_text(text):
    only_spec_errors(text)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(VALID) - 1), st.text(min_size=1, max_size=30))
def test_mutations_of_a_valid_file(position, insertion):
    only_spec_errors(VALID[:position] + insertion + VALID[position:])


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["name", "seed", "dataset", "model", "training", "output", "x"]), yaml_values, max_size=6
    )
)
def test_arbitrary_structures(data):
    import json

    only_spec_errors(json.dumps(data))  # JSON is YAML: every structure, every type in every place


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "exp.yaml"
    path.write_bytes(data)
    try:
        load_spec(path)
    except SpecError as error:
        assert error.exit_code == 2
        for problem in error.problems:
            assert problem.startswith(f"{path}:") and problem.isprintable(), problem
