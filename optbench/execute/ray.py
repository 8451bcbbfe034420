"""The Ray executor: the runner's passes as tasks on a Ray cluster.

``optbench run PLAN --executor ray [--address ADDR]`` keeps the runner (claims, leases,
the store) in this process, the *driver*, and trains each pass (``Job``) as one Ray task
on a worker, with a resource request: one GPU when the configuration's device is cuda,
and ``threads`` CPUs (at least one). Workers never open the database. A worker loads its
data itself: from its own ``$OPTBENCH_DATA`` when the driver joined an existing cluster,
else from the driver's ``--data-dir`` (a local cluster shares this machine's files); a
worker process keeps loaded datasets for the passes after.

Events. A pass reports to a ``Relay``, a small actor the driver owns (its mailbox): each
finished epoch (the epoch's records and the checkpoint after it, in one message), each
finished run (with any epoch records not sent yet). A worker waits for each message to be
taken, so everything a task reported is in the relay when the task ends. The driver takes
the relay's messages a few times a second and applies them in order through the
``Runner``: epochs are stored as they end, checkpoint files are written beside the
database, progress shows the whole cluster. The driver keeps as many passes in flight as
the cluster has room for and takes the next job (the runner claims lazily) as one ends.

Retries. Ray retries a task whose worker or node died (``max_retries``). The driver keeps
the newest checkpoint bytes of each pass in flight in the relay; a retried attempt asks
for them and resumes from there (on the CPU, bit for bit as if never stopped). Messages
of an attempt that a newer attempt replaced are dropped by the relay; epochs sent again
replace their stored rows, progress counts each epoch once, and a run is finished once.
A task that fails for good (its retries spent, or an error outside training) marks its
unfinished runs failed, keeping their checkpoint so a later ``optbench run`` resumes
them. An ``OptbenchError`` raised on a worker (a dataset missing there) stops the whole
command with that error, as the local executor does.

Stopping. The driver never cancels a task (``ray.cancel``): a cancel that crosses a task's
own end aborts the driver process inside Ray. It tells the relay instead, and the pass
stops at its next message: a pass whose runs another runner took over, every pass on
Ctrl-C or on an error (the runner releases the claims, after the epochs already reported
are stored). Passes whose relay is gone (the driver ended) stop at their next message too.

Ray is an optional extra: ``import_ray`` turns its absence into one line naming
``pip install 'optbench[ray]'``. Nothing imports this module unless ``--executor ray``.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from optbench.errors import BadInput, ClaimLost, ClusterLost, DeviceUnavailable, OptbenchError
from optbench.execute.runner import Job, Runner, serialize
from optbench.train.config import RunSpec
from optbench.train.engine import Sink
from optbench.train.record import EpochRecord, RunRecord, Status

EXTRA = "pip install 'optbench[ray]'"
MAX_RETRIES = 3  # attempts after the first, for a task whose worker or node died
POLL_S = 0.25  # how often the driver takes the relay's messages


def import_ray():
    """The ``ray`` module, or ``BadInput`` naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise BadInput(f"--executor ray needs Ray, an optional extra: {EXTRA}") from None
    return ray


# -- the cluster ------------------------------------------------------------------------------


@dataclass
class Cluster:
    """This process's connection to a Ray cluster.

    ``remote``: the cluster was already running (``--address`` or ``$RAY_ADDRESS``); its
    workers read their own data. ``owned``: this process connected (and, without an
    address, started a local cluster), so ``close`` disconnects (and stops it).
    """

    address: str | None
    remote: bool
    owned: bool

    def resources(self) -> dict[str, float]:
        return dict(import_ray().cluster_resources())

    def node_resources(self) -> list[dict[str, float]]:
        return [n["Resources"] for n in import_ray().nodes() if n.get("Alive")]

    def device(self, requested: str, threads: int = 1) -> str:
        """``auto`` -> cuda when any node of the cluster has a GPU, else cpu; ``cuda`` on a
        cluster without one is ``DeviceUnavailable``; ``BadInput`` when no node has what
        one pass needs (``pass_resources``)."""
        gpus = self.resources().get("GPU", 0)
        device = ("cuda" if gpus > 0 else "cpu") if requested == "auto" else requested
        if device == "cuda" and gpus <= 0:
            raise DeviceUnavailable(f"--device cuda: {self.describe()} has no GPU")
        if not any(fits(node, device, threads) for node in self.node_resources()):
            need = f"{max(1, threads)} CPUs" + (" and a GPU" if device == "cuda" else "")
            raise BadInput(f"a pass needs {need} on one node; no node of {self.describe()} "
                           "has that")  # fmt: skip
        return device

    def describe(self) -> str:
        where = f"at {self.address}" if self.address else "started on this machine"
        got = self.resources()
        gpus = f", {got['GPU']:g} GPUs" if got.get("GPU") else ""
        return f"the Ray cluster {where} ({got.get('CPU', 0):g} CPUs{gpus})"

    def close(self) -> None:
        if self.owned:
            import_ray().shutdown()
            self.owned = False


def pass_resources(device: str, threads: int) -> dict[str, float]:
    """What one pass asks of a node: ``threads`` CPUs (at least one), and a GPU on cuda."""
    need: dict[str, float] = {"num_cpus": max(1, threads)}
    if device == "cuda":
        need["num_gpus"] = 1
    return need


def fits(node: dict[str, float], device: str, threads: int) -> int:
    """How many passes a node with resources ``node`` runs at once."""
    n = int(node.get("CPU", 0) // max(1, threads))
    return min(n, int(node.get("GPU", 0))) if device == "cuda" else n


def connect(address: str | None = None) -> Cluster:
    """Connect to the Ray cluster whose head is at ``address`` (``host:port``, from a node
    of that cluster); without one, to ``$RAY_ADDRESS`` when set, else start a new local
    cluster with this machine's CPUs and GPUs. A process already connected stays so. An
    address where nothing listens is ``BadInput`` at once."""
    ray = import_ray()
    target = address or os.environ.get("RAY_ADDRESS")
    if target:
        _check_reachable(target)
    if ray.is_initialized():
        return Cluster(target, bool(target), owned=False)
    try:
        if address:
            ray.init(address=address, configure_logging=False)
        else:
            # "local": a new cluster, never one that `ray start` left on this machine
            ray.init(address="local", include_dashboard=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:
        where = f"the Ray cluster at {target}" if target else "a local Ray cluster"
        hint = (
            "; a cluster started with `ray start` checks a token: export RAY_AUTH_MODE=token "
            "and RAY_AUTH_TOKEN (the head's ~/.ray/auth_token)"
            if target and not os.environ.get("RAY_AUTH_TOKEN")
            else ""
        )
        raise BadInput(f"cannot connect to {where}: {_first_line(e)}{hint}") from None
    return Cluster(target, bool(target), owned=True)


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
SETTINGS_FRAME = 4  # the frame type an HTTP/2 server sends first


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """``BadInput`` at once when nothing listens at a ``host:port`` address, or something
    that does not speak gRPC (a Ray head's port does; a web server, such as Ray's own
    dashboard on 8265, does not): Ray itself keeps retrying either for good.

    The check sends HTTP/2's client preface and an empty SETTINGS frame and expects the
    server's SETTINGS frame back (RFC 9113 §3.4). With ``RAY_USE_TLS`` set the port
    speaks TLS first, and only the connection is checked."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", "local" and the like: Ray resolves them
    where = f"the Ray cluster at {address}"
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s) as s:
            if os.environ.get("RAY_USE_TLS", "0") not in ("0", ""):
                return
            s.sendall(HTTP2_PREFACE)
            header = s.recv(9)
    except TimeoutError:
        header = b""
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise BadInput(f"cannot connect to {where}: {reason}") from None
    if len(header) < 4 or header[3] != SETTINGS_FRAME:
        raise BadInput(f"cannot connect to {where}: what listens there is not a Ray head "
                       "(it does not answer gRPC; the head's port is ray start's --port, "
                       "6379 by default)")  # fmt: skip


# -- the worker side ---------------------------------------------------------------------------

_CACHE: dict[str, Any] = {}  # datasets this worker process has loaded, kept for later passes


def _data_dir(driver_data_dir: str | None, own_data: bool) -> str | None:
    if own_data and os.environ.get("OPTBENCH_DATA"):
        return os.environ["OPTBENCH_DATA"]
    return driver_data_dir


class PassStopped(Exception):
    """The driver stopped this pass (raised on the worker, ends its task quietly)."""


class RelaySink(Sink):
    """Reports a pass running on a worker to the relay: one message per finished epoch
    (its records and the checkpoint after it) and one per finished run. Each message is
    taken before training goes on."""

    def __init__(self, relay, job: int, attempt: int) -> None:
        self.relay, self.job, self.attempt = relay, job, attempt
        self.pending: list[tuple[int, EpochRecord]] = []

    def post(self, event: tuple) -> None:
        """Send ``event``; raises ``PassStopped`` when the driver no longer wants this
        attempt (it stopped the pass, a newer attempt replaced this one, or the relay is
        gone with the driver)."""
        import ray

        try:
            taken = ray.get(self.relay.post.remote(self.job, self.attempt, event))
        except ray.exceptions.RayActorError:
            raise PassStopped from None
        if not taken:
            raise PassStopped

    def _take(self) -> list[tuple[int, EpochRecord]]:
        pending, self.pending = self.pending, []
        return pending

    def epoch(self, index: int, record: EpochRecord) -> None:
        self.pending.append((index, record))

    def finished(self, index: int, record: RunRecord) -> None:
        self.post(("finished", self._take(), index, record))

    def checkpoint(self, state) -> None:
        snapshot = state()
        epochs = [len(r) for r in snapshot["records"]]
        self.post(("epoch", self._take(), serialize(snapshot), epochs))


def optbench_pass(
    relay, job: int, specs: Sequence[RunSpec], data_dir: str | None, own_data: bool
) -> int:
    """One pass on a worker (a Ray task): resume from the checkpoint the driver holds for
    it, if any, train, report to ``relay``. Returns the attempt number (1 = the first; 0
    when the driver was gone before the pass began). A pass the driver stopped ends here,
    quietly (``PassStopped``)."""
    import ray
    import torch

    from optbench.execute.local import problem_for
    from optbench.train.engine import train_pass

    try:
        attempt, blob = ray.get(relay.begin.remote(job))
    except ray.exceptions.RayActorError:  # the relay is gone with the driver
        return 0
    resume = None if blob is None else torch.load(io.BytesIO(blob), weights_only=True)
    config = specs[0].config
    torch.set_num_threads(config.threads)
    problem = problem_for(specs[0].task, config.device, _data_dir(data_dir, own_data), _CACHE)
    first = 0 if resume is None else min(len(r) for r in resume["records"]) + 1
    sink = RelaySink(relay, job, attempt)
    try:
        sink.post(("started", first, socket.gethostname(), os.getpid()))
        train_pass(list(specs), problem, sink=sink, resume=resume)
    except PassStopped:
        pass
    return attempt


def stack_width(
    task_name: str, batch_size: int, device: str, data_dir: str | None, own_data: bool,
    sharing: int,
) -> int:  # fmt: skip
    """How many seeds of ``task_name`` one pass stacks on this worker's node: as many as
    fit in half of the device's free memory shared by ``sharing`` passes at once (by
    ``local.seed_bytes``), at most ``local.STACK_CAP`` (a Ray task)."""
    import torch

    from optbench.execute.local import MEMORY_SHARE, STACK_CAP, free_bytes, problem_for, seed_bytes
    from optbench.tasks.registry import get_task

    if get_task(task_name).kind == "toy":
        return 1
    problem = problem_for(task_name, device, _data_dir(data_dir, own_data), _CACHE)
    data = problem.data
    need = seed_bytes(problem.build_one, data.input_shape, data.num_classes,
                      data.x_train.dtype, batch_size)  # fmt: skip
    free = free_bytes(torch.device(device)) / max(1, sharing)
    return max(1, min(STACK_CAP, int(MEMORY_SHARE * free // need)))


class Relay:
    """The driver's mailbox on the cluster (a Ray actor the driver owns).

    Per pass in flight: the attempt now running (``begin`` starts one and hands it the
    newest checkpoint the driver holds), the messages of that attempt, in order, until
    the driver takes them (``drain``). Messages of a replaced attempt, or of a pass the
    driver stopped (``stop``), are refused: ``post`` answers False and the pass stops.
    """

    def __init__(self) -> None:
        self.events: list[tuple[int, int, tuple]] = []
        self.attempt: dict[int, int] = {}
        self.held: dict[int, bytes] = {}
        self.stopped: set[int] = set()
        self.stop_all = False

    def hold(self, job: int, blob: bytes) -> None:
        self.held[job] = blob

    def begin(self, job: int) -> tuple[int, bytes | None]:
        self.attempt[job] = self.attempt.get(job, 0) + 1
        return self.attempt[job], self.held.get(job)

    def post(self, job: int, attempt: int, event: tuple) -> bool:
        if self.stop_all or job in self.stopped or self.attempt.get(job) != attempt:
            return False
        self.events.append((job, attempt, event))
        return True

    def drain(self) -> list[tuple[int, int, tuple]]:
        events, self.events = self.events, []
        return events

    def forget(self, job: int) -> None:
        self.attempt.pop(job, None)
        self.held.pop(job, None)
        self.stopped.discard(job)

    def stop(self, job: int | None = None) -> None:
        """Refuse the messages of pass ``job`` from now on (of every pass when None)."""
        if job is None:
            self.stop_all = True
        else:
            self.stopped.add(job)


# -- the driver side ---------------------------------------------------------------------------


@dataclass
class Flight:
    """A pass in flight: its job, its task and what it has reported so far."""

    number: int
    job: Job
    ref: Any = None
    records: list[list[EpochRecord]] = field(default_factory=list)  # per run, its epochs
    finished: set[int] = field(default_factory=set)
    started: bool = False
    lost: bool = False


class RayExecutor:
    """Trains the runner's jobs as Ray tasks on ``cluster`` (see the module docstring)."""

    def __init__(self, cluster: Cluster, device: str, threads: int, data_dir: str | None = None,
                 stack_size: int | None = None, max_retries: int = MAX_RETRIES,
                 retried: Callable[[Job, str], None] | None = None) -> None:  # fmt: skip
        self.ray = import_ray()
        self.on_retry = retried or (lambda job, what: None)  # what: says why, where from
        self.cluster, self.device, self.threads = cluster, device, threads
        self.data_dir, self.stack_size, self.max_retries = data_dir, stack_size, max_retries
        self.widths: dict[tuple[str, int], int] = {}
        self.retries = 0  # attempts after a worker or node died, over all passes
        self._flights: dict[int, Flight] = {}  # by number, until settled
        self._running: dict[Any, Flight] = {}  # by task reference
        self._submitted = 0
        self._relay = None
        self._runner: Runner | None = None
        need = pass_resources(device, threads)
        self._task = self.ray.remote(**need, max_retries=max_retries)(optbench_pass)

    # -- resources ------------------------------------------------------------------------

    def slots(self) -> int:
        """How many passes the cluster runs at once (at least one)."""
        nodes = self.cluster.node_resources()
        return max(1, sum(fits(n, self.device, self.threads) for n in nodes))

    def width(self, task_name: str, batch_size: int) -> int:
        """Seeds per stacked pass: ``--stack-size`` when given, else measured on a worker
        (``stack_width``), once per task and batch size."""
        if self.stack_size is not None:
            return self.stack_size
        key = (task_name, batch_size)
        if key not in self.widths:
            nodes = self.cluster.node_resources()
            sharing = max([fits(n, self.device, self.threads) for n in nodes] or [1])
            options = {"num_gpus": 1} if self.device == "cuda" else {"num_cpus": 0}
            ref = self.ray.remote(**options)(stack_width).remote(
                task_name, batch_size, self.device, self.data_dir, self.cluster.remote, sharing
            )
            self.widths[key] = self._wait_for(ref)
        return self.widths[key]

    # -- training -------------------------------------------------------------------------

    def execute(self, jobs: Iterable[Job], runner: Runner) -> None:
        """Train every job, keeping the cluster full; returns when all have ended."""
        ray = self.ray
        self.cluster.device(self.device, self.threads)  # a node can run a pass
        self._runner = runner
        self._relay = ray.remote(num_cpus=0)(Relay).options(**self._beside_driver()).remote()
        try:
            for job in jobs:  # the runner claims each job's runs as it is taken
                self._submit(job)
                while len(self._running) >= self.slots():
                    self._pump(POLL_S)
            while self._running:
                self._pump(POLL_S)
        except KeyboardInterrupt:
            self._stop_all()
            # store what the passes reported before the interrupt; the interrupt is what
            # the user sees, whatever goes wrong here
            with contextlib.suppress(Exception):
                self._apply(self._ask_relay("drain"))
            raise
        except BaseException:
            self._stop_all()
            raise
        finally:
            with contextlib.suppress(Exception):  # gone with its node
                ray.kill(self._relay)
            self._relay, self._runner = None, None
            self._flights.clear()

    def _beside_driver(self) -> dict[str, Any]:
        """The relay lives on the driver's node: it dies only with the driver."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        node = self.ray.get_runtime_context().get_node_id()
        return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=False)}

    def _submit(self, job: Job) -> None:
        number, self._submitted = self._submitted, self._submitted + 1
        flight = Flight(number, job, records=[[] for _ in job.specs])
        resume = job.load_resume()
        if resume is not None:
            flight.records = [[EpochRecord(**r) for r in recs] for recs in resume["records"]]
            self._ask_relay("hold", number, serialize(resume))
        own_data = self.cluster.remote
        flight.ref = self._task.remote(self._relay, number, job.specs, self.data_dir, own_data)
        self._flights[number] = flight
        self._running[flight.ref] = flight

    def _pump(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a pass to end, apply every message the
        relay holds, then settle the passes that ended."""
        ray = self.ray
        refs = list(self._running)
        ready: list = []
        if refs:
            ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
            if ready:
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        else:
            time.sleep(timeout)
        self._apply(self._ask_relay("drain"))
        for ref in ready:
            self._settle(self._running.pop(ref))

    def _ask_relay(self, method: str, *args: Any) -> Any:
        try:
            return self.ray.get(getattr(self._relay, method).remote(*args))
        except self.ray.exceptions.RayError as e:  # the relay's node, the driver's, went away
            raise ClusterLost(f"lost the Ray cluster: {_first_line(e)}") from None

    def _wait_for(self, ref) -> Any:
        """``ray.get(ref)``, applying the passes' messages while it waits."""
        if self._relay is not None:
            while not self.ray.wait([ref], timeout=0)[0]:
                self._pump(POLL_S)
        return self._get(ref)

    def _get(self, ref) -> Any:
        """``ray.get``, re-raising an ``OptbenchError`` a worker raised as itself."""
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as e:
            if isinstance(e.cause, OptbenchError):
                raise e.cause from None
            raise

    def _apply(self, events: Sequence[tuple[int, int, tuple]]) -> None:
        runner = self._runner
        for number, attempt, event in events:
            flight = self._flights.get(number)
            if flight is None or flight.lost:
                continue
            job, kind = flight.job, event[0]
            try:
                if kind == "started":
                    if attempt > 1:
                        self.retries += 1
                        self.on_retry(job, _retried(attempt, *event[1:]))
                    if not flight.started:
                        flight.started = True
                        runner.started(job, event[1])
                elif kind == "epoch":
                    _, records, blob, epochs = event
                    self._epochs(flight, records)
                    runner.checkpoint(job, blob, epochs)
                    self._relay.hold.remote(number, blob)
                elif kind == "finished":
                    _, records, index, record = event
                    self._epochs(flight, records)
                    self._finish(flight, index, record)
            except ClaimLost as lost:
                flight.lost = True
                runner.lost(job, lost)
                self._relay.stop.remote(number)  # the pass stops at its next message

    def _epochs(self, flight: Flight, records: Sequence[tuple[int, EpochRecord]]) -> None:
        """Store the epochs not stored yet (an attempt resumed from an older checkpoint
        sends some again)."""
        new = []
        for index, record in records:
            mine = flight.records[index]
            if index in flight.finished or record.epoch <= len(mine):
                continue
            mine.append(record)
            new.append((index, record))
        if new:
            self._runner.epochs(flight.job, new)

    def _finish(self, flight: Flight, index: int, record: RunRecord) -> None:
        if index not in flight.finished:
            flight.finished.add(index)
            self._runner.finished(flight.job, index, record)

    def _settle(self, flight: Flight) -> None:
        """A pass's task ended: done, or failed for good (its unfinished runs fail)."""
        ray = self.ray
        self._relay.forget.remote(flight.number)
        del self._flights[flight.number]
        if flight.lost:
            return
        try:
            self._get(flight.ref)
        except ray.exceptions.RayError as e:
            reason = _first_line(e)
            error = (
                f"the pass's Ray task failed after {self.max_retries} retries: {reason}"
                if isinstance(e, _died(ray))
                else f"the pass's Ray task failed: {reason}"
            )
            self._fail_rest(flight, error)
            return
        missing = [i for i in range(len(flight.job.specs)) if i not in flight.finished]
        if missing:
            self._fail_rest(flight, "the pass ended without reporting this run")
            return
        self._runner.done(flight.job)

    def _fail_rest(self, flight: Flight, error: str) -> None:
        from optbench.train.engine import versions

        job = flight.job
        for index, spec in enumerate(job.specs):
            if index in flight.finished:
                continue
            record = RunRecord(
                plan=spec.plan, task=spec.task, seed=spec.seed, config_hash=spec.config.hash,
                status=Status.FAILED, device=spec.config.device, versions=versions(),
                epochs=tuple(flight.records[index]), error=error,
                seeds_per_pass=len(job.specs),
            )  # fmt: skip
            try:
                self._finish(flight, index, record)
            except ClaimLost as lost:
                flight.lost = True
                self._runner.lost(job, lost)
                return

    def _stop_all(self) -> None:
        """Every pass stops at its next message (or when the relay is killed after)."""
        with contextlib.suppress(Exception):  # the relay is gone: the passes stop anyway
            self.ray.get(self._relay.stop.remote(), timeout=POLL_S * 20)
        self._running.clear()


def _died(ray) -> tuple[type[BaseException], ...]:
    """Ray's errors for a task whose worker or node died (Ray retried it)."""
    exc = ray.exceptions
    names = ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "LocalRayletDiedError")
    return tuple(getattr(exc, n) for n in names if hasattr(exc, n))


def _retried(attempt: int, first: int, host: str, pid: int) -> str:
    where = f"resumed at epoch {first}" if first > 1 else "started over"
    return f"its Ray worker died; attempt {attempt} {where} on {host} (pid {pid})"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
