"""In-memory datasets: tensors that live on the training device for the whole run."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch


@dataclass(frozen=True)
class Split:
    """Train and validation tensors of one dataset; ``y`` int64 labels 0..num_classes-1.

    ``x`` is float features or images (N x C x H x W), or int64 word ids (N x length) for
    text. Loaders return it on the CPU; the trainer moves it to the device once.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    num_classes: int

    def to(self, device: torch.device) -> Split:
        return replace(
            self,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_val=self.x_val.to(device),
            y_val=self.y_val.to(device),
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def standardize(split: Split) -> Split:
    """Scale features to zero mean and unit variance with the training split's statistics."""
    dims = [0] if split.x_train.dim() == 2 else [0, *range(2, split.x_train.dim())]
    mean = split.x_train.mean(dim=dims, keepdim=True)
    std = split.x_train.std(dim=dims, keepdim=True)
    # A feature constant in training (the digits' corner pixels) is only centred: dividing
    # by its ~0 spread would blow up any validation value that differs.
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    return replace(split, x_train=(split.x_train - mean) / std, x_val=(split.x_val - mean) / std)


def holdout_indices(
    n: int, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices of one random hold-out split, not stratified.

    The split scikit-learn's ``train_test_split(test_size=test_fraction,
    random_state=seed)`` makes, computed here with numpy alone: ``ceil(test_fraction * n)``
    test rows, the first rows of ``RandomState(seed).permutation(n)``; the rest, in
    permutation order, train. [DSA]'s Table 3 sizes are exactly these (IRIS 120/30, WINE
    142/36, CAR 1,382/346, AGARICUS 6,499/1,625), and its constant-predictor rows
    (IRIS 20.00%, WINE 44.44% accuracy) are the class shares of this split with seed 0,
    which a stratified split cannot give (IRIS would be 33.33%).
    """
    n_test = math.ceil(test_fraction * n)
    if not 0 < n_test < n:
        raise ValueError(f"a {test_fraction:g} hold-out of {n} rows leaves an empty side")
    permutation = np.random.RandomState(seed).permutation(n)
    return permutation[n_test:], permutation[:n_test]
