"""``optbench compare`` on a fixture database, against golden text.

Set OPTBENCH_REGOLD=1 to rewrite the golden files after an intended change, then read
the diff before committing it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from optbench.plan.canonical import format_plan, resolve
from optbench.plan.parser import parse_plan
from optbench.report.compare import render_compare
from optbench.report.stats import summarize
from optbench.store.engine import open_store
from optbench.train.record import EpochRecord, FinalMetrics, RunRecord, Status

GOLDEN = Path(__file__).parent / "golden"

# (plan, per-seed validation accuracies): fixed numbers, so the table is exact.
FIXTURE = {
    "SGD | SGD | SGD": [0.90, 0.92, 0.91],
    "SGD | (Adam+d) | SGD": [0.95, 0.96, 0.94],
    "Adam": [0.97, 0.96, 0.98],
}


def record(plan: str, seed: int, acc: float, status=Status.DONE) -> RunRecord:
    text = format_plan(resolve(parse_plan(plan)))
    epochs = tuple(
        EpochRecord(e, 0, 0.01, 1.0 / e, acc - 0.1 / e, 0.5 / e, acc - 0.05 / e, 0.5, 0.1)
        for e in (1, 2)
    )
    final = FinalMetrics(accuracy=acc, loss=1 - acc, f1=acc, precision=acc, recall=acc)
    return RunRecord(text, "digits-mlp", seed, "cfg", status, "cpu", {"torch": "x"}, epochs,
                     final, (0,), ms_per_batch=0.5 + seed / 10, s_per_epoch=0.1)  # fmt: skip


@pytest.fixture
def store():
    store = open_store("sqlite://")
    for plan, accs in FIXTURE.items():
        for seed, acc in enumerate(accs):
            text = format_plan(resolve(parse_plan(plan)))
            run_id = store.start_run("fixture", text, "digits-mlp", seed, "cfg", "cpu")
            store.finish_run(run_id, record(plan, seed, acc))
    # a diverged run is not part of the statistics
    diverged = record("Adam(lr=10.0)", 0, 0.1, Status.DIVERGED)
    run_id = store.start_run("fixture", diverged.plan, "digits-mlp", 0, "cfg", "cpu")
    store.finish_run(run_id, diverged)
    yield store
    store.close()


def rendered(rows) -> str:
    console = Console(width=140, record=True, color_system=None, file=io.StringIO())
    console.print(render_compare(rows))
    return console.export_text()


def test_compare_matches_golden_text(store):
    text = rendered(store.run_rows(experiment="fixture"))
    golden = GOLDEN / "compare.txt"
    if os.environ.get("OPTBENCH_REGOLD"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_ranking_uses_the_mean_over_seeds_and_ties_what_is_not_significant(store):
    frame = summarize(store.run_rows())
    assert list(frame["label"]) == ["Adam", "SGD | (Adam+d) | SGD", "SGD | SGD | SGD"]
    # 0.97 vs 0.95 (std 0.01, n 3 each) is not significant (Holm p = 0.07): no win
    assert list(frame["rank"]) == [1, 1, 3]
    assert list(frame["verdict"]) == ["best", "tied", "worse"]
    assert frame.loc[0, "mean"] == pytest.approx(0.97)
    assert frame.loc[0, "std"] == pytest.approx(0.01)
    assert list(frame["n"]) == [3, 3, 3]


def test_compare_of_an_empty_database_says_how_to_fill_it():
    assert "optbench run" in rendered([])
