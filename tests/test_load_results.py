"""``optbench.load_results``: runs and epochs as one pandas DataFrame, for notebooks."""

from __future__ import annotations

from pathlib import Path

import pytest
from results_fixture import CONFIG, EPOCHS, LEGACY, RUNS, SHORT, filled

import optbench
from optbench.errors import BadInput, DatabaseMissing


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    return str(filled(tmp_path_factory.mktemp("results") / "r.db"))


def done(config) -> int:
    return sum(
        sum(not isinstance(o, str) for o in outcomes) for *_, c, outcomes, _ in RUNS if c == config
    )


def test_one_row_per_epoch_with_the_runs_columns(db):
    frame = optbench.load_results(db)
    legacy = sum(len(accs) for *_, accs in LEGACY)
    assert frame["run_id"].nunique() == done(CONFIG) + done(SHORT) + legacy
    assert len(frame) == (done(CONFIG) + legacy) * EPOCHS + done(SHORT) * SHORT.epochs
    for col in ("task", "plan", "label", "seed", "config_hash", "stage_starts",
                "final_accuracy", "final_f1", "run_ms_per_batch", "epoch", "stage", "lr",
                "train_loss", "val_loss", "val_acc", "ms_per_batch", "s_per_epoch"):  # fmt: skip
        assert col in frame.columns, col
    adam = frame[(frame["label"] == "Adam") & (frame["task"] == "digits-mlp")
                 & (frame["config_hash"] == CONFIG.hash)]  # fmt: skip
    assert sorted(adam["seed"].unique()) == [0, 1, 2]
    last = adam[adam["epoch"] == EPOCHS]
    assert list(last["val_acc"]) == pytest.approx(list(last["final_accuracy"]))
    assert list(frame["epoch"].iloc[:3]) == [1, 2, 3]


def test_configurations_are_columns_and_named(db):
    frame = optbench.load_results(db, task="digits-mlp").drop_duplicates("run_id")
    adam = frame[frame["label"] == "Adam"]
    assert sorted(adam.groupby("config")["run_id"].count().items()) == [
        (CONFIG.describe(), 3),
        (SHORT.describe(), 2),
    ]
    assert set(adam["epochs"]) == {CONFIG.epochs, SHORT.epochs}
    assert set(adam["batch_size"]) == {32} and set(adam["threads"]) == {1}
    legacy = optbench.load_results(db, task="iris-mlp").drop_duplicates("run_id")
    old = legacy[legacy["config"].str.startswith("settings not recorded")]
    assert len(old) == 2 and old["epochs"].isna().all()
    # plans are named as the plan file writes them
    assert "SGD(lr=0.5)+warmup+step" in set(frame["label"])


def test_filters(db):
    assert set(optbench.load_results(db, task="iris-mlp")["task"]) == {"iris-mlp"}
    assert optbench.load_results(db, experiment="none").empty
    every = optbench.load_results(db, status=None)
    diverged = every[every["status"] == "diverged"]
    assert diverged["run_id"].nunique() == 3 and len(diverged) == 9
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
