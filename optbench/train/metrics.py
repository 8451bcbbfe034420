"""Classification metrics computed on the device from logits, synced once."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from optbench.train.record import FinalMetrics


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    """Logits of ``model`` on ``x`` in eval mode, in batches."""
    model.eval()
    return torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)])


def confusion(logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Confusion matrix, rows = true class, columns = predicted class."""
    pred = logits.argmax(dim=1)
    return torch.bincount(y * num_classes + pred, minlength=num_classes**2).view(
        num_classes, num_classes
    )


def final_metrics(logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> FinalMetrics:
    """Accuracy, cross-entropy, and macro precision / recall / F1 ([DSA]'s metrics).

    A class never predicted has precision 0, a class never present recall 0 (scikit-learn's
    ``zero_division=0``); macro averages run over every class.
    """
    cm = confusion(logits, y, num_classes).double()
    tp = cm.diag()
    precision = torch.where(cm.sum(0) > 0, tp / cm.sum(0).clamp_min(1), 0.0)
    recall = torch.where(cm.sum(1) > 0, tp / cm.sum(1).clamp_min(1), 0.0)
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp_min(1e-12), 0.0)
    loss = F.cross_entropy(logits.float(), y)
    values = torch.stack(
        [tp.sum() / cm.sum(), loss.double(), f1.mean(), precision.mean(), recall.mean()]
    )
    acc, loss_v, f1_v, p_v, r_v = values.tolist()
    return FinalMetrics(accuracy=acc, loss=loss_v, f1=f1_v, precision=p_v, recall=r_v)
