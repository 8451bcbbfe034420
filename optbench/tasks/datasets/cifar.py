"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009) in their "python version" pickles.

Each batch file is a pickled dict with bytes keys: ``b"data"``, a uint8 array N x 3072
(1024 red, then 1024 green, then 1024 blue values of a 32x32 image, row-major), and
``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` (CIFAR-100), a list of N ints. Images
become float N x 3 x 32 x 32 in [0, 1], then are standardized per channel with the
training split's mean and standard deviation, as in [MS] and [PWA].
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from optbench.errors import DataMissing
from optbench.tasks.data import Split, standardize
from optbench.tasks.datasets.files import CIFAR10, CIFAR100, Layout

# What a CIFAR pickle may name: numpy's array reconstruction and nothing else, so a
# foreign pickle cannot run code while it loads.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


def read_batch(path: Path, label_key: bytes, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (uint8 images N x 3 x 32 x 32, int64 labels N).

    A truncated, corrupt or foreign file raises DataMissing naming the file.
    """
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as e:
        raise DataMissing(f"{path}: truncated or corrupt CIFAR batch ({e})") from None
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise DataMissing(f"{path}: not a CIFAR batch (no b'data' and {label_key!r} entries)")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataMissing(f"{path}: b'data' is {data.dtype} {data.shape}, not uint8 N x 3072")
    if labels.shape != (len(data),):
        raise DataMissing(f"{path}: {len(labels)} labels for {len(data)} images")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise DataMissing(f"{path}: labels outside 0..{classes - 1}")
    return data.reshape(-1, 3, 32, 32), labels


def _load(
    layout: Layout, train: list[str], val: str, label_key: bytes, classes: int, data_dir
) -> Split:
    folder = layout.locate(data_dir)
    if folder is None:
        raise DataMissing(layout.not_found(data_dir))
    parts = [read_batch(folder / name, label_key, classes) for name in train]
    x_val, y_val = read_batch(folder / val, label_key, classes)
    split = Split(
        torch.from_numpy(np.concatenate([p[0] for p in parts])).float().div_(255.0),
        torch.from_numpy(np.concatenate([p[1] for p in parts])),
        torch.from_numpy(x_val).float().div_(255.0),
        torch.from_numpy(y_val),
        num_classes=classes,
    )
    return standardize(split)


def load_cifar10(data_dir: str | Path | None = None) -> Split:
    """CIFAR-10: 50,000 training images (data_batch_1..5), 10,000 test images (test_batch,
    the validation split), 10 classes; per-channel standardized."""
    train = [f"data_batch_{i}" for i in range(1, 6)]
    return _load(CIFAR10, train, "test_batch", b"labels", 10, data_dir)


def load_cifar100(data_dir: str | Path | None = None) -> Split:
    """CIFAR-100: 50,000 training and 10,000 test images, the 100 fine labels; per-channel
    standardized."""
    return _load(CIFAR100, ["train"], "test", b"fine_labels", 100, data_dir)
