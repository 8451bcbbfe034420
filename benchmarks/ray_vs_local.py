"""One plan file trained by the local executor (passes one after another in this process)
and by the Ray executor on a local Ray cluster of this machine (passes side by side, one
per CPU), each into a fresh database, interleaved, medians; the Ray cluster is started
once, before the measurements, and its start-up time is printed apart.

    python -m benchmarks.ray_vs_local [--plan-file plans/quickstart.yaml] [--seeds 10]
        [--epochs 15] [--stack-size N] [--repeats 3] [--cpus N]

``--stack-size 1`` trains every seed as its own pass (a Ray task each).

A Ray run's time includes everything ``optbench run`` does: planning and claiming in the
database, shipping each pass to a worker, streaming its epochs and checkpoints back. The
first repetition also starts the workers (each imports torch and loads the data once);
its time is printed apart, the medians are of every repetition.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import interleaved, report
from optbench.cli.run_command import RunOptions, run_plan_file


def timed_run(plan_file: Path, executor: str, args, first: dict[str, float]) -> float:
    """Seconds of one ``optbench run`` of ``plan_file`` into a new database."""
    with tempfile.TemporaryDirectory() as folder:
        options = RunOptions(seeds=args.seeds, epochs=args.epochs, stack_size=args.stack_size,
                             device="cpu", executor=executor,
                             db=f"sqlite:///{Path(folder) / 'results.db'}")  # fmt: skip
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()) as out:
            status = run_plan_file(plan_file, options)
        elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{executor}: optbench run failed\n{out.getvalue()}")
    first.setdefault(executor, elapsed)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan-file", type=Path, default=Path("plans/quickstart.yaml"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=None, help="override the file's epochs")
    parser.add_argument("--stack-size", type=int, default=None, help="seeds per pass at most")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=os.cpu_count(), help="of the Ray cluster")
    args = parser.parse_args()

    import ray

    start = time.perf_counter()
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, configure_logging=False,
             log_to_driver=False)  # fmt: skip
    print(f"Ray cluster of {args.cpus} CPUs started in {time.perf_counter() - start:.1f} s")
    first: dict[str, float] = {}
    try:
        medians = interleaved(
            {
                executor: lambda executor=executor: timed_run(args.plan_file, executor, args, first)
                for executor in ("local", "ray")
            },
            args.repeats,
        )
    finally:
        ray.shutdown()
    print(f"first repetition: local {first['local']:.2f} s, ray {first['ray']:.2f} s "
          "(Ray's includes starting its workers)")  # fmt: skip
    report(
        f"{args.plan_file} with {args.seeds} seeds"
        + (f", at most {args.stack_size} per pass" if args.stack_size else "")
        + f": wall time of optbench run, median of {args.repeats}",
        medians,
        reference="local",
        unit="s",
    )


if __name__ == "__main__":
    main()
