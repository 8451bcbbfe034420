"""Classification metrics computed on the device from logits, synced once."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from optbench.train.record import FinalMetrics


def seed_metrics(logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> list[FinalMetrics]:
    """Accuracy, cross-entropy, and macro precision / recall / F1 ([DSA]'s metrics) of
    each seed's predictions: ``logits`` (S, N, C) against labels ``y`` (N,).

    A class never predicted has precision 0, a class never present recall 0 (scikit-learn's
    ``zero_division=0``); macro averages run over every class.
    """
    seeds, n, c = logits.shape
    pred = logits.argmax(dim=2)
    offset = torch.arange(seeds, device=y.device)[:, None] * c * c
    cm = torch.bincount((offset + y * c + pred).flatten(), minlength=seeds * c * c)
    cm = cm.view(seeds, c, c).double()
    tp = cm.diagonal(dim1=1, dim2=2)
    predicted, present = cm.sum(1), cm.sum(2)
    precision = torch.where(predicted > 0, tp / predicted.clamp_min(1), 0.0)
    recall = torch.where(present > 0, tp / present.clamp_min(1), 0.0)
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp_min(1e-12), 0.0)
    loss = F.cross_entropy(logits.float().flatten(0, 1), y.repeat(seeds), reduction="none")
    values = torch.stack(
        [
            tp.sum(1) / n,
            loss.view(seeds, n).double().mean(1),
            f1.mean(1),
            precision.mean(1),
            recall.mean(1),
        ],
        dim=1,
    )
    return [FinalMetrics(*row) for row in values.tolist()]


def final_metrics(logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> FinalMetrics:
    """``seed_metrics`` of one model's logits (N, C)."""
    return seed_metrics(logits.unsqueeze(0), y, num_classes)[0]
