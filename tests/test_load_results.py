"""``optbench.load_results``: runs and epochs as one pandas DataFrame, for notebooks."""

from __future__ import annotations

from pathlib import Path

import pytest
from results_fixture import EPOCHS, RUNS, fill

import optbench
from optbench.errors import BadInput, DatabaseMissing
from optbench.store.engine import open_store


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("results") / "r.db"
    with open_store(str(path)) as store:
        fill(store)
    return str(path)


def test_one_row_per_epoch_with_the_runs_columns(db):
    frame = optbench.load_results(db)
    runs = sum(len(accs) for _, _, accs, _ in RUNS)
    assert len(frame) == runs * EPOCHS
    assert frame["run_id"].nunique() == runs
    for col in ("task", "plan", "label", "seed", "config_hash", "stage_starts",
                "final_accuracy", "final_f1", "run_ms_per_batch", "epoch", "stage", "lr",
                "train_loss", "val_loss", "val_acc", "ms_per_batch", "s_per_epoch"):  # fmt: skip
        assert col in frame.columns, col
    adam = frame[(frame["label"] == "Adam") & (frame["task"] == "digits-mlp")]
    assert sorted(adam["seed"].unique()) == [0, 1, 2]
    last = adam[adam["epoch"] == EPOCHS]
    assert list(last["val_acc"]) == pytest.approx(list(last["final_accuracy"]))
    assert list(frame["epoch"].iloc[:3]) == [1, 2, 3]


def test_filters(db):
    assert set(optbench.load_results(db, task="iris-mlp")["task"]) == {"iris-mlp"}
    assert optbench.load_results(db, experiment="none").empty
    every = optbench.load_results(db, status=None)
    diverged = every[every["status"] == "diverged"]
    assert diverged["run_id"].nunique() == 1 and len(diverged) == 3
    assert "diverged" not in set(optbench.load_results(db)["status"])


def test_bad_input(db, tmp_path: Path):
    with pytest.raises(BadInput, match="unknown run status"):
        optbench.load_results(db, status="finished")
    with pytest.raises(DatabaseMissing):
        optbench.load_results(str(tmp_path / "none.db"))
    assert not (tmp_path / "none.db").exists()


def test_import_optbench_stays_light(loaded_after):
    assert loaded_after("import optbench") == []
    assert loaded_after("import optbench\noptbench.load_results", names=("pandas",)) == ["pandas"]
    with pytest.raises(AttributeError):
        optbench.no_such_thing  # noqa: B018
