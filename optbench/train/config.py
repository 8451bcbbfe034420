"""A run's configuration and its hash; no torch, so dry runs and reports stay light."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

# Bump when a change to the trainer changes results, so stored runs are not reused.
TRAINER_REVISION = 1


@dataclass(frozen=True)
class RunConfig:
    """Everything besides plan, task and seed that decides a run's results."""

    epochs: int
    batch_size: int
    device: str = "cpu"

    @property
    def hash(self) -> str:
        """Identifies the config in the database; the device is recorded, not hashed."""
        blob = json.dumps(
            {"epochs": self.epochs, "batch_size": self.batch_size, "trainer": TRAINER_REVISION},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
