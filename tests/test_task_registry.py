"""The task catalogue: every path resolves; availability is checked without torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from optbench.errors import UnknownTask
from optbench.tasks.datasets.files import FASHION_MNIST_DIR
from optbench.tasks.registry import (
    DATASETS,
    TASKS,
    _resolve,
    build_augment,
    build_loader,
    build_model,
    get_task,
)

REPO = Path(__file__).resolve().parents[1]
ANN = {  # [ANN] §4.1, Tables 2 and 3
    f"{d}-{m}" for d in ("mnist", "fashion-mnist") for m in ("nn2", "nn3", "lenet4", "vgg9")
} | {
    f"{d}-{m}"
    for d in ("svhn", "cifar10", "cifar100")
    for m in ("vgg19", "resnet18", "resnet50", "densenet121", "googlenet")
}
PWA = {  # [PWA] §3, Tables 1 and 2
    f"{d}-{m}"
    for d in ("cifar100", "cifar10", "svhn")
    for m in ("cnn13", "resnet34", "wrn28-10", "densenet121")
}
DSA = {  # [DSA] §3.1, Tables 1, 2 and 7
    f"{d}-{m}" for d in ("mnist", "svhn", "cifar10", "cifar100") for m in ("fmp", "lenet5")
} | {f"{d}-mlp" for d in ("iris", "wine", "car", "agaricus")}
MIX = {"mnist-mix-mlp", "cifar10-lenet5"}  # [MIX] §III.C
MS = {"cifar10-resnet20", "imdb-lstm"}
OWN = {"digits-mlp", "cifar100-resnet20", "svhn-resnet20"}
EXPECTED_TASKS = ANN | PWA | DSA | MIX | MS | OWN
TOY_TASKS = {"quadratic-track", "quadratic-b95-track", "sum-of-four-track"}  # [DSA]
PAPERS = {"[ANN]", "[MS]", "[PWA]", "[MIX]", "[DSA]", "-"}


def test_the_catalogue_holds_every_task():
    assert set(TASKS) == EXPECTED_TASKS | TOY_TASKS


@pytest.mark.parametrize("name", sorted(TOY_TASKS))
def test_toy_tasks_name_a_toy_problem(name):
    from optbench.tasks.toy import PROBLEMS

    task = get_task(name)
    assert task.kind == "toy" and task.dataset in PROBLEMS and task.dataset in DATASETS
    assert DATASETS[task.dataset].available()


@pytest.mark.parametrize("name", sorted(EXPECTED_TASKS))
def test_every_task_resolves(name):
    task = get_task(name)
    assert task.dataset in DATASETS and name.startswith(task.dataset + "-")
    assert task.description and set(task.paper.split()) <= PAPERS
    assert callable(build_loader(task)) and callable(build_model(task))
    augment = build_augment(task)
    assert augment is None or callable(augment)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_dataset_is_located_or_bundled(name, tmp_path):
    spec = DATASETS[name]
    assert spec.description
    if spec.locate:
        assert spec.hint and callable(_resolve(spec.locate))
        # An empty folder holds nothing; only Debian's Fashion-MNIST has a system location.
        system = name == "fashion-mnist" and FASHION_MNIST_DIR.is_dir()
        assert spec.available(tmp_path) is system
    else:
        assert spec.available(tmp_path) is True


@pytest.mark.parametrize(
    ("paper", "names"),
    [("[ANN]", ANN), ("[PWA]", PWA), ("[DSA]", DSA), ("[MIX]", MIX), ("[MS]", MS)],
)
def test_each_papers_tasks_carry_its_tag(paper, names):
    assert {n for n, t in TASKS.items() if paper in t.paper.split()} == names | (
        TOY_TASKS if paper == "[DSA]" else set()
    )


def test_augmentation_follows_each_paper():
    """[PWA] §3: crop everywhere, flips on CIFAR only; [DSA] trains without "data
    expansion"; MNIST-like images and tables are never augmented."""
    crop_flip = "optbench.tasks.augment:augment_crop_flip"
    crop = "optbench.tasks.augment:augment_crop"
    for name, task in TASKS.items():
        papers = set(task.paper.split())
        if task.dataset in ("cifar10", "cifar100") and papers & {"[ANN]", "[PWA]", "[MS]", "-"}:
            assert task.augment == crop_flip, name
        elif task.dataset == "svhn" and papers & {"[ANN]", "[PWA]", "-"}:
            assert task.augment == crop, name
        else:
            assert task.augment == "", name
    assert get_task("svhn-wrn28-10").augment == crop  # a flipped digit is another glyph
    assert build_augment(get_task("cifar10-fmp")) is None


def test_unknown_task_suggests_a_close_name():
    with pytest.raises(UnknownTask, match="did you mean 'cifar10-resnet20'"):
        get_task("cifar10-resnet2")


def test_availability_does_not_import_torch(tmp_path):
    code = (
        "import sys\n"
        "from optbench.tasks.registry import DATASETS\n"
        "found = {n: d.available() for n, d in DATASETS.items()}\n"
        "found.update({n: d.available(sys.argv[1]) for n, d in DATASETS.items()})\n"
        "heavy = [m for m in ('torch', 'torchvision', 'numpy', 'scipy', 'sklearn') if m in sys.modules]\n"  # noqa: E501
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPTBENCH_DATA": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
