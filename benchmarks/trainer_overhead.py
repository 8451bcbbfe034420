"""Trainer overhead vs. a hand-written PyTorch loop on the same model and data (SPEC §7:
at most 2%). Both time the training steps of an epoch with perf_counter, excluding
evaluation; the first epoch of each is warm-up and dropped.

    python -m benchmarks.trainer_overhead [--task digits-mlp] [--epochs 4] [--repeats 5]
        [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

from benchmarks.common import interleaved, report
from optbench.plan.canonical import format_plan, resolve
from optbench.plan.parser import parse_plan
from optbench.tasks.registry import build_loader, build_model, get_task
from optbench.train.config import RunConfig, RunSpec
from optbench.train.engine import train_pass
from optbench.train.problems import Classification, seed_everything


def hand_written(data, build, epochs: int, batch: int, device: str = "cpu") -> float:
    """ms per batch of the plainest loop: randperm slices, SGD, loss kept on the device."""
    seed_everything(0)
    model = build(data.input_shape, data.num_classes).to(torch.device(device))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    n = len(data.x_train)
    steps = math.ceil(n / batch)
    per_epoch = []
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n, device=device)
        sync(device)
        t0 = time.perf_counter()
        for b in range(steps):
            idx = perm[b * batch : (b + 1) * batch]
            loss = loss_fn(model(data.x_train[idx]), data.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(device)
        per_epoch.append(1000 * (time.perf_counter() - t0) / steps)
    return sum(per_epoch[1:]) / len(per_epoch[1:])


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def optbench_loop(
    data, build, epochs: int, batch: int, plan: str = "SGD(lr=0.01)", device: str = "cpu"
) -> float:
    config = RunConfig(epochs, batch, device)
    spec = RunSpec(format_plan(resolve(parse_plan(plan))), "bench", 0, config)
    (record,) = train_pass([spec], Classification(data, build))
    return record.ms_per_batch  # first epoch excluded, as above


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits-mlp")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = get_task(args.task)
    data, build = build_loader(task)(None).to(torch.device(args.device)), build_model(task)
    e, b, d = args.epochs, args.batch, args.device
    medians = interleaved(
        {
            "hand-written loop": lambda: hand_written(data, build, e, b, d),
            "optbench trainer": lambda: optbench_loop(data, build, e, b, device=d),
        },
        args.repeats,
    )
    report(f"{args.task}, batch {args.batch}, torch threads {torch.get_num_threads()}",
           medians, "hand-written loop", "ms/batch")  # fmt: skip
    overhead = medians["optbench trainer"] / medians["hand-written loop"] - 1
    print(f"  trainer overhead: {100 * overhead:+.2f}% (target <= +2%)")


if __name__ == "__main__":
    main()
