"""``optbench run --executor ray`` on a local Ray cluster on loopback: every run stored once
with all its epochs and the local executor's numbers, a worker killed mid-pass retried from
the last checkpoint, a pass that fails for good marked failed, Ray optional."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from importlib.util import find_spec
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optbench.cli.app import app
from optbench.execute.ray import Relay

needs_ray = pytest.mark.skipif(find_spec("ray") is None, reason="needs pip install 'optbench[ray]'")

PLANS = """\
experiment: q
tasks: [digits-mlp]
epochs: 20
batch_size: 32
seeds: 2
plans:
  - (SGD(lr=0.05)+M) | (Adam+cos)
  - Adam
"""
EPOCHS = list(range(1, 21))


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of two CPUs on loopback, shared by this module's tests."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             configure_logging=False, log_to_driver=False)  # fmt: skip
    yield
    ray.shutdown()


def stored(db: str) -> dict[tuple, dict]:
    """Each stored run by (plan, seed): its row, its epochs' numbers."""
    from optbench.store.engine import open_store

    store = open_store(db, create=False)
    try:
        runs = store.run_rows(status=None)
        epochs = store.epoch_rows([r["id"] for r in runs])
    finally:
        store.close()
    out = {}
    for run in runs:
        mine = [e for e in epochs if e["run_id"] == run["id"]]
        numbers = [(e["epoch"], e["stage"], e["lr"], e["train_loss"], e["val_loss"], e["val_acc"])
                   for e in mine]  # fmt: skip
        out[(run["plan"], run["seed"])] = {"run": run, "epochs": numbers}
    return out


def same_results(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key]["epochs"] == b[key]["epochs"], key
        for column in ("status", "accuracy", "loss", "f1", "stage_starts", "seeds_per_pass"):
            assert a[key]["run"][column] == b[key]["run"][column], (key, column)


def descends_from_this_process(pid: int) -> bool:
    """Whether ``pid`` is a descendant of this process: a worker of the cluster this
    module started, never one of another test session's cluster on the same machine."""
    me = os.getpid()
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rpartition(")")[2].split()[1])  # the parent's pid
        if pid == me:
            return True
    return False


def pass_workers() -> list[int]:
    """The pids of the Ray worker processes of this module's cluster training a pass now."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if not cmdline.read_bytes().startswith(b"ray::optbench_pass"):
                continue
        except OSError:
            continue
        pid = int(cmdline.parent.name)
        if descends_from_this_process(pid):
            pids.append(pid)
    return pids


class Killer(threading.Thread):
    """SIGKILLs a worker training a pass, once, as soon as ``ready(workers)`` holds for
    the pids of the workers training passes now."""

    def __init__(self, ready) -> None:
        super().__init__(daemon=True)
        self.ready, self.killed, self.stop = ready, None, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            pids = pass_workers()
            if pids and self.ready(pids):
                os.kill(pids[0], signal.SIGKILL)
                self.killed = pids[0]
                return


@pytest.fixture(scope="module")
def local_results(tmp_path_factory):
    """The plan file trained by the local executor: what Ray must store too."""
    folder = tmp_path_factory.mktemp("local")
    plan = folder / "q.yaml"
    plan.write_text(PLANS)
    db = f"sqlite:///{folder / 'local.db'}"
    assert invoke("run", str(plan), "--db", db, "--device", "cpu").exit_code == 0
    return stored(db)


@needs_ray
def test_a_plan_file_on_ray_stores_every_run_once_with_the_local_numbers(
    tmp_path, cluster, local_results
):
    plan = tmp_path / "q.yaml"
    plan.write_text(PLANS)
    db = f"sqlite:///{tmp_path / 'ray.db'}"
    result = invoke("run", str(plan), "--db", db, "--device", "cpu", "--executor", "ray",
                    "--stack-size", "2")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "4 runs to train" in result.output and "4 done" in result.output
    runs = stored(db)
    assert len(runs) == 4
    for key, run in runs.items():
        assert run["run"]["status"] == "done" and run["run"]["attempts"] == 1, key
        assert [e[0] for e in run["epochs"]] == EPOCHS, key
    same_results(runs, local_results)
    assert not list((tmp_path / "ray.db.checkpoints").glob("*.pt"))
    again = invoke("run", str(plan), "--db", db, "--device", "cpu", "--executor", "ray")
    assert "0 runs to train, 4 already stored" in again.output


@needs_ray
def test_a_worker_killed_mid_pass_is_retried_from_the_last_checkpoint(
    tmp_path, cluster, local_results
):
    plan = tmp_path / "q.yaml"
    plan.write_text(PLANS)
    db = f"sqlite:///{tmp_path / 'ray.db'}"
    folder = tmp_path / "ray.db.checkpoints"

    def early_in_every_pass(workers: list[int]) -> bool:
        # every pass in flight has checkpointed an epoch and has at least half its epochs
        # ahead, one worker each: whichever is killed is mid-task, not one whose task is
        # returning (on a loaded machine one pass may end before the other starts)
        passes = []
        for index in folder.glob("*.json"):
            try:
                passes.append(json.loads(index.read_text())["epochs"])
            except (OSError, ValueError, KeyError):
                return False
        return len(passes) == len(workers) and all(
            min(epochs) >= 1 and max(epochs) <= len(EPOCHS) // 2 for epochs in passes
        )

    killer = Killer(early_in_every_pass)
    killer.start()
    try:
        result = invoke("run", str(plan), "--db", db, "--device", "cpu", "--executor", "ray")
    finally:
        killer.stop.set()
    assert killer.killed is not None, "the passes ended before a worker could be killed"
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "its Ray worker died" in result.output and "resumed at epoch" in result.output
    assert "4 done" in result.output
    runs = stored(db)
    assert len(runs) == 4
    for key, run in runs.items():
        assert run["run"]["status"] == "done" and run["run"]["attempts"] == 1, key
        assert [e[0] for e in run["epochs"]] == EPOCHS, key
    same_results(runs, local_results)  # resumed on the CPU: bit for bit


class Recorder:
    """A runner that records what the executor tells it."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def started(self, job, first_epoch):
        self.calls.append(("started", first_epoch))

    def epochs(self, job, records):
        self.calls += [("epoch", i, r.epoch) for i, r in records]

    def finished(self, job, index, record):
        self.calls.append(("finished", index, record.status.value, len(record.epochs),
                           record.error))  # fmt: skip

    def checkpoint(self, job, blob, epochs):
        self.calls.append(("checkpoint", tuple(epochs)))

    def done(self, job):
        self.calls.append(("done",))

    def lost(self, job, error):
        self.calls.append(("lost", str(error)))


