"""The `annctl` command line: parse arguments, call one function per command, print. Nothing else.

TensorFlow, Keras and scikit-learn are imported only inside the commands that train, so `--help`,
`validate`, `datasets` and `models` start fast.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, cast

import typer
from typer.core import TyperCommand, TyperGroup

from annctl import __version__
from annctl.errors import AnnctlError, UsageError
from annctl.wording import plural

if TYPE_CHECKING:
    from annctl.modelio import Checkpoint

STARTED = time.perf_counter()  # for the summary's "command time" (Python's own start-up is ~0.05 s before)

# `annctl evaluate RUN | head -3`: when the reader of stdout goes away, end quietly with the status a shell
# reports for a Unix tool stopped by SIGPIPE (128 + 13), as `cat` or `git log` do (README: exit codes).
BROKEN_PIPE_EXIT = 141


class _Commands(TyperGroup):
    """annctl's command group: a closed stdout ends any command quietly (click alone would exit 1)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # Python flushes stdout again at exit: point it at /dev/null so that flush cannot fail (the recipe
            # of Python's documentation, "Note on SIGPIPE").
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(BROKEN_PIPE_EXIT) from None


class _Command(TyperCommand):
    """An annctl command: its usage line writes a required argument as Unix tools do (`EXP.yaml`), not in the
    braces Typer puts around it (`{EXP.yaml}`)."""

    def collect_usage_pieces(self, ctx):
        pieces = super().collect_usage_pieces(ctx)
        return [piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece for piece in pieces]


