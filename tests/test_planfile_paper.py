"""The ``paper:`` and ``stack:`` keys of a plan file: the paper's reported values, checked
where they are written, stored with the experiment and shown by compare."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from optbench.cli.app import app
from optbench.errors import PlanFileError
from optbench.execute.planning import paper_values
from optbench.plan.planfile import load_plan_file

HEAD = """\
experiment: paper-test
tasks: [iris-mlp]
epochs: 2
batch_size: 32
seeds: 2
defaults:
  SGD: {lr: 0.1}
plans:
  - SGD
  - SGD+M+warmup + step
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def test_paper_cells_keep_the_stored_plan_and_the_written_one(tmp_path):
    path = write(tmp_path, HEAD + """\
stack: false
paper:
  source: "[DSA] Table 7"
  note: "recall and precision swapped"
  rounding: 0.00005
  cells:
    - {task: iris-mlp, plan: SGD, metric: final, value: 0.9}
    - {task: iris-mlp, plan: "SGD + M + warmup + step", metric: error, value: 3.3, std: 0.5}
    - {task: iris-mlp, plan: "step+warmup+M+SGD", metric: last10, stat: max, value: 0.97,
       trials: 10, note: best of ten, rounding: 0.005}
""")  # fmt: skip
    plan_file = load_plan_file(path)
    assert plan_file.stack is False
    paper = paper_values(plan_file)
    assert paper["source"] == "[DSA] Table 7" and paper["note"] == "recall and precision swapped"
    first, second, third = paper["cells"]
    assert first == {"task": "iris-mlp", "plan": "SGD(lr=0.1, weight_decay=0.0)",
                     "name": "SGD", "metric": "final", "stat": "mean", "value": 0.9,
                     "rounding": 0.00005}  # fmt: skip
    assert second["name"] == third["name"] == "SGD+M+warmup + step"  # as the plans list writes it
    assert second["plan"] == third["plan"] and second["std"] == 0.5
    assert third["stat"] == "max" and third["trials"] == 10 and third["note"] == "best of ten"
    assert second["rounding"] == 0.00005 and third["rounding"] == 0.005  # the block's, its own


CELL = "task: iris-mlp, plan: SGD, metric: final, value: 0.9"


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (CELL.replace("iris-mlp", "wine-mlp"), "not among the file's tasks"),
        (CELL.replace("SGD", "Adagrad"), "not one of the file's plans"),
        ("task: iris-mlp, plan: SGD, value: 0.9", "a cell needs 'metric'"),
        (CELL.replace("0.9", "high"), "value must be a number"),
        (CELL + ", stat: median", "stat must be mean or max"),
        (CELL + ", trials: 0", "trials must be"),
        (
            CELL + ", stat: max, trials: 99999999999999999999",
            "trials must be a whole number from 1",
        ),
        (CELL + ", sd: 1", "unknown key 'sd'"),
        (CELL + ", trials: 3", "trials belongs to a stat: max cell"),
        (CELL.replace("plan: SGD", "plan: [SGD]"), "plan must be one value, got a list"),
        (CELL.replace("iris-mlp", "[iris-mlp]"), "task must be one value, got a list"),
        (CELL + ", note: {why: rounding}", "note must be one value, got a mapping"),
    ],
)
def test_a_wrong_cell_is_one_message_naming_file_and_line(tmp_path, cell, message):
    path = write(tmp_path, HEAD + f"paper:\n  cells:\n    - {{{cell}}}\n")
    with pytest.raises(PlanFileError) as error:
        load_plan_file(path)
    assert f"{path}:13" in str(error.value) and message in str(error.value)


def test_an_unknown_metric_is_named_with_its_line_by_the_runner(tmp_path):
    path = write(tmp_path, HEAD + "paper:\n  cells:\n    - {task: iris-mlp, plan: SGD, "
                 "metric: accuracy-ish, value: 0.9}\n")  # fmt: skip
    with pytest.raises(PlanFileError, match=rf"{path}:13.*unknown metric 'accuracy-ish'"):
        paper_values(load_plan_file(path))


def test_stack_must_be_true_or_false(tmp_path):
    with pytest.raises(PlanFileError, match="expected true or false"):
        load_plan_file(write(tmp_path, HEAD + "stack: sometimes\n"))


