"""The paper's numbers beside ours: is a reproduction consistent with what the paper reports?

A plan file may record, per (task, plan) cell it reproduces, the value the paper reports
(``paper:`` in the plan file; stored per experiment, ``Store.experiment_paper``)::

    paper:
      source: "[ANN] Table 2 (2)"
      note: "free text"
      cells:
        - {task: fashion-mnist-nn2, plan: "SGD(lr=0.1)", metric: last10, value: 0.8693}
        - {task: fashion-mnist-nn2, plan: "SGD(lr=0.1)", metric: last10, stat: max,
           value: 0.8725}
        - {task: cifar10-wrn28-10, plan: "...", metric: error, value: 6.41, std: 0.12}

``check`` judges one cell against our row of the same task and plan (one per
configuration):

- ``stat: mean`` (the default): ours is the mean over our finished seeds. **Consistent**
  when the paper's value lies inside our 95% confidence interval (Student t), or ours
  lies within the paper's ± std (when the paper gives one). With fewer than 2 seeds there
  is no interval: only the paper's std can make it consistent, else it is ``untested``.
- ``stat: max`` (the best seed, [ANN]'s "maximum over trials"): ours is our best seed.
  A best of m trials is not a mean: it lies above the mean by a margin that grows with
  m. Taking our seeds as draws from a normal distribution with our mean and std, the best
  of m draws lies in [mean + z_lo·std, mean + z_hi·std] with probability 95%, where
  Φ(z_lo)^m = 0.025 and Φ(z_hi)^m = 0.975 (for m = 10: z from 0.50 to 2.80; mirrored
  for lower-is-better metrics). **Consistent** when the paper's best lies in that range
  (or within the paper's ± std, when given). m is the cell's ``trials`` when the plan
  file gives it (the paper's number of trials), else our number of finished seeds.
- ``error`` (percent) and ``final`` (accuracy as a fraction) are one quantity in two
  units: a cell of either is shown under both metrics, converted (accuracy = 1 − error /
  100, and std / 100), and says so. Other metrics are compared only with themselves.
- A plan whose every seed diverged where the paper reports a value is **inconsistent**;
  a plan with some diverged seeds is judged on its finished seeds and the row says how
  many diverged. Cells whose plan was not run in the shown runs are listed as not run.
- The paper's values are for the plan file's epochs and batch size (stored with them as
  ``setting``): runs of another setting (a shortened ``--epochs`` run) are shown beside
  them, ``untested``, saying why — a 30-epoch run says nothing about a 100-epoch value.

- A printed value stands for every value that rounds to it: a cell written 0.1111 in its
  plan file covers [0.11105, 0.11115] (the cell's ``rounding``, half a unit of its last
  written digit), so a run of exactly 1/9 is consistent with it.
- A ``max`` cell of ``trials: 1`` is a paper that ran the cell once: ours is our mean, and
  the paper's run is judged against the 95% range of one run of ours.

Values equal up to floating-point noise (``stats.NOISE``) count as equal at the edges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from optbench.errors import OptbenchError
from optbench.report.metrics import METRICS, Metric, get_metric
from optbench.report.stats import _noise

LEVEL = 0.95
STATS = ("mean", "max")
_UNITS = {"final", "error"}  # the same quantity: accuracy as a fraction, error in percent


@dataclass(frozen=True)
class PaperCell:
    """One value a paper reports for a (task, plan)."""

    task: str
    plan: str  # the stored (canonical, resolved) text of the plan
    name: str  # the plan as the plan file writes it
    metric: str  # a metric name of ``optbench compare --metric``
    stat: str  # "mean" over seeds or "max": the best seed
    value: float  # in the metric's units (accuracy as a fraction, error in percent)
    std: float | None = None  # the paper's ± over seeds
    note: str | None = None
    source: str | None = None
    trials: int | None = None  # the paper's number of trials, for "max" cells
    rounding: float = 0.0  # half a unit of the printed value's last digit
    epochs: int | None = None  # the plan file's epochs and batch size: the paper's setting
    batch_size: int | None = None

    @property
    def what(self) -> str:
        """``last10 mean``, ``final max`` ..."""
        return f"{self.metric} {self.stat}"


@dataclass(frozen=True)
class Paper:
    """An experiment's paper values: where they come from, a note, the cells, and the
    cells that could not be read (with why)."""

    source: str | None
    note: str | None
    cells: tuple[PaperCell, ...]
    unreadable: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.cells or self.unreadable)


NO_PAPER = Paper(None, None, ())


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _cell(raw: Mapping[str, Any], source: str | None, setting: Mapping[str, Any]) -> PaperCell:
    if not isinstance(raw, Mapping):
        raise ValueError(f"a cell must be a mapping, got {raw!r}")
    missing = [k for k in ("task", "plan", "metric", "value") if raw.get(k) is None]
    if missing:
        raise ValueError(f"a cell lacks {', '.join(missing)}")
    try:
        metric = get_metric(str(raw["metric"])).name
    except OptbenchError:
        raise ValueError(f"unknown metric {raw['metric']!r}") from None
    stat = str(raw.get("stat") or "mean")
    if stat not in STATS:
        raise ValueError(f"stat must be mean or max, got {stat!r}")
    std = raw.get("std")
    trials = raw.get("trials")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int)
                               or trials < 1):  # fmt: skip
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    return PaperCell(
        task=str(raw["task"]),
        plan=str(raw["plan"]),
        name=str(raw.get("name") or raw["plan"]),
        metric=metric,
        stat=stat,
        value=_number(raw["value"], "value"),
        std=None if std is None else abs(_number(std, "std")),
        note=_text(raw.get("note")),
        source=_text(raw.get("source")) or source,
        trials=trials,
        rounding=abs(_number(raw.get("rounding", 0.0), "rounding")),
        epochs=_count(setting.get("epochs")),
        batch_size=_count(setting.get("batch_size")),
    )


def _count(value: Any) -> int | None:
    return value if type(value) is int and value > 0 else None


def read_paper(stored: Any) -> Paper:
    """An experiment's stored paper values: a list of cells, or a mapping with ``source``,
    ``note`` and ``cells``; None for none. A cell that cannot be read (an unknown metric,
    a value that is not a number) is left out and named in ``unreadable``, so that one bad
    cell of an old experiment does not hide the others."""
    if not stored:
        return NO_PAPER
    source = note = None
    raw_cells: Any = stored
    setting: Mapping[str, Any] = {}
    if isinstance(stored, Mapping):
        source, note = _text(stored.get("source")), _text(stored.get("note"))
        raw_cells = stored.get("cells") or []
        if isinstance(stored.get("setting"), Mapping):
            setting = stored["setting"]
    if not isinstance(raw_cells, list):
        return Paper(source, note, (), (f"paper cells are not a list: {raw_cells!r}",))
    cells, unreadable = [], []
    for i, raw in enumerate(raw_cells):
        try:
            cells.append(_cell(raw, source, setting))
        except ValueError as e:
            unreadable.append(f"cell {i + 1}: {e}")
    if source is None:
        sources = {c.source for c in cells if c.source}
        source = "; ".join(sorted(sources)) or None
    return Paper(source, note, tuple(cells), tuple(unreadable))


def merge(papers: Iterable[Paper]) -> Paper:
    """Several experiments' paper values as one (``compare`` without ``--experiment``);
    a cell recorded by two experiments is kept once."""
    papers = [p for p in papers if p]
    if len(papers) == 1:
        return papers[0]
    cells: dict[PaperCell, None] = {}
    for p in papers:
        cells.update(dict.fromkeys(p.cells))
    sources = sorted({p.source for p in papers if p.source})
    notes = [p.note for p in papers if p.note]
    return Paper(
        "; ".join(sources) or None,
        " ".join(dict.fromkeys(notes)) or None,
        tuple(cells),
        tuple(u for p in papers for u in p.unreadable),
    )


def in_units(cell: PaperCell, metric: Metric) -> tuple[float, float | None] | None:
    """The cell's value and std in ``metric``'s units; None when the cell is of another
    metric. ``final`` and ``error`` convert: accuracy = 1 − error / 100."""
    if cell.metric == metric.name:
        return cell.value, cell.std
    if {cell.metric, metric.name} == _UNITS:
        if metric.name == "error":
            value = 100.0 * (1.0 - cell.value)
            return value, None if cell.std is None else 100.0 * cell.std
        return 1.0 - cell.value / 100.0, None if cell.std is None else cell.std / 100.0
    return None


def best_of_range(
    mean: float, std: float, trials: int, higher_is_better: bool, level: float = LEVEL
) -> tuple[float, float]:
    """Where the best of ``trials`` draws from N(mean, std²) lies with probability
    ``level``: P(max ≤ mean + z·std) = Φ(z)^trials, so z = Φ⁻¹(q^(1/trials)) at
    q = (1 − level)/2 and (1 + level)/2. Mirrored (the min) for lower-is-better."""
    tail = (1.0 - level) / 2.0
    z_lo, z_hi = special.ndtri(np.array([tail, 1.0 - tail]) ** (1.0 / trials))
    if higher_is_better:
        return mean + z_lo * std, mean + z_hi * std
    return mean - z_hi * std, mean - z_lo * std


@dataclass(frozen=True)
class PaperCheck:
    """One paper cell judged against our row."""

    cell: PaperCell
    paper: float  # in the compared metric's units
    paper_std: float | None
    ours: float | None  # our mean, or our best seed for a "max" cell
    low: float | None  # the range the paper's value is checked against
    high: float | None
    verdict: str  # consistent, inconsistent or untested
    reason: str
    converted: str | None = None  # "from error 6.41 ± 0.12 %" when the units differ

    @property
    def diff(self) -> float | None:
        """ours − paper, in the compared metric's units."""
        return None if self.ours is None else self.ours - self.paper


