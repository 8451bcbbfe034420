"""How a plan unfolds: stage lengths, the Y/N table, LR clocks, optimizer carry-over."""

from __future__ import annotations

import pytest

from optbench.errors import BadInput
from optbench.plan.canonical import resolve
from optbench.plan.model import Call
from optbench.plan.parser import parse_plan
from optbench.plan.timeline import (
    Row,
    carries_optimizer,
    lr_spans,
    schedule_rows,
    stage_epochs,
)


@pytest.mark.parametrize(
    ("text", "epochs", "expected"),
    [
        ("SGD", 10, (10,)),
        ("SGD | Adam | SGD", 10, (4, 3, 3)),
        ("SGD | Adam | SGD | Adam", 10, (3, 3, 2, 2)),
        ("SGD | Adam | SGD", 9, (3, 3, 3)),
        ("SGD:6 | Adam | SGD", 10, (6, 2, 2)),
        ("SGD:25% | Adam", 10, (3, 7)),  # 2.5 rounds half up
        ("SGD:35% | Adam", 10, (4, 6)),
        ("SGD:1% | Adam", 10, (1, 9)),  # at least 1
        # Explicit lengths everywhere: the plan's own length, whatever ``epochs`` says.
        ("SGD:80 | SGD:40 | SGD:40", 10, (80, 40, 40)),
        ("SGD:50% | SGD:50%", 20, (10, 10)),
        # An end condition with a max and no length takes the max; the trainer may stop early.
        ("SGD:plateau(max=4) | Adam", 10, (4, 6)),
        ("SGD:plateau | Adam", 50, (40, 10)),
        ("SGD:6:plateau(max=4) | Adam", 10, (6, 4)),
    ],
)
def test_stage_epochs(text: str, epochs: int, expected: tuple[int, ...]) -> None:
    assert stage_epochs(parse_plan(text), epochs) == expected


@pytest.mark.parametrize(
    ("text", "epochs", "message"),
    [
        (
            "SGD:12 | Adam",
            10,
            "a plan of 10 epochs has 0 left for 1 stage without a length once the stage "
            "lengths given take 12 (an end condition takes its max); each stage needs at least "
            "1 epoch",
        ),
        (
            "SGD | Adam | SGD",
            2,
            "a plan of 2 epochs has 2 left for 3 stages without a length once the stage "
            "lengths given take 0 (an end condition takes its max); each stage needs at least "
            "1 epoch",
        ),
        (
            "SGD:plateau | Adam",
            10,
            "a plan of 10 epochs has 0 left for 1 stage without a length once the stage "
            "lengths given take 40 (an end condition takes its max); each stage needs at least "
            "1 epoch",
        ),
        (
            "SGD:100% | Adam",
            10,
            "a plan of 10 epochs has 0 left for 1 stage without a length once the stage "
            "lengths given take 10 (an end condition takes its max); each stage needs at least "
            "1 epoch",
        ),
    ],
)
def test_stage_epochs_errors(text: str, epochs: int, message: str) -> None:
    with pytest.raises(BadInput) as info:
        stage_epochs(parse_plan(text), epochs)
    assert str(info.value) == message


def test_schedule_rows_ms_table_3() -> None:
    rows = schedule_rows(parse_plan("SGD | (Adam+d) | SGD"))
    assert rows == [
        Row("SGD", "GE", (True, False, True)),
        Row("Adam", "GE", (False, True, False)),
        Row("d", "LR", (False, True, False)),
    ]


def test_schedule_rows_keep_args_and_groups_apart() -> None:
    rows = schedule_rows(parse_plan("(SGD(lr=0.1)+M) | (Adam[hidden]+SGD[output]) | SGD(lr=0.1)"))
    assert [(r.label, r.kind_label, r.group, r.active) for r in rows] == [
        ("SGD(lr=0.1)", "GE", None, (True, False, True)),
        ("M", "GE", None, (True, False, False)),
        ("Adam[hidden]", "GE", "hidden", (False, True, False)),
        ("SGD[output]", "GE", "output", (False, True, False)),
    ]


def test_schedule_rows_of_a_resolved_plan_merge_written_defaults() -> None:
    rows = schedule_rows(resolve(parse_plan("SGD | SGD(lr=0.01)")))
    assert [r.active for r in rows] == [(True, True)]


def test_lr_spans_restart_after_a_gap() -> None:
    plan = parse_plan("(SGD+cos) | (SGD+cos) | SGD | (SGD+cos)")
    cos = Call("cos")
    assert lr_spans(plan) == ({cos: (0, 1)}, {cos: (0, 1)}, {}, {cos: (3, 3)})


def test_lr_spans_tell_calls_apart_by_their_arguments() -> None:
    plan = parse_plan("(SGD+d+cos) | (Adam+d+cos(low=0.1))")
    d, cos, cos_low = Call("d"), Call("cos"), Call("cos", (("low", 0.1),))
    assert lr_spans(plan) == ({d: (0, 1), cos: (0, 0)}, {d: (0, 1), cos_low: (1, 1)})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SGD | SGD", True),
        ("SGD | SGD(lr=0.1)", True),  # a new lr applies to the running optimizer [PWA]
        ("SGD | SGD(lr=0.1, weight_decay=0.1)", False),
        ("SGD | SGD(lr=0.01)", True),  # the catalogue's default, written out
        ("(SGD+M) | SGD", False),
        ("(SGD+M) | (SGD+M)", True),
        ("(SGD+M) | (SGD+M(momentum=0.5))", False),
        ("(SGD+d) | SGD", True),  # LR methods do not count
        ("(SGD+d) | (SGD+cos)", True),
        ("SGD | Adam", False),
        ("(Adam[hidden]+SGD[output]) | (SGD[output]+Adam[hidden]+d)", True),
        ("(Adam[hidden]+SGD[output]) | (Adam[output]+SGD[hidden])", False),
        ("SGD | SGD[output]", False),
    ],
)
def test_carries_optimizer(text: str, expected: bool) -> None:
    first, second = parse_plan(text).stages
    assert carries_optimizer(first, second) is expected


def test_carries_optimizer_compares_resolved_plans() -> None:
    plan = resolve(parse_plan("SGD | SGD(weight_decay=0.1)"), {"SGD": {"weight_decay": 0.1}})
    assert carries_optimizer(*plan.stages)
