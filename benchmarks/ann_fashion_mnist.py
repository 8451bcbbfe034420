"""[ANN] Table 2 on the real Fashion-MNIST, end to end through ``optbench run``: NN-2 with
sig+ (``SGD+warmup+sig``), the paper's proposal, for a few epochs from the plan file's
own settings. Prints the validation accuracy of each epoch and the wall time, so a change
to the loader, the model or the trainer that costs accuracy or time shows side by side
with the last run. Too long for the test suite (about a minute per epoch on two loaded
CPU cores); the tests check the real files load and NN-2 learns from them in seconds.

    python benchmarks/ann_fashion_mnist.py [--epochs 2]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

from typer.testing import CliRunner

from optbench.cli.app import app
from optbench.tasks.datasets import files

PLAN = Path(__file__).resolve().parent.parent / "plans" / "ann-table2.yaml"
SIG_PLUS = "SGD+warmup+sig"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    if files.FASHION_MNIST.locate(None) is None:
        raise SystemExit(f"Fashion-MNIST not installed: {files.FASHION_MNIST.hint}")
    with tempfile.TemporaryDirectory() as tmp:
        text = PLAN.read_text(encoding="utf-8")
        copy = Path(tmp) / "ann-table2-sig-plus.yaml"
        copy.write_text(text[: text.index("\nplans:")] + f"\nplans:\n  - {SIG_PLUS}\n")
        t0 = time.perf_counter()
        result = CliRunner().invoke(
            app,
            ["run", str(copy), "--task", "fashion-mnist-nn2", "--epochs", str(args.epochs),
             "--seeds", "1", "--device", "cpu", "--db", f"sqlite:///{Path(tmp) / 'r.db'}"],
            env={"COLUMNS": "400"},
        )  # fmt: skip
        seconds = time.perf_counter() - t0
    if result.exit_code != 0:
        raise SystemExit(result.output)
    accuracies = [float(a) for a in re.findall(r"val acc (\d\.\d+)", result.output)]
    final = accuracies[-1] if accuracies else float("nan")
    print(f"fashion-mnist-nn2, {SIG_PLUS}, {args.epochs} epochs: {seconds:.1f} s")
    print(f"  final validation accuracy {final:.4f} (above 0.80 from 2 epochs on)")
    if args.epochs >= 2 and not final > 0.80:
        raise SystemExit("validation accuracy too low")


if __name__ == "__main__":
    main()
