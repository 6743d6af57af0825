"""The documented commands: every ```bash block of README.md, CONTRIBUTING.md and docs/**/*.md, as a reader
would type them, and the conventions the pages use around them (tests/test_docs.py runs them):

- `<!-- not-tested: reason -->` on the line above a fence: the block is not run (the reason must say why);
- `<!-- file: PATH -->` above any fence: the block's text is written to PATH (relative to the repository root)
  before the next command runs, so an experiment file shown on a page is the one the commands use;
- `<!-- output -->` above a fence right after a bash block: the block shows that command's stdout, and the
  test compares its shape (the header line, then each line's separators; see :func:`shape`) with what the
  command prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOT_TESTED = re.compile(r"^<!--\s*not-tested:(.*)-->\s*$")
FILE = re.compile(r"^<!--\s*file:\s*(\S+)\s*-->\s*$")
OUTPUT = re.compile(r"^<!--\s*output\s*-->\s*$")
FENCE = re.compile(r"^(\s*)```+\s*([\w+-]*)")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
WORD = re.compile(r"[^\W\d]\w*")

# Commands that need neither TensorFlow nor data: pages made only of these run in the quick loop.
QUICK_COMMANDS = {"validate", "datasets", "models", "schema", "runs", "--help", "--version"}


@dataclass
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    not_tested: str | None = None  # the reason, when marked
    file: str | None = None  # where a `file:` block is written
    output_of: Block | None = None  # the bash block whose stdout this block shows

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.language == "bash" and self.not_tested is None


def documented_pages(root: Path = REPO) -> list[Path]:
    pages = [root / "README.md", root / "CONTRIBUTING.md", *sorted((root / "docs").rglob("*.md"))]
    return [page for page in pages if page.exists()]


def parse(text: str, page: str) -> list[Block]:
    """Every fenced block of a Markdown text, with the marks on the line above it."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, language = opening.group(1), opening.group(2)
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith("```"):
            end += 1
        body = "\n".join(line[len(indent) :] if line.startswith(indent) else line for line in lines[index + 1 : end])
        above = lines[index - 1].strip() if index > 0 else ""
        block = Block(page, index + 1, language, body + "\n")
        if match := NOT_TESTED.match(above):
            block.not_tested = match.group(1).strip()
        elif match := FILE.match(above):
            block.file = match.group(1)
        elif OUTPUT.match(above):
            previous = blocks[-1] if blocks else None
            if previous is None or previous.language != "bash":
                raise ValueError(f"{page}:{index + 1}: an `output` block must follow a bash block")
            block.output_of = previous
        blocks.append(block)
        index = end + 1
    return blocks


def page_blocks(page: Path, root: Path = REPO) -> list[Block]:
    name = str(page.relative_to(root)) if page.is_relative_to(root) else page.name
    return parse(page.read_text(encoding="utf-8"), name)


def commands(block: Block) -> list[list[str]]:
    """The annctl subcommands a block calls (`annctl train ...` → ["train", ...]), for sorting quick from slow."""
    found = []
    for match in re.finditer(r"(?:^|[\s;|&(/])annctl\s+([^\n;|&)]*)", block.text):
        words = match.group(1).split()
        found.append(words)
    return found


def is_quick(block: Block) -> bool:
    """A block runs in the quick loop when it only calls annctl commands that import no TensorFlow."""
    if re.search(r"(^|[\s;|&(])(python3?|pip|mkdocs|tensorboard)\b", block.text):
        return False
    calls = commands(block)
    return bool(calls) and all(words and words[0] in QUICK_COMMANDS for words in calls)


def shape(text: str) -> list[str]:
    """A command's output as the manual shows it, without what a tiny training changes: the first line (a
    header) with each number replaced by N, every later line also with each word replaced by W — so the lines,
    the columns and the separators must stay, the values may differ."""
    lines = [NUMBER.sub("N", line.rstrip()) for line in text.strip("\n").splitlines()]
    return lines[:1] + [WORD.sub("W", line) for line in lines[1:]]