def _inside(x: float, low: float, high: float) -> bool:
    noise = float(_noise(x, low, high))
    return low - noise <= x <= high + noise


def check(cell: PaperCell, row: Any, metric: Metric) -> PaperCheck | None:
    """Judge ``cell`` against ``row`` (a ``stats.summarize`` row of the same task and
    plan) by the rules in the module docstring; None when the cell is of another metric."""
    converted_values = in_units(cell, metric)
    if converted_values is None:
        return None
    paper, paper_std = converted_values
    converted = None
    if cell.metric != metric.name:
        unit = " %" if cell.metric == "error" else ""
        spread = f" ± {cell.std:g}" if cell.std is not None else ""
        converted = f"from {cell.metric} {cell.value:g}{spread}{unit}"
    n = int(row.n)
    diverged = int(row.diverged)
    one_run = cell.stat == "max" and cell.trials == 1  # a paper that ran each cell once
    best = cell.stat == "max" and not one_run  # ours is our best seed, else our mean
    other = _other_setting(cell, row)
    if other:
        ours = float(row.extreme if best else row.mean) if n else None
        return PaperCheck(cell, paper, paper_std, ours, None, None, "untested", other, converted)
    partial = f"; {diverged} of {diverged + n} finished seeds diverged" if diverged and n else ""

    def judged(ours, low, high, verdict, reason) -> PaperCheck:
        return PaperCheck(cell, paper, paper_std, ours, low, high, verdict, reason + partial,
                          converted)  # fmt: skip

    if n == 0:
        if diverged:
            why = f"every seed diverged ({diverged}); the paper reports a value"
            return judged(None, None, None, "inconsistent", why)
        return judged(None, None, None, "untested", "no finished seed")
    if best:
        ours = float(row.extreme)
        what, range_name = "our best seed", "the range of a best of"
    else:
        ours = float(row.mean)
        what, range_name = "our mean", "our 95% CI"
    # the printed value stands for every value that rounds to it
    rounding = cell.rounding * (100.0 if converted and cell.metric == "final" else 1.0)
    if converted and cell.metric == "error":
        rounding /= 100.0
    within_std = abs(ours - paper) <= (paper_std or 0.0) + rounding + float(_noise(ours, paper))
    within_std = within_std and (paper_std is not None or rounding > 0)
    std_text = f"the paper's ± {paper_std:g}" if paper_std is not None else "the paper's rounding"
    if n < 2 or not math.isfinite(float(row.std)):
        if within_std:
            return judged(ours, None, None, "consistent", f"{what} is within {std_text}")
        return judged(ours, None, None, "untested", "n<2: no interval to judge by")
    if cell.stat == "max":
        trials = cell.trials or n
        low, high = best_of_range(float(row.mean), float(row.std), trials,
                                  metric.higher_is_better)  # fmt: skip
        range_name = (
            "the 95% range of one run" if one_run else f"the 95% range of a best of {trials} seeds"
        )
    else:
        low, high = float(row.ci_low), float(row.ci_high)
    if _inside(paper, low - rounding, high + rounding):
        return judged(ours, low, high, "consistent", f"the paper's value is inside {range_name}")
    if within_std:
        return judged(ours, low, high, "consistent", f"{what} is within {std_text}")
    beyond = f" and {what} is beyond {std_text}" if paper_std is not None else ""
    return judged(ours, low, high, "inconsistent",
                  f"the paper's value is outside {range_name}{beyond}")  # fmt: skip


