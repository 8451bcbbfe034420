"""Per (task, plan) statistics over seeds, and whether a difference is real.

``summarize`` turns plain stored run rows into one row per (task, plan): mean and sample
standard deviation of a metric over seeds, a 95% confidence interval, n, the best seed's
value, mean validation loss, ms/batch and s/epoch, a rank and a verdict against the best.

How plans are ranked (asv's ``_stats`` spirit: say "not different" unless the data say
otherwise):

1. Only plans with n ≥ 2 seeds are tested and ranked; a plan with n < 2 is shown with the
   verdict ``n<2`` and no rank, whatever its value — one seed is never a win.
2. The best plan (highest mean, or lowest for lower-is-better metrics) is compared with every
   other plan by Welch's unequal-variances t-test, two-sided (which plan is best was chosen by
   looking at the data), and the p-values are Holm-corrected over that family (``holm``).
   Plans whose corrected p is not below α (0.05) are *tied* with the best and share rank 1.
3. The best of the remaining plans leads the next rank group, tested the same way against the
   rest, and so on. Ranks count plans as in sports (1, 1, 3): every rank boundary is a
   difference significant at α; plans within a group are not told apart.

``p_vs_best`` is always the corrected p of the comparison with the overall best.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special

from optbench.report.labels import short_label
from optbench.report.metrics import Metric, get_metric, run_values

COLUMNS = [
    "task",
    "plan",
    "label",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "n",
    "extreme",
    "val_loss",
    "ms_per_batch",
    "s_per_epoch",
    "rank",
    "verdict",
    "p_vs_best",
    "stage_starts",
]
ALPHA = 0.05


def welch_p(mean_a, std_a, n_a, mean_b, std_b, n_b, alternative: str = "two-sided"):
    """p-values of Welch's t-test of a against b from summary statistics (sample standard
    deviations, ddof = 1); arrays broadcast. ``alternative``: "two-sided" (H1: the means
    differ) or "less" (H1: mean_a < mean_b). Equals ``scipy.stats.ttest_ind(a, b,
    equal_var=False, alternative=...)`` on the samples (a test checks it):

        t = (mean_a − mean_b) / √(s_a²/n_a + s_b²/n_b),
        df = (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)²/(n_a − 1) + (s_b²/n_b)²/(n_b − 1)),

    p from Student's t with df degrees of freedom (``scipy.special.stdtr``: importing
    scipy.stats would cost ``compare`` a second of start-up).

    Zero variance on both sides (every seed gave the same value, as a deterministic run does)
    leaves t undefined; the difference is then exact: p = 0 when the means differ (in the
    direction of ``alternative``), p = 1 when they do not — equal means are tied.
    """
    if alternative not in ("two-sided", "less"):
        raise ValueError(f"alternative must be 'two-sided' or 'less', got {alternative!r}")
    mean_a, std_a, n_a, mean_b, std_b, n_b = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (mean_a, std_a, n_a, mean_b, std_b, n_b))
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        va, vb = std_a**2 / n_a, std_b**2 / n_b
        t = (mean_a - mean_b) / np.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
        p = special.stdtr(df, t) if alternative == "less" else 2 * special.stdtr(df, -np.abs(t))
    p = np.array(p, dtype=float)
    exact = (std_a == 0) & (std_b == 0)
    differs = mean_a < mean_b if alternative == "less" else mean_a != mean_b
    p[exact] = np.where(differs[exact], 0.0, 1.0)
    return p


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values, in the input order.

    Sort the m p-values ascending; the i-th smallest (1-based) becomes (m − i + 1)·p_(i),
    made non-decreasing along the sorted order and capped at 1. Rejecting where the adjusted
    p < α controls the family-wise error rate at α for any dependence between the tests.
    """
    p = np.asarray(p, dtype=float)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return out


