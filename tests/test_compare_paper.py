"""The paper's numbers beside ours: how each paper cell is judged (mean cells by our 95%
CI or the paper's ± std, best-seed cells by the range of a best of m seeds, error and
accuracy converted), and what ``compare`` prints for cells that were not run."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from results_fixture import filled, stored
from scipy.stats import norm
from typer.testing import CliRunner

from optbench.cli.app import app
from optbench.report.compare import build_report
from optbench.report.metrics import get_metric
from optbench.report.paper import PaperCell, best_of_range, check, read_paper
from optbench.store.engine import open_store

FINAL, ERROR = get_metric("final"), get_metric("error")


def row(values, diverged=0):
    """A ``summarize`` row of these per-seed values (what ``check`` reads)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    nan = float("nan")
    mean = values.mean() if n else nan
    std = values.std(ddof=1) if n > 1 else nan
    half = 4.302652729911275 * std / np.sqrt(n) if n == 3 else nan  # t(0.975, 2)
    best = values.max() if n else nan
    return SimpleNamespace(n=n, mean=mean, std=std, ci_low=mean - half, ci_high=mean + half,
                           extreme=best, diverged=diverged)  # fmt: skip


def cell(value, metric="final", stat="mean", **kw) -> PaperCell:
    return PaperCell("digits-mlp", "Adam(...)", "Adam", metric, stat, value, **kw)


def test_a_mean_cell_is_consistent_inside_our_ci_or_within_the_papers_std():
    ours = row([0.96, 0.97, 0.98])  # CI [0.9452, 0.9948]
    inside = check(cell(0.95), ours, FINAL)
    assert inside.verdict == "consistent" and "inside our 95% CI" in inside.reason
    assert inside.diff == pytest.approx(0.02)
    outside = check(cell(0.93), ours, FINAL)
    assert outside.verdict == "inconsistent" and outside.low == pytest.approx(0.9452, abs=1e-4)
    spread = check(cell(0.93, std=0.05), ours, FINAL)  # ours within the paper's ± 0.05
    assert spread.verdict == "consistent" and "within the paper's ± 0.05" in spread.reason
    narrow = check(cell(0.93, std=0.01), ours, FINAL)
    assert narrow.verdict == "inconsistent" and "beyond the paper's ± 0.01" in narrow.reason


def test_a_printed_value_stands_for_every_value_that_rounds_to_it():
    ninth = row([1 / 9] * 3)  # every seed exactly 1/9: a CI of width 0
    assert check(cell(0.1111), ninth, FINAL).verdict == "inconsistent"
    rounded = check(cell(0.1111, rounding=0.00005), ninth, FINAL)
    assert rounded.verdict == "consistent"
    assert check(cell(0.1112, rounding=0.00005), ninth, FINAL).verdict == "inconsistent"
    # printed in percent, compared as accuracy: the half unit is divided by 100
    as_error = check(cell(88.89, "error", rounding=0.005), ninth, FINAL)
    assert as_error.verdict == "consistent" and as_error.paper == pytest.approx(0.1111)


def test_a_paper_that_ran_once_is_judged_as_one_run_of_ours():
    ours = row([0.96, 0.97, 0.98])
    once = check(cell(0.985, stat="max", trials=1), ours, FINAL)  # mean ± 1.96·0.01
    assert once.ours == pytest.approx(0.97)  # our mean, not our best seed
    assert "the 95% range of one run" in once.reason and once.verdict == "consistent"
    assert check(cell(0.90, stat="max", trials=1), ours, FINAL).verdict == "inconsistent"


def test_one_seed_gives_no_interval():
    assert check(cell(0.95), row([0.97]), FINAL).verdict == "untested"
    assert check(cell(0.95, std=0.03), row([0.97]), FINAL).verdict == "consistent"


