"""How fast runners claim runs from one results database, SQLite against PostgreSQL.

Plans ``--runs`` runs, then ``P`` spawned runner processes (for each P of ``--processes``)
claim them one at a time (``claim(ids, owner, limit=1)``, the ids of the whole plan file
as a runner passes them) until none is left, and, in the second measure, store each run as
a runner does: three epochs with ``add_epochs`` and the outcome with ``finish_run``. Prints
claims per second and stored runs per second for each backend and process count, and the
ratio PostgreSQL / SQLite measured side by side in this run. Checks on the way that every
run was claimed exactly once.

    python benchmarks/claims.py [--runs 1000] [--processes 1,4] [--postgres URL]

``--postgres`` (default ``$OPTBENCH_TEST_POSTGRES``) names a database where a scratch
schema is made and dropped; without it only SQLite is measured.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from optbench.store import open_store
from optbench.train.config import RunConfig, RunSpec
from optbench.train.record import EpochRecord, FinalMetrics, RunRecord, Status

SPAWN = multiprocessing.get_context("spawn")


def runner(url: str, owner: str, ids: list[int], store_runs: bool, start, queue) -> None:
    store = open_store(url, create=False)
    rows = {r["id"]: r for r in store.run_rows(status=None)} if store_runs else {}
    start.wait()
    claimed = []
    while got := store.claim(ids, owner, lease_s=600, limit=1):
        claimed += got
        if store_runs:
            row = rows[got[0]]
            for i in (1, 2, 3):
                store.add_epochs(got[0], owner, [EpochRecord(i, 0, 0.1, 1, 1, 1, 1, 1, 1)])
            store.finish_run(
                got[0],
                owner,
                RunRecord(row["plan"], row["task"], row["seed"], row["config_hash"],
                          Status.DONE, "cpu", {}, final=FinalMetrics(1, 0, 1, 1, 1)),
            )  # fmt: skip
    store.close()
    queue.put(claimed)


def measure(url: str, runs: int, processes: int, store_runs: bool) -> float:
    """Runs per second for ``processes`` runners draining ``runs`` fresh runs at ``url``."""
    task = f"bench-{uuid.uuid4().hex[:8]}"  # new runs for every measure
    specs = [RunSpec(f"SGD(lr={i})", task, 0, RunConfig(3, 32)) for i in range(runs)]
    with open_store(url) as store:
        ids = [p.id for p in store.plan_runs(task, specs)]
    start, queue = SPAWN.Barrier(processes + 1), SPAWN.Queue()
    workers = [
        SPAWN.Process(target=runner, args=(url, f"r{k}", ids, store_runs, start, queue))
        for k in range(processes)
    ]
    for w in workers:
        w.start()
    start.wait()
    t0 = time.perf_counter()
    claimed = [run_id for _ in workers for run_id in queue.get()]
    elapsed = time.perf_counter() - t0
    for w in workers:
        w.join()
    assert sorted(claimed) == sorted(ids), "a run was claimed twice or not at all"
    return runs / elapsed


def postgres_schema(base: str) -> tuple[str, callable]:
    url = make_url(base)
    if "+" not in url.drivername:
        url = url.set(drivername="postgresql+psycopg")
    name = f"optbench_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))

    scoped = url.set(query=dict(url.query) | {"options": f"-csearch_path={name}"})
    return scoped.render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--processes", default="1,4")
    parser.add_argument("--postgres", default=os.environ.get("OPTBENCH_TEST_POSTGRES"))
    args = parser.parse_args()
    counts = [int(p) for p in args.processes.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        backends = {"sqlite": f"sqlite:///{Path(tmp) / 'claims.db'}"}
        drop = None
        if args.postgres:
            backends["postgresql"], drop = postgres_schema(args.postgres)
        try:
            print(f"{args.runs} runs; {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
            ratio_head = "   pg/sqlite" if "postgresql" in backends else ""
            print(f"{'measure':<34}" + "".join(f"{b:>12}" for b in backends) + ratio_head)
            for store_runs in (False, True):
                what = "claims/s" if not store_runs else "runs stored/s"  # +3 epochs, finish
                for p in counts:
                    rates = {
                        b: measure(url, args.runs, p, store_runs) for b, url in backends.items()
                    }
                    ratio = (
                        f"{rates['postgresql'] / rates['sqlite']:>12.2f}"
                        if "postgresql" in rates
                        else ""
                    )
                    label = f"{what}, {p} runner{'s' if p > 1 else ''}"
                    print(f"{label:<34}" + "".join(f"{r:>12.0f}" for r in rates.values()) + ratio)
        finally:
            if drop is not None:
                drop()


if __name__ == "__main__":
    main()
