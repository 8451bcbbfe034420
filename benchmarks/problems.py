"""The problem a benchmark trains: a task's real data, or random data of its shape."""

from __future__ import annotations

import torch

from optbench.errors import DataMissing
from optbench.execute.local import problem_for
from optbench.tasks.data import Split
from optbench.tasks.registry import build_augment, build_model, get_task
from optbench.train.problems import Classification

SHAPES = {  # input shape and classes of each dataset, for synthetic data
    "digits": ((64,), 10), "mnist": ((1, 28, 28), 10), "fashion-mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10), "cifar100": ((3, 32, 32), 100), "svhn": ((3, 32, 32), 10),
}  # fmt: skip


def synthetic(task_name: str, n: int, device: str) -> Classification:
    """The task's model and augmentation on ``n`` random examples of its dataset's shape."""
    task = get_task(task_name)
    shape, classes = SHAPES[task.dataset]
    g = torch.Generator().manual_seed(0)
    x = torch.randn((n, *shape), generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    split = Split(x, y, x[: n // 5], y[: n // 5], classes).to(torch.device(device))
    return Classification(split, build_model(task), build_augment(task))


def load_problem(task_name: str, device: str, synthetic_n: int = 0) -> Classification | None:
    """``synthetic(task_name, synthetic_n, device)`` when ``synthetic_n`` is set, else the
    task on its real data; None (after saying so) when its data files are missing."""
    if synthetic_n:
        return synthetic(task_name, synthetic_n, device)
    try:
        return problem_for(task_name, device, None, {})
    except DataMissing as missing:
        print(f"{task_name}: skipped, {missing}")
        return None