def long_job(epochs: int = 200):
    """A pass of two stacked seeds on digits, long enough to be caught mid-way."""
    from optbench.execute.runner import Job
    from tests.training import specs

    runs = specs("(SGD(lr=0.05)+M) | (Adam+cos)", (0, 1), epochs, 32, task="digits-mlp")
    return Job(tuple(runs), (1, 2), None, True)


@needs_ray
def test_a_pass_taken_over_by_another_runner_is_stopped(cluster):
    from optbench.errors import ClaimLost
    from optbench.execute.ray import RayExecutor, connect

    class TakenOver(Recorder):
        def epochs(self, job, records):
            raise ClaimLost("run 1 was claimed by another runner")

    recorder = TakenOver()
    start = time.monotonic()
    RayExecutor(connect(), "cpu", 1).execute([long_job(epochs=2000)], recorder)
    assert time.monotonic() - start < 60  # not the 2000 epochs
    assert [c[0] for c in recorder.calls] == ["started", "lost"]


@needs_ray
def test_losing_the_relay_stops_the_command_with_one_error(cluster):
    import ray

    from optbench.errors import ClusterLost
    from optbench.execute.ray import RayExecutor, connect

    executor = RayExecutor(connect(), "cpu", 1)

    class RelayGone(Recorder):
        def started(self, job, first_epoch):
            super().started(job, first_epoch)
            ray.kill(executor._relay)  # as when the driver's node goes away

    recorder = RelayGone()
    with pytest.raises(ClusterLost, match="lost the Ray cluster"):
        executor.execute([long_job(epochs=2000)], recorder)
    kinds = {c[0] for c in recorder.calls}
    assert kinds <= {"started", "epoch", "checkpoint"}  # no run finished: they stay claimed


@needs_ray
def test_threads_no_node_has_are_refused_before_anything_is_written(tmp_path, cluster):
    plan = tmp_path / "q.yaml"
    plan.write_text(PLANS)
    db = tmp_path / "r.db"
    result = invoke("run", str(plan), "--db", str(db), "--executor", "ray", "--device", "cpu",
                    "--threads", "3")  # fmt: skip
    assert result.exit_code == 2
    assert "a pass needs 3 CPUs on one node" in result.output
    assert not db.exists()


@needs_ray
def test_a_pass_whose_retries_are_spent_marks_its_runs_failed(cluster):
    from optbench.execute.ray import RayExecutor, connect

    recorder = Recorder()
    executor = RayExecutor(connect(), "cpu", 1, max_retries=0)
    killer = Killer(lambda workers: any(c[0] == "checkpoint" for c in recorder.calls))
    killer.start()
    try:
        executor.execute([long_job()], recorder)
    finally:
        killer.stop.set()
    assert killer.killed is not None
    finished = [c for c in recorder.calls if c[0] == "finished"]
    assert [(c[1], c[2]) for c in finished] == [(0, "failed"), (1, "failed")]
    stored_epochs = sum(c[0] == "epoch" for c in recorder.calls) // 2
    assert stored_epochs >= 1 and all(c[3] == stored_epochs for c in finished)
    assert all("failed after 0 retries" in c[4] for c in finished)
    assert ("done",) not in recorder.calls  # its checkpoint stays: a later run resumes


