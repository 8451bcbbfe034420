"""Baselines for the regression gate: snapshots of per (task, plan, config) results.

A baseline is a plain dict, the same in the database (``Store.save_baseline``) and in the
JSON file kept in a repository (``to_json``/``read_json``)::

    {"optbench_baseline": 1, "name": "quickstart", "metric": "final",
     "experiment": "quickstart", "created_at": "2025-01-01T12:00:00+00:00",
     "versions": {"optbench": "0.1.0", "python": "3.11.9", "torch": "2.14.1"},
     "entries": [{"task": "digits-mlp", "plan": "SGD(lr=0.05, ...) | ...",
                  "name": "SGD | SGD | SGD", "config_hash": "5e1c...",
                  "config": "15 epochs, batch 32, cpu, 1 thread, trainer 2", "n": 10,
                  "mean": 0.9561, "std": 0.0071,
                  "samples": [{"seed": 0, "value": 0.9583,
                               "finished_at": "2025-01-01T11:59:02.123456+00:00"},
                              {"seed": 7, "value": null, "status": "diverged",
                               "finished_at": "..."}, ...]}]}

``plan`` is the stored identity (canonical text, every hyperparameter resolved); ``name`` is
the plan as its plan file writes it (``--plan-file``, or the label the experiment's links
store), else its short label — what ``check --plan-file`` matches on, so that a plan whose
defaults changed is still the same plan. Runs of different configurations are separate
entries; ``config`` says which configuration in words (JSON only; the database keeps the
hash). The samples keep every finished run's value so that a later check can test the
difference, and its seed and finish time so that the check can leave the baseline's own
runs out; a run that diverged or failed is a sample with ``status`` and no value (``n``,
``mean`` and ``std`` are over the finished ones), so that the check knows how often the
plan diverged before.
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
from optbench.report import configs
from optbench.report.labels import group_label
from optbench.report.metrics import METRICS, Metric, get_metric, run_values

FORMAT_VERSION = 1
KEYS = ("name", "metric", "experiment", "created_at", "versions", "entries")
ENTRY_KEYS = ("task", "plan", "name", "config_hash", "n", "mean", "std", "samples")
BROKEN = ("diverged", "failed")  # statuses a baseline keeps as samples without a value


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
    """A baseline of stored run rows: one entry per (task, plan, config_hash) with every
    done run's value and every diverged or failed run as a sample without one (runs not
    finished are left out). ``names`` maps (task, stored plan) to the plan's written name;
    plans not in it are named by the label their runs' links agree on, else their short
    label. Done runs without a value are left out."""
    metric = metric if isinstance(metric, Metric) else get_metric(metric)
    frame = pd.DataFrame(list(rows))
    if not frame.empty:
        if "status" not in frame:
            frame["status"] = "done"
        done = frame["status"] == "done"
        frame["value"] = run_values(metric, frame, epochs).where(done)
        frame = frame[(done & frame["value"].notna()) | frame["status"].isin(BROKEN)]
    if frame.empty:
        raise BadInput("no finished runs to take a baseline of: train some with 'optbench run'")
    if "label" not in frame:
        frame["label"] = None
    entries = []
    for (task, plan, config), runs in frame.groupby(["task", "plan", "config_hash"], sort=True):
        runs = runs.sort_values("seed")
        finished = runs[runs["status"] == "done"]
        values = finished["value"].astype(float)
        written = (names or {}).get((task, plan))
        entries.append(
            {
                "task": str(task),
                "plan": str(plan),
                "name": written or group_label(str(plan), runs["label"]),
                "config_hash": str(config),
                "config": configs.describe(runs.iloc[0].to_dict()),
                "n": len(values),
                "mean": _float(values.mean()) if len(values) else None,
                "std": _float(values.std()) if len(values) > 1 else None,
                "samples": [_sample(run) for run in runs.itertuples()],
            }
        )
    entries.sort(key=lambda e: (e["task"], e["name"], e["config_hash"]))
    return {
        "name": name,
        "metric": metric.name,
        "experiment": experiment,
        "created_at": created_at or datetime.now(UTC),
        "versions": versions_of(frame.to_dict("records")),
        "entries": entries,
    }


def _sample(run: Any) -> dict[str, Any]:
    sample = {"seed": int(run.seed), "value": _float(run.value),
              "finished_at": stamp(run.finished_at)}  # fmt: skip
    if run.status != "done":
        sample["status"] = str(run.status)
    return sample


def samples_by_status(entry: Mapping[str, Any]) -> tuple[list[float], dict[str, int]]:
    """A baseline entry's finished values, and its count of samples per other status."""
    values, broken = [], {}
    for sample in entry["samples"]:
        status = sample.get("status", "done")
        if status == "done":
            values.append(float(sample["value"]))
        else:
            broken[status] = broken.get(status, 0) + 1
    return values, broken


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
        if not isinstance(samples, list) or not all(_sample_ok(s) for s in samples):
            raise fail(
                f"entry {i}: 'samples' must be a list of {{seed, value, finished_at}} (a "
                "diverged or failed run: 'status' and no value)"
            )
    return {k: document.get(k) for k in KEYS} | {"versions": document.get("versions") or {}}


def _sample_ok(sample: Any) -> bool:
    if not isinstance(sample, dict):
        return False
    status = sample.get("status", "done")
    if status == "done":
        value = sample.get("value")
        return isinstance(value, int | float) and not isinstance(value, bool)
    return status in BROKEN and sample.get("value") is None
