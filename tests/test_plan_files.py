"""The plan files in plans/: each one cites its source, loads, dry-runs to the runs it
promises (plans x tasks x seeds) naming the data it lacks, and is the experiment its paper
ran: the settings the paper fixes are pinned here, file by file, and every reported value
it carries names a plan and a task of the file. (Training the [ANN] Table 2 file on the real
Fashion-MNIST takes minutes: benchmarks/ann_fashion_mnist.py.)"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optbench.cli.app import app
from optbench.methods.registry import REGISTRY
from optbench.plan.canonical import format_plan, resolve
from optbench.plan.model import Plan
from optbench.plan.planfile import PlanFile, load_plan_file
from optbench.plan.timeline import carries_optimizer, stage_epochs
from optbench.report.metrics import METRICS
from optbench.tasks.registry import DATASETS, get_task
from tests.catalogue import torch_defaults

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


def load(name: str) -> PlanFile:
    return load_plan_file(PLANS / name)


def resolved(plan_file: PlanFile) -> dict[str, Plan]:
    """Each plan as the file writes it -> the plan with every hyperparameter resolved."""
    return {p.label: resolve(p, plan_file.defaults) for p in plan_file.plans}


def cells(plan_file: PlanFile) -> list[dict]:
    return list(plan_file.paper["cells"]) if plan_file.paper else []


def ge_calls(plan: Plan):
    """Every GE call of every stage: (stage index, call)."""
    return [
        (i, call)
        for i, stage in enumerate(plan.stages)
        for call in stage.calls
        if REGISTRY[call.name].kind.name == "GE"
    ]


def names(plan: Plan, stage: int = 0) -> set[str]:
    return {call.name for call in plan.stages[stage].calls}


# ----------------------------------------------------------------------------------------
# Every file


def test_there_are_plan_files():
    names_ = {p.name for p in PLAN_FILES}
    assert "quickstart.yaml" in names_
    for prefix in ("ms-", "pwa-", "ann-", "mix-", "dsa-"):
        assert any(n.startswith(prefix) for n in names_), prefix


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
    if plan_file.paper:
        assert f"paper: {len(plan_file.paper['cells'])} reported values" in out


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_the_experiment_is_named_after_its_file(path):
    assert load_plan_file(path).experiment == path.stem


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_paper_cells_name_plans_and_tasks_of_the_file_once_each(path):
    plan_file = load_plan_file(path)
    labels = {p.label for p in plan_file.plans}
    stored = {format_plan(p) for p in resolved(plan_file).values()}
    seen = Counter()
    for cell in cells(plan_file):
        assert cell["task"] in plan_file.tasks, cell
        assert cell["name"] in labels, cell  # the plan exactly as the file writes it
        assert cell["plan"] in stored, cell
        assert cell["metric"] in METRICS, cell
        assert cell["stat"] in ("mean", "max"), cell
        seen[(cell["task"], cell["name"], cell["metric"], cell["stat"])] += 1
    assert all(n == 1 for n in seen.values()), [k for k, n in seen.items() if n > 1]


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_every_table_file_carries_the_papers_values(path):
    """A file named after a table has paper cells; figures print no numbers, and the
    [MS] Tables 4-5 timings are times, which no compare metric holds."""
    plan_file = load_plan_file(path)
    if "table" in path.stem and path.stem != "ms-tables4-5":
        assert plan_file.paper and plan_file.paper["cells"], path.name
        assert plan_file.paper["source"].startswith(path.stem.split("-")[0].upper(), 1)
    if "figure" in path.stem:
        assert plan_file.paper is None, path.name


# ----------------------------------------------------------------------------------------
# [ANN]: batch 128, momentum 0.9, weight decay 5e-4, 100 epochs, 10 trials, twelve columns

ANN_COLUMNS = [
    "SGD(lr=0.1)+M", "SGD(lr=0.01)+M", "SGD(lr=0.001)+M", "SGD+M+exp", "SGD+M+str", "SGD+M+sig",
    "RMSprop", "Adam", "SGD+M+rep", "SGD+M+trap", "SGD+M+str+", "SGD+M+sig+",
]  # fmt: skip
ANN = {
    "ann-table2.yaml": (
        [f"{d}-{n}" for d in ("mnist", "fashion-mnist") for n in ("nn2", "nn3", "lenet4", "vgg9")],
        0.001,  # RMSprop and Adam on the shallow networks
    ),
    "ann-table3.yaml": (
        [
            f"{d}-{n}"
            for d in ("svhn", "cifar10", "cifar100")
            for n in ("vgg19", "resnet18", "resnet50", "densenet121", "googlenet")
        ],
        0.0001,  # "tuned to 1/10" on the deep networks
    ),
}


@pytest.mark.parametrize("name", ANN)
def test_ann_files_hold_the_papers_setting_and_its_twelve_columns(name):
    tasks, adaptive_lr = ANN[name]
    plan_file = load(name)
    assert sorted(plan_file.tasks) == sorted(tasks)
    assert (plan_file.epochs, plan_file.batch_size, plan_file.seeds) == (100, 128, 10)
    assert [p.label for p in plan_file.plans] == ANN_COLUMNS
    plans = resolved(plan_file)
    for label, plan in plans.items():
        (ge, *options) = plan.stages[0].calls
        assert ge.kwargs["weight_decay"] == 0.0005, label
        if ge.name == "SGD":
            assert {o.name: o.kwargs for o in options}["M"] == {"momentum": 0.9}, label
        else:
            assert ge.name in ("RMSprop", "Adam") and ge.kwargs["lr"] == adaptive_lr, label
            assert len(plan.stages[0].calls) == 1, label  # no momentum, no schedule
    assert plans["RMSprop"].stages[0].calls[0].kwargs["alpha"] == 0.99
    constant = [
        plans[f"SGD(lr={lr})+M"].stages[0].calls[0].kwargs["lr"] for lr in (0.1, 0.01, 0.001)
    ]
    assert constant == [0.1, 0.01, 0.001]
    for label in ANN_COLUMNS[3:]:  # the annealings start from the upper bound 0.1
        if label.startswith("SGD"):
            assert plans[label].stages[0].calls[0].kwargs["lr"] == 0.1, label
    # the average of the last 10% of epochs and the maximum over 10 trials, every cell
    got = {(c["task"], c["name"], c["stat"], c.get("trials")) for c in cells(plan_file)}
    want = {(t, p, "mean", None) for t in tasks for p in ANN_COLUMNS}
    want |= {(t, p, "max", 10) for t in tasks for p in ANN_COLUMNS}
    assert got == want
    assert {c["metric"] for c in cells(plan_file)} == {"last10"}
    assert all(0 < c["value"] <= 1 for c in cells(plan_file))


# ----------------------------------------------------------------------------------------
# [PWA]: batch 128, 3 seeds, error % mean ± std; weight decay by network; LR drops at 80
# and 120 within one momentum-SGD run

PWA_FILES = sorted(p.name for p in PLANS.glob("pwa-*.yaml"))
BIG_NETS = ("wrn28-10", "resnet34", "densenet121")


def test_every_pwa_table_is_a_pair_of_files_by_weight_decay():
    stems = {name.removesuffix(".yaml") for name in PWA_FILES}
    tables = {"table1a", "table1b-60-30-30", "table1b-80-40-40", "table1b-100-50-50",
              "table1c", "table1d", "table2", "table3", "table4"}  # fmt: skip
    assert stems == {f"pwa-{t}" for t in tables} | {f"pwa-{t}-13layer" for t in tables}


@pytest.mark.parametrize("name", PWA_FILES)
def test_pwa_files_hold_the_papers_setting(name):
    plan_file = load(name)
    thirteen = name.endswith("-13layer.yaml")
    nets = {task.split("-", 1)[1] for task in plan_file.tasks}
    assert nets == ({"cnn13"} if thirteen else set(BIG_NETS))
    datasets = {task.split("-", 1)[0] for task in plan_file.tasks}
    assert datasets == ({"cifar100"} if "table1" in name else {"cifar100", "cifar10", "svhn"})
    assert len(plan_file.tasks) == len(nets) * len(datasets)
    assert (plan_file.batch_size, plan_file.seeds) == (128, 3)
    decay = 0.0001 if thirteen else 0.0005
    for label, plan in resolved(plan_file).items():
        for _, ge in ge_calls(plan):
            assert ge.kwargs["weight_decay"] == decay, label
    for cell in cells(plan_file):
        assert cell["metric"] == "error" and cell["std"] > 0 and cell["stat"] == "mean", cell
    want = {(t, p.label) for t in plan_file.tasks for p in plan_file.plans}
    if "table1a" in name:  # the "Learnt [27]" column has no plan: not implemented
        assert len(plan_file.plans) == 5
    assert {(c["task"], c["name"]) for c in cells(plan_file)} == want


def phases(plan: Plan, epochs: int) -> list[tuple[str, float, int]]:
    """(GE method, lr, epochs) of each stage."""
    lengths = stage_epochs(plan, epochs)
    return [(ge.name, ge.kwargs["lr"], lengths[i]) for i, ge in ge_calls(plan)]


@pytest.mark.parametrize("name", [n for n in PWA_FILES if "table3" not in n])
def test_pwa_phases_drop_the_lr_tenfold_and_the_optimizer_goes_on(name):
    plan_file = load(name)
    lengths = re.search(r"table1b-(\d+)-(\d+)-(\d+)", name)
    first = tuple(map(int, lengths.groups())) if lengths else (80, 40, 40)
    assert plan_file.epochs == sum(first)
    for label, plan in resolved(plan_file).items():
        if len(plan.stages) == 1:  # [PWA] Table 1d's one cosine over the 160 epochs
            assert label == "SGD(lr=0.1)+M+cos" and "table1d" in name
            continue
        got = phases(plan, plan_file.epochs)
        # SGD from 0.1, or ADAM / AMSGRAD / ADABOUND from 0.001, divided by 10 twice
        lrs = (0.1, 0.01, 0.001) if got[0][0] == "SGD" else (0.001, 0.0001, 0.00001)
        assert got == [(got[0][0], lr, n) for lr, n in zip(lrs, first, strict=True)], label
        assert all(
            carries_optimizer(a, b) for a, b in zip(plan.stages, plan.stages[1:], strict=False)
        ), label
        if got[0][0] == "SGD":
            assert all("M" in names(plan, i) for i in range(3)), label


def test_pwa_table_columns():
    def modifiers(name):
        out = []
        for plan in resolved(load(name)).values():
            calls = [c for s in plan.stages for c in s.calls if c.name in ("avg", "polyak", "LA")]
            out.append(sorted({(c.name, c.kwargs.get("gamma0")) for c in calls}))
        return out

    assert modifiers("pwa-table1a.yaml") == [
        [("avg", g)] for g in (0.99, 0.95, 0.9, 0.8, 0.5)
    ]  # fmt: skip
    assert modifiers("pwa-table1c.yaml") == [[], [("polyak", None)], [("avg", 0.9)], [("LA", None)]]
    polyak = resolved(load("pwa-table1c.yaml"))
    (at_the_end,) = [p for p in polyak.values() if "polyak" in format_plan(p)]
    assert [("polyak" in names(at_the_end, i)) for i in range(3)] == [False, False, True]
    decayed = list(resolved(load("pwa-table1d.yaml")).values())
    assert all("avgdecay" in names(decayed[0], i) for i in range(3))
    assert names(decayed[1]) == {"SGD", "M", "cos"}
    table2 = [
        sorted({c.name for _, c in ge_calls(p)}) for p in resolved(load("pwa-table2.yaml")).values()
    ]
    assert table2 == [["Adam"], ["AMSGrad"], ["AdaBound"], ["SGD"], ["SGD"], ["SGD"]]
    table3 = load("pwa-table3.yaml")
    assert table3.epochs == 80
    for label, plan in resolved(table3).items():  # one phase at a constant lr
        assert len(plan.stages) == 1 and not any(
            REGISTRY[c.name].kind.name == "LR" for c in plan.stages[0].calls
        ), label
        (ge,) = [c for _, c in ge_calls(plan)]
        assert ge.kwargs["lr"] == (0.1 if ge.name == "SGD" else 0.001), label
    assert [("avg" in names(p)) for p in resolved(table3).values()] == [False, True] * 4
    assert all(
        "avg" in names(p, i) for p in resolved(load("pwa-table4.yaml")).values() for i in range(3)
    )


# ----------------------------------------------------------------------------------------
# [DSA]: the eight baselines at PyTorch's defaults, DSA's (eta0, beta1, beta2), the MLP in
# batch training for 100 epochs, FMP and DNN with the two-stage recipe and their batches

DSA_BASELINES = ["SGD", "SGD+M", "RMSprop", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax"]
DSA_FILES = {  # file: (tasks, batch size, (T1, T2))
    "dsa-table1-mnist.yaml": (["mnist-fmp"], 64, (50, 15)),
    "dsa-table1-svhn.yaml": (["svhn-fmp"], 64, (75, 15)),
    "dsa-table1-cifar10.yaml": (["cifar10-fmp"], 128, (75, 15)),
    "dsa-table1-cifar100.yaml": (["cifar100-fmp"], 256, (50, 15)),
    "dsa-tables4-6.yaml": (["mnist-lenet5", "svhn-lenet5", "cifar10-lenet5"], 64, (15, 15)),
}


def check_dsa_baselines(plan_file: PlanFile, plans: list[Plan]) -> None:
    """The eight baselines, in order, at torch's defaults but SGD's and Momentum's lr 0.01."""
    for text, plan in zip(DSA_BASELINES, plans, strict=True):
        assert len(plan.stages) == 1, text
        (ge, *options) = plan.stages[0].calls
        assert ge.name == text.split("+")[0], text
        assert ge.kwargs == torch_defaults(ge.name) | ({"lr": 0.01} if ge.name == "SGD" else {})
        assert [(o.name, o.kwargs) for o in options] == (
            [("M", {"momentum": 0.9})] if text == "SGD+M" else []
        ), text


