"""Several runner processes claiming the same runs of one database, SQLite file and
PostgreSQL: each run is claimed once, a dead runner's run is claimed again when its lease
runs out, a runner that lost its claim gets ``ClaimLost``, and no process prints a
traceback. The processes are spawned: they share nothing with the test but the database."""

from __future__ import annotations

import multiprocessing
import time

import claim_workers

from optbench.store import open_store
from optbench.train.config import RunConfig, RunSpec

SPAWN = multiprocessing.get_context("spawn")
JOIN_S = 90
RUNNERS = 3


def plan(url: str, n: int) -> list[int]:
    specs = [RunSpec("SGD(lr=0.1)", "iris-mlp", seed, RunConfig(2, 32)) for seed in range(n)]
    with open_store(url) as store:
        return [p.id for p in store.plan_runs("exp", specs)]


def run(processes, queue, messages: int) -> list[tuple]:
    """Start ``processes``, collect ``messages`` from ``queue``, and check that each process
    exited cleanly."""
    for p in processes:
        p.start()
    got = [queue.get(timeout=JOIN_S) for _ in range(messages)]
    for p in processes:
        p.join(JOIN_S)
        assert p.exitcode == 0, f"{p.name} exited with {p.exitcode}"
    return got


def test_runners_starting_at_once_claim_each_run_exactly_once(db_url: str, capfd) -> None:
    ids = plan(db_url, 60)
    start, queue = SPAWN.Barrier(RUNNERS), SPAWN.Queue()
    runners = [
        SPAWN.Process(target=claim_workers.claim_once, args=(db_url, f"r{k}", ids, start, queue))
        for k in range(RUNNERS)
    ]
    messages = run(runners, queue, RUNNERS)
    claimed = [run_id for _, _, got in messages for run_id in got]
    assert sorted(claimed) == sorted(ids)  # all claimed, none twice
    owners = {owner: set(got) for owner, _, got in messages}
    with open_store(db_url) as store:
        rows = store.run_rows(status=None)
    assert all(r["id"] in owners[r["owner"]] and r["attempts"] == 1 for r in rows)
    assert "Traceback" not in capfd.readouterr().err


def test_runners_train_every_run_once(db_url: str, capfd) -> None:
    ids = plan(db_url, 24)
    start, queue = SPAWN.Barrier(RUNNERS), SPAWN.Queue()
    runners = [
        SPAWN.Process(target=claim_workers.drain, args=(db_url, f"r{k}", ids, 60, start, queue))
        for k in range(RUNNERS)
    ]
    messages = run(runners, queue, RUNNERS)
    assert {what for _, what, _ in messages} == {"trained"}
    trained = [run_id for _, _, got in messages for run_id in got]
    assert sorted(trained) == sorted(ids)  # 24 trainings for 24 runs
    with open_store(db_url) as store:
        rows = store.run_rows(status=None)
        assert {(r["status"], r["attempts"]) for r in rows} == {("done", 1)}
        assert len(store.epoch_rows()) == 2 * len(ids)
    assert "Traceback" not in capfd.readouterr().err


def test_a_dead_runners_run_is_trained_once_its_lease_ran_out(db_url: str, capfd) -> None:
    ids = plan(db_url, 6)
    lease_s, queue = 1.0, SPAWN.Queue()
    alone = SPAWN.Barrier(1)  # referenced here: a started Process drops its arguments
    dying = SPAWN.Process(
        target=claim_workers.drain, args=(db_url, "dies", ids, lease_s, alone, queue, 0)
    )
    [(_, what, held)] = run([dying], queue, 1)  # claims a run and exits holding it
    assert what == "died holding"

    start = SPAWN.Barrier(2)
    living = [
        SPAWN.Process(
            target=claim_workers.drain, args=(db_url, f"r{k}", ids, lease_s, start, queue)
        )
        for k in range(2)
    ]
    messages = run(living, queue, 2)
    trained = [run_id for _, _, got in messages for run_id in got]
    assert sorted(trained) == sorted(ids)  # every run once, the dead runner's included
    with open_store(db_url) as store:
        rows = {r["id"]: r for r in store.run_rows(status=None)}
    assert {r["status"] for r in rows.values()} == {"done"}
    assert rows[held]["attempts"] == 2 and rows[held]["owner"] != "dies"
    assert sum(r["attempts"] for r in rows.values()) == len(ids) + 1
    assert "Traceback" not in capfd.readouterr().err


def test_a_runner_past_its_lease_loses_the_claim_to_another(db_url: str, capfd) -> None:
    [run_id] = plan(db_url, 1)
    go_on, queue = SPAWN.Event(), SPAWN.Queue()
    slow = SPAWN.Process(
        target=claim_workers.hold_past_the_lease, args=(db_url, "slow", run_id, 0.3, go_on, queue)
    )
    slow.start()
    assert queue.get(timeout=JOIN_S) == ("slow", "claimed", [run_id])
    with open_store(db_url) as store:
        assert store.claim([run_id], "fast") == []  # the lease holds
        deadline = time.monotonic() + 30
        while not store.claim([run_id], "fast") and time.monotonic() < deadline:
            time.sleep(0.05)
        go_on.set()
        lost = queue.get(timeout=JOIN_S)
        heartbeat = queue.get(timeout=JOIN_S)
        slow.join(JOIN_S)
        [row] = store.run_rows(status=None)
        assert (row["owner"], row["attempts"]) == ("fast", 2)
        assert store.epoch_rows() == []
    assert slow.exitcode == 0
    assert lost[:2] == ("slow", "lost") and "claimed by fast" in lost[2]
    assert heartbeat == ("slow", "heartbeat", [])
    assert "Traceback" not in capfd.readouterr().err
