"""Planning and claiming runs: plan_runs, claim, heartbeat, add_epochs, truncate_epochs,
finish_run with an owner, release — on SQLite and, where a server is given, PostgreSQL.

Several processes at once are tested in ``test_claims_concurrent.py``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from optbench.errors import BadInput, ClaimLost, OptbenchError
from optbench.store import Store, open_store
from optbench.store import repository as repo
from optbench.train.config import RunConfig, RunSpec
from optbench.train.record import EpochRecord, FinalMetrics, RunRecord, Status

PLAN = "SGD(lr=0.1) | (Adam(lr=0.001)+d(rate=1e-06))"
CONFIG = RunConfig(epochs=3, batch_size=32)


@pytest.fixture
def store(memory_or_postgres_url: str) -> Iterator[Store]:
    s = open_store(memory_or_postgres_url)
    yield s
    s.close()


def specs(n: int, plan: str = PLAN, task: str = "iris-mlp") -> list[RunSpec]:
    return [RunSpec(plan, task, seed, CONFIG) for seed in range(n)]


def epoch(i: int, stage: int = 0) -> EpochRecord:
    return EpochRecord(i, stage, 0.1, 1.0 / i, 0.5, 1.1 / i, 0.4, 2.0, 3.0, 0.05, 0.2)


def record(s: RunSpec, status: Status = Status.DONE, epochs=(), **kw) -> RunRecord:
    return RunRecord(
        plan=s.plan,
        task=s.task,
        seed=s.seed,
        config_hash=s.config.hash,
        status=status,
        device="cpu",
        versions={"optbench": "0.1.0"},
        epochs=tuple(epochs),
        final=FinalMetrics(0.9, 0.3, 0.88, 0.87, 0.89) if status is Status.DONE else None,
        stage_starts=(0,),
        ms_per_batch=2.5,
        s_per_epoch=4.0,
        **kw,
    )


def row(store: Store, run_id: int) -> dict:
    [found] = [r for r in store.run_rows(status=None) if r["id"] == run_id]
    return found


def count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def plan_one(store: Store, s: RunSpec | None = None) -> int:
    [planned] = store.plan_runs("exp", [s or specs(1)[0]])
    return planned.id


# -- plan_runs ------------------------------------------------------------------------------


def test_plan_runs_stores_each_spec_once_as_pending(store: Store) -> None:
    wanted = specs(3)
    first = store.plan_runs("exp", [*wanted, wanted[0]], labels=["a", "b", "c", "a again"])
    assert [p.key for p in first] == [s.key for s in [*wanted, wanted[0]]]
    assert first[0] == first[3]  # listed twice: one run
    assert {(p.status, p.attempts) for p in first} == {(Status.PENDING, 0)}
    assert count(store, "runs") == 3 and count(store, "experiment_runs") == 3

    again = store.plan_runs("exp", wanted)  # idempotent: the same runs, nothing new
    assert again == first[:3]
    assert count(store, "runs") == 3
    other = store.plan_runs("other", wanted[1:])
    assert [p.id for p in other] == [p.id for p in first[1:3]]
    assert count(store, "runs") == 3 and count(store, "experiment_runs") == 5
    with pytest.raises(ValueError, match="2 labels for 3 specs"):
        store.plan_runs("exp", wanted, labels=["a", "b"])


def test_plan_runs_keeps_a_label_unless_given_a_new_one(store: Store) -> None:
    [s] = specs(1)
    store.plan_runs("exp", [s], labels=["SGD | (Adam+d)"])
    store.plan_runs("exp", [s])
    assert store.run_rows(experiment="exp", status=None)[0]["label"] == "SGD | (Adam+d)"
    store.plan_runs("exp", [s], labels=["renamed"])
    assert store.run_rows(experiment="exp", status=None)[0]["label"] == "renamed"


def test_plan_runs_reports_what_is_stored(store: Store) -> None:
    wanted = specs(2)
    [a, b] = store.plan_runs("exp", wanted)
    owner = "runner-1"
    store.claim([a.id], owner)
    store.finish_run(a.id, owner, record(wanted[0]))
    assert [(p.id, p.status, p.attempts) for p in store.plan_runs("exp", wanted)] == [
        (a.id, Status.DONE, 1),
        (b.id, Status.PENDING, 0),
    ]


def test_plan_runs_in_chunks_and_long_plans(store: Store, monkeypatch) -> None:
    """Many runs go in several INSERTs; a plan of 10 KB is stored (PostgreSQL's B-tree index
    refused plans over ~2.7 KB while (plan, task, seed, config_hash) was unique)."""
    monkeypatch.setattr(repo, "_ROW_CHUNK", 7)
    monkeypatch.setattr(repo, "_IN_CHUNK", 5)
    long_plan = " | ".join(f"SGD(lr={i / 1000})" for i in range(700))
    assert len(long_plan) > 10_000
    wanted = specs(40) + specs(3, plan=long_plan)
    planned = store.plan_runs("exp", wanted, labels=[f"label {i}" for i in range(43)])
    assert len({p.id for p in planned}) == 43
    assert [p.key for p in store.lookup(wanted)] == [s.key for s in wanted]
    rows = {r["id"]: r for r in store.run_rows(experiment="exp", status=None)}
    assert [rows[p.id]["label"] for p in planned] == [f"label {i}" for i in range(43)]
    assert rows[planned[-1].id]["plan"] == long_plan


def test_a_failing_plan_runs_leaves_nothing(store: Store, monkeypatch) -> None:
    monkeypatch.setattr(repo, "_ROW_CHUNK", 2)
    bad = RunSpec(PLAN, "iris-mlp", 99, RunConfig(3, 32, device=None))  # device is NOT NULL
    with pytest.raises(IntegrityError, match="device"):
        store.plan_runs("exp", [*specs(5), bad], paper=[{"value": 1.0}])
    assert count(store, "runs") == 0 and count(store, "experiments") == 0
    assert count(store, "experiment_runs") == 0


def test_lookup_reads_only(store: Store) -> None:
    wanted = specs(3)
    assert store.lookup(wanted) == [None, None, None]
    planned = store.plan_runs("exp", wanted[:2])
    assert store.lookup(wanted) == [*planned, None]
    assert store.experiments() == ["exp"]


# -- claim ----------------------------------------------------------------------------------


def test_claim_makes_pending_runs_running_with_a_lease(store: Store) -> None:
    ids = [p.id for p in store.plan_runs("exp", specs(3))]
    assert store.claim(ids[:2], "A", lease_s=60) == sorted(ids[:2])
    assert store.claim(ids, "B", lease_s=60) == [ids[2]]  # only what A does not hold
    assert store.claim(ids, "C", lease_s=60) == []
    r = row(store, ids[0])
    assert (r["status"], r["owner"], r["attempts"]) == ("running", "A", 1)
    # the lease is on the database's clock: lease_until - started_at is the lease
    assert abs(r["lease_until"] - r["started_at"] - timedelta(seconds=60)) < timedelta(
        milliseconds=2
    )
    assert row(store, ids[2])["owner"] == "B"


def test_claim_takes_at_most_limit_runs_lowest_ids_first(store: Store) -> None:
    ids = sorted(p.id for p in store.plan_runs("exp", specs(5)))
    assert store.claim(ids, "A", limit=2) == ids[:2]
    assert store.claim(ids, "B", limit=2) == ids[2:4]
    assert store.claim(ids, "C", limit=0) == []
    assert store.claim(ids, "C", limit=9) == ids[4:]


@pytest.mark.parametrize(
    ("status", "claimable", "claimable_with_retry"),
    [
        (Status.DONE, False, False),
        (Status.DIVERGED, False, True),
        (Status.FAILED, True, True),
        (Status.INTERRUPTED, True, True),
    ],
)
def test_which_finished_runs_are_claimed(
    store: Store, status: Status, claimable: bool, claimable_with_retry: bool
) -> None:
    [s] = specs(1)
    run_id = plan_one(store, s)
    store.claim([run_id], "A")
    if status is Status.INTERRUPTED:
        store.release([run_id], "A", "KeyboardInterrupt")
    else:
        store.finish_run(run_id, "A", record(s, status, error=None))
    assert store.claim([run_id], "B") == ([run_id] if claimable else [])
    if not claimable:
        assert store.claim([run_id], "B", retry_diverged=True) == (
            [run_id] if claimable_with_retry else []
        )
    assert row(store, run_id)["status"] == ("running" if claimable_with_retry else status.value)


def test_a_retried_run_starts_clean_but_keeps_its_epochs(store: Store) -> None:
    [s] = specs(1)
    run_id = plan_one(store, s)
    store.claim([run_id], "A")
    store.add_epochs(run_id, "A", [epoch(1)])
    store.finish_run(run_id, "A", record(s, Status.FAILED, error="CUDA out of memory"))
    assert store.claim([run_id], "B") == [run_id]
    r = row(store, run_id)
    assert (r["status"], r["owner"], r["attempts"], r["error"]) == ("running", "B", 2, None)
    assert r["finished_at"] is None and r["ms_per_batch"] is None
    assert len(store.epoch_rows(run_ids=[run_id])) == 1  # a resume decides what to keep


def test_an_expired_lease_is_claimed_again_and_its_owner_loses_the_run(store: Store) -> None:
    [s] = specs(1)
    run_id = plan_one(store, s)
    assert store.claim([run_id], "A", lease_s=0.2) == [run_id]
    assert store.claim([run_id], "B") == []  # A's lease holds
    time.sleep(0.35)
    assert store.heartbeat("A", [run_id], lease_s=0.2) == [run_id]  # expired, not yet lost
    time.sleep(0.35)
    assert store.claim([run_id], "B", lease_s=60) == [run_id]
    assert (row(store, run_id)["owner"], row(store, run_id)["attempts"]) == ("B", 2)

    assert store.heartbeat("A", [run_id]) == []
    with pytest.raises(ClaimLost, match="claimed by B after the lease of A ran out"):
        store.add_epochs(run_id, "A", [epoch(1)])
    with pytest.raises(ClaimLost):
        store.truncate_epochs(run_id, "A", 0)
    with pytest.raises(ClaimLost):
        store.finish_run(run_id, "A", record(s))
    assert store.release([run_id], "A") == []
    assert count(store, "epochs") == 0 and row(store, run_id)["status"] == "running"
    store.add_epochs(run_id, "B", [epoch(1)])  # B goes on
    store.finish_run(run_id, "B", record(s))
    assert row(store, run_id)["status"] == "done"


def test_a_run_running_without_a_lease_may_be_claimed(store: Store) -> None:
    """A database upgraded to claims while a run was training holds that run running, with
    no owner and no lease: the first claim takes it, as a run whose runner died."""
    run_id = plan_one(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE runs SET status = 'running' WHERE id = :id"), {"id": run_id})
    assert (row(store, run_id)["owner"], row(store, run_id)["lease_until"]) == (None, None)
    assert store.claim([run_id], "A") == [run_id]


def test_claim_checks_its_arguments(store: Store) -> None:
    run_id = plan_one(store)
    with pytest.raises(ValueError, match="lease_s"):
        store.claim([run_id], "A", lease_s=0)
    with pytest.raises(ValueError, match="limit"):
        store.claim([run_id], "A", limit=-1)
    with pytest.raises(ValueError, match="lease_s"):
        store.heartbeat("A", [run_id], lease_s=-1)
    assert store.claim([], "A") == [] and store.claim([run_id + 100], "A") == []
    assert issubclass(ClaimLost, OptbenchError)


# -- heartbeat, epochs, finish, release -----------------------------------------------------


def test_heartbeat_renews_the_leases_still_held(store: Store) -> None:
    ids = [p.id for p in store.plan_runs("exp", specs(3))]
    store.claim(ids[:2], "A", lease_s=5)
    store.claim(ids[2:], "B", lease_s=5)
    before = row(store, ids[0])["lease_until"]
    assert store.heartbeat("A", ids, lease_s=600) == sorted(ids[:2])
    after = row(store, ids[0])["lease_until"]
    assert after - before > timedelta(seconds=590)
    assert row(store, ids[2])["lease_until"] - before < timedelta(seconds=5)


def test_add_epochs_as_each_ends_and_truncate_for_a_resume(store: Store) -> None:
    run_id = plan_one(store)
    store.claim([run_id], "A")
    for i in (1, 2, 3):
        store.add_epochs(run_id, "A", [epoch(i)])
    assert [e["epoch"] for e in store.epoch_rows(run_ids=[run_id])] == [1, 2, 3]
    stored = store.epoch_rows(run_ids=[run_id])[0]
    assert (stored["lr_min"], stored["lr_max"]) == (0.05, 0.2)

    # resumed from the checkpoint of epoch 1: epochs 2 and 3 go, then are trained again
    assert store.truncate_epochs(run_id, "A", keep_through=1) == 2
    store.add_epochs(run_id, "A", [epoch(2, stage=1), epoch(3, stage=1)])
    store.add_epochs(run_id, "A", [epoch(3, stage=1)])  # the same epoch again replaces it
    assert [(e["epoch"], e["stage"]) for e in store.epoch_rows(run_ids=[run_id])] == [
        (1, 0),
        (2, 1),
        (3, 1),
    ]
    with pytest.raises(ValueError, match="repeats"):
        store.add_epochs(run_id, "A", [epoch(4), epoch(4)])
    assert count(store, "epochs") == 3
    nan = EpochRecord(5, 1, 0.1, math.nan, math.nan, math.inf, 0.1, 2.0, 3.0)
    store.add_epochs(run_id, "A", [nan])
    last = store.epoch_rows(run_ids=[run_id])[-1]
    assert last["train_loss"] is None and last["val_loss"] == math.inf
    assert last["lr_min"] is None  # unknown (NaN) is stored as NULL


def test_writes_to_an_unclaimed_run_raise_claim_lost(store: Store) -> None:
    run_id = plan_one(store)
    with pytest.raises(ClaimLost, match="pending"):
        store.add_epochs(run_id, "A", [epoch(1)])
    with pytest.raises(ClaimLost, match="not stored"):
        store.add_epochs(run_id + 1, "A", [epoch(1)])
    assert count(store, "epochs") == 0


def test_finish_run_stores_the_outcome_and_ends_the_lease(store: Store) -> None:
    [s] = specs(1)
    run_id = plan_one(store, s)
    store.claim([run_id], "A")
    store.add_epochs(run_id, "A", [epoch(1), epoch(2)])
    done = record(s, epochs=[epoch(2), epoch(3)], seeds_per_pass=4, extra={"avg": [1.0]})
    store.finish_run(run_id, "A", done)

    r = row(store, run_id)
    assert (r["status"], r["owner"], r["lease_until"], r["attempts"]) == ("done", "A", None, 1)
    assert (r["accuracy"], r["f1"], r["ms_per_batch"], r["seeds_per_pass"]) == (0.9, 0.88, 2.5, 4)
    assert r["versions"] == {"optbench": "0.1.0"} and r["extra"] == {"avg": [1.0]}
    assert r["finished_at"] >= r["started_at"]
    assert r["device"] == "cpu" and r["epochs"] == 3  # the configuration stays as planned
    assert [e["epoch"] for e in store.epoch_rows(run_ids=[run_id])] == [1, 2, 3]
    assert store.claim([run_id], "B") == []  # done is never claimed
    with pytest.raises(ClaimLost, match="done"):
        store.finish_run(run_id, "A", done)


def test_finish_run_refuses_a_record_of_another_run(store: Store) -> None:
    a, b = specs(2)
    run_id = plan_one(store, a)
    store.claim([run_id], "A")
    with pytest.raises(ValueError, match="not for run"):
        store.finish_run(run_id, "A", record(b, epochs=[epoch(1)]))
    with pytest.raises(ValueError, match="finished record"):
        store.finish_run(run_id, "A", record(a, Status.RUNNING))
    r = row(store, run_id)
    assert (r["status"], r["accuracy"]) == ("running", None) and count(store, "epochs") == 0


def test_release_hands_runs_back_as_interrupted_with_their_epochs(store: Store) -> None:
    ids = [p.id for p in store.plan_runs("exp", specs(3))]
    store.claim(ids[:2], "A")
    store.claim(ids[2:], "B")
    store.add_epochs(ids[0], "A", [epoch(1)])
    assert store.release(ids, "A", "KeyboardInterrupt") == sorted(ids[:2])
    r = row(store, ids[0])
    assert (r["status"], r["error"], r["lease_until"]) == ("interrupted", "KeyboardInterrupt", None)
    assert r["finished_at"] is not None and len(store.epoch_rows(run_ids=[ids[0]])) == 1
    assert row(store, ids[2])["status"] == "running"  # B's run is not A's to release
    assert store.claim(ids, "C") == sorted(ids[:2])


def test_add_epochs_many_stores_a_stacked_pass_in_one_transaction(store: Store) -> None:
    ids = [p.id for p in store.plan_runs("exp", specs(4))]
    store.claim(ids[:3], "A")
    store.claim(ids[3:], "B")
    store.add_epochs(ids[0], "A", [epoch(1)])
    lost = store.add_epochs_many(
        "A", {run_id: [epoch(1, stage=1), epoch(2, stage=1)] for run_id in ids}
    )
    assert lost == [ids[3]]  # B's run: left out, not an error
    got = {(e["run_id"], e["epoch"], e["stage"]) for e in store.epoch_rows()}
    assert got == {(i, n, 1) for i in ids[:3] for n in (1, 2)}  # epoch 1 of ids[0] replaced
    with pytest.raises(ValueError, match="repeats"):
        store.add_epochs_many("A", {ids[0]: [epoch(3), epoch(3)]})
    assert store.add_epochs_many("A", {}) == []


def test_a_heartbeat_thread_beside_the_writes(store: Store) -> None:
    """The runner heartbeats from a background thread while its loop stores epochs; on an
    in-memory database (one connection) too, neither may see the other's transaction."""
    [s] = specs(1)
    run_id = plan_one(store, s)
    store.claim([run_id], "A")
    stop, errors, beats = threading.Event(), [], []

    def heartbeat() -> None:
        try:
            while not stop.is_set():
                beats.append(store.heartbeat("A", [run_id], lease_s=60))
        except BaseException as e:  # reported below
            errors.append(e)

    thread = threading.Thread(target=heartbeat)
    thread.start()
    try:
        for i in range(1, 41):
            store.add_epochs(run_id, "A", [epoch(i)])
        store.finish_run(run_id, "A", record(s))
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert len(beats) > 0 and beats[0] == [run_id] and beats[-1] in ([run_id], [])
    assert len(store.epoch_rows(run_ids=[run_id])) == 40


def test_a_deadlock_is_tried_again(store: Store, monkeypatch) -> None:
    calls = []

    def body(conn) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise repo.WriteConflict("deadlock detected")
        return "written"

    assert store._transaction(body) == "written" and len(calls) == 3
    monkeypatch.setattr(repo, "_WRITE_TRIES", 2)
    calls.clear()
    with pytest.raises(repo.WriteConflict):
        store._transaction(body)
    assert len(calls) == 2


def test_plan_runs_checks_names_and_paper_values(store: Store) -> None:
    with pytest.raises(BadInput, match="experiment name"):
        store.plan_runs("x" * 256, specs(1))
    with pytest.raises(BadInput, match="experiment name"):
        store.plan_runs("", specs(1))
    cells = [{"plan": "NaN-free", "note": "NaN losses", "value": math.nan, "std": math.inf}]
    store.plan_runs("exp", specs(1), paper=cells)
    assert store.experiment_paper("exp") == [
        {"plan": "NaN-free", "note": "NaN losses", "value": None, "std": None}
    ]
    assert count(store, "runs") == 1
