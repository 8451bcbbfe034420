"""``optbench compare`` in the terminal: golden text, tables that fit any width without
cutting a verdict, configurations kept apart, every seed's outcome counted, history that
stays readable, and one clear line for a filter that matches nothing.

Set OPTBENCH_REGOLD=1 to rewrite the golden files after an intended change, then read
the diff before committing it.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from results_fixture import CONFIG, SHORT, fill, filled, record, stored
from rich.console import Console
from typer.testing import CliRunner

from optbench.cli.app import app
from optbench.report import stored as stored_rows
from optbench.report.compare import render_compare
from optbench.store.engine import open_store
from optbench.train.config import RunSpec

GOLDEN = Path(__file__).parent / "golden"
runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return filled(tmp_path_factory.mktemp("compare") / "r.db")


@pytest.fixture(scope="module")
def rows(db):
    with open_store(str(db), create=False) as store:
        return stored_rows.run_rows(store, "fixture"), stored_rows.paper_of(store, "fixture")


def rendered(rows, width: int = 140, paper=None, **kw) -> str:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(render_compare(rows, paper=paper, **kw) if paper else render_compare(rows, **kw))
    return console.export_text()


def compare(*args, env=None):
    return runner.invoke(app, ["compare", *map(str, args)], env=env)


def test_compare_matches_golden_text(rows):
    text = rendered(rows[0])
    golden = GOLDEN / "compare.txt"
    if os.environ.get("OPTBENCH_REGOLD"):
        golden.write_text(text)
    assert text == golden.read_text()


def table_lines(text: str, task: str, config: str) -> list[str]:
    """The body rows of the ranked table titled with ``task`` and ``config``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{task}:")
                 and config in lines[i + 1])  # fmt: skip
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(("└", "+-")))
    return lines[start:end]


@pytest.mark.parametrize("width", [80, 100, 120])
def test_no_column_that_carries_the_verdict_is_cut(rows, width):
    text = rendered(rows[0], width)
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    table = "\n".join(table_lines(text, "digits-mlp", CONFIG.describe()))
    # every verdict whole, its p-value included (wrapped, maybe, but never cut)
    words = " ".join(cell for line in table.splitlines() for cell in line.split("│"))
    for verdict in ("best", "tied", "(p=0.07)", "worse", "(p=0.043)", "(p=0.0055)", "n<2"):
        assert verdict in words, (width, verdict)
    assert words.count("diverged") >= 4  # two verdicts, two seed counts
    if width < 140:
        assert "not shown at this width:" in text and "s/epoch" in text


