"""On-device augmentation of image batches, applied by the trainer per training batch.

[PWA] §3: "32 x 32 pixel images are pre-processed by standardization (0-mean and 1-std)
and are subject to random cropping through 4-pixel padding as data augmentation; on
Cifar-100/10, we additionally apply random horizontal flipping." So CIFAR gets
``augment_crop_flip`` and SVHN ``augment_crop`` (a mirrored digit is another glyph). The
crop is a random 32x32 window of the image zero-padded by 4 pixels on each side, the flip
a horizontal mirror with probability 1/2 (He et al. 2016). Here it is one gather on the
batch's device, drawn from the run's ``torch.Generator``, so that a seed gives the same
crops on every run and no DataLoader or host round trip is needed. Images are
standardized before this, so the zero padding is the training mean.

Which tasks augment is the task's choice (``TaskSpec.augment``): [DSA] trains without
"data expansion", [ANN] and [MIX] do not say (see the README's "Tasks and data").
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional

PAD = 4


def _crop(x: Tensor, generator: torch.Generator, pad: int, flip: bool) -> Tensor:
    n, _, h, w = x.shape
    draw = dict(generator=generator, device=generator.device)
    dy = torch.randint(0, 2 * pad + 1, (n, 1), **draw).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n, 1), **draw).to(x.device)
    cols = torch.arange(w, device=x.device).expand(n, w)
    if flip:
        flipped = (torch.rand((n, 1), **draw) < 0.5).to(x.device)
        cols = torch.where(flipped, cols.flip(1), cols)
    rows = dy + torch.arange(h, device=x.device)  # n x h
    cols = dx + cols  # n x w
    padded = functional.pad(x, (pad, pad, pad, pad))
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


def augment_crop_flip(x: Tensor, generator: torch.Generator, pad: int = PAD) -> Tensor:
    """Random crop after ``pad``-pixel zero padding, then a random horizontal flip.

    ``x`` is N x C x H x W; the result has the same shape, dtype and device. Offsets are
    uniform in 0..2*pad per image and axis, flips have probability 1/2.
    """
    return _crop(x, generator, pad, flip=True)


def augment_crop(x: Tensor, generator: torch.Generator, pad: int = PAD) -> Tensor:
    """Random crop after ``pad``-pixel zero padding, no flip ([PWA]'s SVHN augmentation)."""
    return _crop(x, generator, pad, flip=False)
