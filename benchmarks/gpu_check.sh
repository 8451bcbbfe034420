#!/usr/bin/env bash
# The GPU check: on a machine with a CUDA device, the CUDA tests and the GPU benchmarks in a
# few minutes, printing ratios. Needs no network: the benchmarks train on synthetic data of
# the datasets' shapes when their files are missing. Run from the repository root with
# optbench installed (pip install --no-deps -e . over the machine's own torch):
#
#     bash benchmarks/gpu_check.sh
set -euo pipefail
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
python - <<'PY'
import torch
print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, "
      f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
PY
echo "== CUDA tests"
python -m pytest -q -p no:cacheprovider tests/test_cuda.py
echo "== ten stacked seeds / one seed (targets: <= 1.5 for fashion-mnist-nn2, <= 3 for cifar10-resnet20)"
python -m benchmarks.stacked_seeds --device cuda --task fashion-mnist-nn2 --synthetic 60000 \
  --epochs 2 --batch 128 --plan "SGD(lr=0.1)+M" --repeats 3
python -m benchmarks.stacked_seeds --device cuda --task cifar10-resnet20 --synthetic 50000 \
  --epochs 1 --batch 128 --plan "SGD(lr=0.1)+M" --repeats 3
python -m benchmarks.stacked_seeds --device cuda --task digits-mlp --epochs 5 --repeats 3
echo "== trainer overhead against a hand-written loop (target <= 2%)"
python -m benchmarks.trainer_overhead --device cuda --task digits-mlp --repeats 5
echo "== LR composition: kRkD(5) against d (target <= 1%)"
python -m benchmarks.lr_composition --device cuda --repeats 5