def test_the_cli_fits_the_columns_it_is_given(db):
    result = compare("--db", db, "--experiment", "fixture", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "(p=0.0055)" in result.output


def test_without_a_terminal_nothing_is_narrowed(db):
    result = compare("--db", db, "--experiment", "fixture", env={"COLUMNS": ""})
    assert "not shown at this width" not in result.output
    assert "s/epoch" in result.output


def test_configurations_are_never_pooled(rows):
    text = rendered(rows[0], 200)
    # Adam on digits-mlp: 3 runs of 20 epochs and 2 of 5 epochs, in two tables
    long = table_lines(text, "digits-mlp", CONFIG.describe())
    short = table_lines(text, "digits-mlp", SHORT.describe())
    assert any("Adam " in line and "0.9700 ± 0.0100" in line and "3 done" in line for line in long)
    assert any("Adam " in line and "0.8100 ± 0.0141" in line and "2 done" in line
               for line in short)  # fmt: skip
    # iris-mlp's runs stored before configurations had columns: their own table
    legacy = table_lines(text, "iris-mlp", "settings not recorded (config 5e1c0a2b)")
    assert any("Adam " in line and "0.9050" in line and "2 done" in line for line in legacy)


def test_every_seed_is_counted_and_a_diverged_plan_is_never_a_win(rows):
    text = rendered(rows[0], 200)
    lines = table_lines(text, "digits-mlp", CONFIG.describe())
    by_plan = {line.split("│")[2].strip(): line for line in lines if line.count("│") > 5}
    # its finished seeds have the task's highest mean, but one of its three seeds diverged
    warm = by_plan["SGD(lr=0.5)+warmup+step"]
    assert "0.9875" in warm and "2 done, 1 diverged" in warm
    assert warm.split("│")[1].strip() == "–" and warm.split("│")[-2].strip() == "diverged"
    every = by_plan["Adam(lr=10.0)"]  # every seed diverged: still a row
    assert "2 diverged" in every and every.split("│")[-2].strip() == "diverged"
    assert "3 done, 1 failed" in by_plan["SGD | SGD | SGD"]
    assert by_plan["Adam"].split("│")[-2].strip() == "best"
    assert "4 done, 1 pending" in text


def test_plans_are_named_as_the_plan_file_writes_them(rows):
    text = rendered(rows[0], 200)
    assert "SGD(lr=0.5)+warmup+step" in text and "step+warmup" not in text.split("#1")[0]
    assert "│ SGD+M " in text  # not the canonical (SGD+M)


def test_without_an_experiment_labels_are_used_when_every_link_agrees(db, tmp_path):
    with open_store(str(db), create=False) as store:
        labelled = compare_rows_without_experiment(store)
    assert "SGD(lr=0.5)+warmup+step" in labelled
    # a second experiment that writes the same plan differently: the links disagree
    other = tmp_path / "two.db"
    with open_store(str(other)) as store:
        fill(store)
        spec = RunSpec(stored("SGD(lr=0.5)+warmup+step"), "digits-mlp", 0, CONFIG)
        store.plan_runs("other", [spec], ["SGD(lr=0.5) + step + warmup"])
        text = compare_rows_without_experiment(store)
    assert "SGD(lr=0.5)+step+warmup" in text  # the canonical short label
    assert "SGD(lr=0.5) + step + warmup" not in text


def compare_rows_without_experiment(store) -> str:
    return rendered(stored_rows.run_rows(store), 200)


def test_a_stored_plan_the_catalogue_no_longer_knows_still_prints(tmp_path):
    db = tmp_path / "old.db"
    unknown = ["SGD(lr=0.01, weight_decay=0.0) | Lion(lr=0.0001, beta=0.9)",
               "SGD(lr=0.01, weight_decay=0.0, dampening=0.5)"]  # fmt: skip
    with open_store(str(db)) as store:
        fill(store)
        for plan in unknown:
            for seed, acc in enumerate([0.9, 0.91]):
                spec = RunSpec(plan, "digits-mlp", seed, CONFIG)
                [run] = store.plan_runs("fixture", [spec], [None])
                store.claim([run.id], "old")
                store.finish_run(run.id, "old", record(spec, acc, (0, 10)))
    result = compare("--db", db, "--experiment", "fixture", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "SGD | Lion(lr=0.0001, beta=0.9)" not in result.output  # never rewritten ...
    assert unknown[0] in result.output and unknown[1] in result.output  # ... shown as stored
    yn = [line for line in result.output.splitlines() if "Lion(lr=0.0001, beta=0.9)" in line]
    assert any(line.count("│") >= 5 and "?" in line and "N" in line and "Y" in line for line in yn)
    for fmt in ("markdown", "latex", "csv", "json"):
        assert compare("--db", db, "--format", fmt).exit_code == 0, fmt


def test_an_experiment_or_task_that_matches_nothing_names_what_exists(db):
    result = compare("--db", db, "--experiment", "fixtur")
    assert result.exit_code == 2
    assert "no experiment named 'fixtur'" in result.output and "'fixture'" in result.output
    assert "no runs stored yet" not in result.output
    result = compare("--db", db, "--task", "digits-mpl")
    assert result.exit_code == 2 and "digits-mlp, iris-mlp" in result.output


def test_compare_reads_and_writes_nothing(tmp_path):
    db = filled(tmp_path / "r.db")
    for fmt in ("table", "json"):
        assert compare("--db", db, "--format", fmt).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.db"]  # no journal left behind


def test_a_database_that_does_not_exist_is_not_created(tmp_path):
    result = compare("--db", tmp_path / "typo.db")
    assert result.exit_code == 2 and "optbench run" in result.output
    assert not (tmp_path / "typo.db").exists()


def test_error_messages_are_not_hard_wrapped(db):
    name = "an-experiment-with-a-long-name-" * 4
    result = compare("--db", db, "--experiment", name, env={"COLUMNS": "80"})
    assert result.exit_code == 2
    [line] = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert name in line and "(experiments: fixture)" in line


def test_json_has_no_nan_or_infinity(tmp_path):
    db = tmp_path / "inf.db"
    with open_store(str(db)) as store:
        for seed, loss in enumerate([float("inf"), 0.1, 0.2]):
            spec = RunSpec(stored("Adam"), "digits-mlp", seed, CONFIG)
            [run] = store.plan_runs("x", [spec], ["Adam"])
            store.claim([run.id], "t")
            rec = record(spec, 0.9, (0,))
            store.finish_run(run.id, "t", rec.__class__(**{**rec.__dict__, "ms_per_batch": loss}))
    result = compare("--db", db, "--format", "json")

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    document = json.loads(result.output, parse_constant=refuse)
    [plan] = document["tables"][0]["plans"]
    assert plan["ms_per_batch"] is None and plan["mean"] == 0.9


def test_a_legacy_encoding_gets_ascii_not_a_traceback(db):
    script = (
        "import sys\nfrom optbench.cli.app import main\n"
        "for argv in (['compare', '--db', sys.argv[1]], ['show', 'SGD | (Adam+d) | SGD'],"
        " ['compare', '--db', sys.argv[1], '--format', 'markdown']):\n"
        "    sys.argv = ['optbench', *argv]\n"
        "    try:\n        main()\n    except SystemExit as e:\n"
        "        assert e.code in (0, None), e.code\n"
    )
    env = {**os.environ, "PYTHONIOENCODING": "cp1252", "COLUMNS": "100"}
    out = subprocess.run([sys.executable, "-c", script, str(db)], capture_output=True, env=env)
    assert out.returncode == 0, out.stderr.decode("cp1252")
    text = out.stdout.decode("ascii")  # nothing but ASCII
    assert "+/-" in text and "| Adam " in text and "+------" in text
    assert "(p=0.0055)" in text


def test_compare_of_an_empty_database_says_how_to_fill_it(tmp_path):
    db = tmp_path / "empty.db"
    open_store(str(db)).close()
    result = compare("--db", db)
    assert result.exit_code == 0 and "optbench run" in result.output
    assert json.loads(compare("--db", db, "--format", "json").output)["tables"] == []


def test_compare_loads_no_torch(db, loaded_after):
    for args in (["compare", "--db", str(db)], ["compare", "--db", str(db), "--format", "json"]):
        code = f"from optbench.cli.app import app\napp({args!r})"
        assert loaded_after(code, names=("torch",)) == [], args


def test_at_any_width_nothing_is_cut(rows):
    """From 60 columns up, every line fits and every word of every verdict and count is
    printed whole (wrapped at spaces, never cut)."""
    words = {"best", "tied", "(p=0.07)", "worse", "(p=0.0055)", "n<2", "diverged", "failed"}
    for width in range(60, 201, 20):
        text = rendered(rows[0], width)
        assert max(len(line.rstrip()) for line in text.splitlines()) <= width, width
        cells = {w for line in text.splitlines() for cell in line.split("│") for w in cell.split()}
        assert words <= cells, (width, words - cells)


def test_a_task_whose_runs_have_no_value_of_the_metric_says_which_metric_has():
    """A toy problem's runs have a loss and no accuracy: compare says so instead of
    leaving a table of done seeds and "no result"."""
    toy = [{"task": "quadratic-track", "plan": plan, "seed": 0, "status": "done",
            "accuracy": None, "loss": 1e-9} for plan in ("DSA", "Adam")]  # fmt: skip
    note = (
        "quadratic-track: its done runs have no final validation accuracy "
        "(compare it with --metric loss)"
    )
    assert note in " ".join(rendered(toy, width=400).split())
    assert "its done runs have no" not in rendered(toy, width=400, metric="loss")