app = typer.Typer(
    cls=_Commands,
    name="annctl",
    help="Run neural-network experiments from YAML files: train, evaluate, predict, backprop, compare, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@functools.cache
def _console(stderr: bool):
    """A rich Console made on first use (importing rich costs ~0.1 s, which `validate` need not pay).

    A real Console, never a proxy: rich uses it as a context manager (`with console:`), and Python looks
    such methods up on the type, where a forwarding ``__getattr__`` does not reach (the terminal crash of
    issue 16).
    """
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:  # rich's own exits 1 at once; _Commands ends with 141
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    return _Console(stderr=stderr, soft_wrap=True)


def out():
    """stdout: results for scripts."""
    return _console(False)


def err():
    """stderr: progress, tables, messages."""
    return _console(True)


def warn(message: str) -> None:
    from rich.markup import escape  # a column named `Preis [EUR]` is text, not markup

    prose(err(), f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)


def prose(console, text, **options) -> None:
    """A line of words on ``console``, wrapped between words on a terminal (annctl.progress.print_prose)."""
    from annctl.progress import print_prose

    print_prose(console, text, **options)


def print_line(text: str) -> None:
    """One plain line on stdout, without rich."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


RunsDirOption = Annotated[
    Optional[Path],
    typer.Option(
        "--runs-dir",
        envvar="ANNCTL_RUNS_DIR",
        help="Runs root: where runs are written and RUN names looked up (default: ./runs).",
    ),
]
SetOption = Annotated[
    Optional[list[str]],
    typer.Option("--set", metavar="PATH=VALUE", help="Override a spec field, e.g. training.epochs=3 (repeatable)."),
]
ExperimentArg = Annotated[Path, typer.Argument(metavar="EXP.yaml", help="Experiment file.")]


def print_json(data) -> None:
    """JSON for scripts on stdout: plain (rich's highlighting is slow on large documents and adds nothing)."""
    from annctl.fileio import json_text

    sys.stdout.write(json_text(data) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def user_errors(json_output: bool = False) -> Iterator[None]:
    """Turn annctl's own exceptions into a message on stderr and the documented exit code.

    An error that carries the run directory it leaves (an interrupted, failed or diverged training) prints it
    on stdout too, as a finished training does, so `RUN=$(annctl train ... --quiet)` can resume or inspect it;
    with ``json_output`` the run's summary.json instead.
    """
    try:
        yield
    except AnnctlError as error:
        from rich.markup import escape  # a column named `Preis [EUR]` is text, not markup

        for line in str(error).splitlines() or [type(error).__name__]:
            prose(err(), f"[red]error:[/red] {escape(line)}", markup=True, highlight=False)
        if error.run_dir is not None:
            if json_output:
                from annctl.rundir import read_summary

                summary = read_summary(error.run_dir)
                print_json(summary.model_dump(mode="json") if summary else {"run_dir": str(error.run_dir)})
            else:
                print_line(str(error.run_dir))
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        err().print("[yellow]interrupted[/yellow]")
        raise typer.Exit(130) from None
    except BrokenPipeError:
        raise  # stdout's reader went away: _Commands ends the command quietly
    except OSError as error:  # a full disk, a permission, a planted symlink: one line naming the path
        from rich.markup import escape

        from annctl.wording import shown_path

        where = f"{shown_path(error.filename)}: " if error.filename else ""
        prose(err(), f"[red]error:[/red] {escape(f'{where}{error.strerror or error}')}", markup=True, highlight=False)
        raise typer.Exit(1) from None


def load_tensorflow(quiet: bool = False) -> None:
    """Import TensorFlow and Keras now, under a "loading TensorFlow…" spinner on a terminal (seconds of blank
    screen otherwise); the command's own first use of them is then instant."""
    from annctl.progress import spinner
    from annctl.training.tf_setup import import_tensorflow

    with spinner("loading TensorFlow…") if not quiet else contextlib.nullcontext():
        import_tensorflow()
        import keras  # noqa: F401 - a second or two more after TensorFlow


def _version(value: bool) -> None:
    if value:
        out().print(f"annctl {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Run neural-network experiments from YAML files."""


@app.command(cls=_Command)
def train(
    experiment: Annotated[
        Optional[Path], typer.Argument(metavar="EXP.yaml", help="Experiment file (optional with --resume).")
    ] = None,
    set_: SetOption = None,
    resume: Annotated[
        Optional[str],
        typer.Option("--resume", metavar="RUN", help="Continue an interrupted or killed run from its last epoch."),
    ] = None,
    runs_dir: RunsDirOption = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Run name (overrides the spec's name).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed (overrides the spec's seed).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print summary.json on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the run directory.")] = False,
) -> None:
    """Train an experiment into a new run directory and print its path (or continue one with --resume)."""
    from annctl.config import load_spec
    from annctl.progress import RichReporter, summary_table
    from annctl.rundir import resolve_run, runs_root

    overrides = list(set_ or [])
    # --name and --seed set spec fields; a message about one names the option, not `--set`
    options = [option for option in (("--name", "name", name), ("--seed", "seed", seed)) if option[2] is not None]
    reporter = None if quiet else RichReporter(err())
    # the reporter stops its bar (an interrupted epoch's) before user_errors prints the message
    with user_errors(json_output), reporter or contextlib.nullcontext():
        root = runs_root(runs_dir)
        if resume is not None:
            from annctl.training import resume as resume_training

            if overrides or options:
                raise UsageError("--resume continues a run as it started; --set, --name and --seed do not apply")
            spec = load_spec(experiment) if experiment is not None else None
            run_dir = resolve_run(resume, root)
            load_tensorflow(quiet)
            summary = resume_training(run_dir, root, experiment=spec, source=str(experiment), reporter=reporter)
        else:
            from annctl.training import train as run_training

            if experiment is None:
                raise UsageError("give an experiment file (or --resume RUN)")
            spec = load_spec(experiment, overrides, options)
            load_tensorflow(quiet)
            summary = run_training(spec, root, source=str(experiment), reporter=reporter, argv=sys.argv)
    if json_output:
        print_json(summary.model_dump(mode="json"))
        return
    if not quiet:
        prose(err(), summary_table(summary, command_seconds=time.perf_counter() - STARTED))
    if summary.run_dir is not None:  # None on a multi-worker run's non-chief workers
        out().print(summary.run_dir, highlight=False)


@app.command(cls=_Command)
def tune(
    experiment: Annotated[
        Optional[Path], typer.Argument(metavar="[EXP.yaml]", help="Experiment file with a `search:` section.")
    ] = None,
    set_: SetOption = None,
    trials: Annotated[
        Optional[int], typer.Option("--trials", min=1, help="Finished trials the study should hold (default 20).")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Trials at once on this machine (cores are split).")
    ] = 1,
    timeout: Annotated[Optional[float], typer.Option("--timeout", help="Start no new trial after SECONDS.")] = None,
    storage: Annotated[
        Optional[str],
        typer.Option(
            "--storage",
            help="Optuna storage URL, e.g. postgresql://user@host/db (default: SQLite in the tune directory).",
        ),
    ] = None,
    study: Annotated[
        Optional[str], typer.Option("--study", help="Study name (workers sharing a storage join it).")
    ] = None,
    sampler: Annotated[
        str, typer.Option("--sampler", help="random (the course's randomized search) or tpe.")
    ] = "random",
    pruner: Annotated[str, typer.Option("--pruner", help="none, median or hyperband.")] = "none",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the first configurations and the budget; train nothing.")
    ] = False,
    resume: Annotated[
        Optional[Path],
        typer.Option("--resume", metavar="TUNE_DIR", help="Continue a search (retries interrupted trials once)."),
    ] = None,
    runs_dir: RunsDirOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print summary.json on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the tune directory.")] = False,
) -> None:
    """Randomized hyperparameter search: every trial a complete run under TUNE_DIR/trials/."""
    from annctl.config import load_spec
    from annctl.progress import leaderboard_table, trial_line
    from annctl.rundir import runs_root
    from annctl.tuning import runner
    from annctl.tuning.outputs import read_leaderboard

    root = runs_root(runs_dir)
    on_trial = None if quiet else (lambda event: prose(err(), trial_line(event), highlight=False))
    with user_errors():
        if resume is not None:
            if experiment is not None or set_:
                raise UsageError("--resume continues a search as it was started; give no experiment or --set")
            config, spec = runner.load(resume)
            if trials is not None:
                config.trials = trials
                runner.record_config(resume, config)
            search = runner.Search(
                resume, config, spec, root, storage=storage, workers=workers, resume=True, on_trial=on_trial
            )
            tune_dir = resume
        else:
            if experiment is None:
                raise UsageError("give an experiment file, or --resume TUNE_DIR")
            spec = load_spec(experiment, list(set_ or []))
            options = runner.TuneOptions(
                trials=20 if trials is None else trials,
                workers=workers,
                timeout=timeout,
                storage=storage,
                study=study,
                sampler=sampler,
                pruner=pruner,
            )
            if dry_run:
                plan = runner.dry_run(spec, options, root)
                if json_output:
                    print_json(plan)
                else:
                    _print_plan(plan)
                return
            tune_dir = runner.start(spec, options, root)
            config, spec = runner.load(tune_dir)
            if not quiet:
                prose(
                    err(),
                    f"[bold]{spec.name}[/bold]: searching {len(spec.search_section().space)} parameters, "
                    f"{plural(config.trials, 'trial')}, {plural(workers, 'worker')} → {tune_dir}",
                )
            search = runner.Search(tune_dir, config, spec, root, storage=storage, workers=workers, on_trial=on_trial)
        # on a terminal a spinner under the trial lines says the search is at work (trials take minutes)
        searching = err().status("searching…") if err().is_terminal and not quiet else contextlib.nullcontext()
        with searching:
            summary = search.run()
    if json_output:
        print_json(summary.model_dump(mode="json"))
        return
    if not quiet:
        from annctl.rundir import TunePaths

        err().print(leaderboard_table(summary, read_leaderboard(tune_dir)))
        if summary.best_trial is not None:
            prose(
                err(),
                f"best: trial {summary.best_trial:03d}, {summary.metric} {summary.best_value:.6g}; "
                f"train it with: annctl train {TunePaths(tune_dir).best}",
                highlight=False,
            )
    out().print(str(tune_dir), highlight=False)


def _print_plan(plan) -> None:
    from annctl.progress import budget_line, plan_table

    err().print(plan_table(plan["configurations"]))
    out().print(budget_line(plan["budget"]), highlight=False)


@app.command(cls=_Command)
def validate(
    experiment: ExperimentArg,
    set_: SetOption = None,
    show: Annotated[bool, typer.Option("--show", help="Print the resolved spec as YAML.")] = False,
    runs_dir: RunsDirOption = None,
) -> None:
    """Check an experiment file, its CSV header and `init_from` (no TensorFlow); exit 2 listing every problem."""
    from annctl.config import load_spec

    with user_errors():
        spec = load_spec(experiment, list(set_ or []), complete=True, runs_root=runs_dir)
    if show:
        from annctl.rundir import spec_to_yaml

        out().print(spec_to_yaml(spec), highlight=False, end="")
        return
    print_line(
        f"{experiment}: valid — {spec.name}: {spec.model.architecture} on {spec.dataset.name}, "
        f"{spec.training.optimizer} lr={spec.training.learning_rate}, up to {plural(spec.training.epochs, 'epoch')}"
        + (f"; searches {len(spec.search.space)} parameters (annctl tune)" if spec.search else "")
    )


@app.command(cls=_Command)
def backprop(
    experiment: ExperimentArg,
    set_: SetOption = None,
    steps: Annotated[int, typer.Option("--steps", min=1, max=1_000_000, help="Gradient-descent steps to run.")] = 1,
    every: Annotated[
        Optional[int], typer.Option("--every", min=1, help="Show every K-th step in full (default: all when ≤ 5).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print every number as JSON on stdout.")] = False,
) -> None:
    """Step through the forward and backward passes by hand, checked against TensorFlow."""
    from annctl.backprop import run_backprop
    from annctl.backprop.render import check_line, final_table, step_tables
    from annctl.config import load_spec

    with user_errors():
        spec = load_spec(experiment, list(set_ or []))
        load_tensorflow()
        result = run_backprop(spec, steps=steps, every=every, source=str(experiment))
    if json_output:
        print_json(result)
    elif result.get("network") == "rnn":
        from annctl.backprop.render import through_time_final, through_time_tables, vanishing_line

        prose(
            out(),
            f"[bold]{result['experiment']}[/bold]: backpropagation through time, {result['samples']} sequence(s) "
            f"of {result['time_steps']} steps, {result['units']} unit(s), loss {result['loss_function']}, learning "
            f"rate {result['learning_rate']:g}, activations {' → '.join(result['activations'])}",
        )
        for record in result["shown_steps"]:
            for table in through_time_tables(record, result["learning_rate"]):
                out().print(table)
            out().print(f"loss E = {record['loss']:.9g}")
            prose(out(), vanishing_line(record))
        out().print(through_time_final(result))
        prose(out(), check_line(result["check"]))
    else:
        prose(
            out(),
            f"[bold]{result['experiment']}[/bold]: {result['samples']} sample(s), loss {result['loss_function']}, "
            f"learning rate {result['learning_rate']:g}, activations {' → '.join(result['activations'])}",
        )
        for record in result["shown_steps"]:
            for table in step_tables(record, result["learning_rate"]):
                out().print(table)
            out().print(f"loss C = {record['loss']:.9g}")
        out().print(final_table(result))
        prose(out(), check_line(result["check"]))
    if not result["check"]["agrees"]:
        prose(err(), "[bold red]error:[/bold red] the hand computation and TensorFlow disagree (see above)")
        raise typer.Exit(1)


RunArg = Annotated[
    str, typer.Argument(metavar="RUN", help="Run directory, `latest`, a run name (its newest run), or a unique prefix.")
]
CheckpointOption = Annotated[
    str, typer.Option("--checkpoint", help="Which model: final (model.keras), best or last checkpoint.")
]


DelimiterOption = Annotated[
    Optional[str],
    typer.Option(
        "--delimiter", help="CSV input's field separator: auto, tab or one character (default: the training file's)."
    ),
]
DecimalOption = Annotated[
    Optional[str], typer.Option("--decimal", help="CSV input's decimal mark: . or , (default: the training file's).")
]
EncodingOption = Annotated[
    Optional[str],
    typer.Option("--encoding", help="CSV input's (or list file's) text encoding (default: the training file's)."),
]
OnBadImageOption = Annotated[
    Optional[str],
    typer.Option(
        "--on-bad-image",
        metavar="error|skip",
        help="Image folders and lists: a file that is not a readable image stops (error) or is left out and "
        "counted (skip). Default: the run's dataset.on_bad_image.",
    ),
]


def _on_bad_image(value: str | None) -> str | None:
    if value not in (None, "error", "skip"):
        raise typer.BadParameter(f"{value!r}: use error or skip", param_hint="--on-bad-image")
    return value


def _checkpoint(value: str) -> Checkpoint:
    if value not in ("final", "best", "last"):
        raise typer.BadParameter(f"{value!r}: use final, best or last", param_hint="--checkpoint")
    return cast("Checkpoint", value)


@app.command(cls=_Command)
def evaluate(
    run: RunArg,
    split: Annotated[str, typer.Option("--split", help="test, validation or train.")] = "test",
    data: Annotated[
        Optional[Path],
        typer.Option(
            "--data",
            help="Labeled data instead of a split: a CSV (features + target), or for image runs a folder of class "
            "folders.",
        ),
    ] = None,
    checkpoint: CheckpointOption = "final",
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
    fail_under: Annotated[
        Optional[list[str]], typer.Option("--fail-under", metavar="METRIC=VALUE", help="Exit 3 if METRIC < VALUE.")
    ] = None,
    fail_over: Annotated[
        Optional[list[str]], typer.Option("--fail-over", metavar="METRIC=VALUE", help="Exit 3 if METRIC > VALUE.")
    ] = None,
    delimiter: DelimiterOption = None,
    decimal: DecimalOption = None,
    encoding: EncodingOption = None,
    on_bad_image: OnBadImageOption = None,
    runs_dir: RunsDirOption = None,
) -> None:
    """Measure a run on a split of its data (or on labeled data: --data), with quality gates for CI."""
    from annctl.datasets.tabular import dialect_options
    from annctl.errors import GateFailed
    from annctl.evaluation import evaluate_run
    from annctl.progress import evaluation_tables
    from annctl.rundir import resolve_run, runs_root

    if split not in ("test", "validation", "train"):
        raise typer.BadParameter(f"{split!r}: use test, validation or train", param_hint="--split")
    with user_errors():
        run_dir = resolve_run(run, runs_root(runs_dir))
        dialect = dialect_options(delimiter, decimal, encoding)
        load_tensorflow()
        try:
            result = evaluate_run(
                run_dir,
                split,
                data,
                _checkpoint(checkpoint),
                fail_under,
                fail_over,
                warn,
                dialect,
                _on_bad_image(on_bad_image),
            )
            failure = None
        except GateFailed as error:
            result, failure = error.result, error
        if json_output:
            print_json(result)
        else:
            for table in evaluation_tables(result):
                out().print(table)
        if failure is not None:
            raise failure


@app.command(cls=_Command)
def predict(
    run: RunArg,
    input_: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="New inputs: a CSV, JSON lines, .npy/.npz, an image, a folder of images, a list file (.txt: one "
            "image path a line), or - for stdin.",
        ),
    ],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output file (default: stdout).")] = None,
    fmt: Annotated[
        Optional[str], typer.Option("--format", help="csv or jsonl (default: from --output, else csv).")
    ] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", min=1, help="Also list the K most likely classes.")] = None,
    checkpoint: CheckpointOption = "final",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=1_000_000, help="Rows per model call.")] = 4096,
    all_outputs: Annotated[
        bool, typer.Option("--all-outputs", help="Multi-output models: add columns for each extra output (aux_...).")
    ] = False,
    delimiter: DelimiterOption = None,
    decimal: DecimalOption = None,
    encoding: EncodingOption = None,
    rolling: Annotated[
        bool,
        typer.Option("--rolling", help="Forecasts: one forecast per complete window, not only after the last row."),
    ] = False,
    on_bad_image: OnBadImageOption = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="auto (LiteRT where the run has a light model, else Keras, saying why), litert, or keras. "
            "Image inputs always use Keras (TensorFlow decodes and resizes them as in training).",
        ),
    ] = "auto",
    json_output: Annotated[
        bool,
        typer.Option("--json", help="Print the result (rows, rows/s, engine) as JSON on stdout; needs --output."),
    ] = False,
    runs_dir: RunsDirOption = None,
) -> None:
    """Predict new rows with a run's model: one output row per input row, in order (forecasts: per step ahead).

    Tabular and sequence runs are predicted by the LiteRT interpreter from a TFLite copy of the model (made and
    checked against Keras on the first predict), without loading TensorFlow; images by Keras.
    """
    from annctl.datasets.tabular import dialect_options
    from annctl.prediction import predict_run
    from annctl.rundir import resolve_run, runs_root

    with user_errors(json_output):
        if json_output and output is None:
            raise UsageError("--json prints the result on stdout: give --output for the predictions")
        run_dir = resolve_run(run, runs_root(runs_dir))
        dialect = dialect_options(delimiter, decimal, encoding)
        result = predict_run(
            run_dir,
            input_,
            output,
            fmt,
            top_k,
            _checkpoint(checkpoint),
            batch_size,
            warn,
            all_outputs,
            dialect,
            rolling,
            _on_bad_image(on_bad_image),
            engine,
            load_tensorflow,
        )
    if json_output:
        print_json(result)
    elif output is not None:
        err().print(
            f"{result['rows']} predictions → {output} ({result['rows_per_second']:,.0f} rows/s, {result['engine']})",
            highlight=False,
        )


