"""Every command the manual shows runs, as a reader would run it: each page's ```bash blocks in order, in a
temporary copy of the repository, with `annctl` on the PATH (tests/docs_blocks.py says how pages mark blocks).

Training runs on a tiny budget: the `annctl` on the PATH here adds `--set training.epochs=1` to `train` and
`tune`, caps `--trials` at 2 and Fashion-MNIST at 2,000 training images, then runs the real command. Pages whose
commands import no TensorFlow run in the quick loop; the others are marked slow, and realdata when they use
Fashion-MNIST or California housing (skipped when the data is absent).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from .conftest import EXPERIMENTS, real_data_dir
from .docs_blocks import REPO, Block, documented_pages, is_quick, page_blocks, parse, shape

PAGES = documented_pages()
# Experiments whose data is not shipped: a page that names one (or its runs) needs the real data.
REAL_DATA_EXPERIMENTS = sorted(
    path.stem
    for path in EXPERIMENTS.glob("*.yaml")
    if (yaml.safe_load(path.read_text()).get("dataset") or {}).get("name") in {"fashion_mnist", "california_housing"}
)
REAL_DATA_WORDS = (*REAL_DATA_EXPERIMENTS, "fashion_mnist_folders")

# The `annctl` a page's commands find first on the PATH: the real command, with a tiny training budget.
WRAPPER = textwrap.dedent(
    """\
    import os, sys
    import yaml

    args = sys.argv[1:]
    command = args[0] if args else ""
    if command in ("train", "tune") and "--resume" not in args:
        args += ["--set", "training.epochs=1"]
        experiment = next((arg for arg in args[1:] if arg.endswith((".yaml", ".yml"))), None)
        if experiment and os.path.exists(experiment):
            dataset = (yaml.safe_load(open(experiment)) or {}).get("dataset") or {}
            if dataset.get("name") == "fashion_mnist":
                args += ["--set", "dataset.max_train_samples=2000"]
    if command == "tune" and "--trials" in args:
        at = args.index("--trials") + 1
        args[at] = str(min(int(args[at]), 2))
    os.execv(sys.executable, [sys.executable, "-m", "annctl", *args])
    """
)


def _marks(page: Path) -> list:
    running = [block for block in page_blocks(page) if block.runs]
    marks = []
    if not all(is_quick(block) for block in running):
        marks.append(pytest.mark.slow)
    if any(word in block.text for block in running for word in REAL_DATA_WORDS):
        marks.append(pytest.mark.realdata)
    return marks


def _has_real_data() -> bool:
    data = real_data_dir()
    sklearn_home = os.environ.get("SCIKIT_LEARN_DATA")
    return data is not None and (data / "fashion-mnist").is_dir() and bool(sklearn_home) and Path(sklearn_home).is_dir()


def _workspace(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    work = tmp_path / "repo"
    ignore = shutil.ignore_patterns(".venv", ".git", "runs", "site", "__pycache__", "*.egg-info", ".ruff_cache")
    shutil.copytree(REPO, work, ignore=ignore)
    (work / "runs").mkdir()  # a clone has it, empty (runs/.gitkeep)
    # `annctl` and `.venv/bin/annctl`, `.venv/bin/python` as a checkout with its environment has them
    bin_dir = work / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    wrapper = bin_dir / "annctl"
    wrapper.write_text(f"#!{sys.executable}\n{WRAPPER}")
    wrapper.chmod(0o755)
    for name in ("python", "python3"):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        (bin_dir / name).chmod(0o755)
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANNCTL_RUNS")}
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env.get("PATH", "")])
    env["ANNCTL_CACHE_DIR"] = str(tmp_path / "cache")
    env["COLUMNS"] = "100"
    return work, env


def run_page(page: Path, tmp_path: Path) -> int:
    """Run a page's blocks in order; returns how many commands blocks ran."""
    work, env = _workspace(tmp_path)
    outputs: dict[int, str] = {}
    ran = 0
    for block in page_blocks(page):
        if block.file:
            target = work / block.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text)
        elif block.output_of is not None and block.output_of.runs:
            expected, actual = shape(block.text), shape(outputs[block.output_of.line])
            assert actual[: len(expected)] == expected and len(actual) == len(expected), (
                f"{block.where}: the output shown is not what `{block.output_of.text.strip()}` prints now:\n"
                + outputs[block.output_of.line]
            )
        elif block.runs:
            result = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block.text],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=1200,
            )
            assert result.returncode == 0, (
                f"{block.where}: exit {result.returncode}\n{block.text}\nstdout:\n{result.stdout[-2000:]}\n"
                f"stderr:\n{result.stderr[-4000:]}"
            )
            outputs[block.line] = result.stdout
            ran += 1
    return ran


