"""Ten seeds trained stacked in one pass against one seed alone (SPEC §7: at most 2x on
digits-mlp on the CPU; on a GPU at most 1.5x for fashion-mnist-nn2 and 3x for
cifar10-resnet20), training time measured in one process, interleaved, medians.

    python -m benchmarks.stacked_seeds [--task digits-mlp] [--seeds 10] [--epochs 5]
        [--device cpu|cuda] [--threads 1] [--plan "SGD | (Adam+d) | SGD"] [--repeats 5]
        [--synthetic N]

``--synthetic N`` trains on N random examples shaped like the task's dataset (timing does
not depend on the pixels), for machines without the data files; otherwise a task whose
data is missing is reported and skipped.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.common import interleaved, report
from benchmarks.problems import load_problem
from optbench.plan.canonical import format_plan, resolve
from optbench.plan.parser import parse_plan
from optbench.train.config import RunConfig, RunSpec
from optbench.train.engine import train_pass


def timed(runs, problem, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    records = train_pass(runs, problem)
    if device == "cuda":
        torch.cuda.synchronize()
    assert all(r.final is not None for r in records), [r.error for r in records]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits-mlp")
    parser.add_argument("--plan", default="SGD(lr=0.05) | (Adam+d) | SGD(lr=0.05)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--synthetic", type=int, default=0, metavar="N")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    problem = load_problem(args.task, args.device, args.synthetic)
    if problem is None:
        return
    plan = format_plan(resolve(parse_plan(args.plan)))
    config = RunConfig(args.epochs, args.batch, args.device, args.threads)
    runs = [RunSpec(plan, args.task, seed, config) for seed in range(args.seeds)]
    timed(runs[:1], problem, args.device)  # warm-up: kernels, allocator, lazy imports
    timed(runs, problem, args.device)
    medians = interleaved(
        {
            "one seed": lambda: timed(runs[:1], problem, args.device),
            f"{args.seeds} seeds stacked": lambda: timed(runs, problem, args.device),
        },
        args.repeats,
    )
    report(f"{args.task} on {args.device}, {args.threads} thread(s), {args.epochs} epochs, "
           f"batch {args.batch}, {args.plan}", medians, "one seed", "s")  # fmt: skip
    ratio = medians[f"{args.seeds} seeds stacked"] / medians["one seed"]
    print(f"  {args.seeds} stacked seeds / one seed: {ratio:.2f} "
          f"(vs {args.seeds:.0f} trained one after another)")  # fmt: skip


if __name__ == "__main__":
    main()