@app.command(cls=_Command)
def export(
    run: RunArg,
    fmt: Annotated[
        str, typer.Option("--format", help="savedmodel (TensorFlow Serving), tflite, or keras (a plain .keras file).")
    ] = "savedmodel",
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="Where to write it (default: RUN/export/savedmodel, model.tflite, ...)."),
    ] = None,
    checkpoint: CheckpointOption = "final",
    quantize: Annotated[
        Optional[str], typer.Option("--quantize", help="tflite: float16 or dynamic (8-bit weights).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the export's manifest as JSON on stdout.")] = False,
    runs_dir: RunsDirOption = None,
) -> None:
    """Export a run's model to run without annctl, checked in a process where annctl cannot be imported."""
    from annctl.export.exporter import FORMATS, QUANTIZE, export_run
    from annctl.progress import spinner
    from annctl.rundir import resolve_run, runs_root

    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r}: use {', '.join(FORMATS)}", param_hint="--format")
    if quantize is not None and quantize not in QUANTIZE:
        raise typer.BadParameter(f"{quantize!r}: use {' or '.join(QUANTIZE)}", param_hint="--quantize")
    with user_errors():
        run_dir = resolve_run(run, runs_root(runs_dir))
        load_tensorflow()
        with spinner(f"exporting {fmt} and verifying it without annctl…"):
            manifest = export_run(run_dir, fmt, output, _checkpoint(checkpoint), quantize)
    if json_output:
        print_json(manifest.model_dump(mode="json"))
        return
    from annctl.export.manifest import summary_lines

    for line in summary_lines(manifest):
        prose(err(), line, highlight=False)
    print_line(manifest.path)


