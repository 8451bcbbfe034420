"""[MS] Tables 4-5 re-measured: LR operations applied one after another through torch's own
chained schedulers, against optbench's composition of the same methods into one factor
per step, on the same model and data in one process (interleaved, medians).

[MS] §6.1 times RMSprop, Adam, NAdam, AdaMax, Adadelta and Adagrad on ResNet-20 with the
decay d alone ("Decay") and with k raises and k decreases of the LR by 1% in every
iteration on top of it ("kRkD"), and finds kRkD +8% to +36% slower: its framework applies
each operation to the optimizer in turn. The two ways timed here:

- torch, chained: a training loop written out (``randperm`` slices, ``optimizer.step()``,
  then the scheduler's ``step()`` every batch) whose ``ChainedScheduler`` holds one
  ``MultiplicativeLR`` per operation - d as the ratio (1 + r(t-1)) / (1 + r t) of
  lr / (1 + r t), k raises by 1.01 and k decreases by 0.99 - so each of the 1 + 2k
  schedulers writes the optimizer's lr in turn, as [MS] executes them;
- optbench: the plan ``X+d`` or ``X+d+kRkD(k)`` through ``optbench.train.engine``, which
  lays out each epoch's LRs once from the composed factor and writes one lr per step.

Both train the same model from the same initial weights on the same data (batches of the
same size, each way shuffling with its own generator) with the same optimizer (the
catalogue's class and defaults, stepped eagerly as the engine steps it). Before timing,
the LR of every step is checked to be the same both ways (each epoch's mean, min and max,
relative 1e-9). Printed per column: ms per training batch of each way (the first epoch
left out) and optbench / torch; each way's kRkD / Decay ratio; and the LR handling alone,
in microseconds per step - the chained schedulers' ``step()``, and optbench's laying out
of an epoch's LRs - which the step times above carry inside their noise.

    python -m benchmarks.ms_chained_schedulers [--task digits-mlp] [--optimizer Adam]
        [--k 1,2,3,5] [--epochs 12] [--batch 32] [--repeats 5] [--device cpu|cuda]
        [--synthetic N]

``--task cifar10-resnet20 --synthetic 5000`` times [MS]'s ResNet-20 on random images of
CIFAR's shape where the files are missing (timing does not depend on the pixels).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from torch import nn
from torch.optim.lr_scheduler import ChainedScheduler, MultiplicativeLR

from benchmarks.common import interleaved
from benchmarks.lr_composition import factor_cost_us
from benchmarks.problems import load_problem
from benchmarks.trainer_overhead import sync
from optbench.methods.ge import optimizer_kwargs
from optbench.methods.registry import REGISTRY
from optbench.plan.canonical import format_plan, resolve
from optbench.plan.parser import parse_plan
from optbench.tasks.data import Split
from optbench.train.config import RunConfig, RunSpec
from optbench.train.eager import eager
from optbench.train.engine import train_pass
from optbench.train.problems import Classification, seed_everything

RAISE, DECREASE = 1.01, 0.99  # [MS] §6.1: "learning rate increases 1% and then reduces 1%"


def column(k: int) -> str:
    return "Decay" if k == 0 else f"{k}R{k}D"


def chained_schedulers(optimizer: torch.optim.Optimizer, k: int) -> ChainedScheduler:
    """d, then k raises and k decreases, each its own scheduler, stepped in turn."""
    rate = REGISTRY["d"].defaults["rate"]
    schedulers = [MultiplicativeLR(optimizer, lambda t: (1 + rate * (t - 1)) / (1 + rate * t))]
    schedulers += [MultiplicativeLR(optimizer, lambda t: RAISE) for _ in range(k)]
    schedulers += [MultiplicativeLR(optimizer, lambda t: DECREASE) for _ in range(k)]
    return ChainedScheduler(schedulers)


def scheduler_cost_us(name: str, k: int, steps: int = 20000) -> float:
    """Microseconds per step of the chained schedulers' ``step()`` alone."""
    param = nn.Parameter(torch.zeros(1))
    spec = REGISTRY[name]
    args = resolve(parse_plan(name)).stages[0].calls[0].kwargs
    optimizer = eager(spec.load())([param], **optimizer_kwargs(spec, args, []))
    scheduler = chained_schedulers(optimizer, k)
    optimizer.step()  # a scheduler steps after its optimizer (no gradient: nothing moves)
    start = time.perf_counter()
    for _ in range(steps):
        scheduler.step()
    return 1e6 * (time.perf_counter() - start) / steps