def test_the_relay_passes_on_only_the_newest_attempts_messages():
    relay = Relay()
    assert relay.begin(7) == (1, None)
    assert relay.post(7, 1, ("epoch", "a"))
    relay.hold(7, b"checkpoint after epoch 1")
    assert relay.begin(7) == (2, b"checkpoint after epoch 1")  # a retry resumes from it
    assert not relay.post(7, 1, ("epoch", "late message of the dead attempt"))
    assert relay.post(7, 2, ("epoch", "b"))
    assert relay.drain() == [(7, 1, ("epoch", "a")), (7, 2, ("epoch", "b"))]
    assert relay.drain() == []
    relay.forget(7)
    assert not relay.post(7, 2, ("epoch", "after the pass ended"))


def test_a_stopped_pass_is_refused_its_messages_so_it_ends_itself():
    relay = Relay()
    assert relay.begin(1) == (1, None) and relay.begin(2) == (1, None)
    relay.stop(1)  # its runs were taken over
    assert not relay.post(1, 1, ("epoch", "after the stop"))
    assert relay.post(2, 1, ("epoch", "another pass goes on"))
    relay.stop()  # Ctrl-C: every pass
    assert not relay.post(2, 1, ("epoch", "after stopping all"))
    assert relay.drain() == [(2, 1, ("epoch", "another pass goes on"))]


@needs_ray
def test_a_pass_whose_relay_is_gone_stops_quietly(cluster):
    """The driver ended (its relay with it): the pass's next message stops it, no error
    for Ray to report as unhandled."""
    import ray

    from optbench.execute.ray import PassStopped, RelaySink

    relay = ray.remote(num_cpus=0)(Relay).remote()
    assert ray.get(relay.begin.remote(1)) == (1, None)
    sink = RelaySink(relay, 1, 1)
    sink.post(("started", 0, "here", 1))
    ray.kill(relay)
    deadline = time.monotonic() + 30
    while True:  # ray.kill returns before the actor is gone
        try:
            ray.get(relay.drain.remote())
        except ray.exceptions.RayActorError:
            break
        assert time.monotonic() < deadline, "the relay outlived ray.kill"
        time.sleep(0.05)
    with pytest.raises(PassStopped):
        sink.post(("epoch", [], b"", [1]))


@needs_ray
def test_ctrl_c_stops_the_passes_without_cancelling_their_tasks(cluster):
    import ray

    from optbench.execute.ray import RayExecutor, connect

    class Interrupted(Recorder):
        def epochs(self, job, records):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        RayExecutor(connect(), "cpu", 1).execute([long_job(epochs=2000)], Interrupted())
    deadline = time.monotonic() + 60
    while ray.available_resources().get("CPU", 0) < 2:  # the pass ended at its next epoch
        assert time.monotonic() < deadline, "the pass kept training after Ctrl-C"
        time.sleep(0.2)


def test_without_ray_the_ray_executor_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    plan = tmp_path / "q.yaml"
    plan.write_text(PLANS)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as if not installed
    result = CliRunner().invoke(app, ["run", str(plan), "--db", str(tmp_path / "r.db"),
                                      "--executor", "ray"])  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: --executor ray needs Ray, an optional extra: pip install 'optbench[ray]'"
    )
    assert not (tmp_path / "r.db").exists()


def test_executor_and_address_are_checked(tmp_path):
    plan = tmp_path / "q.yaml"
    plan.write_text(PLANS)
    wrong = invoke("run", str(plan), "--executor", "dask")
    assert wrong.exit_code == 2 and "local or ray" in wrong.output
    alone = invoke("run", str(plan), "--address", "head:6379")
    assert alone.exit_code == 2 and "--executor ray" in alone.output
    empty = invoke("run", str(plan), "--executor", "ray", "--address", " ")
    assert empty.exit_code == 2 and "is empty" in empty.output


@needs_ray
def test_a_bad_database_is_refused_before_ray_starts(tmp_path, monkeypatch):
    import optbench.execute.ray as executor

    def connect(address=None):
        raise AssertionError("connected to Ray before checking the database")

    monkeypatch.setattr(executor, "connect", connect)
    plan = tmp_path / "q.yaml"
    plan.write_text(PLANS)
    db = tmp_path / "notdb.txt"
    content = b"not a database, a text file\n" * 40
    db.write_bytes(content)
    result = invoke("run", str(plan), "--db", str(db), "--executor", "ray")
    assert result.exit_code == 2, result.output
    assert "not a SQLite database" in result.output
    assert db.read_bytes() == content