runs_app = typer.Typer(
    help="List and inspect run directories (reads only their small files); sync them to MLflow.", no_args_is_help=True
)
app.add_typer(runs_app, name="runs")


@runs_app.command("list", cls=_Command)
def runs_list(
    runs_dir: RunsDirOption = None,
    name: Annotated[
        Optional[str], typer.Option("--name", help="Only runs whose name matches (substring or glob).")
    ] = None,
    status: Annotated[
        Optional[str], typer.Option("--status", help="Only runs with this status (completed, killed, ...).")
    ] = None,
    sort: Annotated[
        Optional[str],
        typer.Option("--sort", help="Sort runs by a test metric, best, epochs_completed or wall_seconds."),
    ] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Show at most N runs.")] = None,
    trials: Annotated[bool, typer.Option("--trials", help="Also list every search's trials, as runs.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="A Markdown table on stdout.")] = False,
) -> None:
    """List runs and searches, newest first: status, epochs, best and test metrics, duration, age."""
    from annctl.rundir import runs_root
    from annctl.runs import markdown_table, run_rows, sort_rows

    root = runs_root(runs_dir)
    with user_errors():
        rows = list(reversed(run_rows(root, name, status, trials)))
        runs = sort_rows([row for row in rows if row["kind"] == "run"], sort)[:limit]
    searches = [row for row in rows if row["kind"] == "search"][:limit]
    if json_output:
        print_json(runs + searches)
        return
    if markdown:
        out().print(markdown_table(runs + searches, root), highlight=False, end="", markup=False)
        return
    from annctl.progress import print_runs, print_searches

    if runs or not searches:
        print_runs(out(), runs, root)
    if searches:
        print_searches(out(), searches, root)
    from annctl.records import RESUMABLE

    stopped = [row["run_dir"] for row in runs if row["status"] in RESUMABLE]
    if stopped:
        prose(err(), f"continue a killed or interrupted run with: annctl train --resume {stopped[0]}", highlight=False)


@runs_app.command("show", cls=_Command)
def runs_show(
    run: RunArg,
    runs_dir: RunsDirOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="The summary, spec and files as one JSON object on stdout.")
    ] = False,
) -> None:
    """Show a run's resolved spec, summary and files."""
    from annctl.rundir import RunPaths, resolve_run, runs_root
    from annctl.runs import show_run

    with user_errors():
        run_dir = resolve_run(run, runs_root(runs_dir))
        shown = show_run(run_dir)
    if json_output:
        print_json(shown)
        return
    out().print(f"[bold]{run_dir}[/bold]")
    out().print(f"[bold]{RunPaths.SPEC}[/bold]")
    out().print(RunPaths(run_dir).spec.read_text(encoding="utf-8"), highlight=False, end="", markup=False)
    out().print("[bold]summary.json[/bold]")
    print_json(shown["summary"])
    out().print("[bold]files[/bold]")
    for entry in shown["files"]:
        out().print(f"  {entry['path']}  ({entry['bytes']:,} bytes)", highlight=False)


