"""Issue 29, item 15: after a resume the summary's training time covers every session of the run and the command
time only this command; each row says so, so the two numbers no longer contradict each other."""

from __future__ import annotations

import io
import re

from rich.console import Console

from annctl.progress import summary_table
from annctl.records import Summary


def rows(summary: Summary, command_seconds: float) -> dict[str, str]:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(summary_table(summary, command_seconds=command_seconds))
    found = re.findall(r"│ (training time|command time) +│ (.+?) +│", console.export_text())
    return dict(found)


def test_a_resumed_run_says_what_each_time_covers():
    resumed = Summary(name="r", status="completed", wall_seconds=30.1, resumed_at=["2026-12-04T10:00:00+00:00"])
    assert rows(resumed, 21.3) == {
        "training time": "30.1 s (all 2 sessions of the run, resumes included)",
        "command time": "21.3 s (this resume alone, start-up included)",
    }
    fresh = Summary(name="r", status="completed", wall_seconds=10.0)
    assert rows(fresh, 12.5) == {
        "training time": "10.0 s (model building to final save)",
        "command time": "12.5 s (start-up and data loading included)",
    }
