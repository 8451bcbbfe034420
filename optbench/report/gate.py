"""``optbench check``: the nightly regression gate, and its JUnit XML.

For every (task, plan, config) entry of a baseline, the runs to judge are the runs of the
same task and configuration (config hash: epochs, batch size, device, threads, trainer
revision) and of the same plan — or, with a plan file, of the plan the file now writes
under the entry's name — that are *not the baseline's own runs* (same seed and finish time
as a baseline sample): done ones, and diverged or failed ones. In a fresh database (CI)
that is every run; in the database the baseline was taken from, the runs trained since
(new seeds, or runs redone). Runs of another configuration are never judged against it.

- **regressed** (a broken plan): no new run finished, and some diverged or failed;
- **regressed** (divergence): new runs diverged where none of the baseline's did, or a
  larger share diverged than in the baseline and a one-sided Fisher exact test gives
  p < ``alpha``;
- **regressed**: the mean got worse by more than ``tolerance`` (in the metric's units:
  0.01 = one accuracy point) *and* the one-sided Welch t-test "new is worse" gives
  p < ``alpha`` (0.01);
- **improved**: the same the other way;
- **unchanged**: anything else — a change within the tolerance, or one that is not
  significant;
- **untested**: fewer than 2 values on one side; nothing can be said (never a regression);
- **missing**: no runs to judge.

Only a regression fails the gate; with ``strict``, untested and missing ones fail it too.
Failed runs besides finished ones are errors, not results: they are named in the note and
a later ``optbench run`` retries them.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from optbench.report import configs
from optbench.report.baseline import samples_by_status, stamp, versions_of
from optbench.report.metrics import Metric, get_metric, run_values
from optbench.report.stats import welch_p

ALPHA = 0.01
TOLERANCE = 0.01
STATUSES = ("regressed", "improved", "unchanged", "untested", "missing")
_STYLE = {
    "regressed": "bold red",
    "improved": "green",
    "unchanged": "",
    "untested": "yellow",
    "missing": "yellow",
}


@dataclass(frozen=True)
class Stats:
    """The finished runs' values on one side of a check, and how many runs diverged or
    failed."""

    mean: float | None
    std: float | None
    n: int
    diverged: int = 0
    failed: int = 0

    @classmethod
    def of(cls, values: Sequence[float], diverged: int = 0, failed: int = 0) -> Stats:
        values = np.asarray(values, dtype=float)
        n = len(values)
        mean = float(values.mean()) if n else None
        return cls(mean, float(values.std(ddof=1)) if n > 1 else None, n, diverged, failed)

    def text(self, decimals: int) -> str:
        counted = ((self.diverged, "diverged"), (self.failed, "failed"))
        broken = "".join(f", {k} {what}" for k, what in counted if k)
        if self.mean is None:
            return f"– (n=0{broken})" if broken else "–"
        std = f" ± {self.std:.{decimals}f}" if self.std is not None else ""
        return f"{self.mean:.{decimals}f}{std} (n={self.n}{broken})"


@dataclass(frozen=True)
class Verdict:
    task: str
    name: str  # the plan's name in the baseline
    plan: str  # the stored plan whose runs were judged
    status: str
    base: Stats
    new: Stats
    p_worse: float | None = None  # one-sided p of "new is worse than the baseline"
    p_better: float | None = None
    note: str = ""
    config: str = ""  # the configuration in words

    @property
    def change(self) -> float | None:
        """new mean − baseline mean, in the metric's units."""
        if self.base.mean is None or self.new.mean is None:
            return None
        return self.new.mean - self.base.mean

    def summary(self, metric: Metric) -> str:
        """One line: the numbers behind the verdict."""
        d = metric.decimals
        parts = [f"{metric.name} {self.base.text(d)} → {self.new.text(d)}"]
        if self.change is not None and self.new.n:
            parts.append(f"change {self.change:+.{d}f}")
        p = self.p_better if self.status == "improved" else self.p_worse
        if p is not None:
            parts.append(f"one-sided p={p:.2g}")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)


