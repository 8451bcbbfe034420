"""``optbench run`` refuses, before anything is written, what would only fail later: one
line, the documented exit status, no database, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optbench.cli.app import app
from optbench.execute.checkpoints import Checkpoints
from optbench.store.engine import open_store
from tests.training import specs

runner = CliRunner()


def plan(tmp_path: Path, plans: str, tasks: str = "[iris-mlp]", extra: str = "") -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(f"experiment: r\ntasks: {tasks}\nepochs: 2\nseeds: 2\nplans: {plans}\n{extra}")
    return path


def run(*args: str):
    return runner.invoke(app, ["run", *map(str, args)])


@pytest.mark.parametrize(
    ("plans", "message"),
    [
        ('["Adam[nope]+SGD[output]", Adam]', "parameter group [nope] selects no parameter"),
        ('["Adam[hidden]+SGD[output.weight]", Adam]', "no parameter group trains output.bias"),
        ('["Adam[*]+SGD[output]", Adam]', "is in both"),
        ('["DSA[hidden]+SGD[output]"]', "cannot share a stage with another parameter group"),
    ],
)
def test_parameter_groups_that_cannot_train_the_model_write_nothing(tmp_path, plans, message):
    db = tmp_path / "r.db"
    result = run(plan(tmp_path, plans), "--db", db)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not db.exists()


def test_a_task_the_plan_file_does_not_name_is_refused(tmp_path):
    result = run(plan(tmp_path, "[Adam]"), "--task", "wine-mlp", "--db", tmp_path / "r.db")
    assert result.exit_code == 2
    assert "--task 'wine-mlp' is not a task of" in result.output and "iris-mlp" in result.output
    assert not (tmp_path / "r.db").exists()


def test_a_corrupt_data_file_is_found_before_the_database_is_made(tmp_path):
    data = tmp_path / "data" / "mnist"
    data.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):  # fmt: skip
        (data / name).write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 10)  # a truncated header
    result = run(plan(tmp_path, "[Adam]", "[mnist-nn2]"), "--data-dir", tmp_path / "data",
                 "--db", tmp_path / "r.db")  # fmt: skip
    assert result.exit_code == 3, result.output
    assert not (tmp_path / "r.db").exists()


def test_every_missing_dataset_is_named(tmp_path):
    empty = tmp_path / "data"
    empty.mkdir()
    result = run(plan(tmp_path, "[Adam]", "[car-mlp, agaricus-mlp, iris-mlp]"),
                 "--data-dir", empty, "--db", tmp_path / "r.db")  # fmt: skip
    assert result.exit_code == 3, result.output
    line = " ".join(result.output.split())
    assert "dataset 'agaricus' not found: run 'optbench data fetch agaricus" in line
    assert "(also missing: car; --dry-run says how to get each)" in line
    assert not (tmp_path / "r.db").exists()


def test_a_checkpoint_folder_that_is_a_file_is_bad_input(tmp_path):
    (tmp_path / "file").write_text("x")
    result = run(plan(tmp_path, "[Adam]"), "--db", tmp_path / "r.db", "--checkpoints",
                 tmp_path / "file")  # fmt: skip
    assert result.exit_code == 2 and "not a folder" in result.output
    assert not (tmp_path / "r.db").exists()


def test_checkpoints_of_finished_runs_are_pruned(tmp_path):
    folder = tmp_path / "r.db.checkpoints"
    runs = specs("Adam", seeds=(0, 1), epochs=2, task="iris-mlp")
    Checkpoints(folder).save_bytes([r.key for r in runs], b"stale", [1, 1])
    Checkpoints(folder).save_bytes(["not stored"], b"orphan", [1])
    path = plan(tmp_path, "[Adam]")
    assert run(path, "--db", tmp_path / "r.db", "--device", "cpu").exit_code == 0
    assert not folder.exists()  # both files went once their runs were finished


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "x.yaml", "--seeds", "0"], "--seeds"),
        (["show"], "Missing argument 'EXPR'"),
        (["nope"], "No such command 'nope'"),
    ],
)
def test_a_usage_error_is_one_line(argv, message):
    out = subprocess.run([sys.executable, "-m", "optbench", *argv], capture_output=True,
                         text=True)  # fmt: skip
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line and "--help" in line


def test_the_version_is_printed():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("optbench ")


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("{task: iris-mlp, plan: Adam, metric: final, value: 0.5, std: -1}", "std must be"),
        ("{task: iris-mlp, plan: Adam, metric: final, value: .nan}", "value must be"),
    ],
)
def test_paper_values_that_cannot_be_are_refused(tmp_path, cell, message):
    path = plan(tmp_path, "[Adam]", extra=f"paper:\n  cells:\n    - {cell}\n")
    result = run(path, "--db", tmp_path / "r.db", "--dry-run")
    assert result.exit_code == 2 and message in result.output


def test_a_baseline_is_written_nowhere_when_its_json_path_is_a_folder(tmp_path):
    db = tmp_path / "r.db"
    assert run(plan(tmp_path, "[Adam]"), "--db", db, "--device", "cpu").exit_code == 0
    bad = runner.invoke(app, ["baseline", "save", "b", "--db", str(db), "--json", str(tmp_path)])
    assert bad.exit_code == 2 and "a folder, not a file" in bad.output
    empty = runner.invoke(app, ["baseline", "save", "  ", "--db", str(db)])
    assert empty.exit_code == 2
    good = runner.invoke(app, ["baseline", "save", "b", "--db", str(db)])
    assert good.exit_code == 0, good.output  # nothing of the refused ones was kept
    store = open_store(f"sqlite:///{db}", create=False)
    try:
        assert [b["name"] for b in store.baselines()] == ["b"]
    finally:
        store.close()
    gate = runner.invoke(app, ["check", "--baseline", "b", "--db", str(db), "--junit",
                               str(tmp_path)])  # fmt: skip
    assert gate.exit_code == 2 and gate.output.count("\n") <= 2  # no verdict table first
