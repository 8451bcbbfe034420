"""Baselines and ``optbench check``, the nightly regression gate: exit status 1 only for a
drop larger than the tolerance *and* significant (one-sided Welch, α = 0.01)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from typer.testing import CliRunner

from optbench.cli.app import app
from optbench.errors import BadInput
from optbench.plan.canonical import format_plan, resolve
from optbench.plan.parser import parse_plan
from optbench.report.baseline import read_json, snapshot, to_json, write_json
from optbench.report.gate import check_baseline, failed, junit_xml
from optbench.store.engine import open_store

runner = CliRunner()
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def stored(plan: str) -> str:
    return format_plan(resolve(parse_plan(plan)))


def rows(plan: str, accs, *, first_seed=0, task="digits-mlp", config="cfg", hour=0):
    """Run rows as the store gives them; an entry of ``accs`` may be a status (diverged,
    failed) instead of an accuracy."""
    return [
        {
            "id": hash((plan, task, first_seed + i, hour)) % 10**9,
            "task": task,
            "plan": stored(plan),
            "seed": first_seed + i,
            "config_hash": config,
            "epochs": 15 if config == "cfg" else 2,
            "batch_size": 32,
            "device": "cpu",
            "threads": 1,
            "trainer_revision": 2,
            "status": acc if isinstance(acc, str) else "done",
            "finished_at": T0 + timedelta(hours=hour, minutes=i),
            "accuracy": None if isinstance(acc, str) else float(acc),
            "loss": None if isinstance(acc, str) else 1 - float(acc),
            "f1": None,
            "precision": None,
            "recall": None,
            "versions": {"torch": "x"},
        }
        for i, acc in enumerate(accs)
    ]


def noise(mean, n=8, seed=0, sd=0.005):
    return np.random.default_rng(seed).normal(mean, sd, n)


@pytest.fixture
def baseline():
    old = rows("SGD", noise(0.95, seed=1)) + rows("Adam", noise(0.97, seed=2))
    return snapshot("nightly", old), old


def verdicts_of(baseline, new, **kw):
    return {v.name: v for v in check_baseline(baseline, new, **kw)}


def test_new_seeds_of_the_same_plans_are_unchanged(baseline):
    base, old = baseline
    new = rows("SGD", noise(0.95, seed=3), first_seed=8, hour=1)
    new += rows("Adam", noise(0.97, seed=4), first_seed=8, hour=1)
    found = verdicts_of(base, old + new)  # the baseline's own runs are left out
    assert {k: v.status for k, v in found.items()} == {"SGD": "unchanged", "Adam": "unchanged"}
    assert found["SGD"].new.n == 8
    assert not failed(list(found.values()))


def test_a_significant_drop_beyond_the_tolerance_regresses(baseline):
    base, _ = baseline
    new = rows("SGD", noise(0.90, seed=3), hour=1) + rows("Adam", noise(0.97, seed=4), hour=1)
    found = verdicts_of(base, new)
    assert found["SGD"].status == "regressed" and found["SGD"].p_worse < 1e-6
    assert found["SGD"].change == pytest.approx(-0.05, abs=0.01)
    assert found["Adam"].status == "unchanged"
    assert failed(list(found.values()))


def test_a_drop_within_the_tolerance_is_not_a_regression(baseline):
    base, _ = baseline
    # 0.95 -> 0.945 with tiny noise: very significant, but 0.005 < tolerance 0.01
    new = rows("SGD", noise(0.945, sd=0.0005, seed=5), hour=1)
    found = verdicts_of(base, new)
    assert found["SGD"].p_worse < 0.01 and found["SGD"].status == "unchanged"
    assert verdicts_of(base, new, tolerance=0.001)["SGD"].status == "regressed"


def test_a_large_but_noisy_drop_is_not_a_regression():
    base = snapshot("b", rows("SGD", [0.95, 0.80, 0.97]))
    new = rows("SGD", [0.85, 0.96, 0.80], hour=1)
    [verdict] = check_baseline(base, new)
    assert verdict.change < -0.01 and verdict.p_worse > 0.01
    assert verdict.status == "unchanged"


def test_improved_missing_and_untested(baseline):
    base, _ = baseline
    new = rows("SGD", noise(0.99, seed=6), hour=1) + rows("Adam", [0.9], hour=1)
    found = verdicts_of(base, new)
    assert found["SGD"].status == "improved" and found["SGD"].p_better < 1e-6
    assert found["Adam"].status == "untested"
    assert not failed(list(found.values()))
    assert failed(list(found.values()), strict=True)
    missing = verdicts_of(base, rows("SGD", noise(0.95), config="other", hour=1))
    assert missing["Adam"].status == "missing" and "no finished runs" in missing["Adam"].note
    assert missing["SGD"].status == "missing"
    # the note names both configurations; runs of another one are never judged against it
    assert "another configuration (2 epochs, batch 32" in missing["SGD"].note
    assert "the baseline's: 15 epochs, batch 32" in missing["SGD"].note


def test_lower_is_better_metrics_regress_upwards():
    old = rows("SGD", noise(0.95, seed=1))
    base = snapshot("b", old, "error")
    assert base["metric"] == "error" and base["entries"][0]["mean"] == pytest.approx(5, abs=0.5)
    [worse] = check_baseline(base, rows("SGD", noise(0.90, seed=2), hour=1), tolerance=1.0)
    assert worse.status == "regressed" and worse.change > 1.0
    [better] = check_baseline(base, rows("SGD", noise(0.99, seed=2), hour=1), tolerance=1.0)
    assert better.status == "improved"


def test_a_plan_file_maps_a_changed_plan_to_its_baseline_name():
    base = snapshot("b", rows("SGD(lr=0.05)", noise(0.95)), names={
        ("digits-mlp", stored("SGD(lr=0.05)")): "SGD"})  # fmt: skip
    assert base["entries"][0]["name"] == "SGD"
    new = rows("SGD(lr=0.005)", noise(0.80, seed=2), hour=1)
    [unmapped] = check_baseline(base, new)
    assert unmapped.status == "missing"
    targets = {("digits-mlp", "SGD"): stored("SGD(lr=0.005)")}
    [mapped] = check_baseline(base, new, targets=targets)
    assert mapped.status == "regressed" and mapped.plan == stored("SGD(lr=0.005)")
    [gone] = check_baseline(base, new, targets={})
    assert gone.status == "missing" and gone.note == "not in the plan file"


def test_json_round_trip(baseline, tmp_path):
    base, _ = baseline
    path = write_json(base, tmp_path / "b" / "nightly.json")
    again = read_json(path)
    assert again["entries"] == base["entries"]
    assert again["metric"] == "final" and again["versions"] == {"torch": "x"}
    assert again["created_at"] == base["created_at"].isoformat()
    assert json.loads(to_json(again)) == json.loads(path.read_text())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "not an optbench baseline"),
        ('{"optbench_baseline": 2}', "format 2"),
        ('{"optbench_baseline": 1, "metric": "speed", "entries": []}', "unknown metric"),
        ('{"optbench_baseline": 1, "metric": "final", "entries": [{"task": "t"}]}', "lacks"),
    ],
)
def test_a_bad_baseline_file_is_bad_input(tmp_path, text, message):
    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(BadInput, match=message):
        read_json(path)


def test_the_store_keeps_baselines(baseline):
    base, _ = baseline
    with open_store("sqlite://") as store:
        store.save_baseline(base)
        again = store.baseline("nightly")
        # the database keeps the configuration's hash; its words are in the JSON file only
        assert again["entries"] == [
            {k: v for k, v in e.items() if k != "config"} for e in base["entries"]
        ]
        assert again["created_at"] == base["created_at"]
        assert [(b["name"], b["entries"]) for b in store.baselines()] == [("nightly", 2)]
        with pytest.raises(BadInput, match="--replace"):
            store.save_baseline(base)
        store.save_baseline(base | {"entries": base["entries"][:1]}, replace=True)
        assert len(store.baseline("nightly")["entries"]) == 1
        assert store.baseline("none") is None


def test_junit_has_one_testcase_per_plan_and_a_failure_per_regression(baseline):
    base, _ = baseline
    new = rows("SGD", noise(0.90, seed=3), hour=1)
    verdicts = check_baseline(base, new)
    suite = ET.fromstring(junit_xml(verdicts, base))
    assert suite.tag == "testsuite"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"SGD", "Adam"}
    failure = cases["SGD"].find("failure")
    assert failure.get("type") == "regression" and "0.95" in failure.get("message")
    assert cases["Adam"].find("skipped") is not None
    strict = ET.fromstring(junit_xml(verdicts, base, strict=True))
    assert strict.get("failures") == "2"


def test_check_cli_bad_input_exits_2(tmp_path):
    db = tmp_path / "r.db"
    open_store(str(db)).close()
    cases = [
        ("nightly", "no baseline named 'nightly'"),
        (str(tmp_path / "none.json"), "cannot read baseline file"),
    ]
    for reference, message in cases:
        result = runner.invoke(app, ["check", "--baseline", reference, "--db", str(db)])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output


def test_a_plan_whose_new_runs_all_diverged_or_failed_regresses(baseline):
    base, _ = baseline
    new = rows("SGD", ["diverged"] * 4, hour=1) + rows("Adam", ["failed"] * 2, hour=1)
    found = verdicts_of(base, new)
    assert found["SGD"].status == "regressed" and found["Adam"].status == "regressed"
    assert found["SGD"].note == "no new run finished: 4 diverged"
    assert found["Adam"].note == "no new run finished: 2 failed"
    assert failed(list(found.values()))
    suite = ET.fromstring(junit_xml(list(found.values()), base))
    assert suite.get("failures") == "2" and "4 diverged" in junit_xml(list(found.values()), base)


def test_divergence_the_baseline_did_not_have_regresses():
    base = snapshot("b", rows("SGD", noise(0.95, seed=1)))
    [verdict] = check_baseline(base, rows("SGD", [*noise(0.95, seed=2, n=7), "diverged"], hour=1))
    assert verdict.status == "regressed" and verdict.new.diverged == 1
    assert verdict.note == "1 of 8 new runs diverged; none of the baseline's 8 did"
    # a baseline that diverged as often: judged on the finished runs
    flaky = snapshot("b", rows("SGD", [*noise(0.95, seed=1, n=7), "diverged"]))
    assert flaky["entries"][0]["n"] == 7 and len(flaky["entries"][0]["samples"]) == 8
    [same] = check_baseline(flaky, rows("SGD", [*noise(0.95, seed=2, n=7), "diverged"], hour=1))
    assert same.status == "unchanged"
    # ... unless a significantly larger share diverges
    [more] = check_baseline(
        flaky, rows("SGD", [*noise(0.95, seed=2, n=3), *["diverged"] * 12], hour=1)
    )
    assert more.status == "regressed" and "Fisher" in more.note


def test_fisher_exact_matches_scipy():
    from scipy.stats import fisher_exact

    from optbench.report.gate import fisher_greater

    for table in [(1, 7, 1, 7), (12, 3, 1, 7), (0, 5, 3, 2), (4, 4, 0, 8)]:
        hits_a, misses_a, hits_b, misses_b = table
        expected = fisher_exact([[hits_a, misses_a], [hits_b, misses_b]], "greater").pvalue
        assert fisher_greater(*table) == pytest.approx(expected)


def test_failed_runs_beside_finished_ones_are_named(baseline):
    base, _ = baseline
    new = rows("SGD", [*noise(0.95, seed=3, n=6), "failed"], hour=1)
    found = verdicts_of(base, new)
    assert found["SGD"].status == "unchanged" and "1 new run(s) failed" in found["SGD"].note


def test_a_baseline_keeps_diverged_runs_as_samples_without_a_value(tmp_path):
    base = snapshot("b", rows("SGD", [0.9, 0.91, "diverged", "failed"]))
    [entry] = base["entries"]
    assert entry["n"] == 2 and entry["mean"] == pytest.approx(0.905)
    assert [s.get("status", "done") for s in entry["samples"]] == ["done", "done", "diverged",
                                                                    "failed"]  # fmt: skip
    assert entry["config"] == "15 epochs, batch 32, cpu, 1 thread, trainer 2"
    assert read_json(write_json(base, tmp_path / "b.json"))["entries"] == base["entries"]
    with open_store("sqlite://") as store:
        store.save_baseline(base)
        assert store.baseline("b")["entries"][0]["samples"] == entry["samples"]


def test_baselines_keep_configurations_apart():
    long = rows("SGD", noise(0.95, seed=1))
    short = rows("SGD", noise(0.80, seed=2), config="short", first_seed=8)
    base = snapshot("b", long + short)
    assert sorted((e["config_hash"], e["n"]) for e in base["entries"]) == [
        ("cfg", 8),
        ("short", 8),
    ]
    new = rows("SGD", noise(0.95, seed=3), hour=1)
    new += rows("SGD", noise(0.80, seed=4), config="short", hour=1)
    verdicts = check_baseline(base, new)
    assert [v.status for v in verdicts] == ["unchanged", "unchanged"]
    assert {v.config for v in verdicts} == {
        "15 epochs, batch 32, cpu, 1 thread, trainer 2",
        "2 epochs, batch 32, cpu, 1 thread, trainer 2",
    }
    names = [c.get("name") for c in ET.fromstring(junit_xml(verdicts, base)).iter("testcase")]
    assert len(set(names)) == 2  # one test case per configuration


# -- end to end: real training on scikit-learn's digits ------------------------------------

PLAN = """\
experiment: {experiment}
tasks: [digits-mlp]
epochs: 3
batch_size: 64
seeds: 5
defaults:
  SGD: {{lr: {lr}}}
