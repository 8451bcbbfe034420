"""Which configuration a stored run was trained with, in words, and the order of tables.

A run's configuration is every setting besides plan, task and seed that decides its
results (``optbench.train.config.RunConfig``: epochs, batch size, device, threads,
trainer revision); its digest is the run's ``config_hash``. Reports keep runs of
different configurations apart — one table each — and say which one each table is.

Rows stored before the configuration had columns of its own (schema 0004) know only
their hash: they are shown as their own configuration, "settings not recorded", with the
hash's first characters to tell two such configurations apart; never pooled with runs
whose settings are known.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optbench.train.config import RunConfig

COLUMNS = ("epochs", "batch_size", "device", "threads", "trainer_revision")
NOT_RECORDED = "settings not recorded"


def _known(value: Any) -> bool:
    return value is not None and value == value  # not None, not NaN


def run_config(row: Mapping[str, Any]) -> RunConfig | None:
    """The ``RunConfig`` of a stored run row, or None when its settings are not recorded."""
    values = [row.get(c) for c in COLUMNS]
    if not all(_known(v) for v in values):
        return None
    epochs, batch_size, device, threads, trainer = values
    return RunConfig(int(epochs), int(batch_size), str(device), int(threads), int(trainer))


def describe(row: Mapping[str, Any]) -> str:
    """``15 epochs, batch 32, cpu, 1 thread, trainer 2``; for a row without recorded
    settings ``settings not recorded (config 5e1c0a2b)``."""
    config = run_config(row)
    if config is not None:
        return config.describe()
    digest = str(row.get("config_hash") or "")[:8]
    return f"{NOT_RECORDED} (config {digest})" if digest else NOT_RECORDED


def order(row: Mapping[str, Any]) -> tuple:
    """A sort key for configurations: recorded ones first, by epochs, batch size, device,
    threads and trainer revision; then those not recorded, by hash."""
    config = run_config(row)
    if config is None:
        return (1, (), str(row.get("config_hash") or ""))
    return (0, tuple(config.columns().values()), str(row.get("config_hash") or ""))
