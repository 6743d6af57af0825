"""The mutation figure of docs/mutation.md: run a seeded random sample of mutmut's mutants, then count.

mutmut makes about 9,000 mutants of the modules listed under ``[tool.mutmut]``; on a two-core machine each takes
seconds (its tests run in a forked process), so the whole set is a job of many hours. A seeded sample of the same
size from every module estimates each module's share of surviving mutants with a stated margin, and every
surviving mutant of the sample is then either killed by a new test or listed as equivalent in
``tests/mutation-equivalents.txt``.

    python tests/mutation_figure.py sample --per-module 40 --seed 1   # generate, then run the sample
    python tests/mutation_figure.py rest                              # go on with a stopped run
    python tests/mutation_figure.py recheck tests/test_new.py        # survivors against tests written for them
    python tests/mutation_figure.py report                           # the table docs/mutation.md shows

Run it from the repository root with the virtual environment's bin directory on PATH (mutmut and mypy are
called by name). Each sampled mutant runs against its module's quick tests (the files tests/README.md lists): one
they do not catch counts as surviving; one caught by the type checker (mypy runs in CI) or by a timeout counts as
killed; a listed equivalent is taken out of the count.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import random
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
MUTANTS = REPO / "mutants"
EQUIVALENTS = REPO / "tests" / "mutation-equivalents.txt"
SAMPLE = MUTANTS / "sample.json"

KILLED = {1, 3, 36, 37, -24, 24, 152, 255, -11, -9}  # failed test, pytest error, timeout, type check, crash
SURVIVED = {0, 5, 33}  # tests pass, or no test reaches the mutant


def module_of(mutant: str) -> str:
    """``annctl.training.callbacks.stop.x_f__mutmut_1`` -> ``training/callbacks/``; others -> their file."""
    parts = mutant.rsplit(".", 1)[0].split(".")[1:]
    if parts[:2] == ["training", "callbacks"]:
        return "training/callbacks/"
    return "/".join(parts) + ".py"


def all_mutants() -> dict[str, dict[str, int | None]]:
    """Every generated mutant's exit code (None: not run), by module."""
    by_module: dict[str, dict[str, int | None]] = defaultdict(dict)
    for meta in sorted(MUTANTS.glob("annctl/**/*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            by_module[module_of(name)][name] = code
    return dict(by_module)


def equivalents() -> dict[str, str]:
    listed = {}
    for line in EQUIVALENTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, why = line.partition(":")
            listed[name.strip()] = why.strip()
    return listed


def configured_modules() -> list[str]:
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]["only_mutate"]
    return [p.removeprefix("annctl/").replace("*", "") for p in patterns]


MUTANT_FUNCTION = re.compile(r"__mutmut_(\d+|orig)$")


def caught_by_type_checker() -> dict[str, str]:
    """Mutants the type checker CI runs rejects: {mutant: mypy's message}.

    mutmut writes each mutant as a copy of its function beside a copy of the original, so some of mypy's complaints
    come from the copying (an attribute annotated again in every copy of ``__init__``). A mutant counts as caught
    only by an error its function has and the original's copy has not, compared without line numbers.
    """
    found = subprocess.run(
        [sys.executable, "-m", "mypy", "annctl", "--output", "json", "--no-warn-unused-ignores"],
        cwd=MUTANTS,
        capture_output=True,
        text=True,
    ).stdout
    errors = [json.loads(line) for line in found.splitlines() if line.strip()]
    by_file: dict[str, list[dict]] = defaultdict(list)
    for error in errors:
        if error["severity"] == "error":
            by_file[error["file"]].append(error)
    caught = {}
    for file, file_errors in by_file.items():
        module = file.removesuffix(".py").replace("/", ".")
        spans = [
            (node.lineno, node.end_lineno or node.lineno, node.name)
            for node in ast.walk(ast.parse((MUTANTS / file).read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and MUTANT_FUNCTION.search(node.name)
        ]
        complaints: dict[str, set[str]] = defaultdict(set)
        for error in file_errors:
            for first, last, name in spans:
                if first <= error["line"] <= last:
                    complaints[name].add(f"{error['code']}: {re.sub(r'line [0-9]+', 'line N', error['message'])}")
        for name, messages in complaints.items():
            original = complaints.get(MUTANT_FUNCTION.sub("__mutmut_orig", name), set())
            new = messages - original
            if not name.endswith("__mutmut_orig") and new:
                caught[f"{module}.{name}"] = sorted(new)[0]
    return caught


def generate() -> None:
    """mutmut's mutants of the configured modules under ``mutants/``. ``mutmut run`` generates them, then collects
    which test reaches which function by running the whole quick selection once: the figure does not need that
    (each mutant runs against its module's tests, see ``rest``), so the run stops once the mutants are written."""
    with subprocess.Popen(
        ["mutmut", "run", "annctl.none_matches*"], cwd=REPO, stdout=subprocess.PIPE, text=True
    ) as mutmut:
        for line in mutmut.stdout or []:
            if "files mutated" in line:
                print(line.strip(), flush=True)
                break
        mutmut.terminate()


def sample(per_module: int, seed: int, parallel: int) -> None:
    if not MUTANTS.is_dir():
        generate()
    mutants = all_mutants()
    rng = random.Random(seed)
    chosen = {
        module: sorted(rng.sample(sorted(names), min(per_module, len(names))))
        for module, names in sorted(mutants.items())
    }
    typed = caught_by_type_checker()
    SAMPLE.write_text(
        json.dumps(
            {"seed": seed, "per_module": per_module, "mutants": chosen, "caught_by_type_checker": typed}, indent=1
        )
    )
    caught = sum(name in typed for group in chosen.values() for name in group)
    print(
        f"{sum(map(len, chosen.values()))} mutants sampled from {sum(map(len, mutants.values()))}, "
        f"{caught} of them caught by the type checker",
        flush=True,
    )
    rest(parallel)


QUICK = ["-x", "-q", "-p", "no:cacheprovider", "--rootdir=.", "-m", "not slow and not realdata"]


def run_forked(jobs: list[tuple[str, list[str]]], parallel: int = 1, timeout: float = 600) -> dict[str, int]:
    """Run each (mutant, test files) pair in ``mutants/`` and return pytest's exit code per mutant (-9: killed after
    ``timeout`` seconds, which counts as caught, as mutmut counts its timeouts).

    As mutmut does, every pair runs in a process forked from one that has imported TensorFlow (a fork after the
    import is safe, after an op is not), with the mutant chosen by MUTANT_UNDER_TEST."""
    found = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "_forked", str(parallel), str(timeout)],
        cwd=MUTANTS,
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
    )
    if found.returncode:
        sys.exit(f"the forking runner failed:\n{found.stderr[-2000:]}")
    return json.loads(found.stdout.splitlines()[-1])


def _forked(parallel: int, timeout: float) -> None:
    """The body of run_forked, in ``mutants/``: jobs as JSON on stdin, exit codes as one JSON line on stdout."""
    import os
    import signal
    import time

    jobs = json.loads(sys.stdin.read())
    sys.path.insert(0, os.getcwd())  # the mutated copy of annctl
    import pytest
    import tensorflow  # noqa: F401

    codes: dict[str, int] = {}
    running: dict[int, tuple[str, float]] = {}
    out = os.dup(1)

    def start(name: str, files: list[str]) -> None:
        pid = os.fork()
        if pid == 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.environ["MUTANT_UNDER_TEST"] = name
            os._exit(int(pytest.main([*QUICK, *files])))
        running[pid] = (name, time.monotonic())

    pending = list(jobs)
    while pending or running:
        while pending and len(running) < parallel:
            start(*pending.pop(0))
        time.sleep(0.2)
        for pid, (name, began) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                codes[name] = os.waitstatus_to_exitcode(status)
            elif time.monotonic() - began > timeout:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                codes[name] = -9
            else:
                continue
            del running[pid]
            os.write(out, f"{name}: {codes[name]}\n".encode())
    os.write(out, (json.dumps(codes) + "\n").encode())


def module_test_files() -> dict[str, list[str]]:
    """tests/README.md's table: each module's test files (``tests/NAME``), keyed as module_of names them (a dataset
    module has a row of its own beside the ``datasets/`` folder's)."""
    rows = {}
    for line in (REPO / "tests" / "README.md").read_text(encoding="utf-8").splitlines():
        cells = line.split("|")
        if len(cells) == 4 and cells[1].strip().startswith("`annctl/"):
            module = re.match(r"`annctl/([^`]+)`", cells[1].strip()).group(1)
            rows[module] = [f"tests/{name}" for name in re.findall(r"`([^`]+)`", cells[2])]
    for module, files in rows.items():  # the module's own files, then unit tests, first: a killed mutant fails sooner
        stem = Path(module.rstrip("/")).stem.removesuffix("s")
        rows[module] = sorted(files, key=lambda name: (stem not in Path(name).stem, not name.endswith("_units.py")))
    return rows


def rest(parallel: int) -> None:
    """Run every sampled mutant not run yet (by mutmut or by an earlier, stopped ``rest``) against the quick tests
    of its own module (tests/README.md's table), stopping at the first failure. Every test that reaches the mutated
    function could only kill more: a survivor here may be an overstatement, never the other way round."""
    import shutil

    shutil.copytree(REPO / "tests", MUTANTS / "tests", dirs_exist_ok=True)  # tests are not mutated: today's
    recorded = json.loads(SAMPLE.read_text())
    mutants = {name: code for codes in all_mutants().values() for name, code in codes.items()}
    typed, done = recorded["caught_by_type_checker"], recorded.setdefault("run_against_module_tests", {})
    tests = module_test_files()
    jobs = [
        (name, tests[module])
        for module, group in recorded["mutants"].items()
        for name in group
        if mutants.get(name) is None and name not in typed and name not in done
    ]
    jobs.sort(key=lambda job: len(job[1]))  # the modules with the fewest test files first: most figures soonest
    every = sorted({name for _, files in jobs for name in files})
    if jobs and run_forked([("", every)])[""] != 0:
        sys.exit(f"the quick tests of {' '.join(every)} fail without a mutant: fix them first")
    print(f"{len(jobs)} sampled mutants not run yet", flush=True)
    for start in range(0, len(jobs), 10):  # recorded as it goes: the run can be stopped and taken up again
        done.update(run_forked(jobs[start : start + 10], parallel))
        record("run_against_module_tests", done)
        print(f"{min(start + 10, len(jobs))} of {len(jobs)} run", flush=True)


def record(key: str, values: dict) -> None:
    """Merge ``values`` into sample.json's ``key``, read again first: a recheck may write while a rest runs."""
    recorded = json.loads(SAMPLE.read_text())
    recorded.setdefault(key, {}).update(values)
    SAMPLE.write_text(json.dumps(recorded, indent=1))


def recheck(test_files: list[str], module: str | None = None) -> None:
    """Run each surviving mutant of the sample (of ``module`` only, if given) against ``test_files`` (tests written
    for the survivors) and record those that now fail, as mutmut does: in ``mutants/``, the mutant chosen by
    MUTANT_UNDER_TEST."""
    import shutil

    recorded = json.loads(SAMPLE.read_text())
    for name in test_files:  # the copy under mutants/ is mutmut's: bring the new tests there
        shutil.copy(REPO / name, MUTANTS / name)
    if run_forked([("", test_files)])[""] != 0:
        sys.exit(f"{' '.join(test_files)} fail without a mutant: fix them first")
    mutants = merged_codes(recorded)
    listed, later = equivalents(), recorded.setdefault("killed_by_later_tests", {})
    jobs = [
        (name, test_files)
        for group_module, group in recorded["mutants"].items()
        for name in group
        if mutants.get(name) in SURVIVED and name not in listed and name not in later and module in (None, group_module)
    ]
    for name, code in run_forked(jobs).items():
        if code != 0:
            later[name] = " ".join(test_files)
            print("killed", name, flush=True)
    record("killed_by_later_tests", later)


def merged_codes(recorded: dict) -> dict[str, int | None]:
    """Every mutant's exit code: mutmut's, else the one `rest` recorded against the module's tests."""
    module_runs = recorded.get("run_against_module_tests", {})
    return {
        name: module_runs.get(name) if code is None else code
        for codes in all_mutants().values()
        for name, code in codes.items()
    }


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % interval of a proportion k/n (Wilson score): honest for small samples and for k = 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def report() -> None:
    mutants = all_mutants()
    recorded = json.loads(SAMPLE.read_text()) if SAMPLE.exists() else {}
    chosen = recorded.get("mutants") or {module: list(names) for module, names in mutants.items()}
    typed = recorded.get("caught_by_type_checker", {})
    later = recorded.get("killed_by_later_tests", {})  # `recheck`: by tests written for the survivors
    module_runs = recorded.get("run_against_module_tests", {})  # `rest`: against the module's own tests
    mutants = {
        module: {
            name: 37 if name in typed else 1 if name in later else module_runs.get(name) if code is None else code
            for name, code in codes.items()
        }
        for module, codes in mutants.items()
    }
    listed = equivalents()
    rows, totals = [], defaultdict(float)
    print("| module | mutants | sampled | killed | survived | equivalent | not run | surviving (95 % interval) |")
    print("|---|---|---|---|---|---|---|---|")
    for module in sorted(mutants):
        names = chosen.get(module, [])
        codes = {name: mutants[module].get(name) for name in names}
        killed = sum(code in KILLED for code in codes.values())
        equivalent = sum(code in SURVIVED and name in listed for name, code in codes.items())
        survived = sum(code in SURVIVED and name not in listed for name, code in codes.items())
        not_run = len(names) - killed - survived - equivalent
        counted = killed + survived
        low, high = wilson(survived, counted)
        share = survived / counted if counted else float("nan")
        rows.append(module)
        total = len(mutants[module])
        totals["mutants"] += total
        totals["estimated survivors"] += share * total if counted else 0
        totals["counted"] += counted
        print(
            f"| `{module}` | {total} | {len(names)} | {killed} | {survived} | {equivalent} | {not_run} | "
            f"{share:.1%} ({low:.0%}–{high:.0%}) |"
        )
    overall = totals["estimated survivors"] / totals["mutants"] if totals["mutants"] else float("nan")
    print(
        f"\nAll modules, each weighted by its number of mutants: {overall:.1%} surviving "
        f"({int(totals['counted'])} mutants counted)."
    )
    survivors = [
        name
        for module in rows
        for name in chosen.get(module, [])
        if mutants[module].get(name) in SURVIVED and name not in listed
    ]
    if survivors:
        print(f"\n{len(survivors)} survivors neither killed nor listed as equivalent:")
        print("\n".join(survivors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("sample", help="generate the mutants, then run a seeded sample of each module's")
    run.add_argument("--per-module", type=int, default=40)
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--parallel", type=int, default=2, help="mutants run side by side")
    tail = commands.add_parser("rest", help="run the sampled mutants not run yet (a stopped run goes on)")
    tail.add_argument("--parallel", type=int, default=2)
    again = commands.add_parser("recheck", help="run the sample's survivors against new test files")
    again.add_argument("test_files", nargs="+")
    again.add_argument("--module", help="only this module's survivors, as report names it (e.g. runs.py)")
    commands.add_parser("report", help="print the figure of the mutants run so far")
    if sys.argv[1:2] == ["_forked"]:  # run_forked's child, in mutants/
        _forked(int(sys.argv[2]), float(sys.argv[3]))
        return
    args = parser.parse_args()
    if args.command == "sample":
        sample(args.per_module, args.seed, args.parallel)
    elif args.command == "rest":
        rest(args.parallel)
    elif args.command == "recheck":
        recheck(args.test_files, args.module)
    else:
        report()


if __name__ == "__main__":
    main()
