"""annctl.datasets.csv_dialect and csv_file at unit level: each detection rule at its boundary, and every message
compared whole (written for the mutants the mutation sample found surviving, docs/mutation.md)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest

from annctl.datasets.csv_dialect import (
    SAMPLE_CHARS,
    Dialect,
    column_name,
    detect_delimiter,
    header_problems,
    one_column_message,
    parse_number,
    python_encoding,
    read_lines,
    read_table,
    rows_of,
    sample_of,
    shown,
    undecodable,
)
from annctl.datasets.csv_file import CsvFile, _located, column_type, numeric_array
from annctl.errors import DataError


def raised(call, *args, **kwargs) -> str:
    """The whole message of the DataError ``call`` raises."""
    with pytest.raises(DataError) as error:
        call(*args, **kwargs)
    return str(error.value)


# --- csv_dialect: the pieces ---------------------------------------------------------------------------------


def test_delimiters_are_shown_as_tab_or_quoted():
    assert [shown(d) for d in ("\t", ",", ";", "|")] == ["tab", "','", "';'", "'|'"]


def test_utf8_in_any_spelling_reads_past_a_byte_order_mark_and_other_encodings_stay():
    assert [python_encoding(e) for e in ("utf-8", "UTF8", "utf_8", "cp1252", "latin-1")] == [
        "utf-8-sig",
        "utf-8-sig",
        "utf-8-sig",
        "cp1252",
        "latin-1",
    ]
    with pytest.raises(LookupError):
        python_encoding("klingon")


def test_a_header_cell_loses_spaces_and_byte_order_marks_and_is_composed():
    assert column_name(" \ufeffage\ufeff ") == "age"
    assert column_name("e\u0301") == "\u00e9"


def test_numbers_with_a_decimal_point_or_comma():
    assert parse_number(" 1.5 ") == 1.5
    assert parse_number("1,5") is None
    assert parse_number("1,5", ",") == 1.5
    assert parse_number(" -2,25 ", ",") == -2.25
    assert parse_number("1.234,5", ",") is None  # a thousands separator: not a number
    assert parse_number("1.5", ",") is None
    assert parse_number("abc") is None and parse_number("") is None


def test_rows_start_on_their_line_and_blank_rows_are_left_out():
    text = 'a,b\n\n"x\ny",2\n , \n3,\n'
    assert list(rows_of(io.StringIO(text), ",")) == [(1, ["a", "b"]), (3, ["x\ny", "2"]), (6, ["3", ""])]


def test_a_sample_is_complete_only_when_shorter_than_the_sample_size():
    assert SAMPLE_CHARS == 65536
    assert sample_of(io.StringIO("x" * (SAMPLE_CHARS - 1))) == ("x" * (SAMPLE_CHARS - 1), True)
    assert sample_of(io.StringIO("x" * SAMPLE_CHARS)) == ("x" * SAMPLE_CHARS, False)
    sample, complete = sample_of(io.StringIO("x" * (SAMPLE_CHARS + 5)))
    assert len(sample) == SAMPLE_CHARS and not complete


# --- detect_delimiter: each rule at its boundary ---------------------------------------------------------------


def test_two_columns_are_enough_and_one_column_is_no_delimiter():
    assert detect_delimiter("a;b\n1;2\n") == ";"
    assert detect_delimiter("a|b\n1|2\n") == "|"
    assert detect_delimiter("a\tb\n1\t2\n") == "\t"
    assert detect_delimiter("abc\n1\n") is None
    assert detect_delimiter("") is None


def test_on_a_tie_the_earlier_delimiter_wins():
    # `,` and `;` both split every row in two: `,` comes first
    assert detect_delimiter("a,b;c\n1,2;3\n") == ","
    assert detect_delimiter("a;b|c\n1;2|3\n") == ";"


def test_a_delimiter_that_leaves_rows_ragged_ranks_below_one_with_fewer_columns():
    # `;` gives 3 header columns but a 2-field row; `,` gives 2 columns everywhere
    assert detect_delimiter("a;b,x;c\n1;2,5;3\n4;2,5\n") == ","
    assert detect_delimiter("a;b,x;c\n4;2,5\n1;2,5;3\n") == ","  # the first row after the header counts too
    assert detect_delimiter("a;b,x;c\n1;2,5;3\n4;2,5;6\n") == ";"  # no ragged row: the most columns


def test_a_cut_off_sample_leaves_its_last_row_out_unless_it_is_the_only_one():
    cut = "a;b,x;c\n1;2,5;3\n4;2,5"  # the last row is cut off where the sample ends
    assert detect_delimiter(cut, complete=True) == ","
    assert detect_delimiter(cut, complete=False) == ";"
    assert detect_delimiter("a;b", complete=False) == ";"


@pytest.mark.parametrize(("ragged_at", "expected"), [(200, ","), (201, ";")])
def test_detection_reads_the_header_and_200_rows(ragged_at, expected):
    rows = ["a;b,x;c"] + ["1;2,5;3"] * 250
    rows[ragged_at] = "4;2,5"  # ragged for `;`: counts only within the rows read
    assert detect_delimiter("\n".join(rows) + "\n") == expected


def test_the_dialect_resolves_a_given_delimiter_as_is_and_auto_by_detection():
    assert Dialect(";").resolve("a,b\n1,2\n") == (";", False)
    assert Dialect().resolve("a;b\n1;2\n") == (";", True)
    assert Dialect().resolve("abc\n1\n") == (",", True)
    assert Dialect().resolve("a;b,x;c\n1;2,5;3\n4;2,5", False) == (";", True)
    assert Dialect(decimal=",").number("1,5") == 1.5 and Dialect().number("1,5") is None
    assert Dialect() == Dialect("auto", ".", "utf-8")


# --- messages -------------------------------------------------------------------------------------------------


def test_a_one_column_header_names_the_delimiter_the_file_looks_like():
    sample = "a;b\n1;2\n"
    assert one_column_message("f.csv:1", ["a;b"], ",", sample, "dataset.delimiter") == (
        "f.csv:1: the header 'a;b' is one column with delimiter ','; the file looks ';'-separated: "
        "set dataset.delimiter: ';' (or auto)"
    )
    assert one_column_message("f.csv:1", ["a;b"], ",", sample, "--delimiter") == (
        "f.csv:1: the header 'a;b' is one column with delimiter ','; the file looks ';'-separated: "
        "pass --delimiter ';' (or auto)"
    )
    assert one_column_message("f.csv:1", ["a", "b"], ",", sample, "--delimiter") is None


def test_a_header_one_column_with_every_delimiter_says_which_were_tried():
    assert one_column_message("f.csv:2", ["abc"], "\t", "abc\n1\n", "dataset.delimiter") == (
        "f.csv:2: the header 'abc' is one column with every delimiter annctl tries (, ; tab |); "
        "set dataset.delimiter to the file's separator"
    )
    assert one_column_message("f.csv:2", ["abc"], "\t", "abc\n1\n", "--delimiter") == (
        "f.csv:2: the header 'abc' is one column with every delimiter annctl tries (, ; tab |); "
        "pass --delimiter to the file's separator"
    )


def test_a_long_one_column_header_is_cut_after_57_characters():
    kept, cut = "h" * 60, "h" * 61
    assert f"the header {kept!r} is one column" in one_column_message("f", [kept], ",", kept, "--delimiter")
    assert f"the header {'h' * 57 + '...'!r} is one column" in one_column_message("f", [cut], ",", cut, "--delimiter")


def test_header_problems_name_unnamed_and_repeated_columns():
    assert header_problems("f.csv:1", ["", "b", "b", "c", "b"]) == [
        "f.csv:1: column 1 has no name in the header; name every column, or remove it (an unnamed first column "
        "is often a saved index: write the file without it)",
        "f.csv:1: the column name 'b' is in the header 3 times (columns 2, 3, 5); every column needs its own name",
    ]
    assert header_problems("f.csv:4", ["a", "", "c", ""]) == [
        "f.csv:4: columns 2, 4 have no name in the header; name every column, or remove it"
    ]
    assert header_problems("f.csv:1", ["a", "b"]) == []
    assert header_problems("f.csv:1", ["a", "a"]) == [
        "f.csv:1: the column name 'a' is in the header 2 times (columns 1, 2); every column needs its own name"
    ]


def test_with_only_some_names_needed_only_those_must_be_unique():
    names = ["", "a", "a", "b", "b"]
    assert header_problems("f:1", names, only=["b"]) == [
        "f:1: the column name 'b' is in the header 2 times (columns 4, 5); every column needs its own name"
    ]
    assert header_problems("f:1", names, only=["c"]) == []


def test_an_undecodable_byte_is_located_by_line_and_byte(tmp_path):
    data = tmp_path / "d.csv"
    data.write_bytes(b"a,b\n1,2\n3,\xe9\n")
    assert undecodable(data, "utf-8") == (
        f"{data}:3: not utf-8 text (invalid continuation byte at byte 10); set dataset.encoding to the file's "
        "encoding (e.g. cp1252, latin-1, utf-16)"
    )
    assert undecodable(data, "utf-8", "--encoding").endswith(
        "; set --encoding to the file's encoding (e.g. cp1252, latin-1, utf-16)"
    )
    assert undecodable(data, "cp1252") is None


def test_a_file_cut_inside_a_character_is_undecodable_at_its_end(tmp_path):
    data = tmp_path / "d.csv"
    data.write_bytes(b"a,b\n\xc3")
    assert undecodable(data, "utf-8", None) == f"{data}:2: not utf-8 text (unexpected end of data at byte 4)"


def test_a_character_across_the_first_block_leaves_later_offsets_right(tmp_path):
    block = 1 << 20
    data = tmp_path / "big.csv"
    data.write_bytes(b"a" * (block - 1) + "é".encode() + b"\nx\xff\n")  # é: one byte in each block
    assert undecodable(data, "utf-8", None) == (f"{data}:2: not utf-8 text (invalid start byte at byte {block + 3})")
    data.write_bytes(b"a" * (2 * block) + b"\n\xff")  # in the third block
    assert undecodable(data, "utf-8", None) == f"{data}:2: not utf-8 text (invalid start byte at byte {2 * block + 1})"
    # a character begun at the end of the first block, broken in the next
    data.write_bytes(b"a\n" * (block // 2 - 1) + b"a\xc3x\n")
    assert undecodable(data, "utf-8", None) == (
        f"{data}:{block // 2}: not utf-8 text (invalid continuation byte at byte {block - 1})"
    )


# --- read_table -----------------------------------------------------------------------------------------------


def test_read_table_reads_header_rows_and_how(tmp_path):
    data = tmp_path / "t.csv"
    data.write_bytes(b'\xef\xbb\xbf\n a ;b\r\n1;"x;y"\r\n\r\n2;z\r\n')
    table = read_table(data, Dialect(), option="--", needed=["a"])
    assert (table.names, table.line, table.delimiter, table.detected) == (["a", "b"], 2, ";", True)
    assert table.rows == [(3, ["1", "x;y"]), (5, ["2", "z"])]
    given = read_table("<stdin>", Dialect(","), option="--", text="\ufeffa;b\n1;2\n")
    assert (given.names, given.rows, given.delimiter, given.detected) == (["a;b"], [(2, ["1;2"])], ",", False)
    # a byte-order mark in the text (stdin) is dropped before the quotes of the first cell are read
    quoted = read_table("<stdin>", Dialect(), option="--", text='\ufeff"a,b",c\n1,2\n')
    assert (quoted.names, quoted.delimiter) == (["a,b", "c"], ",")


def test_a_long_text_is_detected_without_the_row_its_sample_cuts(tmp_path):
    # 140 rows of 507 characters: the first 64 KiB end inside a row, where `;` leaves it ragged and `,` does not
    text = "a;b,x;c\n" + "".join(f"1;2,{'z' * 500};3\n" for _ in range(140))
    assert len(text) > SAMPLE_CHARS and text[:SAMPLE_CHARS].endswith("1;2," + "z" * 121)
    table = read_table("<stdin>", Dialect(), option="--", text=text)
    assert (table.names, table.delimiter, len(table.rows)) == (["a", "b,x", "c"], ";", 140)


def test_read_table_messages_for_files_that_cannot_be_read(tmp_path):
    data = tmp_path / "t.csv"
    data.write_text("a,b\n1,2\n")
    assert raised(read_table, data, Dialect(encoding="klingon"), option="dataset.") == (
        f"{data}: unknown encoding 'klingon'; set dataset.encoding"
    )
    assert raised(read_table, tmp_path / "none.csv", Dialect(), option="--") == (
        f"{tmp_path / 'none.csv'}: no such file or folder"
    )
    assert raised(read_table, tmp_path, Dialect(), option="--") == f"{tmp_path}: a folder; expected a CSV file"
    data.write_bytes(b"a,b\n1,\xff\n")
    assert raised(read_table, data, Dialect(), option="--") == (
        f"{data}:2: not utf-8 text (invalid start byte at byte 6); set --encoding to the file's encoding "
        "(e.g. cp1252, latin-1, utf-16)"
    )
    data.write_text('a,b\n1,"' + "x" * 140_000 + '"\n')
    assert raised(read_table, data, Dialect(","), option="--") == (
        f"{data}: unreadable CSV: field larger than field limit (131072)"
    )


def test_read_table_messages_for_what_the_file_holds(tmp_path):
    data = tmp_path / "t.csv"
    data.write_text("\n \n")
    assert raised(read_table, data, Dialect(), option="--") == (
        f"{data}: the file is empty; expected a header row and data rows"
    )
    data.write_text("a,b\n1,2\n")
    assert raised(read_table, data, Dialect(), option="--", needed=["z", "a", "w", "z"]) == (
        f"{data}: no column 'z', 'w'; columns: a, b"
    )
    data.write_text("a;b\n1;2\n")
    assert raised(read_table, data, Dialect(","), option="--", needed=["a"]) == (
        f"{data}:1: the header 'a;b' is one column with delimiter ','; the file looks ';'-separated: "
        "pass --delimiter ';' (or auto)"
    )
    data.write_text("x,a,a\n1,2,3\n")
    assert raised(read_table, data, Dialect(), option="--") == (
        f"{data}:1: the column name 'a' is in the header 2 times (columns 2, 3); every column needs its own name"
    )
    assert read_table(data, Dialect(), option="--", needed=["x"], only_needed=True).names == ["x", "a", "a"]
    data.write_text("a,b\n1,2\n\n3,4,5\n")
    assert raised(read_table, data, Dialect(), option="--") == (
        f"{data}:4: expected 2 fields, found 3 (delimiter ',', detected)"
    )
    assert raised(read_table, data, Dialect(","), option="--") == f"{data}:4: expected 2 fields, found 3"
    data.write_text("a,b\n")
    assert raised(read_table, data, Dialect(), option="--") == f"{data}: no data rows after the header"


def test_list_files_lines_and_messages(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"a.png\rb.png\n\n c.png")
    assert read_lines(listing) == [(1, "a.png"), (2, "b.png"), (3, ""), (4, "c.png")]
    assert raised(read_lines, tmp_path / "none.txt") == f"{tmp_path / 'none.txt'}: no such file or folder"
    assert raised(read_lines, listing, "klingon") == f"{listing}: unknown encoding 'klingon'"
    listing.write_bytes(b"a.png\n\xff.png\n")
    assert raised(read_lines, listing) == (
        f"{listing}:2: not utf-8 text (invalid start byte at byte 6); set --encoding to the file's encoding "
        "(e.g. cp1252, latin-1, utf-16)"
    )
    assert raised(read_lines, listing, "utf-8", None) == f"{listing}:2: not utf-8 text (invalid start byte at byte 6)"


# --- csv_file -------------------------------------------------------------------------------------------------


def csv_file(path: Path, **fields) -> CsvFile:
    return CsvFile(path=str(path), target=fields.pop("target", "y"), **fields)


def test_column_types_and_numbers_with_gaps():
    assert column_type(["1", "NA", "", "2.5"]) == "numeric"
    assert column_type(["1", "x"]) == "text"
    assert column_type(["1,5", "2"]) == "text" and column_type(["1,5", "2"], ",") == "numeric"
    values = numeric_array(["1,5", "NA", "-2"], ",")
    assert values.dtype == np.float32 and values[0] == 1.5 and math.isnan(values[1]) and values[2] == -2


def test_a_validate_problem_is_located_after_the_file_unless_it_names_it():
    path = Path("/d/x.csv")
    assert _located(path, ("features", 1), "no column 'c'") == "/d/x.csv: dataset.features.1: no column 'c'"
    assert _located(path, ("path",), "/d/x.csv:1: bad") == "/d/x.csv:1: bad"


def test_the_example_file_and_the_spec_helpers(tmp_path):
    example = CsvFile.example(tmp_path / "sub")
    path = tmp_path / "sub" / "example.csv"
    assert example.fields == {"name": "csv", "path": str(path), "target": "target"} and example.new_inputs == path
    lines = path.read_text().splitlines()
    assert lines[0] == "a,b,c,target" and len(lines) == 61
    assert {line.split(",")[3] for line in lines[1:]} == {"yes_class", "no_class"}
    spec = csv_file("rel.csv", target="t", delimiter="tab", decimal=",", encoding="cp1252")
    assert spec.dialect() == Dialect("\t", ",", "cp1252")
    assert csv_file("x.csv").dialect() == Dialect("auto", ".", "utf-8")
    assert spec.resolve_paths(tmp_path).path == str(tmp_path / "rel.csv")
    assert csv_file("/abs/x.csv").resolve_paths(tmp_path).path == "/abs/x.csv"
    assert (csv_file("x.csv").known_task(), csv_file("x.csv", task="regression").known_task()) == (None, "regression")
    assert (csv_file("x.csv").known_num_classes(), csv_file("x.csv", positive_class="a").known_num_classes()) == (
        None,
        2,
    )


def test_header_problems_as_validate_reports_them(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a,b,y\n1,2,3\n")
    assert csv_file(data, encoding="klingon").problems() == [(("encoding",), "unknown encoding 'klingon'")]
    assert csv_file(tmp_path / "no.csv").problems() == [(("path",), f"no such file: {tmp_path / 'no.csv'}")]
    assert csv_file(tmp_path).problems() == [(("path",), f"{tmp_path} is a directory, not a CSV file")]
    assert csv_file(data, features=["a", "q"], target="z").problems() == [
        (("target",), "no column 'z'; columns: a, b, y"),
        (("features", 1), "no column 'q'; columns: a, b, y"),
    ]
    data.write_text("\n\n")
    assert csv_file(data).problems() == [(("path",), f"{data} is empty; expected a header row and data rows")]
    data.write_text("a;y\n1;2\n")
    assert csv_file(data, delimiter=",").problems() == [
        (
            ("delimiter",),
            f"{data}:1: the header 'a;y' is one column with delimiter ','; the file looks ';'-separated: "
            "set dataset.delimiter: ';' (or auto)",
        )
    ]
    data.write_text("\na,a,y\n1,2,3\n")
    assert csv_file(data).problems() == [
        (
            ("path",),
            f"{data}:2: the column name 'a' is in the header 2 times (columns 1, 2); every column needs its own name",
        )
    ]
    assert csv_file(data, header=False, target="column_3").problems() == []
    data.write_bytes(b"\xff,y\n1,2\n")
    assert csv_file(data).problems() == [
        (
            ("encoding",),
            f"{data}:1: not utf-8 text (invalid start byte at byte 0); set dataset.encoding to the file's encoding "
            "(e.g. cp1252, latin-1, utf-16)",
        )
    ]


def test_validate_decodes_the_rest_of_a_long_file(tmp_path):
    data = tmp_path / "d.csv"
    rows = "".join(f"{i},{i % 2}\n" for i in range(SAMPLE_CHARS // 4))
    data.write_bytes(b"a,y\n" + rows.encode() + b"1,\xff\n")
    lines = 2 + rows.count("\n")
    offset = 4 + len(rows) + 2
    assert csv_file(data).problems() == [
        (
            ("encoding",),
            f"{data}:{lines}: not utf-8 text (invalid start byte at byte {offset}); set dataset.encoding to the "
            "file's encoding (e.g. cp1252, latin-1, utf-16)",
        )
    ]
    assert raised(csv_file(data).load, 0) == (
        f"{data}:{lines}: not utf-8 text (invalid start byte at byte {offset}); set dataset.encoding to the "
        "file's encoding (e.g. cp1252, latin-1, utf-16)"
    )


def test_load_messages_whole(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a,y\n")
    assert raised(csv_file(data).load, 0) == f"{data}: no data rows after the header"
    data.write_text("a,y\n1,0\n2,1,3\n")
    assert raised(csv_file(data).load, 0) == f"{data}:3: expected 2 fields, found 3 (delimiter ',', detected)"
    assert raised(csv_file(data, delimiter=",").load, 0) == f"{data}:3: expected 2 fields, found 3"
    data.write_text("a,b,y\n1,,0\nNA,?,1\n3,4,\n")
    assert raised(csv_file(data).load, 0) == (
        f"{data}: missing values in a (1), b (2), y (1); set dataset.missing to drop, mean, median or "
        "most_frequent (imputation values come from the training split and are saved in the model)"
    )
    assert raised(csv_file(data, missing="drop").load, 0) == (
        f"{data}: no rows left after dropping rows with missing values"
    )
    gaps = tmp_path / "gaps.csv"
    gaps.write_text("a,b,y\n" + "".join(f"{'NA' if i % 5 == 0 else i},{i % 3},{i % 2}\n" for i in range(30)))
    assert 0 < csv_file(gaps, missing="median").load(0).description.fill_values["a"] < 30  # filled, not an error
    data.write_text("a,y\n1,0\ninf,1\n")
    assert raised(csv_file(data).load, 0) == f"{data}:3: column 'a': 'inf' is not a finite number"


def test_target_messages_whole(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a,y\n1,0.5\n2,low\n")
    assert raised(csv_file(data, task="regression").load, 0) == (
        f"{data}:3: column 'y': non-numeric target 'low' for a regression task (set dataset.task: classification "
        "for text labels, or dataset.decimal for numbers with another decimal mark)"
    )
    data.write_text("a,y\n1,0.5\n2,-inf\n")
    assert raised(csv_file(data).load, 0) == f"{data}:3: column 'y': '-inf' is not a finite number"
    data.write_text("a,y\n1,x\n2,x\n")
    assert raised(csv_file(data).load, 0) == (f"{data}: column 'y': a classification target needs at least 2 classes")


def numbered(tmp_path: Path, targets: list[str], **fields):
    data = tmp_path / "d.csv"
    data.write_text("a,y\n" + "".join(f"{i},{t}\n" for i, t in enumerate(targets)))
    return csv_file(data, **fields).load(0)


def test_integer_targets_with_up_to_20_values_are_classes(tmp_path):
    twenty = numbered(tmp_path, [str(i % 20) for i in range(60)])
    assert twenty.task == "classification"
    assert twenty.description.class_names == [str(i) for i in range(20)]  # in numeric order, not text order
    assert numbered(tmp_path, [str(i % 21) for i in range(63)]).task == "regression"
    assert numbered(tmp_path, ["1.0", "2", "1", "2.0"] * 8).description.class_names == ["1", "2"]
    assert numbered(tmp_path, ["1.5", "2"] * 16).task == "regression"
    assert numbered(tmp_path, ["b", "a", "c"] * 10).description.class_names == ["a", "b", "c"]
    assert numbered(tmp_path, ["0", "1"] * 16, task="regression").task == "regression"


def test_a_file_without_a_header_reads_every_row_as_data(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("".join(f"{i},{i % 2}\n" for i in range(30)))
    loaded = csv_file(data, header=False, target="column_2").load(0)
    assert loaded.feature_names == ["column_1"]
    assert loaded.train.size + loaded.validation.size + loaded.test.size == 30


def test_load_notes_and_details(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a;b;y\n" + "".join(f"{i},5;{i};{i % 2},5\n" for i in range(30)))
    loaded = csv_file(data).load(0)
    assert loaded.notes == [
        f"{data}: delimiter ';' detected (dataset.delimiter: auto; set it to choose)",
        f"{data}: column 'a' is read as text, but its values are numbers written with decimal ',': set "
        "dataset.decimal to that",
        f"{data}: target 'y' is read as class labels, but its values are numbers written with decimal ',': set "
        "dataset.decimal to that",
    ]
    assert loaded.description.details == {"delimiter": ";", "decimal": ".", "encoding": "utf-8"}
    assert csv_file(data, delimiter=";", decimal=",").load(0).notes == []


def test_a_list_file_that_fails_while_being_read_is_named_with_the_reason(tmp_path, monkeypatch):
    import annctl.datasets.csv_dialect as csv_dialect

    listed = tmp_path / "files.txt"
    listed.write_text("a.png\n")

    def failing_open(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(csv_dialect, "open", failing_open, raising=False)
    with pytest.raises(DataError) as error:
        csv_dialect.read_lines(listed)
    assert str(error.value) == f"{listed}: cannot read: Input/output error"


def test_a_regression_target_is_float32_and_the_example_labels_follow_a_plus_b(tmp_path):
    regression = numbered(tmp_path, ["1.5", "2"] * 16)
    assert regression.task == "regression" and regression.train.y.dtype == np.float32
    CsvFile.example(tmp_path / "ex")
    rows = [line.split(",") for line in (tmp_path / "ex" / "example.csv").read_text().splitlines()[1:]]
    assert all((float(a) + float(b) > 0) == (label == "yes_class") for a, b, _, label in rows)


def test_a_csv_file_that_fails_while_being_read_is_named_with_the_reason(tmp_path, monkeypatch):
    import annctl.datasets.csv_file as csv_file_module

    data = tmp_path / "d.csv"
    data.write_text("a,y\n1,2\n")

    def failing_open(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(csv_file_module, "open_text", failing_open)
    assert csv_file(data).read_header() == ([(("path",), f"cannot read {data}: Input/output error")], None)


def test_the_example_values_have_four_decimals_at_most(tmp_path):
    CsvFile.example(tmp_path)
    cells = [cell for line in (tmp_path / "example.csv").read_text().splitlines()[1:] for cell in line.split(",")[:3]]
    assert all(len(cell.partition(".")[2]) <= 4 for cell in cells)
    assert any(len(cell.partition(".")[2]) == 4 for cell in cells)


def test_every_header_problem_is_one_line_of_the_error(tmp_path):
    from annctl.errors import DataError

    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n1,2,3\n")
    with pytest.raises(DataError) as raised:
        csv_file(path, target="t", features=["a", "zz"]).read()
    lines = str(raised.value).splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{path}: dataset.target: ")
    assert lines[1].startswith(f"{path}: dataset.features.1: ")
