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
tasks: [mnist-nn2, fashion-mnist-nn3]
epochs: 100
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
    assert loaded.tasks == ("mnist-nn2", "fashion-mnist-nn3")
    assert (loaded.epochs, loaded.batch_size, loaded.seeds) == (100, 128, 3)
    assert loaded.defaults == {"SGD": {"lr": 0.1}, "d": {"rate": 1e-6}, "plateau": {"patience": 5}}
    assert loaded.plans == (
        parse_plan("SGD | (Adam+d) | SGD"),
        parse_plan("(SGD+M):plateau | SGD(lr=0.01)"),
        parse_plan("SGD:80 | Adam"),
    )
    assert loaded.path == path
    assert loaded.lines == (12, 13, 14)
    # The plans as the file writes them (folded over lines: one space), for reports.
    assert [p.label for p in loaded.plans] == [
        "SGD | (Adam+d) | SGD",
        "(SGD+M):plateau | SGD(lr=0.01)",
        "SGD:80 | Adam",
    ]
    assert format_plan(resolve(loaded.plans[1], loaded.defaults)) == (
        "(SGD(lr=0.1, weight_decay=0.0)+M(momentum=0.9)):plateau(patience=5, max=40) | "
        "SGD(lr=0.01, weight_decay=0.0)"
    )


def test_defaults_for_optional_keys(tmp_path: Path) -> None:
    loaded = load_plan_file(write(tmp_path, "experiment: x\ntasks: digits-mlp\nplans: [SGD]\n"))
    assert loaded.tasks == ("digits-mlp",)
    assert (loaded.epochs, loaded.batch_size, loaded.seeds) == (10, 32, 1)
    assert loaded.defaults == {}


HEAD = "experiment: x\ntasks: [digits-mlp]\n"


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
            "experiment: [a]\ntasks: [digits-mlp]\nplans: [SGD]\n",
            "plan.yaml:1 (key 'experiment'): expected a text, got a list",
        ),
        (
            "experiment: x\ntasks: [digits-mlp, 3]\nplans: [SGD]\n",
            "plan.yaml:2 (key 'tasks'): expected a task name or a list of them, got 3",
        ),
        (
            HEAD + "plans: []\n",
            "plan.yaml:3 (key 'plans'): expected at least one plan expression",
        ),
        (
            HEAD + "epoch: 3\nplans: [SGD]\n",
            "plan.yaml:3 (key 'epoch'): unknown key; did you mean 'epochs'? (valid keys: "
            "experiment, tasks, epochs, batch_size, seeds, defaults, plans, stack, paper)",
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


NUMBER = "9" * 5000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Task names are checked where the file names them.
        (
            "experiment: x\ntasks:\n  - digits-mlp\n  - digit-mlp\nplans: [SGD]\n",
            "plan.yaml:4 (key 'tasks'): unknown task 'digit-mlp'; did you mean 'digits-mlp', "
            "'iris-mlp', 'wine-mlp'? (see 'optbench tasks')",
        ),
        # Sizes are bounded: a 30-digit seed count would take forever to list.
        (
            HEAD + "seeds: 999999999999999999999999999999\nplans: [SGD]\n",
            "plan.yaml:3 (key 'seeds'): at most 10,000, got 999999999999999999999999999999",
        ),
        (
            HEAD + "epochs: 1000000\nplans: [SGD]\n",
            "plan.yaml:3 (key 'epochs'): at most 100,000, got 1000000",
        ),
        (
            HEAD + "batch_size: 100000000000\nplans: [SGD]\n",
            "plan.yaml:3 (key 'batch_size'): at most 10,000,000, got 100000000000",
        ),
        (
            HEAD + f"seeds: {NUMBER}\nplans: [SGD]\n",
            "plan.yaml:3 (key 'seeds'): this number has 5,000 characters; a plan file's "
            "numbers have at most 64",
        ),
        (
            HEAD + f"defaults:\n  SGD: {{lr: {NUMBER}}}\nplans: [SGD]\n",
            "plan.yaml:4 (key 'defaults.SGD'): this number has 5,000 characters; a plan "
            "file's numbers have at most 64",
        ),
        (
            HEAD + "plans: " + "[" * 1000 + "]" * 1000 + "\n",
            "plan.yaml:3: invalid YAML: nested more than 20 levels deep",
        ),
        (
            HEAD + "plans: [SGD\x00]\n",
            "plan.yaml:3: invalid YAML: character #x0000 is not allowed in YAML",
        ),
        # Method arguments are range-checked in the defaults as in the plans.
        (
            HEAD + "defaults:\n  RMSprop: {alpha: 1.5}\nplans: [RMSprop]\n",
            "plan.yaml:4 (key 'defaults.RMSprop'): argument 'alpha' of RMSprop must be in "
            "[0, 1), not 1.5",
        ),
        (
            HEAD + "defaults:\n  plateau: {max: 0}\nplans: [SGD]\n",
            "plan.yaml:4 (key 'defaults.plateau'): argument 'max' of plateau must be in "
            "[1, 100000], not 0",
        ),
        (
            HEAD + "defaults:\n  rep:\n    low: 0.5\n    up: 0.1\nplans: [SGD]\n",
            "plan.yaml:5 (key 'defaults.rep'): rep's low (0.5) must be below its upper bound "
            "up=0.1",
        ),
        (
            HEAD + "defaults:\n  trap: {warm: 0.6, cool: 0.5}\nplans: [SGD]\n",
            "plan.yaml:4 (key 'defaults.trap'): trap needs warm + cool <= 1: the rise and the "
            "fall share one span; got warm=0.6, cool=0.5",
        ),
        # A relation that only the resolved plan breaks names the plan's line.
        (
            HEAD + "plans:\n  - SGD\n  - Adam+sig\n",
            "plan.yaml:5 (key 'plans'): sig's low (0.001) must be below its upper bound, the "
            "base LR 0.001 of Adam; lower the low or give sig its own up\n"
            "    Adam+sig\n"
            "         ~~^",
        ),
        (
            HEAD + "defaults:\n  SGD: {lr: 0.001}\nplans:\n  - SGD+warmup\n",
            "plan.yaml:6 (key 'plans'): warmup's start (0.01) must be below the base LR 0.001 "
            "of SGD\n    SGD+warmup\n        ~~~~~^",
        ),
        # Stage lengths against the file's epochs.
        (
            HEAD + "epochs: 100\nplans:\n  - (SGD+M):80 | SGD:25%\n",
            "plan.yaml:5 (key 'plans'): (SGD+M):80 | SGD:25%: the stage lengths add up to 105 "
            "epochs (80 + 25% = 25), but the plan trains for 100; make the two agree, write "
            "the lengths as shares (:25%), or leave a stage without a length",
        ),
        (
            HEAD + "epochs: 10\nplans:\n  - SGD:plateau(patience=3, max=20) | Adam\n",
            "plan.yaml:5 (key 'plans'): SGD:plateau(patience=3, max=20) | Adam: the stage "
            "lengths take 20 of the plan's 10 epochs (plateau's max 20), leaving 0 for 1 stage "
            "without a length; each needs at least 1 epoch",
        ),
        (
            HEAD + "plans:\n  - SGD:plateau(patience=3, max=0) | Adam\n",
            "plan.yaml:4 (key 'plans'): argument 'max' of plateau must be in [1, 100000], not 0"
            "\n    SGD:plateau(patience=3, max=0) | Adam\n"
            "                                ^",
        ),
    ],
)
def test_bad_input_is_one_message_naming_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    assert error_text(tmp_path, text) == message


