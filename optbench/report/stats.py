"""Per (task, configuration, plan) statistics over seeds, and whether a difference is real.

``summarize`` turns plain stored run rows into one row per (task, configuration, plan):
how many seeds finished, diverged, failed or are not finished yet; over the finished
seeds, mean and sample standard deviation of a metric, a 95% confidence interval, n, the
best seed's value, mean validation loss, ms/batch and s/epoch; a rank and a verdict
against the best plan of the same task and configuration.

Runs of different configurations (``config_hash``: epochs, batch size, device, threads,
trainer revision) are never pooled nor ranked against each other: each (task,
configuration) is ranked on its own.

How plans are ranked (asv's ``_stats`` spirit: say "not different" unless the data say
otherwise):

1. Only plans with n ≥ 2 finished seeds and no diverged seed are tested and ranked. A
   plan with n < 2 is shown with the verdict ``n<2`` and no rank, whatever its value —
   one seed is never a win. A plan with a diverged seed is shown with the verdict
   ``diverged`` and no rank: the mean of the seeds that survived is biased upward, so it
   is never best nor tied, however high it is; its finished seeds' statistics and the
   count of diverged seeds stand in its row. A plan without a finished seed has the
   verdict ``no result``. Failed runs are errors, not results (a later ``optbench run``
   retries them): they are counted and shown, and the plan is ranked on its finished
   seeds.
2. The best plan (highest mean, or lowest for lower-is-better metrics) is compared with every
   other plan by Welch's unequal-variances t-test, two-sided (which plan is best was chosen by
   looking at the data), and the p-values are Holm-corrected over that family (``holm``).
   Plans whose corrected p is not below α (0.05) are *tied* with the best and share rank 1.
3. The best of the remaining plans leads the next rank group, tested the same way against the
   rest, and so on. Ranks count plans as in sports (1, 1, 3): every rank boundary is a
   difference significant at α; plans within a group are not told apart.

Values equal up to floating-point noise are equal (``NOISE``): the mean of three seeds at
301/360 and the mean of five differ in the last bit, and are tied, not a certain
difference.

``p_vs_best`` is always the corrected p of the comparison with the overall best.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special

from optbench.report import configs
from optbench.report.labels import group_label
from optbench.report.metrics import Metric, get_metric, run_values
from optbench.train.record import Status

STATUSES = tuple(s.value for s in Status)  # pending, running, done, failed, ...
# the order a plan's seeds are counted in, in every format
COUNTED = ("done", "diverged", "failed", "running", "pending", "interrupted")
COLUMNS = [
    "task",
    "config_hash",
    "config",
    "epochs",
    "batch_size",
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
    *COUNTED,
]
ALPHA = 0.05
# the run columns summarize reads (besides task, config hash and plan)
_READ = ("id", "accuracy", "loss", "f1", "precision", "recall", "ms_per_batch", "s_per_epoch")
# Two values closer than this (relative to their size, and at least 1e-12 apart in
# absolute terms) are equal: far above the rounding of a mean over any number of seeds,
# far below any difference a metric is shown with.
NOISE = 1e-9
_ABS_NOISE = 1e-12


def _noise(*scales) -> np.ndarray:
    scale = np.maximum.reduce([np.abs(np.asarray(s, dtype=float)) for s in scales])
    return NOISE * np.nan_to_num(scale, nan=0.0) + _ABS_NOISE


def welch_p(mean_a, std_a, n_a, mean_b, std_b, n_b, alternative: str = "two-sided"):
    """p-values of Welch's t-test of a against b from summary statistics (sample standard
    deviations, ddof = 1); arrays broadcast. ``alternative``: "two-sided" (H1: the means
    differ) or "less" (H1: mean_a < mean_b). Equals ``scipy.stats.ttest_ind(a, b,
    equal_var=False, alternative=...)`` on the samples (a test checks it):

        t = (mean_a − mean_b) / √(s_a²/n_a + s_b²/n_b),
        df = (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)²/(n_a − 1) + (s_b²/n_b)²/(n_b − 1)),

    p from Student's t with df degrees of freedom (``scipy.special.stdtr``: importing
    scipy.stats would cost ``compare`` a second of start-up).

    Values are compared up to floating-point noise (``NOISE``): means that differ by less
    are equal, and a standard deviation below it is zero. Equal means give p = 1 — no
    evidence of a difference, however small the spread. Zero spread on both sides (every
    seed gave the same value, as a deterministic run does) leaves t undefined; the
    difference is then exact: p = 0 when the means differ (in the direction of
    ``alternative``).
    """
    if alternative not in ("two-sided", "less"):
        raise ValueError(f"alternative must be 'two-sided' or 'less', got {alternative!r}")
    mean_a, std_a, n_a, mean_b, std_b, n_b = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (mean_a, std_a, n_a, mean_b, std_b, n_b))
    )
    noise = _noise(mean_a, mean_b)
    std_a = np.where(std_a <= noise, 0.0, std_a)
    std_b = np.where(std_b <= noise, 0.0, std_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        va, vb = std_a**2 / n_a, std_b**2 / n_b
        t = (mean_a - mean_b) / np.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
        p = special.stdtr(df, t) if alternative == "less" else 2 * special.stdtr(df, -np.abs(t))
    p = np.array(p, dtype=float)
    equal = np.abs(mean_a - mean_b) <= noise
    exact = (std_a == 0) & (std_b == 0)
    differs = mean_a < mean_b if alternative == "less" else mean_a != mean_b
    p[exact] = np.where(differs[exact], 0.0, 1.0)
    p[equal] = 1.0
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
    eligible: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(rank, verdict, p_vs_best) for the plans of one task and configuration, by the
    procedure in the module docstring. Only plans with n ≥ 2, a finite mean and spread and
    ``eligible`` (default: all; ``summarize`` passes "no diverged seed") are ranked; the
    others get rank NaN and the verdict ``n<2`` (the caller names other reasons). Verdicts
    of ranked plans are ``best``, ``tied`` (not different from the best) or ``worse``."""
    mean, std, n = (np.asarray(x, dtype=float) for x in (mean, std, n))
    count = len(mean)
    ok = np.ones(count, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    rank = np.full(count, np.nan)
    p_best = np.full(count, np.nan)
    verdict = ["n<2"] * count
    tested = np.flatnonzero(ok & (n >= 2) & np.isfinite(mean) & np.isfinite(std))
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
    """One row per (task, configuration, plan) of ``rows`` (stored run rows of any status,
    e.g. ``Store.run_rows(status=None)``; a row without ``status`` counts as done):

    ``config_hash`` and ``config`` (the configuration in words, ``configs.describe``),
    its ``epochs`` and ``batch_size`` (None where the settings are not recorded),
    ``label`` (``labels.group_label`` of the rows' ``label``s), the number of seeds per
    status (``done``, ``diverged``, ``failed``, ``running``, ``pending``,
    ``interrupted``), and over the done seeds: mean and sample std of the metric,
    ``ci_low``/``ci_high`` (95%), ``n`` (done runs with a value), ``extreme`` (the best
    seed: max, or min for lower-is-better metrics [ANN]), mean ``val_loss``,
    ``ms_per_batch`` and ``s_per_epoch``, ``rank``/``verdict``/``p_vs_best`` (see the
    module docstring) and ``stage_starts``: the distinct stage starts (0-based epochs) the
    done runs took, each with its number of runs, most common first.

    Epoch-based metrics (``best``, ``last10``) need ``epochs``: the runs' epoch rows.
    Sorted by task, configuration, rank, mean (best first), then label.
    """
    metric = metric if isinstance(metric, Metric) else get_metric(metric)
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    # what is counted per group, in plain Python: pandas iterates object columns slowly
    keys_of = [(r["task"], r.get("config_hash") or "", r["plan"]) for r in rows]
    status = [r.get("status") or "done" for r in rows]
    first: dict[tuple, dict] = {}
    written: dict[tuple, list] = {}
    counts: Counter = Counter()
    starts: Counter = Counter()
    for key, row, state in zip(keys_of, rows, status, strict=True):
        first.setdefault(key, row)
        if (label := row.get("label")) is not None:
            written.setdefault(key, []).append(label)
        counts[key, state] += 1
        if state == "done":
            starts[key, tuple(row.get("stage_starts") or ())] += 1
    frame = pd.DataFrame(
        {
            "task": [k[0] for k in keys_of],
            "config_hash": [k[1] for k in keys_of],
            "plan": [k[2] for k in keys_of],
            **{c: [r.get(c) for r in rows] for c in _READ},
        }
    )
    done = np.array([state == "done" for state in status])
    frame["value"] = run_values(metric, frame, epochs).where(done)
    for col in ("loss", "ms_per_batch", "s_per_epoch"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float).where(done)
    out = (
        frame.groupby(["task", "config_hash", "plan"], sort=False)
        .agg(
            mean=("value", "mean"),
            std=("value", "std"),
            n=("value", "count"),
            extreme=("value", metric.extreme),
            val_loss=("loss", "mean"),
            ms_per_batch=("ms_per_batch", "mean"),
            s_per_epoch=("s_per_epoch", "mean"),
        )
        .reset_index()
    )
    groups = list(zip(out["task"].tolist(), out["config_hash"].tolist(), out["plan"].tolist(),
                      strict=True))  # fmt: skip
    for state in COUNTED:
        out[state] = [counts[key, state] for key in groups]
    out["label"] = _labels(groups, written)
    described = {}
    for key in groups:
        if key[1] not in described:
            row = first[key]
            config = configs.run_config(row)
            described[key[1]] = (
                configs.describe(row),
                configs.order(row),
                None if config is None else config.epochs,
                None if config is None else config.batch_size,
            )
    for i, column in enumerate(("config", "_config_order", "epochs", "batch_size")):
        out[column] = [described[key[1]][i] for key in groups]
    per_plan: dict[tuple, list[tuple[tuple[int, ...], int]]] = {}
    for (key, taken), runs in starts.items():
        per_plan.setdefault(key, []).append((taken, runs))
    out["stage_starts"] = [
        tuple(sorted(per_plan.get(key, []), key=lambda s: (-s[1], s[0]))) for key in groups
    ]

    out["ci_low"], out["ci_high"] = confidence_interval(out["mean"], out["std"], out["n"])
    out = out.sort_values(["task", "config_hash", "label", "plan"]).reset_index(drop=True)
    out["rank"] = np.nan
    out["verdict"] = np.where(out["diverged"] > 0, "diverged",
                              np.where(out["n"] == 0, "no result", "n<2"))  # fmt: skip
    out["p_vs_best"] = np.nan
    for _, index in out.groupby(["task", "config_hash"], sort=False).groups.items():
        part = out.loc[index]
        rank, verdict, p_best = rank_plans(
            part["mean"].to_numpy(),
            part["std"].to_numpy(),
            part["n"].to_numpy(),
            higher_is_better=metric.higher_is_better,
            alpha=alpha,
            eligible=(part["diverged"] == 0).to_numpy(),
        )
        ranked = ~np.isnan(rank)
        out.loc[index, "rank"] = rank
        out.loc[index[ranked], "verdict"] = np.asarray(verdict, dtype=object)[ranked]
        out.loc[index, "p_vs_best"] = p_best
    out["rank"] = out["rank"].astype("Int64")
    out["_order"] = -out["mean"] if metric.higher_is_better else out["mean"]
    out = out.sort_values(
        ["task", "_config_order", "rank", "_order", "label"], na_position="last", kind="stable"
    )
    return out.reset_index(drop=True)[COLUMNS]


def _labels(groups: list[tuple], written: dict[tuple, list]) -> list[str]:
    """Per group, the label its runs' links agree on, else the plan's short label; a label
    that two plans of one (task, configuration) would share is replaced by the short
    labels, so that no two rows of a table read the same."""
    labels = [group_label(plan, written.get(key, ())) for key in groups for plan in [key[2]]]
    seen = Counter((key[0], key[1], label) for key, label in zip(groups, labels, strict=True))
    return [
        group_label(key[2], ()) if seen[(key[0], key[1], label)] > 1 else label
        for key, label in zip(groups, labels, strict=True)
    ]
