"""What one row of the ranked table says, once, for every output format.

``numbers`` rounds each statistic to the decimals it is shown with; ``texts`` writes those
same numbers as text. The table, Markdown and LaTeX print ``texts``; CSV writes ``texts``
unadorned and JSON ``numbers``, so every format carries the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pandas as pd

from optbench.plan.timeline import Row, schedule_rows
from optbench.report.labels import parsed, strip_defaults, text_schedule
from optbench.report.metrics import Metric
from optbench.report.stats import COUNTED

TIME_DECIMALS = 3  # ms/batch and s/epoch
LOSS_DECIMALS = 4


@dataclass(frozen=True)
class Header:
    """Column headers of the ranked table for one metric."""

    rank: str = "rank"
    plan: str = "plan"
    mean: str = ""
    ci: str = "95% CI"
    n: str = "n"
    seeds: str = "seeds"
    extreme: str = ""
    val_loss: str = "val loss"
    ms_per_batch: str = "ms/batch"
    s_per_epoch: str = "s/epoch"
    vs_best: str = "vs best"


def header(metric: Metric) -> Header:
    return Header(mean=f"{metric.column} (mean ± std)", extreme=metric.extreme)


def caption(metric: Metric, alpha: float) -> str:
    return (
        f"tied = not different from the best (Welch's t-test, Holm-corrected, α = {alpha:g}); "
        f"a rank boundary is a significant difference; not ranked: n<2, and a plan with a "
        f"diverged seed (statistics over its finished seeds); "
        f"{metric.extreme} = the best seed [ANN]"
    )


def _round(x: Any, decimals: int) -> float | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return round(float(x), decimals)


def _p(p: Any) -> float | None:
    """p-values with two significant digits (0.07, 0.0037, 1.2e-05)."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return None
    return float(f"{float(p):.2g}")


def numbers(row: Any, metric: Metric) -> dict[str, Any]:
    """The statistics of a ``summarize`` row, rounded as shown; None where there is none."""
    d = metric.decimals
    tested = row.n >= 2
    return {
        "rank": None if pd.isna(row.rank) else int(row.rank),
        "mean": _round(row.mean, d),
        "std": _round(row.std, d) if tested else None,
        "ci_low": _round(row.ci_low, d) if tested else None,
        "ci_high": _round(row.ci_high, d) if tested else None,
        "n": int(row.n),
        "seeds": {status: int(getattr(row, status)) for status in COUNTED},
        "extreme": _round(row.extreme, d),
        "val_loss": _round(row.val_loss, LOSS_DECIMALS),
        "ms_per_batch": _round(row.ms_per_batch, TIME_DECIMALS),
        "s_per_epoch": _round(row.s_per_epoch, TIME_DECIMALS),
        "verdict": row.verdict,
        "p_vs_best": _p(row.p_vs_best),
    }


def _fixed(x: float | None, decimals: int) -> str:
    return "–" if x is None else f"{x:.{decimals}f}"


def seeds_text(seeds: dict[str, int]) -> str:
    """How a plan's seeds ended: ``3 done, 1 diverged`` (statuses with no seed left out)."""
    return ", ".join(f"{seeds[s]} {s}" for s in COUNTED if seeds.get(s)) or "none"


def texts(num: dict[str, Any], metric: Metric) -> dict[str, str]:
    """``numbers`` as the text every format prints ("–" for none)."""
    d = metric.decimals
    mean = _fixed(num["mean"], d)
    if num["std"] is not None:
        mean += f" ± {num['std']:.{d}f}"
    ci = (
        f"[{num['ci_low']:.{d}f}, {num['ci_high']:.{d}f}]"
        if num["ci_low"] is not None and num["ci_high"] is not None
        else "–"
    )
    verdict = num["verdict"]
    if num["p_vs_best"] is not None:
        verdict += f" (p={num['p_vs_best']:g})"
    return {
        "rank": "–" if num["rank"] is None else str(num["rank"]),
        "mean": mean,
        "ci": ci,
        "n": str(num["n"]),
        "seeds": seeds_text(num["seeds"]),
        "extreme": _fixed(num["extreme"], d),
        "val_loss": _fixed(num["val_loss"], LOSS_DECIMALS),
        "ms_per_batch": _fixed(num["ms_per_batch"], TIME_DECIMALS),
        "s_per_epoch": _fixed(num["s_per_epoch"], TIME_DECIMALS),
        "vs_best": verdict,
    }


def highlighted(row: Any) -> bool:
    """The best plan and those tied with it: bold in every format that has bold."""
    return row.verdict in ("best", "tied")


@lru_cache(maxsize=4096)
def schedule(stored: str) -> tuple[Row, ...]:
    """The Y/N schedule table [MS Table 3] of a stored plan, defaults not spelled out; for
    a plan this optbench no longer parses, read from its text (``text_schedule``)."""
    plan = parsed(stored)
    if plan is None:
        return text_schedule(stored)
    return tuple(schedule_rows(strip_defaults(plan)))


@lru_cache(maxsize=4096)
def ends_early(stored: str) -> bool:
    """Whether a stage of the plan may end early (an end condition such as plateau); for a
    plan this optbench no longer parses, whether any stage has a written end or length."""
    plan = parsed(stored)
    if plan is None:
        return ":" in stored
    return any(stage.until is not None for stage in plan.stages)


def stage_note(row: Any) -> str | None:
    """The stage boundaries the runs actually took, when they are not fixed by the plan:
    ``stages began at epochs 1, 5, 9 (3 runs); 1, 7, 11 (2 runs)`` (1-based epochs).
    None when every run took the same, plan-given boundaries."""
    taken = row.stage_starts
    if not taken or (len(taken) == 1 and not ends_early(row.plan)):
        return None
    parts = [
        f"{', '.join(str(s + 1) for s in starts)} ({runs} run{'s' if runs != 1 else ''})"
        for starts, runs in taken
    ]
    return "stages began at epochs " + "; ".join(parts)


def stage_starts_json(row: Any) -> list[dict[str, Any]]:
    """Every distinct set of stage starts, as 1-based epochs, with its number of runs."""
    return [{"epochs": [s + 1 for s in starts], "runs": runs} for starts, runs in row.stage_starts]


def schedule_text(stored: str) -> str:
    """The Y/N table in one cell: ``SGD GE Y N Y; Adam GE N Y N; d LR N Y N``."""
    return "; ".join(
        f"{r.label} {r.kind_label} " + " ".join("Y" if a else "N" for a in r.active)
        for r in schedule(stored)
    )