def test_the_paper_values_reach_compare_and_stack_false_trains_seeds_apart(tmp_path):
    head = HEAD.replace("  - SGD+M+warmup + step\n", "  - SGD+M+warmup + step\n  - Adagrad\n")
    path = write(tmp_path, head + """\
stack: false
paper:
  source: "[DSA] Table 7"
  cells:
    - {task: iris-mlp, plan: SGD, metric: final, value: 0.5, std: 0.5}
    - {task: iris-mlp, plan: Adagrad, metric: final, value: 0.9}
""")  # fmt: skip
    db = f"sqlite:///{tmp_path / 'r.db'}"
    runner = CliRunner()
    dry = runner.invoke(app, ["run", str(path), "--db", db, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "separately: the plan file says stack: false" in " ".join(dry.output.split())
    assert "paper: 2 reported values from [DSA] Table 7" in dry.output
    done = runner.invoke(app, ["run", str(path), "--db", db, "--device", "cpu", "--task",
                               "iris-mlp"])  # fmt: skip
    assert done.exit_code == 0, done.output
    from optbench.store.engine import open_store

    store = open_store(db, create=False)
    try:
        rows = store.run_rows()
        assert {r["seeds_per_pass"] for r in rows} == {1}
        assert [c["name"] for c in store.experiment_paper("paper-test")["cells"]] == [
            "SGD", "Adagrad"]  # fmt: skip
    finally:
        store.close()
    shown = runner.invoke(app, ["compare", "--db", db, "--format", "markdown"])
    assert shown.exit_code == 0, shown.output
    assert "[DSA] Table 7" in shown.output and "0.5000" in shown.output


def test_a_paper_block_needs_at_least_one_cell(tmp_path):
    with pytest.raises(PlanFileError, match=r":12.*expected at least one cell, got none"):
        load_plan_file(write(tmp_path, HEAD + "paper:\n  cells: []\n"))


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        # a table of percentages copied as they are printed: named as such
        (
            "metric: final, value: 86.93",
            r"outside final's range \[0, 1\]: final is a fraction, "
            r"so 86.93 % is 0.8693",
        ),
        ("metric: last10, stat: max, value: -0.5", r"-0.5 is outside last10's range \[0, 1\]"),
        ("metric: error, value: 150", r"150 is outside error's range \[0, 100\]"),
        ("metric: loss, value: -3", r"-3 is outside loss's range \[0, inf\]"),
        ("metric: final, value: 1.0000001", r"value 1.0000001 is outside final's range"),
        (
            "metric: final, value: 0.99, std: 12",
            r"std 12 is outside final's range's width 1: "
            r"final is a fraction, so 12 % is 0.12",
        ),
        ("metric: error, value: 5, rounding: 101", r"rounding 101 is outside error's range's"),
    ],
)
def test_a_value_outside_its_metrics_range_is_refused(tmp_path, cell, message):
    path = write(
        tmp_path, HEAD + f"paper:\n  cells:\n    - {{task: iris-mlp, plan: SGD, {cell}}}\n"
    )
    with pytest.raises(PlanFileError, match=rf"{path}:13.*{message}"):
        paper_values(load_plan_file(path))


@pytest.mark.parametrize(
    "second",
    [
        "{task: iris-mlp, plan: SGD, metric: final, value: 0.7}",
        # the same plan written otherwise (the file's default lr), and the same quantity in
        # the other unit: error is 100 (1 - accuracy)
        '{task: iris-mlp, plan: "SGD(lr=0.1)", metric: final, value: 0.7}',
        "{task: iris-mlp, plan: SGD, metric: error, value: 30}",
    ],
)
def test_a_second_value_for_one_cell_is_refused(tmp_path, second):
    path = write(tmp_path, HEAD + f"paper:\n  cells:\n    - {{{CELL}}}\n    - {second}\n")
    with pytest.raises(PlanFileError, match=rf"{path}:14.*a second value .* as line 13"):
        paper_values(load_plan_file(path))
    other_stat = HEAD + f"paper:\n  cells:\n    - {{{CELL}}}\n    - {{{CELL}, stat: max}}\n"
    assert len(paper_values(load_plan_file(write(tmp_path, other_stat)))["cells"]) == 2


def test_the_paper_values_are_stored_with_the_files_epochs_and_batch_size(tmp_path):
    path = write(tmp_path, HEAD + f"paper:\n  cells:\n    - {{{CELL}}}\n")
    assert paper_values(load_plan_file(path))["setting"] == {"epochs": 2, "batch_size": 32}


def test_a_paper_block_taken_out_of_the_file_is_taken_out_of_compare(tmp_path):
    path = write(tmp_path, HEAD + f"paper:\n  source: X1\n  cells:\n    - {{{CELL}}}\n")
    db = f"sqlite:///{tmp_path / 'r.db'}"
    runner = CliRunner()
    for text, shown in ((path.read_text(), True), (HEAD, False)):
        path.write_text(text)
        done = runner.invoke(app, ["run", str(path), "--db", db, "--device", "cpu"])
        assert done.exit_code == 0, done.output
        compared = runner.invoke(app, ["compare", "--db", db, "--format", "markdown"])
        assert ("X1" in compared.output) is shown, compared.output


def test_a_cells_note_is_kept_as_written(tmp_path):
    path = write(tmp_path, HEAD + f"paper:\n  cells:\n    - {{{CELL}, note: 2021-03-04}}\n")
    (only,) = paper_values(load_plan_file(path))["cells"]
    assert only["note"] == "2021-03-04"  # text, not a date the store could not keep


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (HEAD + f"paper:\n  cells:\n    - {{{CELL.replace('0.9', '!!float abc')}}}\n", "paper"),
        (HEAD + f"paper:\n  cells:\n    - {{{CELL.replace('0.9', '!!int 0.5')}}}\n", "paper"),
        (HEAD + f"paper:\n  cells:\n    - {{{CELL.replace('0.9', '!foo 0.5')}}}\n", "paper"),
        (HEAD.replace("epochs: 2", "epochs: !!int x"), "epochs"),
        (
            HEAD.replace("experiment: paper-test", "experiment: !!python/object:os.system x"),
            "experiment",
        ),
    ],
)
def test_a_value_with_an_explicit_tag_that_does_not_fit_is_one_message(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(PlanFileError, match=rf"{path}:\d+.*cannot read .* tagged"):
        paper_values(load_plan_file(path))


def test_a_negative_zero_is_zero(tmp_path):
    cell = CELL.replace("0.9", "-0.0")
    (only,) = paper_values(
        load_plan_file(write(tmp_path, HEAD + f"paper:\n  cells:\n    - {{{cell}}}\n"))
    )["cells"]
    assert str(only["value"]) == "0.0"
