"""Runner processes for ``test_claims_concurrent.py``: each opens its own store (a spawned
process shares nothing with the test) and reports what it did on a queue as
``(owner, what, payload)``."""

from __future__ import annotations

import os
import time
from typing import Any

from optbench.errors import ClaimLost
from optbench.store import open_store
from optbench.train.record import EpochRecord, FinalMetrics, RunRecord, Status

DEADLINE_S = 60.0  # a worker that is still waiting after this long reports it and stops


def _record(row: dict[str, Any]) -> RunRecord:
    return RunRecord(
        plan=row["plan"],
        task=row["task"],
        seed=row["seed"],
        config_hash=row["config_hash"],
        status=Status.DONE,
        device=row["device"],
        versions={"optbench": "test"},
        final=FinalMetrics(0.9, 0.3, 0.9, 0.9, 0.9),
    )


def _epoch(i: int) -> EpochRecord:
    return EpochRecord(i, 0, 0.1, 1.0 / i, 0.5, 1.0 / i, 0.5, 1.0, 1.0, 0.1, 0.1)


def claim_once(url: str, owner: str, run_ids: list[int], start, queue) -> None:
    """Wait for ``start``, then claim every run of ``run_ids`` in one call."""
    store = open_store(url, create=False)
    try:
        start.wait()
        queue.put((owner, "claimed", store.claim(run_ids, owner, lease_s=60)))
    finally:
        store.close()


def drain(
    url: str, owner: str, run_ids: list[int], lease_s: float, start, queue, die_after=None
) -> None:
    """Claim one run at a time, store its epochs and outcome, until every run of
    ``run_ids`` is done; ``die_after=k``: after training k runs, claim one more and exit at
    once, holding its claim (a runner killed mid-run)."""
    store = open_store(url, create=False)
    rows = {r["id"]: r for r in store.run_rows(status=None) if r["id"] in set(run_ids)}
    trained: list[int] = []
    deadline = time.monotonic() + DEADLINE_S
    start.wait()
    while time.monotonic() < deadline:
        got = store.claim(run_ids, owner, lease_s=lease_s, limit=1)
        if not got:
            left = [r for r in store.run_rows(status=None) if r["id"] in rows]
            if all(r["status"] == "done" for r in left):
                break
            time.sleep(0.05)  # another runner holds the rest: its lease may yet run out
            continue
        [run_id] = got
        if die_after is not None and len(trained) == die_after:
            queue.put((owner, "died holding", run_id))
            queue.close()
            queue.join_thread()  # the message is out before the process ends
            os._exit(0)
        store.add_epochs(run_id, owner, [_epoch(1)])
        store.add_epochs(run_id, owner, [_epoch(2)])
        store.finish_run(run_id, owner, _record(rows[run_id]))
        trained.append(run_id)
    else:
        queue.put((owner, "gave up", trained))
    queue.put((owner, "trained", trained))
    store.close()


def hold_past_the_lease(url: str, owner: str, run_id: int, lease_s: float, go_on, queue) -> None:
    """Claim ``run_id`` on a short lease, send no heartbeat, and when ``go_on`` is set (after
    another runner claimed the run) try to write to it."""
    store = open_store(url, create=False)
    queue.put((owner, "claimed", store.claim([run_id], owner, lease_s=lease_s)))
    go_on.wait()
    try:
        store.add_epochs(run_id, owner, [_epoch(1)])
        queue.put((owner, "wrote", run_id))
    except ClaimLost as e:
        queue.put((owner, "lost", str(e)))
    queue.put((owner, "heartbeat", store.heartbeat(owner, [run_id])))
    store.close()