def check_dsa(call) -> None:
    assert call.name == "DSA"
    assert {k: call.kwargs[k] for k in ("eta0", "beta1", "beta2")} == {
        "eta0": -12.0, "beta1": 0.6, "beta2": 0.3
    }  # fmt: skip


def test_dsa_table7_is_the_mlp_in_batch_training():
    plan_file = load("dsa-table7.yaml")
    assert plan_file.tasks == ("iris-mlp", "wine-mlp", "car-mlp", "agaricus-mlp")
    assert plan_file.epochs == 100
    # every epoch is one step on the whole training set: the batch holds the largest
    # training set of the four (AGARICUS's 6,499 rows, [DSA] Table 3)
    assert plan_file.batch_size >= 6499
    plans = list(resolved(plan_file).values())
    check_dsa_baselines(plan_file, plans[:8])
    (dsa,) = plans[8].stages[0].calls
    check_dsa(dsa)
    assert len(cells(plan_file)) == 4 * 9 * 4  # tasks x rows x (ACCU, F1, RC, PCS)


@pytest.mark.parametrize("name", DSA_FILES)
def test_dsa_image_files_run_the_two_stage_recipe_against_the_baselines(name):
    tasks, batch, (t1, t2) = DSA_FILES[name]
    plan_file = load(name)
    assert list(plan_file.tasks) == tasks
    assert (plan_file.batch_size, plan_file.epochs) == (batch, t1 + t2)
    plans = list(resolved(plan_file).values())
    check_dsa_baselines(plan_file, plans[:8])
    recipe = plans[8]
    assert stage_epochs(recipe, plan_file.epochs) == (t1, t2)
    (adamax,) = recipe.stages[0].calls
    assert adamax.name == "Adamax" and adamax.kwargs == torch_defaults("Adamax")
    dsa, full = recipe.stages[1].calls
    check_dsa(dsa)
    assert full.name == "full"  # DSA's stage in batch training


