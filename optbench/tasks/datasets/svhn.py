"""SVHN (Netzer et al. 2011), cropped digits, in its MATLAB files [PWA].

``train_32x32.mat`` (73,257 images) and ``test_32x32.mat`` (26,032): ``X`` is uint8
32 x 32 x 3 x N, ``y`` is N x 1 with labels 1..10, where 10 means the digit 0. The
``extra_32x32.mat`` set is not used. Images become float N x 3 x 32 x 32 in [0, 1],
standardized per channel with the training statistics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from optbench.errors import DataMissing
from optbench.tasks.data import Split, standardize
from optbench.tasks.datasets.files import SVHN


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One .mat file -> (uint8 images N x 3 x 32 x 32, int64 labels 0..9).

    A truncated, corrupt or foreign file raises DataMissing naming the file.
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        mat = loadmat(path, variable_names=["X", "y"])
    except (OSError, ValueError, TypeError, EOFError, MatReadError) as e:
        raise DataMissing(f"{path}: truncated or corrupt SVHN .mat file ({e})") from None
    if "X" not in mat or "y" not in mat:
        raise DataMissing(f"{path}: not an SVHN .mat file (no X and y variables)")
    x, y = mat["X"], np.asarray(mat["y"], dtype=np.int64).reshape(-1)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise DataMissing(f"{path}: X is {x.dtype} {x.shape}, not uint8 32 x 32 x 3 x N")
    if len(y) != x.shape[3]:
        raise DataMissing(f"{path}: {len(y)} labels for {x.shape[3]} images")
    if y.size and (y.min() < 1 or y.max() > 10):
        raise DataMissing(f"{path}: labels outside 1..10")
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), y % 10


def load_svhn(data_dir: str | Path | None = None) -> Split:
    """SVHN: 73,257 training and 26,032 test images (test = validation), 10 classes."""
    folder = SVHN.locate(data_dir)
    if folder is None:
        raise DataMissing(SVHN.not_found(data_dir))
    x_train, y_train = read_svhn_mat(folder / "train_32x32.mat")
    x_val, y_val = read_svhn_mat(folder / "test_32x32.mat")
    split = Split(
        torch.from_numpy(x_train).float().div_(255.0),
        torch.from_numpy(y_train),
        torch.from_numpy(x_val).float().div_(255.0),
        torch.from_numpy(y_val),
        num_classes=10,
    )
    return standardize(split)