def confidence_interval(mean, std, n, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Student-t interval mean ± t(level, n − 1)·std/√n; NaN where n < 2."""
    mean, std, n = (np.asarray(x, dtype=float) for x in (mean, std, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        quantile = special.stdtrit(np.where(n >= 2, n - 1, np.nan), 0.5 + level / 2)
        half = quantile * std / np.sqrt(n)
    return mean - half, mean + half


def rank_plans(
    mean: np.ndarray,
    std: np.ndarray,
    n: np.ndarray,
    *,
    higher_is_better: bool,
    alpha: float = ALPHA,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(rank, verdict, p_vs_best) for the plans of one task, by the procedure in the module
    docstring. rank is NaN and the verdict ``n<2`` for untested plans; verdicts of tested
    plans are ``best``, ``tied`` (not different from the best) or ``worse``."""
    mean, std, n = (np.asarray(x, dtype=float) for x in (mean, std, n))
    count = len(mean)
    rank = np.full(count, np.nan)
    p_best = np.full(count, np.nan)
    verdict = ["n<2"] * count
    tested = np.flatnonzero((n >= 2) & np.isfinite(mean) & np.isfinite(std))
    # best first; a stable sort keeps the caller's order (labels) between equal means
    key = -mean[tested] if higher_is_better else mean[tested]
    remaining = tested[np.argsort(key, kind="stable")]
    placed = 0
    while len(remaining):
        leader, others = remaining[0], remaining[1:]
        p = welch_p(mean[others], std[others], n[others], mean[leader], std[leader], n[leader])
        adjusted = holm(p)
        tied = adjusted >= alpha
        group = np.concatenate([[leader], others[tied]])
        rank[group] = placed + 1
        if placed == 0:
            verdict[leader] = "best"
            p_best[others] = adjusted
            for i, is_tied in zip(others, tied, strict=True):
                verdict[i] = "tied" if is_tied else "worse"
        placed += len(group)
        remaining = others[~tied]
    return rank, verdict, p_best


def summarize(
    rows: Sequence[dict],
    metric: str | Metric = "final",
    epochs: Sequence[dict] | pd.DataFrame | None = None,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """One row per (task, plan) of ``rows`` (stored run rows, e.g. ``Store.run_rows()``):

    mean and sample std of the metric over seeds, ``ci_low``/``ci_high`` (95%), ``n`` (runs
    with a value), ``extreme`` (the best seed: max, or min for lower-is-better metrics
    [ANN]), mean ``val_loss``, ``ms_per_batch`` and ``s_per_epoch``, ``rank``/``verdict``/
    ``p_vs_best`` (see the module docstring) and ``stage_starts``: the distinct stage starts
    (0-based epochs) the runs took, each with its number of runs, most common first.

    Epoch-based metrics (``best``, ``last10``) need ``epochs``: the runs' epoch rows.
    Sorted by task, then rank, then mean (best first), then label.
    """
    metric = metric if isinstance(metric, Metric) else get_metric(metric)
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.DataFrame(list(rows))
    frame["value"] = run_values(metric, frame, epochs)
    for col in ("loss", "ms_per_batch", "s_per_epoch"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    grouped = frame.groupby(["task", "plan"], sort=True)
    out = grouped.agg(
        mean=("value", "mean"),
        std=("value", "std"),
        n=("value", "count"),
        extreme=("value", metric.extreme),
        val_loss=("loss", "mean"),
        ms_per_batch=("ms_per_batch", "mean"),
        s_per_epoch=("s_per_epoch", "mean"),
    ).reset_index()
    out["label"] = out["plan"].map(short_label)
    out["ci_low"], out["ci_high"] = confidence_interval(out["mean"], out["std"], out["n"])
    out["stage_starts"] = _stage_starts(frame, out)
    out = out.sort_values(["task", "label", "plan"]).reset_index(drop=True)
    out["rank"] = np.nan
    out["verdict"] = "n<2"
    out["p_vs_best"] = np.nan
    for _, index in out.groupby("task", sort=False).groups.items():
        part = out.loc[index]
        rank, verdict, p_best = rank_plans(
            part["mean"].to_numpy(),
            part["std"].to_numpy(),
            part["n"].to_numpy(),
            higher_is_better=metric.higher_is_better,
            alpha=alpha,
        )
        out.loc[index, "rank"] = rank
        out.loc[index, "verdict"] = verdict
        out.loc[index, "p_vs_best"] = p_best
    out["rank"] = out["rank"].astype("Int64")
    out["_order"] = -out["mean"] if metric.higher_is_better else out["mean"]
    out = out.sort_values(["task", "rank", "_order", "label"], na_position="last", kind="stable")
    return out.reset_index(drop=True)[COLUMNS]


def _stage_starts(frame: pd.DataFrame, out: pd.DataFrame) -> list[tuple]:
    starts = frame["stage_starts"] if "stage_starts" in frame else [()] * len(frame)
    counts = Counter(
        (task, plan, tuple(s or ()))
        for task, plan, s in zip(frame["task"], frame["plan"], starts, strict=True)
    )
    per_plan: dict[tuple[str, str], list[tuple[tuple[int, ...], int]]] = {}
    for (task, plan, taken), runs in counts.items():
        per_plan.setdefault((task, plan), []).append((taken, runs))
    return [
        tuple(sorted(per_plan.get((t, p), []), key=lambda s: (-s[1], s[0])))
        for t, p in zip(out["task"], out["plan"], strict=True)
    ]
