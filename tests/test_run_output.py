"""What ``optbench run`` prints: plain lines at a bounded rate in a log, never redraws."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from optbench.cli.progress import LogProgress
from optbench.execute.runner import Job
from optbench.report.console import make_console
from optbench.train.record import EpochRecord, RunRecord, Status
from tests.training import specs


def test_a_run_into_a_log_prints_lines_not_redraws_even_with_force_color(tmp_path):
    plan = tmp_path / "p.yaml"
    plan.write_text("experiment: log\ntasks: [iris-mlp]\nepochs: 3\nseeds: 2\n"
                    "plans: [SGD, Adam]\n")  # fmt: skip
    env = {**os.environ, "FORCE_COLOR": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "optbench", "run", str(plan), "--db", str(tmp_path / "r.db")],
        capture_output=True, text=True, env=env, check=True,
    ).stdout  # fmt: skip
    lines = out.splitlines()
    assert any("training  iris-mlp  SGD  seeds 0-1 (stacked)" in line for line in lines)
    assert sum("done  iris-mlp" in line for line in lines) == 4
    assert "\r" not in out and "\x1b[2K" not in out and "\x1b[1A" not in out  # no redraws
    assert len(lines) < 12


def record(epoch: int) -> EpochRecord:
    return EpochRecord(epoch, 0, 0.1, 1.0, 0.5, 1.0, 0.5, 1.0, 1.0)


def test_progress_lines_come_at_most_once_per_interval(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("optbench.cli.progress.time.monotonic", lambda: clock[0])
    stream = io.StringIO()
    progress = LogProgress(make_console(file=stream), 100, {}, interval=15.0)
    job = Job(tuple(specs("SGD", seeds=(0, 1), epochs=50)), (1, 2))
    progress.started(job, 1)
    for epoch in range(1, 51):
        clock[0] += 1.0  # one second per epoch
        progress.epoch(job, 0, record(epoch))
        progress.epoch(job, 1, record(epoch))
    finished = RunRecord("p", "t", 0, "c", Status.DONE, "cpu", {}, epochs=(record(1),) * 50)
    progress.finished(job, 0, finished)
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("training  t  " + job.specs[0].plan + "  seeds 0-1 (stacked)")
    epochs = [line for line in lines if "  epoch " in line]
    assert len(epochs) == 3  # 50 s of training, one line per 15 s
    assert "epoch 15/50" in epochs[0] and "(30/100 epochs of this command)" in epochs[0]
    assert lines[-1].split("  ", 1)[1].startswith("done  t")
