"""``optbench compare`` in every format on a fixture database, against golden text: the
paper's values beside ours, each configuration in its own table, every seed's outcome.

Set OPTBENCH_REGOLD=1 to rewrite the golden files after an intended change, then read
the diff before committing it.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from results_fixture import CONFIG, fill, filled
from rich.console import Console
from typer.testing import CliRunner

from optbench.cli.app import app
from optbench.report import stored
from optbench.report.compare import render_compare
from optbench.report.export import export_compare, tex
from optbench.store.engine import open_store

GOLDEN = Path(__file__).parent / "golden"
SUFFIX = {"markdown": "md", "latex": "tex", "csv": "csv", "json": "json"}


@pytest.fixture(scope="module")
def rows():
    with open_store("sqlite://") as store:
        fill(store)
        runs = stored.run_rows(store, "fixture")
        epochs = store.epoch_rows(run_ids=[r["id"] for r in runs])
        paper = stored.paper_of(store, "fixture")
    return runs, epochs, paper


def table_text(runs, metric="final", epochs=None, paper=None) -> str:
    console = Console(width=200, record=True, color_system=None, file=io.StringIO())
    if paper is None:
        console.print(render_compare(runs, metric, epochs))
    else:
        console.print(render_compare(runs, metric, epochs, paper=paper))
    return console.export_text()


def export(rows, fmt, metric="final"):
    runs, epochs, paper = rows
    return export_compare(runs, fmt, metric, epochs, paper=paper)


LONG = CONFIG.describe()


def digits(document, config=LONG):
    """The plans of the digits-mlp table of ``config`` in a JSON document."""
    [table] = [t for t in document["tables"] if t["task"] == "digits-mlp"
               and t["config"] == config]  # fmt: skip
    return table["plans"]


def check_golden(name: str, text: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("OPTBENCH_REGOLD"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_table_matches_golden_text(rows):
    runs, _, paper = rows
    check_golden("compare_formats.txt", table_text(runs, paper=paper))


@pytest.mark.parametrize("fmt", ["markdown", "latex", "csv", "json"])
def test_export_matches_golden_text(rows, fmt):
    check_golden(f"compare.{SUFFIX[fmt]}", export(rows, fmt))


def test_epoch_metric_matches_golden_text(rows):
    check_golden("compare_last10.md", export(rows, "markdown", "last10"))


def test_every_format_carries_the_same_numbers(rows):
    runs = rows[0]
    document = json.loads(export(rows, "json"))
    lines = [
        line for line in csv.DictReader(io.StringIO(export(rows, "csv")))
        if line["verdict"] != "not run"
    ]  # fmt: skip
    # CSV is long: a plan with k paper cells has k lines; one per (table, plan) here
    unique = {(line["task"], line["config"], line["plan"]): line for line in lines}
    from_json = [(t["task"], t["config"], p) for t in document["tables"] for p in t["plans"]]
    assert len(unique) == len(from_json) == 11
    texts = {
        "table": table_text(runs, paper=rows[2]),
        "markdown": export(rows, "markdown"),
        "latex": export(rows, "latex"),
    }
    for task, config, plan in from_json:
        line = unique[(task, config, plan["plan"])]
        for key in ("mean", "std", "ci_low", "ci_high", "max", "val_loss", "ms_per_batch"):
            assert (float(line[key]) if line[key] else None) == plan[key], key
        for status, count in plan["seeds"].items():
            assert int(line[status]) == count
        assert line["verdict"] == plan["verdict"]
        if line["mean"]:
            mean = f"{line['mean']} ± {line['std']}" if line["std"] else line["mean"]
            for fmt, text in texts.items():
                shown = mean.replace(" ± ", r" \pm ") if fmt == "latex" else mean
                assert shown in text, (fmt, plan["plan"])
                assert line["val_loss"] in text and line["ms_per_batch"] in text


def test_every_format_says_the_configuration_and_counts_every_seed(rows):
    texts = {fmt: export(rows, fmt) for fmt in ("markdown", "latex", "csv", "json")}
    texts["table"] = table_text(rows[0], paper=rows[2])
    for fmt, text in texts.items():
        for config in (CONFIG.describe(), "5 epochs, batch 32", "settings not recorded"):
            assert config in text, (fmt, config)
        for count in ("diverged", "failed", "pending"):
            assert count in text, (fmt, count)
    assert "2 done, 1 diverged" in texts["markdown"] and "3 done, 1 failed" in texts["latex"]


def test_latex_is_booktabs_with_the_best_and_tied_in_bold(rows):
    text = export(rows, "latex")
    assert r"\toprule" in text and r"\midrule" in text and r"\bottomrule" in text
    assert r"\hline" not in text
    cells = [line.split(" & ") for line in text.splitlines() if line.count(" & ") == 10]
    bold = [c[1].removeprefix(r"\textbf{")[:-1] for c in cells if c[1].startswith(r"\textbf{")]
    # digits-mlp, 5 epochs: Adam alone; 20 epochs: Adam best, SGD | (Adam+d) | SGD tied
    # (p = 0.07); iris-mlp: both tied, and Adam alone in the legacy configuration
    assert bold == [tex("Adam"), tex("Adam"), tex("SGD | (Adam+d) | SGD"), tex("SGD+M"),
                    tex("Adam"), tex("Adam")]  # fmt: skip
    assert r"$\mathbf{0.9700 \pm 0.0100}$" in text
    assert r"$0.9100 \pm 0.0100$" in text  # significantly worse: not bold
    assert r"$0.9875 \pm 0.0035$" in text  # the best finished seeds, but one diverged


def test_one_seed_is_never_ranked_or_a_win(rows):
    plans = digits(json.loads(export(rows, "json")))
    single = next(p for p in plans if p["plan"] == "SGD(lr=0.1)")
    assert single["n"] == 1 and single["mean"] == 0.99  # the highest value of the task ...
    assert single["rank"] is None and single["verdict"] == "n<2"  # ... and not a win
    assert single["std"] is None and single["ci_low"] is None
    assert plans[0]["plan"] == "Adam" and plans[0]["verdict"] == "best"


def test_the_stage_boundaries_taken_are_shown(rows):
    text = table_text(rows[0])
    assert "stages began at epochs 1, 6 (2 runs); 1, 9 (1 run)" in text
    plans = digits(json.loads(export(rows, "json")))
    plateau = next(p for p in plans if p["plan"].startswith("SGD:plateau"))
    assert plateau["stage_starts"] == [{"epochs": [1, 6], "runs": 2},
                                       {"epochs": [1, 9], "runs": 1}]  # fmt: skip
    # fixed stage lengths: every run took the plan's boundaries, nothing to say
    assert text.count("stages began") == 1


def test_schedules_in_every_format(rows):
    plans = digits(json.loads(export(rows, "json")))
    mixed = next(p for p in plans if p["plan"] == "SGD | (Adam+d) | SGD")
    assert mixed["schedule"] == [
        {"method": "SGD", "kind": "GE", "stages": ["Y", "N", "Y"]},
        {"method": "Adam", "kind": "GE", "stages": ["N", "Y", "N"]},
        {"method": "d", "kind": "LR", "stages": ["N", "Y", "N"]},
    ]
    assert "SGD GE Y N Y; Adam GE N Y N; d LR N Y N" in export(rows, "csv")
    assert "| d | LR | N | Y | N |" in export(rows, "markdown")
    assert r"d & LR & N & Y & N \\" in export(rows, "latex")


def test_metrics_differ_and_lower_is_better_for_error(rows):
    def plans(metric):
        return {p["plan"]: p for p in digits(json.loads(export(rows, "json", metric)))}

    final, best, last10, error = (plans(m) for m in ("final", "best", "last10", "error"))
    assert final["Adam"]["mean"] == 0.97
    assert best["Adam"]["mean"] == 0.98  # epoch 18: 0.97 - 0.02 + 0.03
    assert last10["Adam"]["mean"] == 0.965  # epochs 19 and 20: (0.96 + 0.97) / 2
    assert error["Adam"]["mean"] == 3.0 and error["Adam"]["min"] == 2.0
    assert error["Adam"]["verdict"] == "best"  # the lowest error rate
    assert next(iter(error)) == "Adam"


def test_compare_cli_formats_and_bad_input(tmp_path):
    db = filled(tmp_path / "r.db")
    runner = CliRunner()
    out = runner.invoke(app, ["compare", "--db", str(db), "--format", "csv"])
    assert out.exit_code == 0 and out.output.startswith("task,config,config_hash,metric,rank")
    out = runner.invoke(app, ["compare", "--db", str(db), "--metric", "last10", "--format", "json"])
    assert json.loads(out.output)["metric"]["name"] == "last10"
    bad = runner.invoke(app, ["compare", "--db", str(db), "--metric", "lst10"])
    assert bad.exit_code == 2 and "'last10'" in bad.output and "Traceback" not in bad.output
    bad = runner.invoke(app, ["compare", "--db", str(db), "--format", "xlsx"])
    assert bad.exit_code == 2 and "markdown" in bad.output
