"""What ``optbench run`` prints while it trains.

On a terminal, a live bar over every epoch to train and one line per finished run. In a
log (stdout not a terminal: CI, ``nohup``, a pipe), plain lines at a bounded rate: one
when a pass starts, one per finished run, and between them at most one every
``interval`` seconds saying what is training and how far it is — never a redraw.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from optbench.execute.runner import Job
from optbench.train.record import EpochRecord, RunRecord, Status

_MARK = {Status.DONE: "[green]done[/]", Status.DIVERGED: "[yellow]diverged[/]",
         Status.FAILED: "[red]failed[/]"}  # fmt: skip


def describe(job: Job, labels: dict[str, str]) -> str:
    """``digits-mlp  SGD | (Adam+d) | SGD  seeds 0-9 (stacked)``."""
    spec = job.specs[0]
    seeds = [s.seed for s in job.specs]
    shown = _seeds(seeds)
    how = " (stacked)" if len(seeds) > 1 else ""
    return f"{spec.task}  {labels.get(spec.key, spec.plan)}  {shown}{how}"


def _seeds(seeds: Sequence[int]) -> str:
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    if list(seeds) == list(range(seeds[0], seeds[-1] + 1)):
        return f"seeds {seeds[0]}-{seeds[-1]}"
    return "seeds " + ",".join(map(str, seeds))


def outcome(job: Job, index: int, record: RunRecord, labels: dict[str, str]) -> str:
    spec = job.specs[index]
    if record.final is not None:
        tail = f"val acc {record.final.accuracy:.4f}"
        if record.final.accuracy != record.final.accuracy:  # a toy problem: no accuracy
            tail = f"loss {record.final.loss:.4g}"
    else:
        tail = (record.error or "").splitlines()[0] if record.error else ""
    label = labels.get(spec.key, spec.plan)
    return f"{spec.task}  {label}  seed {spec.seed}  {tail}"


class LiveProgress:
    """A bar over all epochs to train, on a terminal."""

    def __init__(self, console: Console, total_epochs: int, labels: dict[str, str]) -> None:
        self.console, self.labels = console, labels
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("epochs"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.bar.add_task("training", total=total_epochs)

    def __enter__(self) -> LiveProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def started(self, job: Job, first_epoch: int) -> None:
        self.bar.update(self.task, description=escape(describe(job, self.labels)))
        if first_epoch > 1:
            self.bar.advance(self.task, (first_epoch - 1) * len(job.specs))

    def epoch(self, job: Job, index: int, record: EpochRecord) -> None:
        self.bar.advance(self.task)

    def finished(self, job: Job, index: int, record: RunRecord) -> None:
        self.bar.console.print(
            f"{_MARK[record.status]}  {escape(outcome(job, index, record, self.labels))}"
        )
        left = job.specs[index].config.epochs - len(record.epochs)
        if left > 0:  # a run that stopped early still fills its share of the bar
            self.bar.advance(self.task, left)

    def note(self, text: str) -> None:
        self.bar.console.print(f"[yellow]note[/]  {escape(text)}")

    def lost(self, job: Job, error) -> None:
        self.bar.console.print(
            f"[yellow]taken over[/]  {escape(describe(job, self.labels))}: {escape(str(error))}"
        )


class LogProgress:
    """Plain lines for a log, at most one progress line every ``interval`` seconds."""

    def __init__(self, console: Console, total_epochs: int, labels: dict[str, str],
                 interval: float = 15.0) -> None:  # fmt: skip
        self.console, self.labels, self.interval = console, labels, interval
        self.total, self.done = total_epochs, 0
        self.last = time.monotonic()
        self.current = ""
        self.epoch_of: dict[int, int] = {}

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def _line(self, text: str) -> None:
        self.console.print(f"{time.strftime('%H:%M:%S')}  {text}", soft_wrap=True, markup=False)

    def started(self, job: Job, first_epoch: int) -> None:
        self.current = describe(job, self.labels)
        if first_epoch > 1:
            self.done += (first_epoch - 1) * len(job.specs)
        resumed = f" (resumed after epoch {first_epoch - 1})" if first_epoch > 1 else ""
        self._line(f"training  {self.current}{resumed}")
        self.last = time.monotonic()

    def epoch(self, job: Job, index: int, record: EpochRecord) -> None:
        self.done += 1
        now = time.monotonic()
        if index == 0 and now - self.last >= self.interval:
            self.last = now
            epochs = job.specs[0].config.epochs
            done = self.done + len(job.specs) - 1  # the pass's other seeds end this epoch too
            self._line(
                f"epoch {record.epoch}/{epochs}  {self.current}  val acc "
                f"{record.val_acc:.4f}  ({done}/{self.total} epochs of this command)"
            )

    def finished(self, job: Job, index: int, record: RunRecord) -> None:
        left = job.specs[index].config.epochs - len(record.epochs)
        self.done += max(left, 0)
        self._line(f"{record.status.value}  {outcome(job, index, record, self.labels)}")

    def lost(self, job: Job, error) -> None:
        self._line(f"taken over  {describe(job, self.labels)}: {error}")

    def note(self, text: str) -> None:
        self._line(f"note  {text}")