def test_a_long_unknown_name_is_answered_briefly(tmp_path: Path) -> None:
    name = "x" * 100_000
    text = error_text(tmp_path, HEAD + f"plans:\n  - SGD | {name}\n")
    first, source, marker = text.splitlines()
    assert first == (
        "plan.yaml:4 (key 'plans'): unknown method 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'"
        "... (100,000 characters)"
    )
    assert len(source) < 120 and len(marker) < 120
    text = error_text(tmp_path, f"experiment: x\ntasks: [{name}]\nplans: [SGD]\n")
    assert text.startswith("plan.yaml:2 (key 'tasks'): unknown task 'xxxx") and len(text) < 200


def test_check_epochs_names_the_plan_that_cannot_take_them(tmp_path: Path) -> None:
    text = HEAD + "epochs: 160\nplans:\n  - SGD:80 | SGD:40 | SGD:40\n  - SGD:50% | Adam\n"
    loaded = load_plan_file(write(tmp_path, text))
    loaded.check_epochs(160)
    with pytest.raises(PlanFileError) as info:
        loaded.check_epochs(10)
    assert str(info.value).replace(str(loaded.path), "plan.yaml") == (
        "plan.yaml:5 (key 'plans'): SGD:80 | SGD:40 | SGD:40: the stage lengths add up to "
        "160 epochs (80 + 40 + 40), but the plan trains for 10; make the two agree, write the "
        "lengths as shares (:25%), or leave a stage without a length"
    )
    with pytest.raises(PlanFileError, match=r"--epochs must be in \[1, 100,000\], not 1,000,"):
        loaded.check_epochs(10**30)


def test_torch_defaults_can_be_set_through_defaults(tmp_path: Path) -> None:
    # [DSA]'s baselines run at PyTorch's defaults (RMSprop lr 1e-2, alpha 0.99), not [MS]'s.
    text = HEAD + "defaults:\n  RMSprop: {lr: 1e-2, alpha: 0.99}\nplans: [RMSprop]\n"
    loaded = load_plan_file(write(tmp_path, text))
    assert format_plan(resolve(loaded.plans[0], loaded.defaults)) == (
        "RMSprop(lr=0.01, alpha=0.99, eps=1e-08, weight_decay=0.0)"
    )
