"""Time from ``optbench run`` to the first training step, in a fresh process (SPEC §7: at
most 1.5 s for digits-mlp; torch's own import is the floor), with the import breakdown.

    python -m benchmarks.start_time [--task digits-mlp] [--repeats 5]

The child process runs the real command on a one-epoch plan file in a temporary folder;
an import hook wraps the engine's epoch function when it is loaded, so that the first
training step prints its time and ends the process. Nothing in optbench is changed for
the measurement. The breakdown comes from ``python -X importtime`` of the same command.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import importlib.abc, importlib.machinery, os, sys

class WrapEngine(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "optbench.train.engine":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            def first_step(*args, **kwargs):
                print("FIRST-STEP", flush=True)
                os._exit(0)
            module._epoch = first_step
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, WrapEngine())
from optbench.cli.app import main
sys.argv = ["optbench", *sys.argv[1:]]
main()
"""

SUBMODULES = ("torch._dynamo",)  # reported apart: torch.optim imports it on first use
PACKAGES = ("torch", "sqlalchemy", "typer", "rich", "numpy", "yaml", "optbench", "sklearn",
            "scipy", "pandas", "torchvision", "sympy", "pytorch_optimizer", "alembic")  # fmt: skip


def first_step(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=cwd, capture_output=True,
                         text=True, check=False)  # fmt: skip
    elapsed = time.perf_counter() - start
    if "FIRST-STEP" not in out.stdout:
        raise SystemExit(f"the run did not reach a training step:\n{out.stdout}\n{out.stderr}")
    return elapsed


def import_breakdown(args: list[str], cwd: Path) -> dict[str, float]:
    """Seconds each top-level package took to import, itself and what it imported first
    (``-X importtime``'s cumulative time of the package's own line)."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", CHILD, *args], cwd=cwd,
                         capture_output=True, text=True, check=False)  # fmt: skip
    totals: dict[str, float] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        module = name.strip()
        if cumulative.strip().isdigit() and ("." not in module or module in SUBMODULES):
            totals[module] = totals.get(module, 0.0) + int(cumulative) / 1e6
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits-mlp")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        (cwd / "plan.yaml").write_text(
            f"experiment: start\ntasks: [{args.task}]\nepochs: 1\nplans: [SGD]\n"
        )
        command = ["run", "plan.yaml", "--db", "start.db", "--device", "cpu"]
        first_step(command, cwd)  # warm the file cache and any dataset cache
        torch_only = [
            time_of([sys.executable, "-c", "import torch"], cwd) for _ in range(args.repeats)
        ]
        runs = []
        for _ in range(args.repeats):
            for leftover in cwd.glob("start.db*"):
                if leftover.is_file():
                    leftover.unlink()
            runs.append(first_step(command, cwd))
        breakdown = import_breakdown(command, cwd)
    print(f"optbench run -> first training step ({args.task}), median of {args.repeats}:")
    print(f"  start to first step  {statistics.median(runs):6.2f} s  (target <= 1.5 s)")
    print(f"  python -c 'import torch'  {statistics.median(torch_only):6.2f} s  (the floor)")
    print("  imports (python -X importtime; a package's time includes what it imported first):")
    for name, seconds in sorted(breakdown.items(), key=lambda kv: -kv[1]):
        if seconds >= 0.02 or name in PACKAGES:
            print(f"    {name:<20} {seconds:6.2f} s")
    heavy = [p for p in ("sklearn", "scipy", "sympy", "torchvision", "pandas", "torch._dynamo")
             if p in breakdown]  # fmt: skip
    print(f"  heavy packages imported: {', '.join(heavy) or 'none'}")


def time_of(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