def check_baseline(
    baseline: Mapping[str, Any],
    rows: Sequence[dict],
    epochs: Sequence[dict] | None = None,
    *,
    targets: Mapping[tuple[str, str], str] | None = None,
    alpha: float = ALPHA,
    tolerance: float = TOLERANCE,
) -> list[Verdict]:
    """Judge each baseline entry against ``rows`` (run rows of any status, e.g. of one
    experiment; with their epoch rows when the baseline's metric needs them).

    ``targets`` (from a plan file) maps (task, name) to the stored plan to judge under that
    name; an entry whose name the plan file no longer has is missing. Without it, an entry
    judges runs of its own stored plan.
    """
    metric = get_metric(baseline["metric"])
    frame = pd.DataFrame(list(rows))
    groups: dict[tuple, pd.DataFrame] = {}
    seen: dict[tuple[str, str], list[str]] = {}  # (task, plan) -> configurations in words
    if not frame.empty:
        if "status" not in frame:
            frame["status"] = "done"
        frame["value"] = run_values(metric, frame, epochs).where(frame["status"] == "done")
        groups = dict(iter(frame.groupby(["task", "plan", "config_hash"])))
        for (task, plan, _), runs in groups.items():
            seen.setdefault((task, plan), []).append(configs.describe(runs.iloc[0].to_dict()))
    verdicts = []
    for entry in baseline["entries"]:
        task, name = entry["task"], entry["name"]
        values, broken = samples_by_status(entry)
        base = Stats.of(values, broken.get("diverged", 0))
        config = entry.get("config") or ""
        if targets is not None and (task, name) not in targets:
            verdicts.append(Verdict(task, name, entry["plan"], "missing", base, Stats.of([]),
                                    note="not in the plan file", config=config))  # fmt: skip
            continue
        plan = targets[(task, name)] if targets is not None else entry["plan"]
        runs = groups.get((task, plan, entry["config_hash"]))
        if runs is not None and not config:
            config = configs.describe(runs.iloc[0].to_dict())
        own = {(s.get("seed"), s.get("finished_at")) for s in entry["samples"]}
        new_values: list[float] = []
        new_broken = {"diverged": 0, "failed": 0}
        if runs is not None:
            for seed, finished, status, value in zip(
                runs["seed"], runs["finished_at"], runs["status"], runs["value"], strict=True
            ):
                if (int(seed), stamp(finished)) in own:
                    continue
                if status == "done" and not math.isnan(value):
                    new_values.append(float(value))
                elif status in new_broken:
                    new_broken[status] += 1
        new = Stats.of(new_values, new_broken["diverged"], new_broken["failed"])
        verdict = _broken(task, name, plan, base, new, alpha)
        if verdict is None and not new_values:
            note = _why_missing(runs, seen.get((task, plan), []), config)
            verdict = Verdict(task, name, plan, "missing", base, new, note=note)
        if verdict is None:
            verdict = _judge(task, name, plan, base, new, metric, alpha, tolerance)
        if new.failed and new.n:
            failed_note = f"{new.failed} new run(s) failed (errors, retried by a later run)"
            verdict = replace(verdict, note="; ".join(filter(None, [verdict.note, failed_note])))
        verdicts.append(replace(verdict, config=config))
    return verdicts


def _broken(task, name, plan, base: Stats, new: Stats, alpha: float) -> Verdict | None:
    """A regression by divergence or failure, or None: no new run finished while some
    diverged or failed (a broken plan), or divergence that the baseline did not have."""
    if new.n == 0 and (new.diverged or new.failed):
        parts = [f"{k} {what}" for k, what in ((new.diverged, "diverged"),
                                                (new.failed, "failed")) if k]  # fmt: skip
        note = f"no new run finished: {', '.join(parts)}"
        return Verdict(task, name, plan, "regressed", base, new, note=note)
    if not new.diverged:
        return None
    share = f"{new.diverged} of {new.diverged + new.n} new runs diverged"
    if not base.diverged:
        note = f"{share}; none of the baseline's {base.n} did"
        return Verdict(task, name, plan, "regressed", base, new, note=note)
    p = fisher_greater(new.diverged, new.n, base.diverged, base.n)
    if new.diverged / (new.diverged + new.n) > base.diverged / (base.diverged + base.n) and (
        p < alpha
    ):
        note = (
            f"{share}, the baseline {base.diverged} of {base.diverged + base.n} "
            f"(one-sided Fisher p={p:.2g})"
        )
        return Verdict(task, name, plan, "regressed", base, new, note=note)
    return None


def fisher_greater(hits_a: int, misses_a: int, hits_b: int, misses_b: int) -> float:
    """One-sided Fisher exact test that group a has a larger share of hits than group b:
    P(X ≥ hits_a) for X hypergeometric with the table's margins."""
    total_hits, size_a = hits_a + hits_b, hits_a + misses_a
    total = size_a + hits_b + misses_b
    denominator = math.comb(total, size_a)
    return (
        sum(
            math.comb(total_hits, k) * math.comb(total - total_hits, size_a - k)
            for k in range(hits_a, min(total_hits, size_a) + 1)
        )
        / denominator
    )


def _why_missing(runs: pd.DataFrame | None, seen: Sequence[str], config: str) -> str:
    if runs is not None:
        return "no runs besides the baseline's own: train new seeds, or in a fresh database"
    if seen:
        baseline = f"; the baseline's: {config}" if config else ""
        return (
            f"runs only with another configuration ({'; '.join(seen)}){baseline}: save a new "
            "baseline, or train with the baseline's settings"
        )
    return "no finished runs of this plan"


def _judge(task, name, plan, base: Stats, new: Stats, metric: Metric, alpha, tolerance) -> Verdict:
    if base.n < 2 or new.n < 2:
        return Verdict(
            task,
            name,
            plan,
            "untested",
            base,
            new,
            note="fewer than 2 runs on one side: not tested",
        )
    # "new is worse": new < base for higher-is-better metrics, base < new otherwise
    low, high = (new, base) if metric.higher_is_better else (base, new)
    p_worse, p_better = _p_less(low, high), _p_less(high, low)
    drop = base.mean - new.mean if metric.higher_is_better else new.mean - base.mean
    if drop > tolerance and p_worse < alpha:
        status = "regressed"
    elif -drop > tolerance and p_better < alpha:
        status = "improved"
    else:
        status = "unchanged"
    return Verdict(task, name, plan, status, base, new, p_worse, p_better)


