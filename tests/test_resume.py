"""Checkpoints: a pass resumed from the snapshot after any finished epoch ends exactly as
if it had never stopped (on the CPU, with a fixed thread count)."""

from __future__ import annotations

import io

import pytest
import torch

from optbench.execute.checkpoints import Checkpoints, select_runs
from optbench.train.engine import Sink
from tests.training import specs, train


class KeepAt(Sink):
    """Keeps the checkpoint taken after the ``at``-th epoch, as saved bytes."""

    def __init__(self, at: int) -> None:
        self.at, self.count, self.blob = at, 0, None

    def checkpoint(self, state) -> None:
        self.count += 1
        if self.count == self.at:
            buffer = io.BytesIO()
            torch.save(state(), buffer)
            self.blob = buffer.getvalue()

    def load(self):
        return torch.load(io.BytesIO(self.blob), weights_only=True)


def outcome(records):
    return [
        (r.status, r.final, [(e.train_loss, e.val_loss, e.val_acc, e.lr) for e in r.epochs],
         r.stage_starts)
        for r in records
    ]  # fmt: skip


PLANS = [
    "SGD(lr=0.05)+M | (Adam+d+avg) | (SGD(lr=0.05)+LA+polyak+cos)",
    "(SGD(lr=0.1)+M+LA) | (SGD(lr=0.01)+M+LA+avg) | (Adamax+full) | DSA",
    "SGD(lr=0.05):plateau(patience=1, max=4) | (Adam+plateau(patience=0))",
]


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("seeds", [(0,), (0, 1, 2)])
def test_a_pass_resumed_after_any_epoch_ends_bit_for_bit(tiny_split, tiny_model, plan, seeds):
    if "plateau" in plan and len(seeds) > 1:
        pytest.skip("a plateau follows each seed's own loss: such plans train seeds apart")
    whole = train(plan, tiny_split, tiny_model, seeds, epochs=8)
    for at in (1, 3, 4, 7):
        keep = KeepAt(at)
        train(plan, tiny_split, tiny_model, seeds, epochs=8, sink=keep)
        resumed = train(plan, tiny_split, tiny_model, seeds, epochs=8, resume=keep.load())
        assert outcome(resumed) == outcome(whole), f"resumed after epoch {at}"


def test_some_runs_of_a_stacked_pass_resume_on_their_own(tiny_split, tiny_model):
    plan = "(SGD(lr=0.1)+M) | (Adam+avg)"
    whole = train(plan, tiny_split, tiny_model, (0, 1, 2), epochs=6)
    keep = KeepAt(3)
    train(plan, tiny_split, tiny_model, (0, 1, 2), epochs=6, sink=keep)
    narrowed = select_runs(keep.load(), [2, 0])
    resumed = train(plan, tiny_split, tiny_model, (2, 0), epochs=6, resume=narrowed)
    assert outcome(resumed) == outcome([whole[2], whole[0]])


def test_a_checkpoint_of_another_pass_is_refused(tiny_split, tiny_model):
    keep = KeepAt(1)
    train("SGD", tiny_split, tiny_model, (0,), epochs=2, sink=keep)
    with pytest.raises(ValueError, match="not of this pass"):
        train("SGD", tiny_split, tiny_model, (1,), epochs=2, resume=keep.load())


def test_a_save_cut_short_between_snapshot_and_index_leaves_the_previous_pair(
    tmp_path, monkeypatch
):
    """A kill after the new snapshot is written and before its index is: the index and
    the snapshot it names still agree (the epochs said are the snapshot's), and the next
    save removes the snapshot no index names."""
    import optbench.execute.checkpoints as files

    folder = Checkpoints(tmp_path / "ck")
    keys = ["run a", "run b"]
    folder.save_bytes(keys, b"snapshot after 2", [2, 2])
    real = files._replace

    def killed_before_the_index(path, write):
        if path.suffix == ".json":
            raise KeyboardInterrupt
        real(path, write)

    monkeypatch.setattr(files, "_replace", killed_before_the_index)
    with pytest.raises(KeyboardInterrupt):
        folder.save_bytes(keys, b"snapshot after 3", [3, 3])
    monkeypatch.setattr(files, "_replace", real)
    (found,) = folder.find(keys)
    assert found.epochs == (2, 2) and found.path.read_bytes() == b"snapshot after 2"
    assert len(list((tmp_path / "ck").glob("*.pt"))) == 2  # the unnamed one, until the next save
    folder.save_bytes(keys, b"snapshot after 3", [3, 3])
    (found,) = folder.find(keys)
    assert found.epochs == (3, 3) and found.path.read_bytes() == b"snapshot after 3"
    assert list((tmp_path / "ck").glob("*.pt")) == [found.path]
    folder.discard(keys)
    assert not (tmp_path / "ck").exists()


def test_a_checkpoint_written_before_indexes_named_their_snapshot_still_resumes(tmp_path):
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "abc.pt").write_bytes(b"old layout")
    (folder / "abc.json").write_text('{"runs": ["run a"], "epochs": [7]}')
    (found,) = Checkpoints(folder).find(["run a"])
    assert found.epochs == (7,) and found.path == folder / "abc.pt"
    Checkpoints(folder).discard(["run a"])
    assert not folder.exists()


def test_checkpoint_files_are_found_by_run_and_removed_when_done(tmp_path, tiny_split, tiny_model):
    folder = Checkpoints(tmp_path / "ck")
    runs = specs("SGD", seeds=(0, 1), epochs=3)
    keys = [r.key for r in runs]
    keep = KeepAt(2)
    train("SGD", tiny_split, tiny_model, (0, 1), epochs=3, sink=keep)
    folder.save_bytes(keys, keep.blob, [2, 2])
    (found,) = folder.find([keys[1]])
    assert found.runs == tuple(keys) and found.epochs == (2, 2)
    assert folder.load(found, [keys[1]])["runs"] == [keys[1]]
    assert folder.find(["another run"]) == []
    folder.discard([keys[0]])
    assert folder.find(keys)  # run 1 still needs it
    folder.discard(keys)
    assert folder.find(keys) == [] and not (tmp_path / "ck").exists()
