"""Statistics over seeds: Welch's test, Holm's correction, intervals, and the ranking that
never presents a difference that is not significant as a win."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from optbench.errors import BadInput
from optbench.report.metrics import get_metric
from optbench.report.stats import confidence_interval, holm, rank_plans, summarize, welch_p


def rows_of(plans: dict[str, list[float]], task: str = "digits-mlp") -> list[dict]:
    """Run rows as ``Store.run_rows`` gives them, with accuracy as given."""
    return [
        {
            "id": i,
            "task": task,
            "plan": plan,
            "seed": seed,
            "accuracy": acc,
            "loss": 1 - acc,
            "f1": acc,
            "precision": acc,
            "recall": acc,
            "ms_per_batch": 1.0,
            "s_per_epoch": 0.1,
            "stage_starts": [0],
        }
        for i, (plan, seed, acc) in enumerate(
            (plan, seed, acc) for plan, accs in plans.items() for seed, acc in enumerate(accs)
        )
    ]


def by_label(frame):
    return {row.label: row for row in frame.itertuples()}


@pytest.mark.parametrize("alternative", ["two-sided", "less"])
def test_welch_from_summaries_equals_scipy_on_samples(alternative):
    rng = np.random.default_rng(1)
    for _ in range(20):
        a = rng.normal(0.9, 0.02, rng.integers(2, 12))
        b = rng.normal(0.91, 0.05, rng.integers(2, 12))
        ours = welch_p(a.mean(), a.std(ddof=1), len(a), b.mean(), b.std(ddof=1), len(b),
                       alternative)  # fmt: skip
        theirs = sps.ttest_ind(a, b, equal_var=False, alternative=alternative).pvalue
        assert ours == pytest.approx(theirs, rel=1e-9)


def test_zero_variance_on_both_sides_is_exact():
    # equal constants: tied (p = 1); different constants: a certain difference (p = 0)
    assert welch_p(0.9, 0.0, 3, 0.9, 0.0, 3) == 1.0
    assert welch_p(0.9, 0.0, 3, 0.8, 0.0, 3) == 0.0
    assert welch_p(0.8, 0.0, 3, 0.9, 0.0, 3, "less") == 0.0
    assert welch_p(0.9, 0.0, 3, 0.8, 0.0, 3, "less") == 1.0
    # one side with spread: an ordinary Welch test
    assert 0.0 < welch_p(0.9, 0.0, 3, 0.89, 0.01, 3) < 1.0


def test_holm_step_down():
    # sorted p: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, max(0.04*1, 0.06) = 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.02, 0.3]) == pytest.approx([0.04, 0.3])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1, then non-decreasing
    assert list(holm([])) == []


def test_holm_is_between_uncorrected_and_bonferroni():
    p = np.random.default_rng(0).uniform(0, 0.2, 8)
    adjusted = holm(p)
    assert np.all(adjusted >= p) and np.all(adjusted <= np.minimum(1, p * len(p)))


def test_confidence_interval_is_students_t():
    low, high = confidence_interval([0.9], [0.01], [5])
    expected = sps.t.interval(0.95, 4, loc=0.9, scale=0.01 / np.sqrt(5))
    assert (low[0], high[0]) == pytest.approx(expected)
    low, high = confidence_interval([0.9], [np.nan], [1])
    assert np.isnan(low[0]) and np.isnan(high[0])


def test_two_plans_that_differ_only_by_seed_noise_are_tied():
    rng = np.random.default_rng(7)
    plans = {"SGD": list(rng.normal(0.95, 0.01, 10)), "Adam": list(rng.normal(0.95, 0.01, 10))}
    frame = summarize(rows_of(plans))
    assert sorted(frame["verdict"]) == ["best", "tied"]
    assert list(frame["rank"]) == [1, 1]
    assert frame["p_vs_best"].iloc[1] >= 0.05


def test_seed_noise_is_rarely_called_a_difference():
    """Over many draws of three plans from one distribution, the best is told apart from
    another in at most about α of the draws (Holm keeps the family-wise error at α)."""
    rng = np.random.default_rng(11)
    false_wins = 0
    draws = 300
    for _ in range(draws):
        means = rng.normal(0.95, 0.01, (3, 5))
        _, verdict, _ = rank_plans(means.mean(1), means.std(1, ddof=1), [5, 5, 5],
                                   higher_is_better=True)  # fmt: skip
        false_wins += "worse" in verdict
    assert false_wins / draws < 0.08


def test_a_truly_better_plan_ranks_first_and_significant():
    rng = np.random.default_rng(3)
    plans = {"SGD": list(rng.normal(0.90, 0.01, 5)), "Adam": list(rng.normal(0.95, 0.01, 5))}
    frame = summarize(rows_of(plans))
    best, other = by_label(frame)["Adam"], by_label(frame)["SGD"]
    assert (best.rank, best.verdict) == (1, "best")
    assert (other.rank, other.verdict) == (2, "worse")
    assert other.p_vs_best < 0.01


def test_rank_groups_are_separated_by_significant_differences():
    plans = {
        "Adam": [0.97, 0.96, 0.98, 0.97],
        "AdamW": [0.96, 0.97, 0.97, 0.96],  # tied with Adam
        "SGD": [0.90, 0.91, 0.90, 0.89],  # worse than Adam; leads the next group
        "NAdam": [0.90, 0.89, 0.91, 0.90],  # tied with SGD
        "Adagrad": [0.80, 0.81, 0.79, 0.80],  # worse than SGD
    }
    frame = by_label(summarize(rows_of(plans)))
    assert {k: (r.rank, r.verdict) for k, r in frame.items()} == {
        "Adam": (1, "best"), "AdamW": (1, "tied"), "SGD": (3, "worse"), "NAdam": (3, "worse"),
        "Adagrad": (5, "worse"),
    }  # fmt: skip


def test_holm_keeps_a_lone_uncorrected_significance_from_being_a_win():
    # Plan "B" alone would differ from "A" at p < 0.05, but not after correcting for the
    # three comparisons with the best.
    mean = np.array([0.95, 0.93, 0.94, 0.945])
    std = np.array([0.01, 0.01, 0.01, 0.01])
    n = np.array([4, 4, 4, 4])
    raw = welch_p(mean[1], std[1], n[1], mean[0], std[0], n[0])
    assert raw < 0.05
    rank, verdict, p_best = rank_plans(mean, std, n, higher_is_better=True)
    assert verdict == ["best", "tied", "tied", "tied"] and list(rank) == [1, 1, 1, 1]
    assert p_best[1] == pytest.approx(3 * raw)


def test_a_single_seed_is_never_ranked_nor_best():
    plans = {"SGD(lr=0.1)": [0.99], "SGD": [0.9, 0.91], "Adam": [0.93, 0.94]}
    frame = by_label(summarize(rows_of(plans)))
    lucky = frame["SGD(lr=0.1)"]
    assert lucky.verdict == "n<2" and lucky.rank is pd.NA
    assert frame["Adam"].verdict == "best"
    assert np.isnan(lucky.std) and np.isnan(lucky.ci_low)


def test_identical_values_are_tied_and_different_constants_are_not():
    frame = by_label(summarize(rows_of({"Adam": [0.9, 0.9, 0.9], "SGD": [0.9, 0.9, 0.9]})))
    assert {frame["Adam"].verdict, frame["SGD"].verdict} == {"best", "tied"}
    frame = by_label(summarize(rows_of({"Adam": [0.9, 0.9, 0.9], "SGD": [0.8, 0.8, 0.8]})))
    assert (frame["Adam"].verdict, frame["SGD"].verdict) == ("best", "worse")


def test_lower_is_better_metrics_rank_the_lowest_first():
    plans = {"SGD": [0.90, 0.91, 0.90, 0.91], "Adam": [0.97, 0.96, 0.97, 0.96]}
    for metric in ("error", "loss"):
        frame = summarize(rows_of(plans), metric)
        assert list(frame["label"]) == ["Adam", "SGD"], metric
        assert list(frame["verdict"]) == ["best", "worse"]
    error = by_label(summarize(rows_of(plans), "error"))
    assert error["Adam"].mean == pytest.approx(3.5)  # percent
    assert error["Adam"].extreme == pytest.approx(3.0)  # the best seed: the lowest error


def test_max_over_seeds_is_shown_beside_the_mean():
    frame = by_label(summarize(rows_of({"SGD": [0.90, 0.93, 0.91]})))
    assert frame["SGD"].extreme == pytest.approx(0.93)
    assert frame["SGD"].n == 3


def test_epoch_metrics():
    runs = rows_of({"SGD": [0.9, 0.9]})
    epochs = [
        {"run_id": run, "epoch": e, "val_acc": acc}
        for run, accs in ((0, [0.5, 0.95, 0.8, 0.85, 0.9] * 3), (1, [0.6] * 14 + [0.7]))
        for e, acc in enumerate(accs, start=1)
    ]
    best = by_label(summarize(runs, "best", epochs))["SGD"]
    assert best.mean == pytest.approx((0.95 + 0.7) / 2)
    last10 = by_label(summarize(runs, "last10", epochs))["SGD"]  # 15 epochs: the last 2
    assert last10.mean == pytest.approx(((0.85 + 0.9) / 2 + (0.6 + 0.7) / 2) / 2)
    with pytest.raises(ValueError, match="epoch rows"):
        summarize(runs, "best")


def test_an_unknown_metric_is_bad_input_with_a_suggestion():
    with pytest.raises(BadInput, match="'last10'"):
        get_metric("last-10")
    assert get_metric("accuracy").name == "final"


def test_values_equal_up_to_floating_point_noise_are_tied():
    # every seed at 301/360: the mean of 3 and the mean of 5 differ in the last bit
    value = 301 / 360
    plans = {"Adam": [value] * 3, "SGD": [value] * 5}
    frame = by_label(summarize(rows_of(plans)))
    assert frame["Adam"].mean != frame["SGD"].mean  # the noise is there ...
    assert {frame["Adam"].verdict, frame["SGD"].verdict} == {"best", "tied"}  # ... and ignored
    assert {frame["Adam"].rank, frame["SGD"].rank} == {1}
    # a standard deviation of rounding noise is zero; a real difference stays certain
    assert welch_p(value, 1e-17, 3, value * (1 + 1e-15), 0.0, 5) == 1.0
    assert welch_p(0.84, 1e-17, 3, 0.83, 0.0, 5) == 0.0
    assert welch_p(0.84, 1e-17, 3, 0.83, 0.0, 5, "less") == 1.0


def rows_with_status(plans: dict[str, list]) -> list[dict]:
    """``rows_of`` where an entry may be a status (diverged, failed, pending) instead of an
    accuracy."""
    rows = []
    for plan, outcomes in plans.items():
        for seed, outcome in enumerate(outcomes):
            [row] = rows_of({plan: [0.0 if isinstance(outcome, str) else outcome]})
            row |= {"id": len(rows), "seed": seed}
            if isinstance(outcome, str):
                row |= {"status": outcome, "accuracy": None, "loss": None, "ms_per_batch": None}
            else:
                row["status"] = "done"
            rows.append(row)
    return rows


def test_a_plan_with_a_diverged_seed_is_never_best_nor_tied():
    plans = {
        "SGD(lr=2.8)": [0.97, 0.975, 0.972, "diverged"],  # the highest mean of the finished
        "SGD(lr=2.7)": [0.96, 0.962, 0.958, 0.961],
        "SGD(lr=1000.0)": ["diverged"] * 4,  # every seed diverged: still a row
        "Adam": [0.95, 0.952, "failed", "pending"],  # a failed run is an error, not a result
    }
    frame = by_label(summarize(rows_with_status(plans)))
    risky = frame["SGD(lr=2.8)"]
    assert (risky.verdict, risky.rank, risky.n, risky.done, risky.diverged) == (
        "diverged", pd.NA, 3, 3, 1)  # fmt: skip
    assert risky.mean == pytest.approx(0.9723, abs=1e-4)  # its finished seeds, shown
    assert frame["SGD(lr=2.7)"].verdict == "best"
    broken = frame["SGD(lr=1000.0)"]
    assert (broken.verdict, broken.n, broken.diverged) == ("diverged", 0, 4)
    adam = frame["Adam"]
    assert (adam.done, adam.failed, adam.pending) == (2, 1, 1)
    assert adam.verdict == "worse" and adam.rank == 2
    # ranked plans first, then the others; every plan has its row
    assert list(summarize(rows_with_status(plans))["label"][:2]) == ["SGD(lr=2.7)", "Adam"]


def test_a_plan_without_a_finished_seed_has_no_result():
    frame = by_label(summarize(rows_with_status({"Adam": ["failed", "pending"],
                                                 "SGD": [0.9, 0.91]})))  # fmt: skip
    assert frame["Adam"].verdict == "no result" and frame["Adam"].n == 0
    assert frame["SGD"].verdict == "best"


def test_configurations_are_ranked_apart_and_never_pooled():
    rows = rows_of({"Adam": [0.80, 0.81], "SGD": [0.70, 0.71]})
    for row in rows:
        row |= {"config_hash": "short", "epochs": 2, "batch_size": 32, "device": "cpu",
                "threads": 1, "trainer_revision": 2}  # fmt: skip
    longer = rows_of({"Adam": [0.95, 0.96, 0.97]})
    for i, row in enumerate(longer):
        row |= {"id": 100 + i, "config_hash": "long", "epochs": 30, "batch_size": 32,
                "device": "cpu", "threads": 1, "trainer_revision": 2}  # fmt: skip
    old = rows_of({"Adam": [0.5, 0.6]})  # stored before configurations had columns
    for i, row in enumerate(old):
        row |= {"id": 200 + i, "config_hash": "0123456789abcdef"}
    frame = summarize(rows + longer + old)
    adam = frame[frame["label"] == "Adam"]
    assert sorted(adam["n"]) == [2, 2, 3]
    assert list(adam["config"]) == [
        "2 epochs, batch 32, cpu, 1 thread, trainer 2",
        "30 epochs, batch 32, cpu, 1 thread, trainer 2",
        "settings not recorded (config 01234567)",
    ]
    # each configuration has its own best
    for _, part in frame.groupby("config_hash"):
        assert (part["verdict"] == "best").sum() == 1


def test_labels_as_written_when_the_links_agree_else_the_short_label():
    rows = rows_of({"SGD+step+warmup": [0.9, 0.91], "Adam": [0.8, 0.81]})
    for row in rows[:2]:
        row["label"] = "SGD+warmup+step"
    assert set(summarize(rows)["label"]) == {"SGD+warmup+step", "Adam"}
    rows[1]["label"] = "SGD + warmup + step"  # two plan files write it differently
    assert set(summarize(rows)["label"]) == {"(SGD+step+warmup)", "Adam"}
    # two stored plans under one written label: told apart by their short labels
    rows = rows_of({"SGD(lr=0.1)": [0.9, 0.91], "SGD(lr=0.2)": [0.8, 0.81]})
    for row in rows:
        row["label"] = "SGD"
    assert set(summarize(rows)["label"]) == {"SGD(lr=0.1)", "SGD(lr=0.2)"}
