"""In-memory datasets: tensors that live on the training device for the whole run."""

from __future__ import annotations

from dataclasses import dataclass, replace

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
