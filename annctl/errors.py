"""The one exception family annctl raises; each class carries the exit code the CLI uses."""

from __future__ import annotations

from pathlib import Path


class AnnctlError(Exception):
    """Base class: a failure with a message meant for the user (exit 1).

    ``run_dir``: the run directory the failed command leaves behind (a training interrupted, failed or diverged
    after creating it), which the CLI prints on stdout like a finished training's.
    """

    exit_code = 1
    run_dir: Path | None = None


class SpecError(AnnctlError):
    """The experiment file or an override is invalid (exit 2).

    Holds every problem found, each already formatted as ``FILE:LINE:COL: field.path: message``.
    """

    exit_code = 2

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class DataError(AnnctlError):
    """A dataset cannot be found or read, or does not fit the spec (exit 2)."""

    exit_code = 2


class UsageError(AnnctlError):
    """A command-line argument or path is unusable (exit 2)."""

    exit_code = 2


class TrainingDiverged(AnnctlError):
    """The loss became NaN or infinite (exit 1)."""

    exit_code = 1


class Interrupted(AnnctlError):
    """The user stopped the command with Ctrl-C (exit 130)."""

    exit_code = 130


class GateFailed(AnnctlError):
    """A quality gate such as ``--fail-under accuracy=0.9`` was not met (exit 3); carries the full result."""

    exit_code = 3

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.result = result or {}