def _p_less(a: Stats, b: Stats) -> float:
    """One-sided Welch p of H1: mean(a) < mean(b)."""
    return float(welch_p(a.mean, a.std, a.n, b.mean, b.std, b.n, "less"))


def failed(verdicts: Sequence[Verdict], *, strict: bool = False) -> bool:
    """Whether the gate fails: a regression, or with ``strict`` also untested/missing."""
    bad = {"regressed", "untested", "missing"} if strict else {"regressed"}
    return any(v.status in bad for v in verdicts)


def counts(verdicts: Sequence[Verdict]) -> str:
    return ", ".join(f"{sum(v.status == s for v in verdicts)} {s}" for s in STATUSES)


def version_note(baseline: Mapping[str, Any], rows: Sequence[dict]) -> str | None:
    """A line naming the software versions that differ between the baseline's runs and
    ``rows``, or None when none differ."""
    latest = versions_of(rows)
    before = baseline.get("versions") or {}
    changed = [
        f"{name} {before.get(name, '?')} → {latest.get(name, '?')}"
        for name in sorted(set(before) | set(latest))
        if before.get(name) != latest.get(name) and latest.get(name) is not None
    ]
    return "versions changed since the baseline: " + "; ".join(changed) if changed else None


def render_check(
    verdicts: Sequence[Verdict],
    baseline: Mapping[str, Any],
    alpha: float,
    tolerance: float,
    note: str | None = None,
) -> RenderableType:
    """The verdicts as a table under a line saying what was tested, then the counts."""
    metric = get_metric(baseline["metric"])
    head = Text.assemble(
        (f"optbench check against baseline {baseline['name']!r}", "bold"),
        f" ({metric.title}): regressed = worse by more than {tolerance:g} and one-sided "
        f"Welch p < {alpha:g}",
    )
    table = Table()
    for col in ("status", "task", "plan", "configuration", "baseline", "latest", "change", "p",
                "note"):  # fmt: skip
        table.add_column(col, no_wrap=col == "status", min_width=6 if col == "status" else None)
    d = metric.decimals
    for v in verdicts:
        p = v.p_better if v.status == "improved" else v.p_worse
        table.add_row(
            Text(v.status, style=_STYLE[v.status]),
            Text(v.task),
            Text(v.name),
            Text(v.config or configs.NOT_RECORDED),
            v.base.text(d),
            v.new.text(d),
            "–" if v.change is None or not v.new.n else f"{v.change:+.{d}f}",
            "–" if p is None else f"{p:.2g}",
            Text(v.note),
        )
    parts: list[RenderableType] = [head]
    if note:
        parts.append(Text(note, style="yellow"))
    return Group(*parts, table, Text(counts(verdicts)))


def junit_xml(
    verdicts: Sequence[Verdict],
    baseline: Mapping[str, Any],
    *,
    alpha: float = ALPHA,
    tolerance: float = TOLERANCE,
    strict: bool = False,
) -> str:
    """One ``<testsuite>``, one ``<testcase>`` per (task, plan): a regression is a
    ``<failure>`` with the numbers; untested and missing ones are ``<skipped>`` (failures
    with ``strict``); improved and unchanged ones pass, their numbers in ``<system-out>``."""
    metric = get_metric(baseline["metric"])
    bad = {"regressed", "untested", "missing"} if strict else {"regressed"}
    failures = sum(v.status in bad for v in verdicts)
    skipped = sum(v.status in ("untested", "missing") and v.status not in bad for v in verdicts)
    suite = ET.Element(
        "testsuite",
        {
            "name": f"optbench check {baseline['name']}",
            "tests": str(len(verdicts)),
            "failures": str(failures),
            "errors": "0",
            "skipped": str(skipped),
        },
    )
    properties = ET.SubElement(suite, "properties")
    for key, value in (
        ("baseline", baseline["name"]),
        ("metric", metric.name),
        ("alpha", f"{alpha:g}"),
        ("tolerance", f"{tolerance:g}"),
        ("strict", str(strict).lower()),
    ):
        ET.SubElement(properties, "property", {"name": key, "value": str(value)})
    names = Counter((v.task, v.name) for v in verdicts)
    for v in verdicts:
        name = v.name if names[(v.task, v.name)] == 1 else f"{v.name} [{v.config}]"
        case = ET.SubElement(suite, "testcase", {"classname": v.task, "name": name, "time": "0"})
        text = f"{v.status}: {v.summary(metric)}"
        if v.config:
            text += f"; configuration: {v.config}"
        if v.status in bad:
            kind = "regression" if v.status == "regressed" else v.status
            failure = ET.SubElement(case, "failure", {"message": text, "type": kind})
            failure.text = f"{text}\nplan judged: {v.plan}"
        elif v.status in ("untested", "missing"):
            ET.SubElement(case, "skipped", {"message": text})
        else:
            ET.SubElement(case, "system-out").text = text
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )
