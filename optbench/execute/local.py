"""The local executor: train each pass in this process, one after another.

Datasets are loaded once per process and kept on the training device; torch's CPU thread
count is set from the configuration before the first pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from optbench.execute.runner import Job, Runner, serialize
from optbench.tasks.registry import build_augment, build_loader, build_model, get_task
from optbench.train.engine import Sink
from optbench.train.record import EpochRecord, RunRecord


def problem_for(task_name: str, device: str, data_dir: str | None, cache: dict[str, Any]):
    """The engine's problem for a task: its data on ``device`` (loaded once per process,
    kept in ``cache``) and its model builder; a toy problem for a toy task."""
    import torch

    from optbench.train.problems import Classification, ToyObjective

    task = get_task(task_name)
    if task.kind == "toy":
        from optbench.tasks.toy import get_problem

        return ToyObjective(get_problem(task.dataset).build)
    key = f"{task.dataset}@{device}"
    if key not in cache:
        cache[key] = build_loader(task)(data_dir).to(torch.device(device))
    return Classification(cache[key], build_model(task), build_augment(task))


def seed_bytes(build, input_shape, num_classes: int, dtype, batch: int = 256) -> int:
    """A generous estimate of the memory one more stacked seed takes: its parameters ten
    times over (weights, gradients, optimizer and averaging states, a checkpoint copy)
    and three times the activations of a forward pass on ``batch`` examples, measured on
    a forward pass of two examples on the CPU."""
    import torch

    model = build(input_shape, num_classes)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    sizes: list[int] = []

    def hook(module, args, out) -> None:
        if isinstance(out, torch.Tensor):
            sizes.append(out.numel() * out.element_size())

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros((2, *input_shape), dtype=dtype))
    finally:
        for h in handles:
            h.remove()
    return 10 * params + 3 * sum(sizes) * batch // 2


def free_bytes(device) -> int:
    """Free memory of ``device``: CUDA's free memory, or the machine's available memory."""
    import torch

    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 2**30


def check_groups(planned, device: str, data_dir: str | None, cache: dict[str, Any]) -> None:
    """Every parameter group of every plan selects its part of the task's model, the parts
    disjoint and covering it: ``BadInput`` naming the plan and the task, before anything
    is written. The models are built on torch's meta device (no memory, no compute); a
    task whose data is not on this machine (a cluster's workers have it) is not checked."""
    import torch

    from optbench.errors import BadInput, DataMissing
    from optbench.plan.parser import parse_plan
    from optbench.train.groups import partition

    seen: dict[str, list] = {}
    for item in planned:
        spec = item.spec
        stages = [s for s in parse_plan(spec.plan).stages if any(c.group for c in s.calls)]
        if not stages:
            continue
        if spec.task not in seen:
            task = get_task(spec.task)
            try:
                problem = problem_for(spec.task, device, data_dir, cache)
            except DataMissing:
                seen[spec.task] = []
                continue
            with torch.device("meta"):
                if task.kind == "toy":
                    model = problem.build_one()
                else:
                    model = problem.build_one(problem.data.input_shape, problem.data.num_classes)
            seen[spec.task] = list(model.named_parameters())
        named = seen[spec.task]
        if not named:
            continue
        for stage in stages:
            ge = [c for c in stage.calls if c.group is not None]
            try:
                partition(named, [c.group for c in ge])
            except BadInput as error:
                raise BadInput(f"plan {item.label!r} on {spec.task}: {error}") from None


class RunnerSink(Sink):
    """Reports one pass to the runner: a finished epoch's records go to the store before
    the epoch's checkpoint is written, so a stored epoch is never ahead of what a resumed
    run will redo."""

    def __init__(self, runner: Runner, job: Job) -> None:
        self.runner, self.job = runner, job
        self.pending: list[tuple[int, EpochRecord]] = []

    def epoch(self, index: int, record: EpochRecord) -> None:
        self.pending.append((index, record))

    def flush(self) -> None:
        if self.pending:
            pending, self.pending = self.pending, []
            self.runner.epochs(self.job, pending)

    def finished(self, index: int, record: RunRecord) -> None:
        self.flush()
        self.runner.finished(self.job, index, record)

    def checkpoint(self, state) -> None:
        self.flush()
        snapshot = state()
        epochs = [len(r) for r in snapshot["records"]]
        self.runner.checkpoint(self.job, serialize(snapshot), epochs)


STACK_CAP = 32  # seeds per pass at most, unless --stack-size says otherwise
MEMORY_SHARE = 0.5  # of the device's free memory a pass may plan to take


class LocalExecutor:
    """Trains every job in this process, in order."""

    def __init__(self, device: str, threads: int, data_dir: str | None = None,
                 stack_size: int | None = None) -> None:  # fmt: skip
        self.device, self.threads, self.data_dir = device, threads, data_dir
        self.stack_size = stack_size
        self.cache: dict[str, Any] = {}

    def prepare(self, tasks) -> None:
        """Load every task's data now (kept for the passes): a corrupt file is one error
        before anything is written."""
        for task in sorted(tasks):
            problem_for(task, self.device, self.data_dir, self.cache)

    def width(self, task_name: str, batch_size: int) -> int:
        """How many seeds of ``task_name`` one pass stacks: ``--stack-size`` when given,
        else as many as fit in half the device's free memory by ``seed_bytes``, at most
        ``STACK_CAP``."""
        if self.stack_size is not None:
            return self.stack_size
        task = get_task(task_name)
        if task.kind == "toy":
            return 1
        import torch

        problem = problem_for(task_name, self.device, self.data_dir, self.cache)
        data = problem.data
        need = seed_bytes(problem.build_one, data.input_shape, data.num_classes,
                          data.x_train.dtype, batch_size)  # fmt: skip
        return max(
            1, min(STACK_CAP, int(MEMORY_SHARE * free_bytes(torch.device(self.device)) // need))
        )

    def execute(self, jobs: Iterable[Job], runner: Runner) -> None:
        import torch

        from optbench.errors import ClaimLost, OptbenchError
        from optbench.train.engine import train_pass

        torch.set_num_threads(self.threads)
        for job in jobs:
            problem = problem_for(job.specs[0].task, self.device, self.data_dir, self.cache)
            resume = job.load_resume()
            first = 0 if resume is None else min(len(r) for r in resume["records"]) + 1
            runner.started(job, first)
            sink = RunnerSink(runner, job)
            try:
                train_pass(job.specs, problem, sink=sink, resume=resume)
            except ClaimLost as lost:
                runner.lost(job, lost)
                continue
            except OptbenchError:
                raise
            runner.done(job)