plans:
  - SGD+M
"""


@pytest.fixture
def one_thread():
    """A tiny MLP trains ~100x faster on one CPU thread than on two threads of a busy
    machine (OpenMP workers wait on each other)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def cli(*args) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def test_check_fails_on_a_worse_plan_and_passes_on_new_seeds(tmp_path, one_thread):
    """Baseline: `SGD+M` (SGD lr 0.05) on seeds 0-4. The same plan file re-run with 10 seeds
    trains seeds 5-9, which the check judges: unchanged, exit 0. The plan file with SGD's
    LR cut tenfold (the plan still written `SGD+M`) is judged under the same name: exit 1."""
    db = f"sqlite:///{tmp_path / 'r.db'}"
    good, worse = tmp_path / "good.yaml", tmp_path / "worse.yaml"
    good.write_text(PLAN.format(experiment="gate", lr=0.05))
    worse.write_text(PLAN.format(experiment="gate-worse", lr=0.005))
    assert cli("run", good, "--db", db, "--device", "cpu")[0] == 0
    code, out = cli("baseline", "save", "nightly", "--plan-file", good, "--db", db,
                    "--json", tmp_path / "nightly.json")  # fmt: skip
    assert code == 0 and "5 finished runs" in out, out

    assert cli("run", good, "--db", db, "--device", "cpu", "--seeds", "10")[0] == 0
    code, out = cli("check", "--baseline", "nightly", "--plan-file", good, "--db", db,
                    "--junit", tmp_path / "same.xml")  # fmt: skip
    assert code == 0, out
    assert "unchanged" in out and "(n=5)" in out
    assert ET.parse(tmp_path / "same.xml").getroot().get("failures") == "0"

    assert cli("run", worse, "--db", db, "--device", "cpu")[0] == 0
    code, out = cli("check", "--baseline", tmp_path / "nightly.json", "--plan-file", worse,
                    "--db", db, "--junit", tmp_path / "worse.xml")  # fmt: skip
    assert code == 1, out
    assert "regressed" in out
    suite = ET.parse(tmp_path / "worse.xml").getroot()
    assert suite.get("failures") == "1"
    assert suite.find("testcase/failure").get("type") == "regression"

    code, out = cli("baseline", "list", "--db", db)
    assert code == 0 and "nightly" in out
    code, out = cli("baseline", "export", "nightly", tmp_path / "again.json", "--db", db)
    assert code == 0 and read_json(tmp_path / "again.json")["entries"][0]["n"] == 5
