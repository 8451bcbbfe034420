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
EXPECTED_TASKS = {
    "mnist-nn2", "mnist-nn3", "mnist-lenet4", "mnist-vgg9",
    "fashion-mnist-nn2", "fashion-mnist-nn3", "fashion-mnist-lenet4", "fashion-mnist-vgg9",
    "cifar10-resnet20", "cifar10-vgg19", "cifar10-resnet18", "cifar10-wrn28-10",
    "cifar100-resnet20", "cifar100-resnet18", "svhn-resnet20",
    "imdb-lstm", "iris-mlp", "wine-mlp", "digits-mlp",
}  # fmt: skip
TOY_TASKS = {"quadratic-track", "sum-of-four-track"}  # [DSA]'s toy problems
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
    assert task.description and task.paper in PAPERS
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


def test_image_datasets_with_augmentation():
    assert {n for n, d in DATASETS.items() if d.augment} == {"cifar10", "cifar100", "svhn"}


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
