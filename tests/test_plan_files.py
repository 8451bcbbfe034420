"""The plan files in plans/: each one cites its source, loads, and dry-runs to the runs it
promises (plans x tasks x seeds), naming the data it lacks. (Training the [ANN] Table 2
file on the real Fashion-MNIST takes minutes: benchmarks/ann_fashion_mnist.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from optbench.cli.app import app
from optbench.plan.canonical import format_plan
from optbench.plan.planfile import load_plan_file
from optbench.tasks.registry import DATASETS, get_task

PLANS = Path(__file__).resolve().parent.parent / "plans"
PLAN_FILES = sorted(PLANS.glob("*.yaml"))
SOURCES = ("[MS]", "[PWA]", "[ANN]", "[MIX]", "[DSA]")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_env_data_root(monkeypatch):
    monkeypatch.delenv("OPTBENCH_DATA", raising=False)


def invoke(*args: str):
    # wide enough that no table title or hint is wrapped
    return runner.invoke(app, list(args), env={"COLUMNS": "400"}, catch_exceptions=False)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_there_are_plan_files():
    names = {p.name for p in PLAN_FILES}
    assert "quickstart.yaml" in names
    for prefix in ("ms-", "pwa-", "ann-", "mix-", "dsa-"):
        assert any(n.startswith(prefix) for n in names), prefix


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_opens_with_a_comment_citing_its_source(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# ")
    if path.name == "quickstart.yaml":
        assert first.startswith("# Quickstart") and "[MS]" in first
    else:
        assert any(first.startswith(f"# {tag} ") for tag in SOURCES), first


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_dry_run_lists_every_run_and_the_missing_data(path, tmp_path):
    plan_file = load_plan_file(path)
    total = len(plan_file.plans) * len(plan_file.tasks) * plan_file.seeds
    db = tmp_path / "r.db"
    result = invoke("run", str(path), "--dry-run", "--db", f"sqlite:///{db}")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert f"{plan_file.experiment}: {total} of {total} runs to train" in out
    assert f"({plan_file.epochs} epochs, batch {plan_file.batch_size}, " in out
    assert not db.exists(), "a dry run creates nothing"
    for task in plan_file.tasks:
        assert task in out
    for plan in plan_file.plans:
        assert plan.source.strip() in out  # as the plan file writes it
    datasets = {get_task(task).dataset for task in plan_file.tasks}
    for name in sorted(datasets):
        line = f"missing data {name}:"
        assert (line in out) is (not DATASETS[name].available(None)), name


def test_the_ms_two_timepiece_file_holds_all_64_pairs():
    plan_file = load_plan_file(PLANS / "ms-tables8-15.yaml")
    stages = [tuple(format_plan(p).split(" | ")) for p in plan_file.plans]
    assert all(len(s) == 2 for s in stages)
    firsts = sorted({s[0] for s in stages})
    assert len(firsts) == 8
    assert sorted(stages) == sorted((a, b) for a in firsts for b in firsts)