@pytest.mark.parametrize("name", [*DSA_FILES, "dsa-table7.yaml"])
def test_dsa_recall_and_precision_cells_say_the_papers_columns_are_swapped(name):
    plan_file = load(name)
    metrics = Counter(c["metric"] for c in cells(plan_file))
    assert set(metrics) == {"final", "f1", "recall", "precision"}
    assert len(set(metrics.values())) == 1  # four metrics per reported row
    for cell in cells(plan_file):
        # one run per cell in the paper: judged as the best of one trial
        assert (cell["stat"], cell["trials"]) == ("max", 1), cell
        if cell["metric"] in ("recall", "precision"):
            assert "swapped" in cell["note"], cell
        else:
            assert "swapped" not in cell.get("note", ""), cell


def test_dsa_constant_predictors_read_with_the_columns_swapped():
    """IRIS's constant SGD (6 of 30 test rows, one class of three) has macro recall 1/3 and
    macro precision 0.2/3: the paper's PCS 33.33 is the recall, its RC 6.67 the precision."""
    values = {
        (c["task"], c["name"], c["metric"]): c["value"] for c in cells(load("dsa-table7.yaml"))
    }
    assert values[("iris-mlp", "SGD", "final")] == 0.2
    assert values[("iris-mlp", "SGD", "recall")] == 0.3333
    assert values[("iris-mlp", "SGD", "precision")] == 0.0667
    # balanced CIFAR-10 test set: macro recall is the accuracy
    cifar = {
        (c["name"], c["metric"]): c["value"] for c in cells(load("dsa-tables4-6.yaml"))
        if c["task"] == "cifar10-lenet5"
    }  # fmt: skip
    for plan in DSA_BASELINES:
        assert cifar[(plan, "recall")] == cifar[(plan, "final")], plan


