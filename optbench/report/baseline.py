"""Baselines for the regression gate: snapshots of per (task, plan, config) results.

A baseline is a plain dict, the same in the database (``Store.save_baseline``) and in the
JSON file kept in a repository (``to_json``/``read_json``)::

    {"optbench_baseline": 1, "name": "quickstart", "metric": "final",
     "experiment": "quickstart", "created_at": "2025-01-01T12:00:00+00:00",
     "versions": {"optbench": "0.1.0", "python": "3.11.9", "torch": "2.14.1"},
     "entries": [{"task": "digits-mlp", "plan": "SGD(lr=0.05, ...) | ...",
                  "name": "SGD | SGD | SGD", "config_hash": "5e1c...", "n": 10,
                  "mean": 0.9561, "std": 0.0071,
                  "samples": [{"seed": 0, "value": 0.9583,
                               "finished_at": "2025-01-01T11:59:02.123456+00:00"}, ...]}]}

``plan`` is the stored identity (canonical text, every hyperparameter resolved); ``name`` is
the plan as its plan file writes it (``--plan-file``), else its short label — what ``check
--plan-file`` matches on, so that a plan whose defaults changed is still the same plan.
The samples keep every run's value so that a later check can test the difference, and its
seed and finish time so that the check can leave the baseline's own runs out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from optbench.errors import BadInput
from optbench.report.labels import short_label
from optbench.report.metrics import METRICS, Metric, get_metric, run_values

FORMAT_VERSION = 1
KEYS = ("name", "metric", "experiment", "created_at", "versions", "entries")
ENTRY_KEYS = ("task", "plan", "name", "config_hash", "n", "mean", "std", "samples")


def stamp(when: datetime | str | None) -> str | None:
    """A finish time as the text samples keep: ISO 8601 with its UTC offset."""
    if when is None or isinstance(when, str):
        return when
    return when.isoformat()


def _float(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def snapshot(
    name: str,
    rows: Sequence[dict],
    metric: str | Metric = "final",
    epochs: Sequence[dict] | None = None,
    *,
    experiment: str | None = None,
    names: Mapping[tuple[str, str], str] | None = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """A baseline of stored run rows (done runs): one entry per (task, plan, config_hash)
    with every run's metric value. ``names`` maps (task, stored plan) to the plan's written
    name; plans not in it are named by their short label. Runs without a value are left out.
    """
    metric = metric if isinstance(metric, Metric) else get_metric(metric)
    if not rows:
        raise BadInput("no finished runs to take a baseline of: train some with 'optbench run'")
    frame = pd.DataFrame(list(rows))
    frame["value"] = run_values(metric, frame, epochs)
    frame = frame[frame["value"].notna()]
    entries = []
    for (task, plan, config), runs in frame.groupby(["task", "plan", "config_hash"], sort=True):
        runs = runs.sort_values("seed")
        values = runs["value"].astype(float)
        entries.append(
            {
                "task": str(task),
                "plan": str(plan),
                "name": (names or {}).get((task, plan)) or short_label(str(plan)),
                "config_hash": str(config),
                "n": len(values),
                "mean": _float(values.mean()),
                "std": _float(values.std()) if len(values) > 1 else None,
                "samples": [
                    {"seed": int(seed), "value": float(value), "finished_at": stamp(finished)}
                    for seed, value, finished in zip(
                        runs["seed"], values, runs["finished_at"], strict=True
                    )
                ],
            }
        )
    entries.sort(key=lambda e: (e["task"], e["name"], e["config_hash"]))
    return {
        "name": name,
        "metric": metric.name,
        "experiment": experiment,
        "created_at": created_at or datetime.now(UTC),
        "versions": versions_of(rows),
        "entries": entries,
    }


def versions_of(rows: Sequence[dict]) -> dict[str, str]:
    """The software versions the runs were trained with: per package, every distinct one."""
    seen: dict[str, set[str]] = {}
    for row in rows:
        for package, version in (row.get("versions") or {}).items():
            seen.setdefault(package, set()).add(str(version))
    return {package: ", ".join(sorted(v)) for package, v in sorted(seen.items())}


def to_json(baseline: Mapping[str, Any]) -> str:
    """The baseline as the JSON text to keep in a repository."""
    document = {"optbench_baseline": FORMAT_VERSION}
    document |= {k: baseline.get(k) for k in KEYS}
    document["created_at"] = stamp(baseline.get("created_at"))
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_json(baseline: Mapping[str, Any], path: str | Path) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_json(baseline), encoding="utf-8")
    except OSError as e:
        raise BadInput(f"cannot write the baseline to {path}: {e.strerror or e}") from e
    return path


def read_json(path: str | Path) -> dict[str, Any]:
    """A baseline from its JSON file; ``BadInput`` naming the file for anything wrong."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise BadInput(f"cannot read baseline file {path}: {e.strerror or e}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadInput(f"baseline file {path} is not valid JSON: {e}") from e
    return validate(document, str(path))


def validate(document: Any, source: str) -> dict[str, Any]:
    """Check a baseline document's shape; ``BadInput`` naming ``source`` and the fault."""

    def fail(what: str) -> BadInput:
        return BadInput(f"baseline {source}: {what}")

    if not isinstance(document, dict) or "optbench_baseline" not in document:
        raise fail("not an optbench baseline (no 'optbench_baseline' key)")
    if document["optbench_baseline"] != FORMAT_VERSION:
        raise fail(
            f"format {document['optbench_baseline']!r}; this optbench reads {FORMAT_VERSION}"
        )
    if document.get("metric") not in METRICS:
        raise fail(f"unknown metric {document.get('metric')!r}")
    entries = document.get("entries")
    if not isinstance(entries, list):
        raise fail("'entries' must be a list")
    for i, entry in enumerate(entries):
        missing = [k for k in ENTRY_KEYS if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise fail(f"entry {i} lacks {', '.join(missing)}")
        samples = entry["samples"]
        if not isinstance(samples, list) or not all(
            isinstance(s, dict) and isinstance(s.get("value"), int | float) for s in samples
        ):
            raise fail(f"entry {i}: 'samples' must be a list of {{seed, value, finished_at}}")
    return {k: document.get(k) for k in KEYS} | {"versions": document.get("versions") or {}}
