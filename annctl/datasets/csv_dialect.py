"""The one reader of the text files annctl reads — CSV files as spreadsheets and exports write them, and list
files — : the encoding (a UTF-8 byte-order mark is dropped, as Notepad, PowerShell and Excel's "CSV UTF-8"
write one), the delimiter (`auto` detects `,` `;` tab `|`), decimal commas, quoted fields holding delimiters,
quotes and line breaks, CRLF line ends; and the header's own checks (no empty name, no name twice).

Shared by training (``csv_file``, ``timeseries``: their datasets and `annctl validate`) and new inputs
(``tabular.RowReader``, ``timeseries.SeriesReader``, ``images.list_file``: `predict`, `evaluate --data`), so
every command reads a file the same way and says the same thing about it. Imports nothing heavy: `predict`
may read its input without TensorFlow.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, TextIO, Union

from pydantic import Field

from annctl.errors import DataError
from annctl.wording import shown_path

DELIMITERS = (",", ";", "\t", "|")  # what `auto` tries, in this order of preference on a tie
SAMPLE_CHARS = 1 << 16  # `auto` looks at the first 64 KiB of text ...
SAMPLE_ROWS = 200  # ... and at most this many rows of it


# The dialect fields of a dataset read from a CSV file (`csv`, `timeseries`): one definition, one description.
DelimiterField = Union[Literal["auto", "tab"], Annotated[str, Field(min_length=1, max_length=1)]]


def delimiter_field(noted: str = "the choice is noted on stderr"):
    return Field(
        "auto",
        description=f"Field separator: `auto` (detect `,` `;` tab `|` from the first rows; {noted} and recorded "
        "in the run), `tab`, or one character.",
    )


def decimal_field():
    return Field(".", description="Decimal mark of numbers: `.` (1.5) or `,` (1,5, as European spreadsheets export).")


def encoding_field():
    return Field("utf-8", description="Text encoding of the file (UTF-8: a byte-order mark is skipped).")


def shown(delimiter: str) -> str:
    """A delimiter as messages and options write it: `tab`, or the character in quotes."""
    return "tab" if delimiter == "\t" else repr(delimiter)


def python_encoding(encoding: str) -> str:
    """The codec to open a file with: UTF-8 reads past a byte-order mark ("CSV UTF-8" as Excel saves it).

    Raises LookupError for an unknown encoding.
    """
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def open_text(path: Path, encoding: str) -> TextIO:
    """``path`` as text for the csv module (``newline=""``: CRLF and line breaks inside quotes kept apart)."""
    return open(path, newline="", encoding=python_encoding(encoding))


def column_name(cell: str) -> str:
    """A header cell as annctl names the column: surrounding spaces and a stray byte-order mark removed, and
    Unicode in its composed form (a file written on macOS may spell `é` as two code points)."""
    return unicodedata.normalize("NFC", cell.replace("\ufeff", "").strip())


def parse_number(cell: str, decimal: str = ".") -> float | None:
    """The number a cell holds (None: not a number). With ``decimal`` "," the decimal mark is a comma
    (`1,5`), and a cell with a point is not a number: it may be a thousands separator (`1.234,5`)."""
    text = cell.strip()
    if decimal == ",":
        if "." in text:
            return None
        text = text.replace(",", ".", 1)
    try:
        return float(text)
    except ValueError:
        return None


def rows_of(text: TextIO, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """``(line, row)`` for every row, blank rows left out; ``line`` is where the row starts (a quoted cell
    may span lines). Raises csv.Error for a malformed file."""
    reader = csv.reader(text, delimiter=delimiter)
    line = 1
    for row in reader:
        if any(cell.strip() for cell in row):
            yield line, row
        line = reader.line_num + 1


def detect_delimiter(sample: str, complete: bool = True) -> str | None:
    """The candidate of :data:`DELIMITERS` that reads the sample best: the header splits into two or more
    columns, and every row has as many fields as the header (a delimiter that leaves rows ragged ranks
    below one that does not), then the most columns. None when every candidate leaves one column.
    ``complete`` False: the sample is cut off, so its last row is left out."""
    best, best_score = None, None
    for delimiter in DELIMITERS:
        try:
            rows = [row for _, row in _first_rows(sample, delimiter, complete)]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        score = (all(len(row) == len(rows[0]) for row in rows[1:]), len(rows[0]))
        if best_score is None or score > best_score:
            best, best_score = delimiter, score
    return best


def _first_rows(sample: str, delimiter: str, complete: bool) -> list[tuple[int, list[str]]]:
    rows = []
    for item in rows_of(io.StringIO(sample), delimiter):
        rows.append(item)
        if len(rows) > SAMPLE_ROWS:
            break
    return rows if complete else rows[:-1] or rows


def sample_of(handle: TextIO) -> tuple[str, bool]:
    """The first :data:`SAMPLE_CHARS` characters of ``handle`` and whether that is all of it."""
    sample = handle.read(SAMPLE_CHARS)
    return sample, len(sample) < SAMPLE_CHARS


def one_column_message(where: str, header: list[str], delimiter: str, sample: str, option: str) -> str | None:
    """The message for a header that ``delimiter`` leaves as one column (None: it splits). ``option`` is how the
    user sets the delimiter (`dataset.delimiter`, `--delimiter`)."""
    if len(header) != 1:
        return None
    verb, space = ("pass", " ") if option.startswith("--") else ("set", ": ")
    guess = detect_delimiter(sample)
    cell = header[0] if len(header[0]) <= 60 else header[0][:57] + "..."
    if guess is None:
        tried = " ".join(shown(d).strip("'") for d in DELIMITERS)
        return (
            f"{where}: the header {cell!r} is one column with every delimiter annctl tries ({tried}); "
            f"{verb} {option} to the file's separator"
        )
    return (
        f"{where}: the header {cell!r} is one column with delimiter {shown(delimiter)}; the file looks "
        f"{shown(guess)}-separated: {verb} {option}{space}{shown(guess)} (or auto)"
    )


def header_problems(where: str, names: list[str], only: list[str] | None = None) -> list[str]:
    """What is wrong with a header's names (``where``: `FILE:LINE`): one message for the unnamed columns,
    one per name written more than once. ``only``: just these names matter (new rows: the columns the model
    reads), so unnamed columns and other repeated names are no problem."""
    problems = []
    empty = [i + 1 for i, name in enumerate(names) if not name] if only is None else []
    if empty:
        which = f"column {empty[0]} has" if len(empty) == 1 else f"columns {', '.join(map(str, empty))} have"
        hint = " (an unnamed first column is often a saved index: write the file without it)" if empty[0] == 1 else ""
        problems.append(f"{where}: {which} no name in the header; name every column, or remove it{hint}")
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        if name:
            seen.setdefault(name, []).append(i + 1)
    for name, columns in seen.items():
        if len(columns) > 1 and (only is None or name in only):
            problems.append(
                f"{where}: the column name {name!r} is in the header {len(columns)} times (columns "
                f"{', '.join(map(str, columns))}); every column needs its own name"
            )
    return problems


def undecodable(path: Path, encoding: str, option: str | None = "dataset.encoding") -> str | None:
    """Where the file stops being ``encoding`` text, as a message `FILE:LINE: ...` that says to set ``option``
    (None: it all decodes). Reads the whole file in blocks (`annctl validate` checks it before anything loads)."""
    decoder = codecs.getincrementaldecoder(encoding)()  # a byte-order mark decodes too: no need to skip it
    offset, lines = 0, 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(1 << 20)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                # the decoder may hold a few bytes of the previous block: locate from the block's start (a
                # negative start: the bad sequence began in those held bytes, e.g. a file cut inside a character)
                start = error.start - (len(error.object) - len(block))
                line = lines + block[: max(start, 0)].count(b"\n") + 1
                advice = f"; set {option} to the file's encoding (e.g. cp1252, latin-1, utf-16)" if option else ""
                return (
                    f"{shown_path(path)}:{line}: not {encoding} text ({error.reason} at byte {offset + start}){advice}"
                )
            if not block:
                return None
            offset += len(block)
            lines += block.count(b"\n")


@dataclass(frozen=True)
class Dialect:
    """How a CSV file is written: its delimiter (`auto`: detected), decimal mark and encoding."""

    delimiter: str = "auto"
    decimal: str = "."
    encoding: str = "utf-8"

    def resolve(self, sample: str, complete: bool = True) -> tuple[str, bool]:
        """The delimiter to read with, and whether it was detected (None detected: `,`, and the header's
        one-column check says why)."""
        if self.delimiter != "auto":
            return self.delimiter, False
        return detect_delimiter(sample, complete) or ",", True

    def number(self, cell: str) -> float | None:
        return parse_number(cell, self.decimal)


@dataclass(frozen=True)
class Table:
    """A CSV file read whole: its header names, the line of the header, the data rows with the line each starts
    on, and the delimiter read with (``detected``: by `auto`)."""

    names: list[str]
    line: int
    rows: list[tuple[int, list[str]]]
    delimiter: str
    detected: bool


def read_table(
    source: str | Path,
    dialect: Dialect,
    *,
    option: str,
    needed: Sequence[str] = (),
    text: str | None = None,
    only_needed: bool = False,
) -> Table:
    """The header and every non-empty row of a CSV file (``text``: its contents already read, e.g. stdin, with
    ``source`` naming it) in ``dialect``. Every problem is a DataError naming the file and, where there is one,
    the line: missing, undecodable, a ``needed`` column absent (a header left one column by the delimiter says
    so), an unnamed or repeated column name, a row of another length than the header, no data rows.
    ``option``: how the user sets the dialect, `dataset.` or `--` (messages say `dataset.encoding`,
    `--encoding`). ``only_needed``: only the ``needed`` names must be unique (a series: other columns are not
    read, so an unnamed saved index or a repeated name among them is no problem)."""
    from annctl.paths import why_unreadable

    if text is None:
        path = Path(source)
        try:
            python_encoding(dialect.encoding)
        except LookupError:
            raise DataError(
                f"{shown_path(source)}: unknown encoding {dialect.encoding!r}; set {option}encoding"
            ) from None
        if (why := why_unreadable(path)) is not None:
            raise DataError(f"{shown_path(source)}: {why}")
        try:
            with open_text(path, dialect.encoding) as handle:
                text = handle.read()
        except IsADirectoryError:
            raise DataError(f"{shown_path(source)}: a folder; expected a CSV file") from None
        except UnicodeDecodeError:
            message = undecodable(path, dialect.encoding, f"{option}encoding")
            raise DataError(message or f"{shown_path(source)}: not {dialect.encoding} text") from None
        except OSError as error:
            raise DataError(f"{shown_path(source)}: cannot read: {error.strerror or error}") from None
    text = text.removeprefix("\ufeff")
    delimiter, detected = dialect.resolve(text[:SAMPLE_CHARS], len(text) <= SAMPLE_CHARS)
    try:
        rows = list(rows_of(io.StringIO(text), delimiter))
    except csv.Error as error:
        raise DataError(f"{shown_path(source)}: unreadable CSV: {error}") from None
    if not rows:
        raise DataError(f"{shown_path(source)}: the file is empty; expected a header row and data rows")
    (line, cells), body = rows[0], rows[1:]
    where = f"{shown_path(source)}:{line}"
    names = [column_name(cell) for cell in cells]
    absent = [name for name in dict.fromkeys(needed) if name not in names]
    if absent:
        one_column = one_column_message(where, cells, delimiter, text[:SAMPLE_CHARS], f"{option}delimiter")
        raise DataError(
            one_column or f"{shown_path(source)}: no column {', '.join(map(repr, absent))}; columns: {', '.join(names)}"
        )
    problems = header_problems(where, names, only=list(needed) if only_needed else None)
    if problems:
        raise DataError("\n".join(problems))
    for number, row in body:
        if len(row) != len(names):
            how = f" (delimiter {shown(delimiter)}, detected)" if detected else ""
            raise DataError(f"{shown_path(source)}:{number}: expected {len(names)} fields, found {len(row)}{how}")
    if not body:
        raise DataError(f"{shown_path(source)}: no data rows after the header")
    return Table(names, line, body, delimiter, detected)


def read_lines(path: Path, encoding: str = "utf-8", option: str | None = "--encoding") -> list[tuple[int, str]]:
    """The lines of a text file (a list file), each with its number: a byte-order mark dropped, CRLF and CR
    line ends as LF, surrounding spaces stripped. An unreadable file is a DataError naming it."""
    from annctl.paths import why_unreadable

    if (why := why_unreadable(path)) is not None:
        raise DataError(f"{shown_path(path)}: {why}")
    try:
        with open(path, encoding=python_encoding(encoding)) as handle:  # universal newlines: CRLF, CR
            text = handle.read()
    except LookupError:
        raise DataError(f"{shown_path(path)}: unknown encoding {encoding!r}") from None
    except UnicodeDecodeError:
        raise DataError(undecodable(path, encoding, option) or f"{shown_path(path)}: not {encoding} text") from None
    except OSError as error:
        raise DataError(f"{shown_path(path)}: cannot read: {error.strerror or error}") from None
    return [(number, line.strip()) for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), 1)]
