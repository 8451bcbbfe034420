"""Plan files: a good one loads, and every error names the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from optbench.errors import BadInput, PlanFileError
from optbench.plan.canonical import format_plan, resolve
from optbench.plan.parser import parse_plan
from optbench.plan.planfile import PlanFile, load_plan_file

GOOD = """\
experiment: ms-two-timepieces
tasks: [mnist-nn2, fashion-nn3]
epochs: 20
batch_size: 128
seeds: 3
defaults:
  SGD: {lr: 0.1}
  d:
    rate: 1e-6          # YAML 1.1 reads this as a string; the plan file reads a number
  plateau: {patience: 5}
plans:
  - SGD | (Adam+d) | SGD
  - "(SGD+M):plateau | SGD(lr=0.01)"
  - >-
    SGD:80 |
    Adam
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def error_text(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(PlanFileError) as info:
        load_plan_file(path)
    assert isinstance(info.value, BadInput)
    return str(info.value).replace(str(path), "plan.yaml")


def test_good_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    loaded = load_plan_file(str(path))
    assert isinstance(loaded, PlanFile)
    assert loaded.experiment == "ms-two-timepieces"
    assert loaded.tasks == ("mnist-nn2", "fashion-nn3")
    assert (loaded.epochs, loaded.batch_size, loaded.seeds) == (20, 128, 3)
    assert loaded.defaults == {"SGD": {"lr": 0.1}, "d": {"rate": 1e-6}, "plateau": {"patience": 5}}
    assert loaded.plans == (
        parse_plan("SGD | (Adam+d) | SGD"),
        parse_plan("(SGD+M):plateau | SGD(lr=0.01)"),
        parse_plan("SGD:80 | Adam"),
    )
    assert loaded.path == path
    assert format_plan(resolve(loaded.plans[1], loaded.defaults)) == (
        "(SGD(lr=0.1, weight_decay=0.0)+M(momentum=0.9)):plateau(patience=5, max=40) | "
        "SGD(lr=0.01, weight_decay=0.0)"
    )


def test_defaults_for_optional_keys(tmp_path: Path) -> None:
    loaded = load_plan_file(write(tmp_path, "experiment: x\ntasks: mnist\nplans: [SGD]\n"))
    assert loaded.tasks == ("mnist",)
    assert (loaded.epochs, loaded.batch_size, loaded.seeds) == (10, 32, 1)
    assert loaded.defaults == {}


HEAD = "experiment: x\ntasks: [a]\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "experiment: x\nplans: [SGD]\n",
            "plan.yaml:1 (key 'tasks'): this required key is missing",
        ),
        (
            HEAD + "epochs: ten\nplans: [SGD]\n",
            "plan.yaml:3 (key 'epochs'): expected a whole number of at least 1, got 'ten'",
        ),
        (
            HEAD + "seeds: 0\nplans: [SGD]\n",
            "plan.yaml:3 (key 'seeds'): expected a whole number of at least 1, got 0",
        ),
        (
            HEAD + "batch_size: true\nplans: [SGD]\n",
            "plan.yaml:3 (key 'batch_size'): expected a whole number of at least 1, got true",
        ),
        (
            "experiment: [a]\ntasks: [a]\nplans: [SGD]\n",
            "plan.yaml:1 (key 'experiment'): expected a text, got a list",
        ),
        (
            "experiment: x\ntasks: [a, 3]\nplans: [SGD]\n",
            "plan.yaml:2 (key 'tasks'): expected a task name or a list of them, got 3",
        ),
        (
            HEAD + "plans: []\n",
            "plan.yaml:3 (key 'plans'): expected at least one plan expression",
        ),
        (
            HEAD + "epoch: 3\nplans: [SGD]\n",
            "plan.yaml:3 (key 'epoch'): unknown key; did you mean 'epochs'? (valid keys: "
            "experiment, tasks, epochs, batch_size, seeds, defaults, plans)",
        ),
        (
            HEAD + "epochs: 3\nepochs: 4\nplans: [SGD]\n",
            "plan.yaml:4 (key 'epochs'): given twice (first on line 3)",
        ),
        (
            HEAD + "plans:\n  - SGD\n  - SGD | Adma\n",
            "plan.yaml:5 (key 'plans'): unknown method 'Adma'; did you mean 'Adam', 'Adamax', "
            "'AdamW'?\n    SGD | Adma\n          ~~~^",
        ),
        (
            HEAD + "plans:\n  - SGD | (Adam+d | SGD\n",
            "plan.yaml:4 (key 'plans'): expected ')' to close the stage opened here\n"
            "    SGD | (Adam+d | SGD\n"
            "          ^",
        ),
        (
            HEAD + "plans:\n  - SGD: 80\n",
            "plan.yaml:4 (key 'plans'): expected a plan expression, got a mapping; "
            "quote it if it contains ': '",
        ),
        (
            HEAD + "plans:\n  - SGD\n  - SGD(lr=0.01)\n",
            "plan.yaml:5 (key 'plans'): the same plan as on line 4: SGD(lr=0.01, weight_decay=0.0)",
        ),
        (
            HEAD + "defaults:\n  Adma: {lr: 0.1}\nplans: [SGD]\n",
            "plan.yaml:4 (key 'defaults'): unknown method 'Adma'; did you mean 'Adam', "
            "'Adamax', 'AdamW'?",
        ),
        (
            HEAD + "defaults:\n  SGD:\n    momentum: 0.9\nplans: [SGD]\n",
            "plan.yaml:5 (key 'defaults.SGD'): unknown argument 'momentum' for SGD "
            "(SGD takes lr, weight_decay)",
        ),
        (
            HEAD + "defaults:\n  SGD:\n    lr: fast\nplans: [SGD]\n",
            "plan.yaml:5 (key 'defaults.SGD'): argument 'lr' of SGD takes a number, not 'fast'",
        ),
        (
            HEAD + "defaults:\n  SGD: 0.1\nplans: [SGD]\n",
            "plan.yaml:4 (key 'defaults.SGD'): expected a mapping of SGD's arguments, got 0.1",
        ),
        (
            "experiment: x\ntasks: [a\nplans: [SGD]\n",
            "plan.yaml:3: invalid YAML: expected ',' or ']', but got ':'",
        ),
        (
            "- SGD\n- Adam\n",
            "plan.yaml:1: expected a mapping with the keys experiment, tasks, plans, got a list",
        ),
        ("", "plan.yaml: the file is empty; it needs the keys experiment, tasks, plans"),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    assert error_text(tmp_path, text) == message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(PlanFileError) as info:
        load_plan_file(path)
    assert str(info.value) == f"{path}: no such file"