def test_a_best_seed_cell_is_judged_by_the_range_of_a_best_of_m_seeds():
    ours = row([0.96, 0.97, 0.98])
    low, high = best_of_range(0.97, 0.01, 10, higher_is_better=True)
    # P(best of 10 ≤ mean + z·std) = Φ(z)^10 at 2.5% and 97.5%: z = 0.500 and 2.803
    z = norm.ppf(np.array([0.025, 0.975]) ** (1 / 10))
    assert (low, high) == pytest.approx(tuple(0.97 + 0.01 * z))
    assert z == pytest.approx([0.500, 2.803], abs=1e-3)
    # the paper's 0.99 is a plausible best of its 10 trials, though above our best seed
    judged = check(cell(0.99, stat="max", trials=10), ours, FINAL)
    assert judged.verdict == "consistent" and judged.ours == 0.98
    assert "best of 10 seeds" in judged.reason
    # a best below our mean is not a best of 10 draws like ours
    assert check(cell(0.965, stat="max", trials=10), ours, FINAL).verdict == "inconsistent"
    # without ``trials``: as many as our seeds
    assert "best of 3 seeds" in check(cell(0.99, stat="max"), ours, FINAL).reason


def test_the_best_of_range_covers_95_percent_of_simulated_bests():
    rng = np.random.default_rng(5)
    bests = rng.normal(0.9, 0.02, (20000, 10)).max(axis=1)
    low, high = best_of_range(0.9, 0.02, 10, higher_is_better=True)
    assert np.mean((bests >= low) & (bests <= high)) == pytest.approx(0.95, abs=0.01)
    worst = rng.normal(5.0, 0.5, (20000, 10)).min(axis=1)  # lower is better: the min
    low, high = best_of_range(5.0, 0.5, 10, higher_is_better=False)
    assert np.mean((worst >= low) & (worst <= high)) == pytest.approx(0.95, abs=0.01)


def test_error_and_accuracy_are_one_quantity_in_two_units():
    ours = row([0.96, 0.97, 0.98])
    as_accuracy = check(cell(3.5, metric="error", std=0.4), ours, FINAL)
    assert as_accuracy.paper == pytest.approx(0.965) and as_accuracy.paper_std == 0.004
    assert as_accuracy.converted == "from error 3.5 ± 0.4 %"
    errors = row([4.0, 3.0, 2.0])  # our error rates, percent
    as_error = check(cell(0.965), errors, ERROR)
    assert as_error.paper == pytest.approx(3.5) and as_error.verdict == "consistent"
    assert check(cell(0.9, metric="f1"), ours, FINAL) is None  # other metrics: not shown


def test_divergence_where_the_paper_reports_a_value():
    every = check(cell(0.9), row([], diverged=3), FINAL)
    assert every.verdict == "inconsistent" and "every seed diverged (3)" in every.reason
    some = check(cell(0.97), row([0.96, 0.97, 0.98], diverged=1), FINAL)
    assert some.verdict == "consistent" and "1 of 4 finished seeds diverged" in some.reason


def test_unreadable_cells_are_named_and_the_others_kept():
    paper = read_paper([
        {"task": "t", "plan": "SGD", "metric": "final", "value": 0.9, "source": "[X] T1"},
        {"task": "t", "plan": "SGD", "metric": "top5", "value": 0.9},
        {"task": "t", "plan": "SGD", "metric": "final", "value": "n/a"},
        {"task": "t", "metric": "final", "value": 0.9},
    ])  # fmt: skip
    assert len(paper.cells) == 1 and paper.source == "[X] T1"
    assert [u.split(":")[0] for u in paper.unreadable] == ["cell 2", "cell 3", "cell 4"]
    assert "unknown metric 'top5'" in paper.unreadable[0]