@pytest.mark.parametrize(
    ("name", "problem"),
    [("dsa-figure5.yaml", "sum-of-four-track"), ("dsa-figure6.yaml", "quadratic-track"),
     ("dsa-figure10.yaml", "quadratic-b95-track")],
)  # fmt: skip
def test_dsa_toy_figures(name, problem):
    plan_file = load(name)
    assert plan_file.tasks == (problem,) and plan_file.seeds == 1
    plans = resolved(plan_file)
    dsa = [p.stages[0].calls[0] for p in plans.values() if "DSA" in names(p)]
    assert dsa
    if name != "dsa-figure10.yaml":
        (default,) = dsa
        check_dsa(default)
    else:  # each hyperparameter moved alone, upward from the paper's setting
        moved = [
            {k: v for k, v in c.kwargs.items() if v != REGISTRY["DSA"].defaults[k]} for c in dsa
        ]
        assert moved[0] == {} and all(len(m) == 1 for m in moved[1:])
        assert {k for m in moved[1:] for k in m} == {"eta0", "beta1", "beta2"}
        assert all(m[k] > REGISTRY["DSA"].defaults[k] for m in moved[1:] for k in m)


# ----------------------------------------------------------------------------------------
# [MIX]: the dense net on MNIST (150 epochs, batch 256), the CNN (25 epochs, batch 20),
# 10 trials