def torch_chained(
    data: Split, build, name: str, k: int, epochs: int, batch: int, device: str
) -> tuple[float, list[list[float]]]:
    """ms per batch (first epoch left out) and the LR of every step, per epoch."""
    seed_everything(0)
    model = build(data.input_shape, data.num_classes).to(torch.device(device))
    spec = REGISTRY[name]
    args = resolve(parse_plan(name)).stages[0].calls[0].kwargs
    optimizer = eager(spec.load())(list(model.parameters()), **optimizer_kwargs(spec, args, []))
    scheduler = chained_schedulers(optimizer, k)
    loss_fn = nn.CrossEntropyLoss()
    n = len(data.x_train)
    steps = math.ceil(n / batch)
    per_epoch, lrs = [], []
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n, device=device)
        epoch_lrs = []
        sync(device)
        start = time.perf_counter()
        for b in range(steps):
            idx = perm[b * batch : (b + 1) * batch]
            epoch_lrs.append(optimizer.param_groups[0]["lr"])
            loss = loss_fn(model(data.x_train[idx]), data.y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        sync(device)
        per_epoch.append(1000 * (time.perf_counter() - start) / steps)
        lrs.append(epoch_lrs)
    return statistics.fmean(per_epoch[1:]), lrs


def optbench_plan(name: str, k: int) -> str:
    return f"{name}+d" if k == 0 else f"{name}+d+kRkD(k={k})"


def optbench_engine(problem: Classification, text: str, epochs: int, batch: int, device: str):
    """The run's record: ms per batch (first epoch left out) and each epoch's LRs."""
    plan = format_plan(resolve(parse_plan(text)))
    (record,) = train_pass([RunSpec(plan, "bench", 0, RunConfig(epochs, batch, device))], problem)
    if record.final is None:
        raise RuntimeError(f"{text} did not finish: {record.error}")
    return record


def check_same_lrs(torch_lrs: list[list[float]], record, label: str) -> float:
    """The largest relative difference of each epoch's mean, min and max LR."""
    worst = 0.0
    for epoch_lrs, row in zip(torch_lrs, record.epochs, strict=True):
        ours = (row.lr, row.lr_min, row.lr_max)
        theirs = (statistics.fmean(epoch_lrs), min(epoch_lrs), max(epoch_lrs))
        for a, b in zip(ours, theirs, strict=True):
            worst = max(worst, abs(a - b) / abs(b))
    if worst > 1e-9:
        raise AssertionError(f"{label}: the two ways lay out different LRs (rel. {worst:.1e})")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits-mlp")
    parser.add_argument("--optimizer", default="Adam")
    parser.add_argument("--k", default="1,2,3,5", help="comma-separated k of the kRkD columns")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is warm-up, left out")
    torch.set_num_threads(1)
    problem = load_problem(args.task, args.device, args.synthetic)
    if problem is None:
        return
    # both ways train on the same tensors without augmentation
    problem = Classification(problem.data, problem.build_one)
    ks = [0, *(int(k) for k in args.k.split(","))]
    e, b, d, name = args.epochs, args.batch, args.device, args.optimizer

    worst = 0.0
    for k in ks:  # the same LR at every step both ways; also warms both up
        _, lrs = torch_chained(problem.data, problem.build_one, name, k, e, b, d)
        record = optbench_engine(problem, optbench_plan(name, k), e, b, d)
        worst = max(worst, check_same_lrs(lrs, record, column(k)))
    candidates = {}
    for k in ks:
        candidates[("torch", k)] = lambda k=k: torch_chained(
            problem.data, problem.build_one, name, k, e, b, d
        )[0]
        candidates[("optbench", k)] = lambda k=k: (
            optbench_engine(problem, optbench_plan(name, k), e, b, d).ms_per_batch
        )
    medians = interleaved(candidates, args.repeats)

    print(f"{args.task}, {name}, batch {b}, {e} epochs (the first left out), {d}, "
          f"torch threads {torch.get_num_threads()}, medians of {args.repeats}")  # fmt: skip
    print(f"  the LR of every step agrees both ways (largest rel. difference {worst:.1e})")
    header = ("column", "LR ops", "torch chained", "optbench", "optbench/torch")
    print("  {:<8} {:>6} {:>14} {:>10} {:>15}".format(*header))
    for k in ks:
        mine, theirs = medians[("optbench", k)], medians[("torch", k)]
        print(f"  {column(k):<8} {1 + 2 * k:>6} {theirs:>11.4f} ms {mine:>7.4f} ms "
              f"{mine / theirs:>15.3f}")  # fmt: skip
    for way in ("torch", "optbench"):
        extra = ", ".join(
            f"{column(k)} {100 * (medians[(way, k)] / medians[(way, 0)] - 1):+.1f}%" for k in ks[1:]
        )
        print(f"  {way:<8} kRkD vs Decay: {extra}")
    print("  the LR handling alone, us per step:")
    for k in ks:
        print(f"    {column(k):<8} torch chained {scheduler_cost_us(name, k):6.2f}   "
              f"optbench {factor_cost_us(optbench_plan(name, k)):6.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
