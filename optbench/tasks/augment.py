"""On-device augmentation of image batches, applied by the trainer per training batch.

[PWA] §3 trains CIFAR and SVHN with the standard augmentation of He et al. (2016): a
random 32x32 crop of the image zero-padded by 4 pixels on each side, and a horizontal
flip with probability 1/2. Here it is one gather on the batch's device, drawn from the
run's ``torch.Generator``, so that a seed gives the same crops on every run and no
DataLoader or host round trip is needed. Images are standardized before this, so the
zero padding is the training mean.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional

PAD = 4


def augment_crop_flip(x: Tensor, generator: torch.Generator, pad: int = PAD) -> Tensor:
    """Random crop after ``pad``-pixel zero padding, then a random horizontal flip.

    ``x`` is N x C x H x W; the result has the same shape, dtype and device. Offsets are
    uniform in 0..2*pad per image and axis, flips have probability 1/2.
    """
    n, _, h, w = x.shape
    draw = dict(generator=generator, device=generator.device)
    dy = torch.randint(0, 2 * pad + 1, (n, 1), **draw).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n, 1), **draw).to(x.device)
    flip = (torch.rand((n, 1), **draw) < 0.5).to(x.device)
    cols_range = torch.arange(w, device=x.device)
    rows = dy + torch.arange(h, device=x.device)  # n x h
    cols = dx + torch.where(flip, cols_range.flip(0), cols_range)  # n x w
    padded = functional.pad(x, (pad, pad, pad, pad))
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