PAGES_WITH_COMMANDS = [page for page in PAGES if any(block.runs for block in page_blocks(page))]


@pytest.mark.parametrize(
    "page", [pytest.param(page, marks=_marks(page), id=str(page.relative_to(REPO))) for page in PAGES_WITH_COMMANDS]
)
def test_documented_commands_run(page: Path, tmp_path):
    running = [block for block in page_blocks(page) if block.runs]
    if any(word in block.text for block in running for word in REAL_DATA_WORDS) and not _has_real_data():
        pytest.skip("needs Fashion-MNIST and California housing (ANNCTL_DATA_DIR, SCIKIT_LEARN_DATA)")
    assert run_page(page, tmp_path) == len(running)


def test_every_block_is_run_or_says_why_not():
    """Lists the blocks left out with their reasons; one without a reason fails, and so does a bash block that
    bash cannot parse."""
    left_out, count = [], 0
    for page in PAGES:
        for block in page_blocks(page):
            if block.language != "bash":
                continue
            if block.not_tested is not None:
                assert block.not_tested, f"{block.where}: `not-tested:` needs a reason"
                left_out.append(f"{block.where}: {block.not_tested}")
                continue
            count += 1
            check = subprocess.run(["bash", "-n", "-c", block.text], capture_output=True, text=True)
            assert check.returncode == 0, f"{block.where}: {check.stderr}"
    print(f"{count} documented command blocks run; left out:\n" + "\n".join(left_out))
    assert count > 0


def test_not_tested_without_a_reason_is_an_error():
    blocks = parse("<!-- not-tested: -->\n```bash\nrm -rf /\n```\n", "page.md")
    assert blocks[0].not_tested == "" and not blocks[0].runs


def test_marks_and_blocks_are_read_from_the_line_above_the_fence():
    text = (
        "<!-- file: my.yaml -->\n```yaml\nname: x\n```\n\n"
        "```bash\nannctl datasets\n```\n<!-- output -->\n```text\niris\n```\n"
        "<!-- not-tested: needs a server -->\n\n```bash\ncurl http://localhost\n```\n"
    )
    file_block, command, output, unmarked = parse(text, "page.md")
    assert file_block.file == "my.yaml" and file_block.text == "name: x\n" and not file_block.runs
    assert command.runs and command.line == 6 and output.output_of is command
    assert unmarked.runs, "a mark that is not on the line right above a fence does not apply"


def test_an_output_block_must_follow_a_command():
    with pytest.raises(ValueError, match="page.md:2"):
        parse("<!-- output -->\n```text\n1\n```\n", "page.md")


def test_output_shape_ignores_values_but_not_columns():
    shown = "file,prediction,probability\nmy_pet.jpg,dogs,0.91\n"
    assert shape(shown) == shape("file,prediction,probability\nmy_pet.jpg,cats,0.5\n")
    assert shape(shown) != shape("file,prediction,probability,top_k\nmy_pet.jpg,dogs,0.5,dogs:0.5\n")
    assert shape(shown) != shape("file,prediction,probability\nmy_pet.jpg,dogs,0.5,dogs:0.5\n")
    assert shape(shown) != shape("file,class,probability\nmy_pet.jpg,dogs,0.91\n")


def test_a_page_whose_command_fails_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\nannctl validate no-such-file.yaml\n```\n")
    with pytest.raises(AssertionError, match="page.md:1: exit 2"):
        run_page(page, tmp_path)


def test_a_changed_output_shape_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\nannctl models | head -2\n```\n<!-- output -->\n```text\ncnn\n```\n")
    with pytest.raises(AssertionError, match="is not what"):
        run_page(page, tmp_path)


def test_quick_pages_call_only_commands_without_tensorflow():
    from .docs_blocks import is_quick

    assert is_quick(Block("p", 1, "bash", "annctl validate experiments/iris_mlp.yaml\nannctl runs list\n"))
    assert not is_quick(Block("p", 1, "bash", "annctl validate x.yaml && annctl train x.yaml\n"))
    assert not is_quick(Block("p", 1, "bash", "python experiments/data/make_examples.py photos\n"))