@runs_app.command("sync", cls=_Command)
def runs_sync(
    targets: Annotated[
        Optional[list[str]],
        typer.Argument(
            metavar="[RUN|DIR]...",
            help="Runs or tune directories to upload; a folder: its runs and searches not yet synced "
            "(default: the runs root's).",
        ),
    ] = None,
    uri: Annotated[
        Optional[str],
        typer.Option("--uri", help="MLflow tracking server (default: the one each run was tracked to)."),
    ] = None,
    runs_dir: RunsDirOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Upload runs and searches to MLflow that it does not have whole (idempotent: never duplicates a run)."""
    from annctl.rundir import runs_root
    from annctl.tracking.sync import sync

    with user_errors():
        results = sync(list(targets or []), runs_root(runs_dir), uri)
    if json_output:
        print_json([{**vars(result), "path": str(result.path)} for result in results])
    else:
        for result in results:
            detail = f" ({result.detail})" if result.detail else ""
            print_line(f"{result.outcome}: {result.kind} {result.path}{detail}")
        if not results:
            err().print("nothing to sync: every tracked run and search is synced", highlight=False)
    if any(result.outcome == "failed" for result in results):
        raise typer.Exit(1)


@app.command(cls=_Command)
def schema(
    markdown: Annotated[bool, typer.Option("--markdown", help="The YAML reference as Markdown instead.")] = False,
    record: Annotated[
        Optional[str],
        typer.Option(
            "--record",
            metavar="NAME",
            help="The JSON Schema of a file annctl writes instead: summary, dataset, manifest, env, tune, "
            "tune-summary, trial, export, tracking.",
        ),
    ] = None,
) -> None:
    """Print the experiment file's JSON Schema (or its Markdown reference), generated from the spec models."""
    from annctl.reference import json_schema_text, markdown_reference, record_schema_text

    if record is not None:
        from annctl.records import RECORDS

        if record not in RECORDS:
            raise typer.BadParameter(f"{record!r}: use one of {', '.join(RECORDS)}", param_hint="--record")
        text = record_schema_text(record)
    else:
        text = markdown_reference() if markdown else json_schema_text()
    out().print(text, highlight=False, end="", markup=False)


@runs_app.command("compare", cls=_Command)
def runs_compare(
    runs: Annotated[list[str], typer.Argument(metavar="RUN...", help="Two or more runs.")],
    runs_dir: RunsDirOption = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="A Markdown table (for a pull-request comment).")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Compare runs: the spec fields that differ, side by side, and the test metrics with the best marked."""
    from annctl.rundir import resolve_run, runs_root
    from annctl.runs import compare_markdown, compare_runs

    with user_errors():
        if len(runs) < 2:
            raise typer.BadParameter("give at least two runs")
        run_dirs = [resolve_run(run, runs_root(runs_dir)) for run in runs]
        comparison = compare_runs(run_dirs)
    if json_output:
        print_json(comparison)
        return
    if markdown:
        out().print(compare_markdown(comparison), highlight=False, end="", markup=False)
        return
    from annctl.progress import print_comparison

    print_comparison(out(), comparison)


@app.command(cls=_Command)
def plot(
    runs: Annotated[list[str], typer.Argument(metavar="RUN...", help="Runs, or a folder of runs (e.g. a runs root).")],
    metric: Annotated[str, typer.Option("--metric", help="The metrics.csv column to draw.")] = "val_loss",
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="PNG file (default: plot-METRIC.png).")
    ] = None,
    gradients: Annotated[
        bool,
        typer.Option(
            "--gradients",
            help="Draw each layer's gradient norm per epoch instead (output.gradient_norms runs), or the "
            "gradient reaching each time step (output.step_gradient_norms runs).",
        ),
    ] = False,
    runs_dir: RunsDirOption = None,
) -> None:
    """Overlay one metric of several runs per epoch (learning curves side by side)."""
    from annctl.plots import plot_gradients, plot_references
    from annctl.rundir import runs_root

    with user_errors():
        if gradients:
            path = plot_gradients(runs, runs_root(runs_dir), output or Path("plot-gradients.png"))
        else:
            path = plot_references(runs, runs_root(runs_dir), metric, output or Path(f"plot-{metric}.png"))
    out().print(str(path), highlight=False)


@app.command(cls=_Command)
def report(
    target: Annotated[str, typer.Argument(metavar="RUN|DIR", help="A run, or a folder of runs (e.g. a runs root).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path("report.html"),
    metric: Annotated[
        Optional[str], typer.Option("--metric", help="Folder reports: rank by this test metric (e.g. test_mse).")
    ] = None,
    runs_dir: RunsDirOption = None,
) -> None:
    """Write one self-contained HTML report (images embedded, no network): summary, curves, evaluation, spec."""
    from annctl.report import write_report
    from annctl.rundir import is_run_dir, resolve_run, runs_root

    with user_errors():
        folder = Path(target)
        path = folder if folder.is_dir() and not is_run_dir(folder) else resolve_run(target, runs_root(runs_dir))
        if is_run_dir(path):
            load_tensorflow()  # a run's report evaluates it
        written = write_report(path, output, metric)
    out().print(str(written), highlight=False)


def _registry_table(title: str, entries):
    from rich.table import Table

    from annctl.specbase import first_line

    table = Table(title=title)
    table.add_column("name", style="bold")
    table.add_column("description")
    for key, entry in entries:
        table.add_row(key, first_line(entry.__doc__))
    return table


@app.command(cls=_Command)
def datasets() -> None:
    """List the registered datasets."""
    from annctl.datasets import DATASETS

    out().print(_registry_table("datasets (dataset.name)", DATASETS.items()))


@app.command(cls=_Command)
def models() -> None:
    """List the registered architectures."""
    from annctl.models import ARCHITECTURES

    out().print(_registry_table("architectures (model.architecture)", ARCHITECTURES.items()))


def main() -> None:
    app()