def test_mix_layerwise_file_is_the_dense_net_with_adam_on_its_first_layer():
    plan_file = load("mix-figures2-4.yaml")
    assert plan_file.tasks == ("mnist-mix-mlp",)
    assert (plan_file.epochs, plan_file.batch_size, plan_file.seeds) == (150, 256, 10)
    plans = list(resolved(plan_file).values())
    alone = [(c.name, c.kwargs["lr"]) for p in plans if len(p.stages[0].calls) == 1
             for c in p.stages[0].calls]  # fmt: skip
    assert alone == [("SGD", 0.01), ("Adam", 0.001), ("Adam", 0.01)]
    mixed = [p.stages[0].calls for p in plans if len(p.stages[0].calls) == 2]
    assert [[(c.name, c.kwargs["lr"], c.selectors) for c in calls] for calls in mixed] == [
        [("Adam", adam, ("fc1.*",)), ("SGD", 0.01, ("fc2.*", "output.*"))] for adam in (0.001, 0.01)
    ]


def test_mix_mas_file_tries_the_papers_gammas_and_variants():
    plan_file = load("mix-figures5-7.yaml")
    assert plan_file.tasks == ("cifar10-lenet5",)
    assert (plan_file.epochs, plan_file.batch_size, plan_file.seeds) == (25, 20, 10)
    calls = [p.stages[0].calls[0] for p in resolved(plan_file).values()]
    assert [c.kwargs["gamma"] for c in calls if c.name == "MAS"] == [0.4, 0.6, 0.7, 1.0]
    variants = {c.name: c.kwargs["gamma"] for c in calls if c.name in ("MASdc", "MASvc", "MASan")}
    assert variants == {"MASdc": 0.6, "MASvc": 0.6, "MASan": 0.6}
    assert all(c.kwargs["lr"] == 0.001 for c in calls)  # eta = 1e-3 for every optimizer


# ----------------------------------------------------------------------------------------
# [MS]: 10 epochs per timepiece; the timing experiment trains seeds apart


def stage_texts(plan: Plan) -> tuple[str, ...]:
    return tuple(format_plan(plan).split(" | "))