def _other_setting(cell: PaperCell, row: Any) -> str:
    """Why ``row`` ran in another setting than the paper's (the plan file's epochs and
    batch size, e.g. a shortened ``--epochs`` run), or "" when it did not or is unknown."""
    ours = tuple(_int_or_none(getattr(row, k, None)) for k in ("epochs", "batch_size"))
    theirs = (cell.epochs, cell.batch_size)
    if not any(o and t and o != t for o, t in zip(ours, theirs, strict=True)):
        return ""
    return (
        f"not comparable: ours ran {ours[0]} epochs at batch {ours[1]}, the paper's value is "
        f"for {theirs[0]} epochs at batch {theirs[1]} (the plan file's)"
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None or value != value else int(value)


def checks(
    frame: pd.DataFrame, paper: Paper, metric: Metric
) -> dict[tuple[str, str, str], list[PaperCheck]]:
    """Per (task, config_hash, plan) row of ``frame`` (``stats.summarize``), the paper's
    cells of that task and plan judged against it, in the paper's order."""
    if not paper.cells:
        return {}
    by_plan: dict[tuple[str, str], list[PaperCell]] = {}
    for cell in paper.cells:
        by_plan.setdefault((cell.task, cell.plan), []).append(cell)
    out: dict[tuple[str, str, str], list[PaperCheck]] = {}
    for row in frame.itertuples():
        found = [
            c for cell in by_plan.get((row.task, row.plan), []) if (c := check(cell, row, metric))
        ]
        if found:
            out[(row.task, row.config_hash, row.plan)] = found
    return out


def not_run(
    frame: pd.DataFrame, paper: Paper, metric: Metric, task: str | None = None
) -> list[PaperCell]:
    """The paper's cells for this metric (or convertible to it) whose (task, plan) has no
    row in ``frame``; only ``task``'s when given."""
    ran = set(zip(frame["task"], frame["plan"], strict=True)) if not frame.empty else set()
    return [
        c
        for c in paper.cells
        if (task is None or c.task == task)
        and (c.task, c.plan) not in ran
        and in_units(c, metric) is not None
    ]


def other_metrics(paper: Paper, metric: Metric, task: str | None = None) -> list[str]:
    """The metrics the paper's cells are given in that ``metric`` does not show."""
    names = {
        c.metric
        for c in paper.cells
        if (task is None or c.task == task) and in_units(c, metric) is None
    }
    return [m for m in METRICS if m in names]
