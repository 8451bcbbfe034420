"""LR composition cost: a stage with kRkD(5) against one with d (SPEC §7: at most 1% more
ms/batch; [MS] Table 4 reports +8% to +30% for applying methods to the optimizer in turn).

Both plans train the same model and data in one process, interleaved; the factor of each
LR method is computed once per step on a Python float.

    python -m benchmarks.lr_composition [--task digits-mlp] [--k 5] [--repeats 7]
        [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.common import interleaved, report
from benchmarks.trainer_overhead import optbench_loop
from optbench.plan.canonical import resolve
from optbench.plan.parser import parse_plan
from optbench.tasks.registry import build_loader, build_model, get_task
from optbench.train.schedule import Schedule


def factor_cost_us(text: str, steps: int = 20000) -> float:
    """Microseconds per step of the schedule's factors, alone: one epoch's LR table."""
    schedule = Schedule.build(resolve(parse_plan(text)), 10, steps // 10)
    t0 = time.perf_counter()
    for epoch in range(10):
        schedule.epoch_lrs(0, epoch, 0.01, taken=[])
    return 1e6 * (time.perf_counter() - t0) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits-mlp")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = get_task(args.task)
    data, build = build_loader(task)(None).to(torch.device(args.device)), build_model(task)
    plans = {"SGD+d": "SGD(lr=0.01)+d", f"SGD+kRkD({args.k})": f"SGD(lr=0.01)+kRkD(k={args.k})"}
    medians = interleaved(
        {name: (lambda p=p: optbench_loop(data, build, args.epochs, args.batch, p, args.device))
         for name, p in plans.items()},
        args.repeats,
    )  # fmt: skip
    report(f"{args.task}, batch {args.batch}: training step time", medians, "SGD+d", "ms/batch")
    extra = medians[f"SGD+kRkD({args.k})"] / medians["SGD+d"] - 1
    print(f"  kRkD({args.k}) vs d: {100 * extra:+.2f}% ms/batch (target <= +1%)")
    for name, p in plans.items():
        print(f"  factor_at alone, {name:<12} {factor_cost_us(p):6.2f} us/step")


if __name__ == "__main__":
    main()