def test_the_ms_two_timepiece_file_holds_all_64_pairs():
    plan_file = load_plan_file(PLANS / "ms-tables8-15.yaml")
    stages = [tuple(format_plan(p).split(" | ")) for p in plan_file.plans]
    assert all(len(s) == 2 for s in stages)
    firsts = sorted({s[0] for s in stages})
    assert len(firsts) == 8
    assert sorted(stages) == sorted((a, b) for a in firsts for b in firsts)


@pytest.mark.parametrize(
    ("name", "pieces", "middles"),
    [("ms-table6.yaml", 2, None), ("ms-table7.yaml", 3, ["SGD", "RMSprop", "Adam"]),
     ("ms-tables8-15.yaml", 2, None)],
)  # fmt: skip
def test_ms_timepieces_are_ten_epochs_each(name, pieces, middles):
    plan_file = load(name)
    assert plan_file.tasks == ("cifar10-resnet20", "imdb-lstm")
    assert (plan_file.epochs, plan_file.batch_size) == (10 * pieces, 32)
    for plan in plan_file.plans:
        assert stage_epochs(plan, plan_file.epochs) == (10,) * pieces, plan.label
    if name == "ms-table6.yaml":
        assert [p.label for p in plan_file.plans] == ["SGD | SGD", "SGD | RMSprop", "SGD | Adam"]
    if middles:
        assert [stage_texts(p) for p in plan_file.plans] == [("SGD", m, "SGD") for m in middles]
    # val-acc and val-loss of both tasks for every row, each a single run of the paper
    got = Counter(
        (c["task"], c["name"], c["metric"], c["stat"], c["trials"]) for c in cells(plan_file)
    )
    assert set(got) == {
        (t, p.label, m, "max", 1) for t in plan_file.tasks for p in plan_file.plans
        for m in ("final", "loss")
    }  # fmt: skip


def test_ms_tables8_15_are_grouped_by_their_true_first_timepiece():
    text = (PLANS / "ms-tables8-15.yaml").read_text(encoding="utf-8").split("\npaper:")[0]
    plan_file = load("ms-tables8-15.yaml")
    firsts = [
        "SGD",
        "RMSprop",
        "Adam",
        "(SGD+M)",
        "(SGD+d)",
        "(SGD+M+d)",
        "(RMSprop+d)",
        "(Adam+d)",
    ]
    for table, first in zip(range(8, 16), firsts, strict=True):
        block = text.split(f"# Table {table}:")[1].split("# Table")[0]
        rows = [line.strip()[2:] for line in block.splitlines() if line.strip().startswith("- ")]
        assert len(rows) == 8 and all(r.startswith(f"{first} | ") for r in rows), table
    assert len(plan_file.plans) == 64


def test_ms_tables4_5_time_the_conflicting_lr_operations_seed_by_seed():
    plan_file = load("ms-tables4-5.yaml")
    assert plan_file.tasks == ("cifar10-resnet20",)
    assert plan_file.stack is False and plan_file.batch_size == 32
    assert plan_file.epochs >= 2  # the first epoch, the warm-up, is left out of ms/batch
    table = {}
    for plan in resolved(plan_file).values():
        calls = plan.stages[0].calls
        ge = calls[0].name
        lr = sorted((c.name, c.kwargs.get("k")) for c in calls[1:])
        table.setdefault(ge, []).append(lr)
    assert list(table) == ["RMSprop", "Adam", "NAdam", "Adamax", "Adadelta", "Adagrad"]
    columns = [[("d", None)]] + [[("d", None), ("kRkD", k)] for k in (1, 2, 3, 5)]
    assert all(rows == columns for rows in table.values())


def test_ms_figures6_8_combine_cosine_decay_with_d():
    plans = resolved(load("ms-figures6-8.yaml"))
    lr_methods = {label: names(p) - {"SGD", "M", "Adam", "RMSprop"} for label, p in plans.items()}
    assert lr_methods["SGD+d"] == {"d"} and lr_methods["SGD+cos+d"] == {"cos", "d"}
    for ge in ("SGD+M", "Adam", "RMSprop"):
        assert [lr_methods[f"{ge}{x}"] for x in ("", "+cos", "+cos+d")] == [
            set(),
            {"cos"},
            {"cos", "d"},
        ]
