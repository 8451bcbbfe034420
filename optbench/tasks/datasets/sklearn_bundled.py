"""scikit-learn's bundled datasets (digits, iris, wine): real data that ships offline.

Each gets one fixed stratified split (``random_state=0``) and is standardized with the
training statistics, as [DSA] prepares its tabular tasks.
"""

from __future__ import annotations

import numpy as np
import torch

from optbench.tasks.data import Split, standardize


def _stratified(x: np.ndarray, y: np.ndarray, val_size: int | float) -> Split:
    from sklearn.model_selection import train_test_split

    # A fixed split: every seed and every plan sees the same train/validation rows.
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=val_size, stratify=y, random_state=0)
    split = Split(
        torch.as_tensor(x_tr, dtype=torch.float32),
        torch.as_tensor(y_tr, dtype=torch.int64),
        torch.as_tensor(x_va, dtype=torch.float32),
        torch.as_tensor(y_va, dtype=torch.int64),
        num_classes=int(y.max()) + 1,
    )
    return standardize(split)


def load_digits(data_dir: object = None) -> Split:
    """The 8x8 digits (1,797 images, 64 features), 80/20 stratified split."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    return _stratified(bunch.data, bunch.target, 0.2)


def load_iris(data_dir: object = None) -> Split:
    """Fisher's iris (150 flowers, 4 features, 3 classes) [DSA]: 120/30 stratified split."""
    from sklearn.datasets import load_iris as sk_iris

    bunch = sk_iris()
    return _stratified(bunch.data, bunch.target, 0.2)


def load_wine(data_dir: object = None) -> Split:
    """The UCI wine recognition data (178 wines, 13 features, 3 classes) [DSA]: 142/36
    stratified split."""
    from sklearn.datasets import load_wine as sk_wine

    bunch = sk_wine()
    return _stratified(bunch.data, bunch.target, 0.2)