def test_cells_not_run_and_of_other_metrics_are_listed(tmp_path):
    db = filled(tmp_path / "r.db")
    with open_store(str(db)) as store:
        rows = store.run_rows(experiment="fixture", status=None)
        paper = read_paper(store.experiment_paper("fixture"))
    report = build_report(rows, "final", paper=paper)
    assert [c.name for c in report.not_run["digits-mlp"]] == ["NAdam"]
    assert report.other_metrics == ["last10"]
    runner = CliRunner()
    out = runner.invoke(app, ["compare", "--db", str(db), "--experiment", "fixture"],
                        env={"COLUMNS": "200"})  # fmt: skip
    assert out.exit_code == 0, out.output
    assert (
        "the paper's final mean of NAdam is 0.9700 ([ANN] Table 2 (fixture)), not run here"
        in out.output
    )
    assert "shown with --metric last10" in out.output
    assert "[1] read from the figure" in out.output  # the cell's note, where it is shown
    document = json.loads(runner.invoke(app, ["compare", "--db", str(db), "--format",
                                              "json"]).output)  # fmt: skip
    assert [c["plan"] for c in document["paper"]["not_run"]] == ["NAdam"]
    [table] = [t for t in document["tables"] if t["task"] == "digits-mlp"
               and t["config"].startswith("20 epochs")]  # fmt: skip
    [adam] = [p for p in table["plans"] if p["plan"] == "Adam"]
    verdicts = [(c["stat"], c["verdict"]) for c in adam["paper"]]
    assert verdicts == [("mean", "consistent"), ("max", "consistent")]
    assert adam["paper"][0]["note"].startswith("read from the figure")


def test_a_task_with_only_paper_cells_shows_them_as_not_run(tmp_path):
    db = tmp_path / "r.db"
    cells = [{"task": "wine-mlp", "plan": stored("Adam"), "name": "Adam", "metric": "f1",
              "value": 0.5, "note": "the paper's recall and precision look swapped"}]  # fmt: skip
    filled(db, paper=cells)
    runner = CliRunner()
    out = runner.invoke(app, ["compare", "--db", str(db), "--task", "wine-mlp", "--metric", "f1"])
    assert out.exit_code == 0, out.output
    assert "wine-mlp: the paper's f1 mean of Adam is 0.5000" in out.output
    assert "recall and precision look swapped" in out.output
    for fmt in ("markdown", "latex", "csv"):
        text = runner.invoke(app, ["compare", "--db", str(db), "--task", "wine-mlp",
                                   "--metric", "f1", "--format", fmt]).output  # fmt: skip
        assert "not run" in text and "swapped" in text, fmt


def test_runs_of_another_setting_than_the_papers_are_not_judged():
    """A shortened run (``--epochs 30`` of a 100-epoch plan file) is shown beside the
    paper's value, untested, saying why; the plan file's own setting is judged."""
    paper_setting = {"epochs": 100, "batch_size": 128}
    shortened = SimpleNamespace(**vars(row([0.96, 0.97, 0.98])), epochs=30, batch_size=128)
    same = SimpleNamespace(**vars(row([0.96, 0.97, 0.98])), epochs=100, batch_size=128)
    judged = check(cell(0.95, **paper_setting), shortened, FINAL)
    assert judged.verdict == "untested" and judged.ours == pytest.approx(0.97)
    assert judged.reason == (
        "not comparable: ours ran 30 epochs at batch 128, the paper's value is for 100 "
        "epochs at batch 128 (the plan file's)"
    )
    assert check(cell(0.95, **paper_setting), same, FINAL).verdict == "consistent"
    other_batch = SimpleNamespace(**{**vars(same), "batch_size": 32})
    assert "not comparable" in check(cell(0.95, **paper_setting), other_batch, FINAL).reason
    # paper values stored before the setting was: judged as before
    assert check(cell(0.95), shortened, FINAL).verdict == "consistent"


def test_the_setting_is_read_back_with_the_cells():
    cells = [{"task": "t", "plan": "SGD", "metric": "final", "value": 0.9}]
    stored_block = {"setting": {"epochs": 100, "batch_size": 128}, "cells": cells}
    (only,) = read_paper(stored_block).cells
    assert (only.epochs, only.batch_size) == (100, 128)
    assert read_paper({"cells": stored_block["cells"]}).cells[0].epochs is None


def test_a_difference_that_rounds_to_zero_has_no_sign():
    from optbench.report.compare import paper_texts

    ours = row([0.8693] * 3)
    assert paper_texts(check(cell(0.86930001), ours, FINAL), FINAL)["diff"] == "0.0000"
    assert paper_texts(check(cell(0.8692), ours, FINAL), FINAL)["diff"] == "+0.0001"
