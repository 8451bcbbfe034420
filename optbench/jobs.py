"""From a plan file to stored runs: expand plans x tasks x seeds, skip what is done,
train the rest and store each record as it finishes.

This is where training meets storage; the trainer itself never sees the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from optbench.errors import DeviceUnavailable
from optbench.plan.canonical import format_plan, resolve
from optbench.plan.model import Plan
from optbench.plan.planfile import PlanFile
from optbench.store.repository import Store
from optbench.tasks.registry import DATASETS, get_task
from optbench.train.config import RunConfig
from optbench.train.record import RunRecord, Status


@dataclass(frozen=True)
class Job:
    plan: Plan  # resolved: every hyperparameter filled in
    display: str  # the canonical text as the user wrote it (defaults not spelled out)
    task: str
    seed: int

    @property
    def identity(self) -> str:
        return format_plan(self.plan)


@dataclass
class Summary:
    trained: list[RunRecord] = field(default_factory=list)
    skipped: int = 0

    def count(self, status: Status) -> int:
        return sum(r.status is status for r in self.trained)


def expand(plan_file: PlanFile, tasks: Sequence[str], seeds: int) -> list[Job]:
    """Every (plan, task, seed) of a plan file, in the order they will train."""
    for task in tasks:
        get_task(task)  # an unknown task fails before anything trains
    return [
        Job(resolve(plan, plan_file.defaults), format_plan(plan), task, seed)
        for task in tasks
        for plan in plan_file.plans
        for seed in range(seeds)
    ]


def resolve_device(requested: str) -> str:
    """``auto`` -> cuda when a CUDA device works, else cpu; ``cuda`` without one is an error."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("--device cuda: no CUDA device is available on this machine")
    return requested


def missing_data(jobs: Sequence[Job], data_dir: str | None) -> dict[str, str]:
    """Datasets the jobs need that are not found: name -> how to get them."""
    needed = {get_task(j.task).dataset for j in jobs}
    return {d: DATASETS[d].hint for d in sorted(needed) if not DATASETS[d].available(data_dir)}


def pending(store: Store, jobs: Sequence[Job], config_hash: str) -> list[Job]:
    return [
        j
        for j in jobs
        if store.run_status(j.identity, j.task, j.seed, config_hash) is not Status.DONE
    ]


def execute(
    store: Store,
    experiment: str,
    jobs: Sequence[Job],
    config: RunConfig,
    data_dir: str | None,
    on_start: Callable[[Job], None] = lambda job: None,
    on_epoch: Callable = lambda record: None,
    on_done: Callable[[Job, RunRecord], None] = lambda job, record: None,
) -> Iterator[RunRecord]:
    """Train each job and store its record; a Ctrl-C marks the current run interrupted."""
    from optbench.tasks.registry import build_augment, build_loader, build_model
    from optbench.train.loop import train_run

    loaded: dict[str, object] = {}
    for job in jobs:
        task = get_task(job.task)
        if task.kind == "classify" and task.dataset not in loaded:
            import torch

            loaded[task.dataset] = build_loader(task)(data_dir).to(torch.device(config.device))
        key = (job.identity, job.task, job.seed, config.hash)
        if store.run_status(*key) is Status.DONE:  # another process finished it meanwhile
            store.link(experiment, store.find_run(*key))
            continue
        run_id = store.start_run(
            experiment, job.identity, job.task, job.seed, config.hash, config.device
        )
        on_start(job)
        try:
            if task.kind == "toy":
                from optbench.train.toy import toy_record

                record = toy_record(job.plan, job.task, task.dataset, job.seed, config)
            else:
                record = train_run(
                    job.plan, job.task, job.seed, config, loaded[task.dataset],
                    build_model(task), on_epoch=on_epoch, augment=build_augment(task),
                )  # fmt: skip
        except BaseException as e:
            store.mark_interrupted(run_id, f"{type(e).__name__}: {e}")
            raise
        store.finish_run(run_id, record)
        on_done(job, record)
        yield record


def link_done(store: Store, experiment: str, jobs: Sequence[Job], config_hash: str) -> None:
    """Runs already stored by another experiment become part of this one too."""
    for job in jobs:
        run_id = store.find_run(job.identity, job.task, job.seed, config_hash)
        if run_id is not None:
            store.link(experiment, run_id)
