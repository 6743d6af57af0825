"""annctl.datasets.tabular function by function: the exact names, messages, splits and values each one gives, so
that a one-token change of a line (a message's words, a default, a boundary) fails a test."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from annctl.datasets.base import InputBlock
from annctl.datasets.tabular import (
    RowReader,
    TabularBlock,
    TabularSpec,
    _number,
    check_finite,
    describe,
    dialect_options,
    fill_value,
    is_missing,
    keras_names,
    load_array,
    require_chain,
    same_rows,
    split_tabular,
    with_dialect,
)
from annctl.errors import DataError, SpecError, UsageError


def numeric_description(names=("a", "b"), **options):
    x = np.array([[1.0, 10.0], [3.0, 30.0]])[:, : len(names)]
    return describe(x, list(names), normalize=True, task="regression", target_name="y", **options)


def reader(description, source, chunk_rows=8192, warnings=None):
    return RowReader(
        description, str(source), chunk_rows=chunk_rows, warn=None if warnings is None else warnings.append
    )


def read_all(description, source, **options):
    return [chunk for chunk, _ in reader(description, source, **options).chunks()]


def data_error(function, *args, **kwargs) -> str:
    with pytest.raises(DataError) as error:
        result = function(*args, **kwargs)
        if hasattr(result, "__next__"):
            list(result)
    return str(error.value)


# -- names ----------------------------------------------------------------------------------------------------


def test_every_missing_token_whatever_its_case_and_spaces_is_missing_and_others_are_not():
    for token in ["", "na", "N/A", "NaN", "null", "None", "?", "  NA  ", "\t"]:
        assert is_missing(token), token
    for cell in ["0", "-", "nil", "n", "nan1", "??"]:
        assert not is_missing(cell), cell


def test_keras_names_are_ascii_cut_at_40_numbered_when_taken_and_positioned_when_empty():
    columns = ["Größe (cm)", "a b", "a-b", "a_b", "", "²", "Æther", "x" * 45, "y" * 39 + "-z", "1st", "łódź", "!!"]
    assert keras_names(columns) == [
        "in_grosse_cm",
        "in_a_b",
        "in_a_b_2",
        "in_a_b_3",
        "in_column_5",
        "in_2",
        "in_aether",
        "in_" + "x" * 40,
        "in_" + "y" * 39,
        "in_1st",
        "in_lodz",
        "in_column_12",
    ]
    assert keras_names(["ßÞœðđø"]) == ["in_ssthoeddo"]
    assert keras_names(["x" * 40, "x" * 41]) == ["in_" + "x" * 40, "in_" + "x" * 40 + "_2"]


# -- the spec: known names, features, positive_class ------------------------------------------------------------


def test_known_names_name_the_unknown_feature_and_class():
    spec = TabularSpec(features=["a", "zz"], positive_class="cat")
    assert spec.known_names(["a", "b"], ["cat", "dog"]) == [(("features", 1), "no feature 'zz'; features: a, b")]
    spec = TabularSpec(positive_class="bird")
    assert spec.known_names(["a"], ["cat", "dog"]) == [(("positive_class",), "no class 'bird'; classes: cat, dog")]
    assert spec.known_names(["a"], None) == [(("positive_class",), "applies to classification datasets only")]
    assert TabularSpec().known_names(["a"], None) == []


def finish(spec, x, y, task="classification", classes=("cat", "dog", "eel"), **options):
    return spec.finish(
        np.asarray(x),
        np.asarray(y),
        0,
        task=task,
        feature_names=["a", "b", "c"],
        target_name="kind",
        class_names=list(classes) if classes else None,
        **options,
    )


def test_finish_selects_features_in_the_specs_order_and_names_unknown_ones():
    x = np.arange(60, dtype="float32").reshape(20, 3)
    y = np.arange(20) % 2
    data = finish(TabularSpec(features=["c", "a"]), x, y)
    assert data.description.feature_names == ["c", "a"]
    assert data.train.x.shape[1] == 2
    assert set(data.train.x[:, 0] - data.train.x[:, 1]) == {2.0}
    message = data_error(finish, TabularSpec(features=["a", "q", "r"]), x, y)
    assert message == "dataset.features: no feature 'q', 'r'; features: a, b, c"


def test_positive_class_makes_one_vs_rest_named_not_the_class_and_the_class():
    x = np.arange(60, dtype="float32").reshape(20, 3)
    y = np.arange(20) % 3
    data = finish(TabularSpec(positive_class="dog"), x, y)
    assert data.description.class_names == ["not_dog", "dog"]
    for split in (data.train, data.validation, data.test):
        assert split.y.dtype == np.int64
        assert (split.y == (split.x[:, 0] // 3 % 3 == 1)).all()
    assert data_error(finish, TabularSpec(positive_class="emu"), x, y) == (
        "dataset.positive_class: no class 'emu'; classes: cat, dog, eel"
    )
    only = "dataset.positive_class: applies to classification datasets only"
    assert data_error(finish, TabularSpec(positive_class="dog"), x, y.astype("float32"), task="regression") == only
    assert data_error(finish, TabularSpec(positive_class="dog"), x, y, classes=()) == only


def test_finish_describes_the_training_split_and_counts_targets():
    x = np.arange(60, dtype="float32").reshape(20, 3)
    data = finish(TabularSpec(normalize=False), x, np.ones((20, 2)), task="regression", classes=None, details={"k": 1})
    info = data.description
    assert (info.kind, info.shape, info.dtype, info.task, info.target_name) == (
        "tabular",
        [3],
        "float32",
        "regression",
        "kind",
    )
    assert (info.n_targets, info.normalize, info.details, info.class_names) == (2, False, {"k": 1}, None)
    assert info.features[0].mean == pytest.approx(float(data.train.x[:, 0].mean()))
    assert finish(TabularSpec(), x, np.zeros(20), task="regression", classes=None).description.n_targets == 1


# -- splitting --------------------------------------------------------------------------------------------------


def test_the_test_split_comes_first_then_validation_from_the_rest():
    x, y = np.arange(100), np.arange(100) % 2
    x_train, y_train, x_val, y_val, x_test, y_test = split_tabular(x, y, TabularSpec(test_split=0.3), 1, True)
    assert (len(x_train), len(x_val), len(x_test)) == (56, 14, 30)
    assert sorted([*x_train, *x_val, *x_test]) == list(range(100))
    assert (y_test == x_test % 2).all() and (y_val == x_val % 2).all()
    assert y_test.sum() == 15 and y_val.sum() == 7  # stratified: half of each part is class 1
    again = split_tabular(x, y, TabularSpec(test_split=0.3), 1, True)
    assert all((a == b).all() for a, b in zip(again, (x_train, y_train, x_val, y_val, x_test, y_test)))
    other = split_tabular(x, y, TabularSpec(test_split=0.3), 2, True)
    assert not (other[4] == x_test).all()


def test_max_train_samples_keeps_the_first_training_rows_only():
    x, y = np.arange(100), np.arange(100) % 2
    full = split_tabular(x, y, TabularSpec(), 0, False)
    cut = split_tabular(x, y, TabularSpec(max_train_samples=5), 0, False)
    assert list(cut[0]) == list(full[0][:5]) and list(cut[1]) == list(full[1][:5])
    assert list(cut[2]) == list(full[2]) and list(cut[4]) == list(full[4])


def test_a_class_too_small_to_stratify_is_split_at_random_and_too_few_rows_are_refused():
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    parts = split_tabular(np.arange(10), y, TabularSpec(test_split=0.2, validation_split=0.25), 0, True)
    assert [len(p) for p in parts] == [6, 6, 2, 2, 2, 2]
    message = data_error(split_tabular, np.arange(1), np.zeros(1), TabularSpec(), 0, False)
    assert message.startswith("cannot split 1 rows with fraction 0.2: With n_samples=1, test_size=0.2")


def test_columns_of_a_dict_are_split_by_the_same_rows():
    x = {"in_a": np.arange(20), "in_t": np.array([f"t{i}" for i in range(20)])}
    train, _, val, _, test, _ = split_tabular(x, np.arange(20) % 2, TabularSpec(), 3, True)
    rows = split_tabular(np.arange(20), np.arange(20) % 2, TabularSpec(), 3, True)
    for part, chosen in zip((train, val, test), rows[::2]):
        assert list(part["in_a"]) == list(chosen)
        assert [f"t{i}" for i in part["in_a"]] == list(part["in_t"])
    assert (len(train["in_a"]), len(val["in_a"]), len(test["in_a"])) == (12, 4, 4)


def test_same_rows_serve_every_split():
    description = numeric_description()
    data = same_rows(np.ones((2, 2)), np.zeros(2), description=description)
    assert data.train is data.validation is data.test
    assert data.description is description


# -- describing and filling ---------------------------------------------------------------------------------


def test_describe_fills_text_with_the_most_frequent_value_and_numbers_by_strategy():
    x = {
        "in_colour": np.array(["red", "blue", "", "blue", " "], dtype=object),
        "in_size": np.array([1.0, np.nan, 3.0, 8.0, 3.0]),
    }
    info = describe(
        x, ["colour", "size"], {"colour": "text"}, "median", normalize=False, task="classification", target_name="t"
    )
    colour, size = info.features
    assert (colour.type, colour.fill, colour.vocabulary, colour.input_name) == (
        "text",
        "blue",
        ["blue", "red"],
        "in_colour",
    )
    assert (size.type, size.fill, size.input_name) == ("numeric", 3.0, "in_size")
    assert size.mean == pytest.approx(3.6) and size.variance == pytest.approx(5.44)
    assert (info.dtype, info.shape, info.normalize, info.details, info.n_targets) == ("mixed", [2], False, {}, 1)
    unfilled = describe(
        x, ["colour", "size"], {"colour": "text"}, normalize=True, task="classification", target_name="t"
    )
    assert unfilled.features[0].fill is None and unfilled.features[1].fill is None
    empty = describe(
        {"in_c": np.array(["", ""], dtype=object)},
        ["c"],
        {"c": "text"},
        "mean",
        normalize=True,
        task="regression",
        target_name="t",
    )
    assert empty.features[0].fill == "" and empty.features[0].vocabulary == []


def test_fill_values_by_strategy_and_zero_when_nothing_is_present():
    values = np.array([5.0, 1.0, 1.0, 2.0, 9.0, 2.0])
    assert fill_value(values, "mean") == pytest.approx(20 / 6)
    assert fill_value(values, "median") == 2.0
    assert fill_value(values, "most_frequent") == 1.0  # a tie: the smallest
    assert fill_value(np.array([3.0, 7.0, 7.0]), "most_frequent") == 7.0
    assert fill_value(np.array([]), "mean") == 0.0


def test_the_block_is_one_slot_per_number_and_the_vocabulary_and_one_per_text_column():
    assert TabularBlock(numeric_description(("a", "b"))).shape == (2,)
    x = {"in_a": np.array([1.0, 2.0]), "in_t": np.array(["p", "q"], dtype=object)}
    mixed = describe(x, ["a", "t"], {"t": "text"}, normalize=True, task="regression", target_name="y")
    assert TabularBlock(mixed).shape == (4,)


def test_text_columns_need_the_mlp_message_in_full():
    class Texts(InputBlock):
        def chain(self):
            return None

    with pytest.raises(SpecError) as error:
        require_chain(Texts(), "cnn")
    assert error.value.problems == [
        "model.architecture: text (categorical) CSV columns need the `mlp` architecture, not cnn; choose numeric "
        "columns with dataset.features for this one"
    ]


# -- cells and options --------------------------------------------------------------------------------------


def test_a_number_cell_and_each_way_it_is_refused():
    assert _number("2.5", "f:3", "a") == 2.5
    assert _number("2,5", "f:3", "a", ",") == 2.5
    assert _number(4, "f:3", "a") == 4.0
    cases = {
        (True, "."): "f:3: column 'a': expected a number, got true",
        (None, "."): "f:3: column 'a': expected a number, got null",
        (" ", "."): "f:3: column 'a': an empty cell",
        ("abc", "."): "f:3: column 'a': non-numeric value 'abc'",
        ("2,5", "."): "f:3: column 'a': non-numeric value '2,5' (the run's decimal mark is '.': pass --decimal to "
        "read another)",
        ("2.5", ","): "f:3: column 'a': non-numeric value '2.5' (the run's decimal mark is ',': pass --decimal to "
        "read another)",
        ("inf", "."): "f:3: column 'a': 'inf' is not a finite number",
        (float("nan"), "."): "f:3: column 'a': nan is not a finite number",
    }
    for (cell, decimal), message in cases.items():
        assert data_error(_number, cell, "f:3", "a", decimal) == message


def test_dialect_options_map_tab_and_refuse_what_cannot_be_one():
    assert dialect_options(None, None, None) == {}
    assert dialect_options("tab", ",", "latin-1") == {"delimiter": "\t", "decimal": ",", "encoding": "latin-1"}
    assert dialect_options("\\t", None, None) == {"delimiter": "\t"}
    assert dialect_options("auto", ".", None) == {"delimiter": "auto", "decimal": "."}
    assert dialect_options(";", None, None) == {"delimiter": ";"}
    refusals = {
        ("ab", None, None): "--delimiter 'ab': use auto, tab, or one character such as ';'",
        ('"', None, None): "--delimiter '\"': use auto, tab, or one character such as ';'",
        ("\n", None, None): "--delimiter '\\n': use auto, tab, or one character such as ';'",
        ("\r", None, None): "--delimiter '\\r': use auto, tab, or one character such as ';'",
        ("", None, None): "--delimiter '': use auto, tab, or one character such as ';'",
        (None, ";", None): "--decimal ';': use . or ,",
        (None, None, "klingon"): "--encoding 'klingon': unknown encoding (e.g. utf-8, cp1252, latin-1)",
    }
    for arguments, message in refusals.items():
        with pytest.raises(UsageError) as error:
            dialect_options(*arguments)
        assert str(error.value) == message


def test_with_dialect_replaces_the_recorded_options_and_refuses_those_of_another_kind():
    description = numeric_description(details={"delimiter": ";", "decimal": ",", "note": 1})
    assert with_dialect(description, {}) is description
    assert with_dialect(description, None) is description
    assert with_dialect(description, {"decimal": "."}).details == {"delimiter": ";", "decimal": ".", "note": 1}
    image = description.model_copy(update={"kind": "image"})
    assert with_dialect(image, {"encoding": "cp1252"}).details["encoding"] == "cp1252"
    with pytest.raises(UsageError) as error:
        with_dialect(image, {"delimiter": ";", "encoding": "cp1252", "decimal": ","})
    assert str(error.value) == (
        "--delimiter, --decimal: for CSV rows of tabular and sequence models (--encoding: also a list file of "
        "images); this run's input is image"
    )


# -- reading new rows -----------------------------------------------------------------------------------------


def test_csv_rows_come_in_chunks_of_chunk_rows_matched_by_name(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("b,extra,a\n" + "".join(f"{i * 10},x,{i}\n" for i in range(5)))
    warnings = []
    chunks = read_all(numeric_description(), path, chunk_rows=2, warnings=warnings)
    assert [chunk.tolist() for chunk in chunks] == [[[0, 0], [1, 10]], [[2, 20], [3, 30]], [[4, 40]]]
    assert all(chunk.dtype == np.float32 for chunk in chunks)
    assert warnings == [f"{path}: ignoring column(s) the model does not use: 'extra'"]
    path.write_text("a,,b,y\n1,2,3,4\n")
    warnings.clear()
    assert read_all(numeric_description(), path, warnings=warnings)[0].tolist() == [[1, 3]]
    assert warnings == [f"{path}: ignoring column(s) the model does not use: column 2 (no name)"]


def test_csv_rows_in_the_runs_dialect(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_bytes("a;b\n1,5;2\n".encode("cp1252"))
    description = numeric_description(details={"delimiter": ";", "decimal": ",", "encoding": "cp1252"})
    assert read_all(description, path)[0].tolist() == [[1.5, 2.0]]


def test_each_bad_csv_says_file_line_and_column_in_full(tmp_path):
    description = numeric_description()
    path = tmp_path / "rows.csv"
    cases = {
        "a\n1\n": f"{path}:1: the header 'a' is one column with every delimiter annctl tries (, ; tab |); pass "
        "--delimiter to the file's separator",
        "a,c,d\n1,2,3\n": f"{path}:1: missing feature column(s) 'b'; the model needs 'a', 'b'",
        "c,d\n1,2\n": f"{path}:1: missing feature column(s) 'a', 'b'; the model needs 'a', 'b'",
        "a,b\n1,2\n3\n": f"{path}:3: expected 2 fields, found 1",
        "a,b\n1,2\n3,4,5\n": f"{path}:3: expected 2 fields, found 3",
        "a,b\n": f"{path}: no data rows after the header",
        "a,b\n1,NA\n": f"{path}:2: column 'b': missing value, and this run was trained without imputation "
        "(dataset.missing: error or drop)",
        "a,b,a\n1,2,3\n": f"{path}:1: the column name 'a' is in the header 2 times (columns 1, 3); every column needs "
        "its own name",
        "a,b\n1,x\n": f"{path}:2: column 'b': non-numeric value 'x'",
    }
    for text, message in cases.items():
        path.write_text(text)
        assert data_error(read_all, description, path) == message, text


def test_an_empty_or_missing_or_image_or_unknown_encoding_source_is_refused(tmp_path):
    description = numeric_description()
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert data_error(read_all, description, empty) == f"{empty}: the file is empty"
    assert (
        data_error(read_all, description, tmp_path / "none.csv") == f"{tmp_path / 'none.csv'}: no such file or folder"
    )
    photo = tmp_path / "photo.JPEG"
    photo.write_bytes(b"\xff\xd8")
    images = "images are input for image models only; this model takes a, b"
    assert data_error(read_all, description, photo) == f"{photo}: {images}"
    assert data_error(read_all, description, tmp_path) == f"{tmp_path}: {images}"
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n1,2\n")
    unknown = description.model_copy(update={"details": {"encoding": "klingon"}})
    assert data_error(read_all, unknown, rows) == f"{rows}: unknown encoding 'klingon'; pass --encoding"
    whitespace = tmp_path / "blank.csv"
    whitespace.write_text("\n\n")
    assert data_error(read_all, description, whitespace) == (
        f"{whitespace}: the file is empty; expected a header row naming the features"
    )


def test_missing_cells_become_gaps_where_the_run_imputes(tmp_path):
    x = {"in_a": np.array([1.0, np.nan, 3.0]), "in_t": np.array(["p", "q", "q"], dtype=object)}
    description = describe(x, ["a", "t"], {"t": "text"}, "mean", normalize=True, task="regression", target_name="y")
    row_reader = reader(description, "-")
    assert np.isnan(row_reader._value("NA", "w", "a"))
    assert row_reader._value(None, "w", "t") == ""
    assert row_reader._value("  word ", "w", "t") == "word"
    assert row_reader._value("2", "w", "a") == 2.0


def test_text_columns_come_as_named_string_inputs(tmp_path):
    x = {"in_a": np.array([1.0, 2.0]), "in_t": np.array(["p", "q"], dtype=object)}
    description = describe(x, ["a", "t"], {"t": "text"}, normalize=True, task="regression", target_name="y")
    path = tmp_path / "rows.csv"
    path.write_text("t,a\nq,5\n p ,6\n")
    (chunk,) = read_all(description, path)
    assert sorted(chunk) == ["in_a", "in_t"]
    assert np.asarray(chunk["in_a"]).reshape(-1).tolist() == [5.0, 6.0]
    assert [str(v) for v in np.asarray(chunk["in_t"]).reshape(-1)] == ["q", "p"]


def test_json_lines_are_read_and_each_bad_line_is_named(tmp_path):
    description = numeric_description()
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1, "b": 2, "y": 0, "z": 1, "w": 2}\n\n{"b": 4, "a": 3, "z": 5}\n{"a": 5, "b": 6}\n')
    warnings = []
    chunks = read_all(description, path, chunk_rows=2, warnings=warnings)
    assert [chunk.tolist() for chunk in chunks] == [[[1, 2], [3, 4]], [[5, 6]]]
    assert warnings == [f"{path}: ignoring key(s) the model does not use: z, w"]
    cases = {
        "[1, 2]\n": f"{path}:1: expected a JSON object of feature values",
        '{"a": 1}\n': f"{path}:1: missing feature(s) b",
        '\n{"c": 1}\n': f"{path}:2: missing feature(s) a, b",
        "\n\n": f"{path}: no input rows",
        '{"a": true, "b": 1}\n': f"{path}:1: column 'a': expected a number, got true",
    }
    for text, message in cases.items():
        path.write_text(text)
        assert data_error(read_all, description, path) == message, text
    path.write_text("{oops\n")
    assert data_error(read_all, description, path).startswith(f"{path}:1: not valid JSON: Expecting property name")
    for suffix in (".ndjson", ".json"):  # the other names of JSON lines
        other = path.with_suffix(suffix)
        other.write_text('{"a": 1, "b": 2}\n')
        assert read_all(description, other)[0].tolist() == [[1, 2]], suffix


def test_stdin_is_csv_or_json_lines_by_its_first_character(monkeypatch):
    description = numeric_description()
    monkeypatch.setattr("sys.stdin", io.StringIO('\ufeff {"a": 1, "b": 2}\n'))
    assert read_all(description, "-")[0].tolist() == [[1, 2]]
    monkeypatch.setattr("sys.stdin", io.StringIO("\ufeffa,b\n3,4\n"))
    assert read_all(description, "-")[0].tolist() == [[3, 4]]
    monkeypatch.setattr("sys.stdin", io.StringIO(" \n"))
    assert data_error(read_all, description, "-") == "<stdin>: no input rows"
    monkeypatch.setattr("sys.stdin", io.StringIO("a,b\n1\n"))
    assert data_error(read_all, description, "-") == "<stdin>:2: expected 2 fields, found 1"


def test_labeled_rows_for_evaluate_and_unknown_classes(tmp_path):
    x = np.array([[1.0, 10.0], [3.0, 30.0]])
    description = describe(
        x, ["a", "b"], normalize=True, task="classification", target_name="kind", class_names=["cat", "dog"]
    )
    path = tmp_path / "labeled.csv"
    path.write_text("kind,a,b\ndog,1,2\n cat ,3,4\n")
    features, labels = reader(description, path).read_labeled(path)
    assert features.tolist() == [[1, 2], [3, 4]] and labels.tolist() == [1, 0] and labels.dtype == np.int64
    path.write_text("kind,a,b\nemu,1,2\n")
    assert data_error(reader(description, path).read_labeled, path) == (
        f"{path}:2: column 'kind': unknown class 'emu'; classes: cat, dog"
    )
    path.write_text("a,b\n1,2\n")
    assert data_error(reader(description, path).read_labeled, path) == (
        f"{path}: no target column 'kind'; --data needs the features and the target"
    )
    assert data_error(reader(description, tmp_path).read_labeled, tmp_path) == (
        f"{tmp_path}: a folder; --data for this model takes a CSV file of features and target"
    )
    regression = numeric_description()
    path.write_text("a,b,y\n1,2,0.5\n")
    features, labels = reader(regression, path).read_labeled(path)
    assert labels.tolist() == [0.5] and labels.dtype == np.float32


# -- arrays ---------------------------------------------------------------------------------------------------


def test_arrays_are_read_in_chunks_and_checked(tmp_path):
    description = numeric_description()
    path = tmp_path / "x.npy"
    np.save(path, np.arange(10, dtype="float64").reshape(5, 2))
    chunks = read_all(description, path, chunk_rows=2)
    assert [chunk.tolist() for chunk in chunks] == [[[0, 1], [2, 3]], [[4, 5], [6, 7]], [[8, 9]]]
    assert {chunk.dtype for chunk in chunks} == {np.dtype("float32")}
    bad = np.zeros((5, 2))
    bad[3, 1] = np.inf
    np.save(path, bad)
    assert data_error(read_all, description, path, chunk_rows=2) == f"{path}: row 3: NaN or infinite value"


def test_load_array_refusals_in_full(tmp_path):
    npz = tmp_path / "x.npz"
    np.savez(npz, a=np.zeros((2, 2)), b=np.zeros((2, 2)))
    assert data_error(load_array, npz) == f"{npz}: expected one array, or one named `x`; found a, b"
    np.savez(npz, a=np.ones((2, 2)), x=np.zeros((3, 2)))
    assert load_array(npz).shape == (3, 2)
    np.savez(npz, only=np.ones((4, 2)))
    assert load_array(npz, [2]).shape == (4, 2)
    npy = tmp_path / "x.npy"
    np.save(npy, np.array(["a", "b"]))
    assert data_error(load_array, npy) == f"{npy}: array of <U1 values; expected numbers"
    np.save(npy, np.float64(3))
    assert data_error(load_array, npy) == f"{npy}: the array has no rows"
    np.save(npy, np.zeros((0, 2)))
    assert data_error(load_array, npy) == f"{npy}: the array has no rows"
    np.save(npy, np.zeros((4, 3), dtype="uint8"))
    assert data_error(load_array, npy, [2]) == f"{npy}: array shape (4, 3) does not fit the model's input (N, 2)"
    assert data_error(load_array, npy, (3, 1)) == f"{npy}: array shape (4, 3) does not fit the model's input (N, 3, 1)"
    assert load_array(npy, [3]).dtype == np.uint8
    assert isinstance(load_array(npy, [3]), np.memmap)
    npy.write_bytes(b"not an array")
    assert data_error(load_array, npy).startswith(f"{npy}: cannot read the array: ")


def test_check_finite_names_the_first_bad_row_from_the_chunks_start(tmp_path):
    chunk = np.zeros((4, 2, 2))
    check_finite(chunk, tmp_path, 0)
    check_finite(np.zeros((2, 2), dtype="int64"), tmp_path, 0)
    chunk[2, 1, 0] = np.nan
    chunk[3, 0, 0] = np.inf
    assert (
        data_error(check_finite, chunk, tmp_path / "x.npy", 100)
        == f"{tmp_path / 'x.npy'}: row 102: NaN or infinite value"
    )


def test_row_reader_defaults_to_comma_point_utf8_and_silence():
    row_reader = RowReader(numeric_description(), "-")
    assert (row_reader.dialect.delimiter, row_reader.dialect.decimal, row_reader.dialect.encoding) == (
        ",",
        ".",
        "utf-8",
    )
    assert row_reader.chunk_rows == 8192
    assert row_reader.warn("anything") is None
    assert row_reader.features == ["a", "b"] and row_reader.keys == {"a": "in_a", "b": "in_b"}


def test_model_x_of_a_text_chunk_keeps_each_columns_values():
    x = {"in_a": np.array([1.0]), "in_t": np.array(["p"], dtype=object)}
    description = describe(x, ["a", "t"], {"t": "text"}, normalize=True, task="regression", target_name="y")
    chunk = reader(description, "-")._chunk([[1.5, "w"]])
    assert isinstance(chunk, dict)
    assert (
        json.dumps({k: np.asarray(v).reshape(-1).tolist() for k, v in chunk.items()}, default=str, sort_keys=True)
        == '{"in_a": [1.5], "in_t": ["w"]}'
    )


def test_auto_delimiter_leaves_out_the_row_a_long_files_sample_cuts_off(tmp_path):
    """A tab-separated file over 64 KiB with long rows and commas in its header's names: the sample `auto` reads
    ends inside a row, which must not count as ragged, else the comma (ragged everywhere, but with more columns in
    the header) would win."""
    names = ("a (cm, adult, left, standing)", "b (kg, adult, dressed)")
    path = tmp_path / "wide.tsv"
    row = "free text " * 50 + "\t1\t10\n"
    path.write_text("\t".join(["notes, by hand, if any", *names]) + "\n" + row * 200)
    assert path.stat().st_size > 1 << 16 and (1 << 16) % len(row) != 0
    description = numeric_description(names, details={"delimiter": "auto"})
    chunks = read_all(description, path, warnings=[])
    assert sum(len(chunk) for chunk in chunks) == 200 and chunks[0][0].tolist() == [1, 10]


def test_a_mixed_blocks_layers_are_named_by_the_column_without_the_input_prefix():
    import keras

    x = {"in_a": np.array([1.0, np.nan]), "in_t": np.array(["p", ""], dtype=object)}
    mixed = describe(x, ["a", "t"], {"t": "text"}, "mean", normalize=True, task="regression", target_name="y")
    inputs, joined = TabularBlock(mixed).functional()
    names = [layer.name for layer in keras.Model(inputs, joined).layers]
    assert sorted(inputs) == ["in_a", "in_t"]
    assert {"fill_a", "normalize_a", "fill_t", "lookup_t", "features"} <= set(names), names


def test_a_missing_new_inputs_file_is_named(tmp_path):
    missing = tmp_path / "gone.csv"
    assert data_error(read_all, numeric_description(), missing) == f"{missing}: no such file or folder"
    labelled = reader(numeric_description(), missing).read_labeled  # `evaluate --data` reads it directly
    assert data_error(labelled, missing) == f"{missing}: no such file or folder"
