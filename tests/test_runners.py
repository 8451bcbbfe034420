"""``optbench run`` as users run it: several runners on one database train each run once,
a run killed with SIGKILL resumes from its last stored epoch, Ctrl-C keeps what finished."""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optbench.store.engine import open_store

OPTBENCH = [sys.executable, "-m", "optbench"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def plan_file(folder: Path, plans: list[str], seeds: int, epochs: int, task="iris-mlp") -> Path:
    path = folder / "plan.yaml"
    listed = "".join(f"  - {p}\n" for p in plans)
    path.write_text(
        f"experiment: runners\ntasks: [{task}]\nepochs: {epochs}\nbatch_size: 32\n"
        f"seeds: {seeds}\nplans:\n{listed}"
    )
    return path


def start(plan: Path, db: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([*OPTBENCH, "run", str(plan), "--db", db, "--device", "cpu", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=ENV)  # fmt: skip


def runs_of(db: str) -> list[dict]:
    store = open_store(db, create=False)
    try:
        return store.run_rows(status=None)
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_four_runners_on_one_database_train_every_run_once(tmp_path, backend, request):
    if backend == "postgresql":
        db = request.getfixturevalue("postgres_schema")
    else:
        db = f"sqlite:///{tmp_path / 'shared.db'}"
    plans = ["SGD(lr=0.1)", "Adam", "SGD(lr=0.1)+M", "Adam+cos", "SGD(lr=0.05)+M+d", "RMSprop"]
    plan = plan_file(tmp_path, plans, seeds=3, epochs=3)
    runners = [start(plan, db, "--no-stack") for _ in range(4)]
    outputs = [r.communicate(timeout=600)[0] for r in runners]
    for runner, output in zip(runners, outputs, strict=True):
        assert runner.returncode == 0, output
        assert "Traceback" not in output, output
    rows = runs_of(db)
    assert len(rows) == 18
    assert all(r["status"] == "done" for r in rows)
    assert all(r["attempts"] == 1 for r in rows), [r["attempts"] for r in rows]
    trained = sum(int(o.split("trained ")[1].split(" runs")[0]) for o in outputs)
    assert trained == 18
    # compare and the gate read what the runners stored
    shown = subprocess.run([*OPTBENCH, "compare", "--db", db, "--format", "csv"],
                           capture_output=True, text=True, env=ENV, check=True).stdout  # fmt: skip
    table = list(csv.DictReader(io.StringIO(shown)))
    assert len(table) == 6 and all(row["done"] == "3" for row in table)
    baseline = tmp_path / "baseline.json"
    subprocess.run([*OPTBENCH, "baseline", "save", "b", "--db", db, "--json", str(baseline)],
                   capture_output=True, text=True, env=ENV, check=True)  # fmt: skip
    gate = subprocess.run([*OPTBENCH, "check", "--baseline", str(baseline), "--db", db],
                          capture_output=True, text=True, env=ENV)  # fmt: skip
    assert gate.returncode == 0, gate.stdout + gate.stderr


def test_a_run_killed_mid_way_resumes_from_its_last_stored_epoch(tmp_path):
    epochs = 300
    plan = plan_file(tmp_path, ["SGD(lr=0.05)+M"], seeds=1, epochs=epochs)
    killed = f"sqlite:///{tmp_path / 'killed.db'}"
    runner = start(plan, killed)
    stored = 0
    deadline = time.monotonic() + 300
    while stored < 40 and time.monotonic() < deadline:
        time.sleep(0.2)
        if (tmp_path / "killed.db").exists():
            with sqlite3.connect(tmp_path / "killed.db") as conn:
                try:
                    stored = conn.execute("SELECT count(*) FROM epochs").fetchone()[0]
                except sqlite3.OperationalError:
                    stored = 0
    assert runner.poll() is None, "the run ended before it could be killed"
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    (row,) = runs_of(killed)
    assert row["status"] == "running" and 40 <= stored < epochs

    again = subprocess.run([*OPTBENCH, "run", str(plan), "--db", killed, "--device", "cpu"],
                           capture_output=True, text=True, env=ENV,
                           timeout=600)  # fmt: skip
    whole = f"sqlite:///{tmp_path / 'whole.db'}"
    subprocess.run([*OPTBENCH, "run", str(plan), "--db", whole, "--device", "cpu"], check=True,
                   capture_output=True, env=ENV, timeout=600)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resumed after epoch" in again.stdout
    (resumed,), (uninterrupted,) = runs_of(killed), runs_of(whole)
    assert resumed["status"] == uninterrupted["status"] == "done"
    for column in ("accuracy", "loss", "f1"):
        assert resumed[column] == uninterrupted[column]
    store_a, store_b = open_store(killed, create=False), open_store(whole, create=False)
    try:
        a = store_a.epoch_rows([resumed["id"]], columns=["epoch", "val_loss", "lr"])
        b = store_b.epoch_rows([uninterrupted["id"]], columns=["epoch", "val_loss", "lr"])
    finally:
        store_a.close()
        store_b.close()
    assert len(a) == epochs
    assert [(e["epoch"], e["val_loss"], e["lr"]) for e in a] == [
        (e["epoch"], e["val_loss"], e["lr"]) for e in b
    ]
    assert not list(tmp_path.glob("killed.db.checkpoints/*.pt")), "checkpoints outlive the run"


def test_a_runner_takes_back_the_runs_of_a_runner_that_died_while_it_trained(tmp_path):
    import socket
    import threading

    from optbench.cli.run_command import RunOptions, run_plan_file
    from optbench.execute.planning import expand
    from optbench.plan.planfile import load_plan_file
    from optbench.train.config import RunConfig

    plan = plan_file(tmp_path, ["SGD(lr=0.1)", "Adam", "SGD(lr=0.1)+M"], seeds=2, epochs=30)
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    # another runner, alive for now, holds the first plan's runs
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner = f"{socket.gethostname()}:{other.pid}:other"
    planned = expand(load_plan_file(plan), ["iris-mlp"], 2, RunConfig(30, 32))
    store = open_store(db)
    states = store.plan_runs(
        "runners", [p.spec for p in planned], labels=[p.label for p in planned]
    )
    first = [s.id for s, p in zip(states, planned, strict=True) if p.label == "SGD(lr=0.1)"]
    assert store.claim(first, owner) == sorted(first)
    store.close()
    # it dies while this runner trains the other plans
    threading.Timer(0.5, other.kill).start()
    code = run_plan_file(plan, RunOptions(db=db, device="cpu"))
    other.wait()
    assert code == 0
    rows = runs_of(db)
    assert all(r["status"] == "done" for r in rows), [(r["id"], r["status"]) for r in rows]
    assert {r["owner"] for r in rows if r["id"] in first} != {owner}
