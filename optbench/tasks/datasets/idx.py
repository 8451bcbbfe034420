"""The IDX format of MNIST and Fashion-MNIST (optionally gzipped).

Header: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions,
then one big-endian uint32 per dimension; the data follows in C order.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from optbench.errors import DataMissing
from optbench.tasks.data import Split
from optbench.tasks.datasets.files import FASHION_MNIST, IDX_STEMS, MNIST, idx_file


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file; a wrong magic number or a short file raises DataMissing."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataMissing(f"{path}: cannot read IDX file ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataMissing(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DataMissing(f"{path}: truncated or corrupt IDX file ({len(raw)} of {expected} bytes)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load_idx_folder(folder: Path) -> Split:
    """The four IDX files of an MNIST-like folder; images scaled to [0, 1], one channel."""
    arrays = {key: read_idx(idx_file(folder, stem)) for key, stem in IDX_STEMS.items()}
    for key in ("x_train", "x_val"):
        if arrays[key].ndim != 3:
            raise DataMissing(f"{folder}: {IDX_STEMS[key]} is not a 3-dimensional image file")
        label = "y" + key[1:]
        if arrays[label].ndim != 1:
            raise DataMissing(f"{folder}: {IDX_STEMS[label]} is not a 1-dimensional label file")
        if len(arrays[key]) != len(arrays[label]):
            raise DataMissing(f"{folder}: {IDX_STEMS[key]} and {IDX_STEMS[label]} differ in length")
    return Split(
        torch.from_numpy(arrays["x_train"].astype(np.float32) / 255.0).unsqueeze(1),
        torch.from_numpy(arrays["y_train"].astype(np.int64)),
        torch.from_numpy(arrays["x_val"].astype(np.float32) / 255.0).unsqueeze(1),
        torch.from_numpy(arrays["y_val"].astype(np.int64)),
        num_classes=10,
    )


def load_fashion_mnist(data_dir: str | Path | None = None) -> Split:
    """Fashion-MNIST (Xiao et al. 2017) [ANN]: 60,000 training and 10,000 test images of
    28x28 in [0, 1] (test = validation)."""
    folder = FASHION_MNIST.locate(data_dir)
    if folder is None:
        raise DataMissing(FASHION_MNIST.not_found(data_dir))
    return load_idx_folder(folder)


def load_mnist(data_dir: str | Path | None = None) -> Split:
    """MNIST (LeCun et al. 1998) [ANN]: 60,000 training and 10,000 test images of 28x28 in
    [0, 1] (test = validation), from ``DIR/mnist/`` or ``DIR``."""
    folder = MNIST.locate(data_dir)
    if folder is None:
        raise DataMissing(MNIST.not_found(data_dir))
    return load_idx_folder(folder)