def test_a_dry_run_on_ray_imports_neither_ray_nor_torch(tmp_path, loaded_after):
    plan = tmp_path / "q.yaml"
    plan.write_text(PLANS)
    args = ["run", str(plan), "--dry-run", "--executor", "ray", "--db", str(tmp_path / "r.db")]
    code = f"from optbench.cli.app import app\napp({args!r})"
    assert loaded_after(code, names=("ray", "torch")) == []


@needs_ray
def test_an_address_where_no_cluster_listens_is_one_line_at_once(tmp_path):
    plan = tmp_path / "q.yaml"
    plan.write_text(PLANS)
    db = tmp_path / "r.db"
    result = invoke("run", str(plan), "--db", str(db), "--executor", "ray",
                    "--address", "127.0.0.1:1")  # fmt: skip
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot connect to the Ray cluster at 127.0.0.1:1")
    assert not db.exists()


@needs_ray
def test_an_address_where_a_web_server_listens_is_one_line_at_once(tmp_path):
    """Such as the dashboard's port 8265 given for the head's: Ray would retry for good."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        plan = tmp_path / "q.yaml"
        plan.write_text(PLANS)
        db = tmp_path / "r.db"
        address = f"127.0.0.1:{server.server_address[1]}"
        start = time.monotonic()
        result = invoke("run", str(plan), "--db", str(db), "--executor", "ray",
                        "--address", address)  # fmt: skip
    finally:
        server.shutdown()
    assert result.exit_code == 2
    assert f"cannot connect to the Ray cluster at {address}" in result.output
    assert "not a Ray head" in result.output
    assert time.monotonic() - start < 30
    assert not db.exists()


@needs_ray
def test_a_ray_head_passes_the_address_check(cluster):
    import ray

    from optbench.execute.ray import _check_reachable

    _check_reachable(ray.get_runtime_context().gcs_address)  # gRPC answers: no error


@needs_ray
def test_a_dataset_missing_on_the_workers_is_one_line_exit_3(tmp_path, cluster):
    import ray

    plan = tmp_path / "c.yaml"
    plan.write_text(PLANS.replace("digits-mlp", "cifar10-resnet20"))
    empty = tmp_path / "data"
    empty.mkdir()
    address = ray.get_runtime_context().gcs_address  # a running cluster: workers' own data
    result = invoke("run", str(plan), "--db", str(tmp_path / "r.db"), "--executor", "ray",
                    "--address", address, "--data-dir", str(empty), "--device", "cpu")  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "error:" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["show", "SGD | Adam"]])
def test_commands_that_do_not_train_never_import_ray(args, loaded_after):
    code = f"from optbench.cli.app import app\napp({args!r})"
    assert loaded_after(code, names=("ray",)) == []


@needs_ray
def test_ctrl_c_on_the_command_is_one_line_and_exit_130(tmp_path):
    """A user's Ctrl-C on ``optbench run --executor ray`` (its own local cluster)."""
    import subprocess

    plan = tmp_path / "q.yaml"
    plan.write_text(PLANS.replace("epochs: 20", "epochs: 3000"))
    db = tmp_path / "r.db"
    command = [sys.executable, "-m", "optbench", "run", str(plan), "--db", str(db),
               "--device", "cpu", "--executor", "ray"]  # fmt: skip

    # a test run started in the background inherits SIGINT ignored, as a user's shell
    # never leaves it: the command gets the default disposition, as typed in a terminal
    def like_a_terminal() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=like_a_terminal)  # fmt: skip
    lines = []
    for line in proc.stdout:  # wait for a pass to start, then let it train a while
        lines.append(line)
        if "training  digits-mlp" in line:
            break
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    try:
        rest, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, _ = proc.communicate()
        raise AssertionError(f"not ended 60 s after Ctrl-C:\n{''.join(lines)}{rest}") from None
    output = "".join(lines) + rest
    assert proc.returncode == 130, output
    assert "interrupted: finished epochs and runs are stored" in output
    assert "Traceback" not in output and "Error" not in output, output
    statuses = {row["run"]["status"] for row in stored(f"sqlite:///{db}").values()}
    assert statuses <= {"interrupted", "done"} and "interrupted" in statuses


@needs_ray
def test_ctrl_c_while_connecting_is_one_line_exit_130(tmp_path, monkeypatch):
    import optbench.execute.ray as executor

    def connect(address=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(executor, "connect", connect)
    plan = tmp_path / "q.yaml"
    plan.write_text(PLANS)
    result = invoke("run", str(plan), "--db", str(tmp_path / "r.db"), "--executor", "ray")
    assert result.exit_code == 130
    assert "interrupted while connecting to Ray: nothing was trained" in result.output
    assert not (tmp_path / "r.db").exists()
