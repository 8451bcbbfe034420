"""Stage end conditions, written after a stage: ``SGD:plateau(patience=3, max=40)``."""

from __future__ import annotations

import math

from optbench.errors import BadInput


class Plateau:
    """End the stage once validation loss has not improved for ``patience`` epochs.

    [MS]'s "the length of timepieces is changeable": an epoch improves when its loss is
    below best·(1 − 1e-4) (ReduceLROnPlateau's relative threshold); ``max`` caps the
    stage's epochs and is its nominal length in the plan's layout.
    """

    threshold = 1e-4

    def __init__(self, patience: int, max: int) -> None:
        if patience < 1:
            raise BadInput(f"plateau: patience must be at least 1, got {patience!r}")
        self.patience = patience
        self.max = max
        self.best = math.inf
        self.bad_epochs = 0

    def observe(self, val_loss: float) -> bool:
        """Record one epoch's validation loss; True when the stage should end now."""
        if val_loss < self.best * (1 - self.threshold):
            self.best, self.bad_epochs = val_loss, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience
