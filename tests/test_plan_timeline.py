"""How a plan unfolds: stage lengths, the Y/N table, LR clocks, optimizer carry-over."""

from __future__ import annotations

import pytest

from optbench.errors import BadInput
from optbench.plan.canonical import resolve
from optbench.plan.model import Call
from optbench.plan.parser import parse_plan
from optbench.plan.timeline import (
    Carry,
    Row,
    boundaries,
    carries_optimizer,
    fixed_epochs,
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
        # Lengths everywhere: they must add up to the plan's epochs.
        ("SGD:80 | SGD:40 | SGD:40", 160, (80, 40, 40)),
        ("SGD:50% | SGD:50%", 20, (10, 10)),
        # Shares are rounded together, so that 50% | 50% of 11 epochs is all 11 of them.
        ("SGD:50% | SGD:50%", 11, (6, 5)),
        ("SGD:33% | SGD:33% | SGD:34%", 10, (3, 3, 4)),
        ("(SGD+M):80 | SGD:20%", 100, (80, 20)),
        # An end condition with a max and no length takes the max; the trainer may stop early.
        ("SGD:plateau(max=4) | Adam", 10, (4, 6)),
        ("SGD:plateau | Adam", 50, (40, 10)),
        ("SGD:6:plateau | Adam", 10, (6, 4)),
        ("SGD:plateau(max=10)", 10, (10,)),
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
            "the stage lengths take 12 of the plan's 10 epochs (12), leaving 0 for 1 stage "
            "without a length; each needs at least 1 epoch",
        ),
        ("SGD | Adam | SGD", 2, "3 stages need at least 1 epoch each, but the plan trains for 2"),
        (
            "SGD:plateau | Adam",
            10,
            "the stage lengths take 40 of the plan's 10 epochs (plateau's max 40), leaving 0 "
            "for 1 stage without a length; each needs at least 1 epoch",
        ),
        (
            "SGD:100% | Adam",
            10,
            "the stage lengths take 10 of the plan's 10 epochs (100% = 10), leaving 0 for 1 "
            "stage without a length; each needs at least 1 epoch",
        ),
        # Every stage has a length: they must make the plan's epochs, neither more nor less.
        (
            "(SGD+M):80 | SGD:25%",
            100,
            "the stage lengths add up to 105 epochs (80 + 25% = 25), but the plan trains for "
            "100; make the two agree, write the lengths as shares (:25%), or leave a stage "
            "without a length",
        ),
        (
            "SGD:80 | SGD:40 | SGD:40",
            10,
            "the stage lengths add up to 160 epochs (80 + 40 + 40), but the plan trains for 10; "
            "make the two agree, write the lengths as shares (:25%), or leave a stage without "
            "a length",
        ),
        (
            "SGD:plateau(patience=3, max=5) | SGD:4",
            10,
            "the stage lengths add up to 9 epochs (plateau's max 5 + 4), but the plan trains "
            "for 10; make the two agree, write the lengths as shares (:25%), or leave a stage "
            "without a length",
        ),
        (
            "SGD:60% | SGD:60%",
            10,
            "the stage lengths add up to 12 epochs (60% = 6 + 60% = 6), but the plan trains "
            "for 10; make the two agree, write the lengths as shares (:25%), or leave a stage "
            "without a length",
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
        # Only lr changes: the running optimizer takes the new lr ([PWA]'s phases).
        ("SGD | SGD(lr=0.1)", True),
        ("(SGD(lr=0.1)+M+avg) | (SGD(lr=0.01)+M+avg)", True),
        ("Adam(lr=0.001) | Adam(lr=0.0001)", True),
        ("SGD | SGD(lr=0.1, weight_decay=0.0005)", False),
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
        ("(Adam[hidden]+SGD[output]) | (Adam[hidden]+SGD(lr=0.1)[output])", True),
        ("(SGD+M) | (SGD+NAG)", False),
        ("(SGD+avg) | (SGD+LA+full)", True),  # modifiers do not count
        ("DSA | DSA(lr=0.5)", True),
        ("DSA | DSA(eta0=-10)", False),
    ],
)
def test_carries_optimizer(text: str, expected: bool) -> None:
    first, second = parse_plan(text).stages
    assert carries_optimizer(first, second) is expected


def test_carries_optimizer_compares_resolved_plans() -> None:
    plan = resolve(parse_plan("SGD | SGD(weight_decay=0.1)"), {"SGD": {"weight_decay": 0.1}})
    assert carries_optimizer(*plan.stages)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SGD | SGD", Carry(True, "same optimizer")),
        ("(SGD(lr=0.1)+M):80 | (SGD(lr=0.01)+M):40", Carry(True, "SGD lr 0.1 -> 0.01")),
        (
            "(Adam[hidden]+SGD[output]) | (Adam(lr=0.01)[hidden]+SGD(lr=0.1)[output])",
            Carry(True, "Adam[hidden] lr 0.001 -> 0.01; SGD[output] lr 0.01 -> 0.1"),
        ),
        ("SGD | Adam", Carry(False, "GE method changes: SGD -> Adam")),
        (
            "(Adam[hidden]+SGD[output]) | (Adam[hidden]+Adam[output])",
            Carry(False, "GE method changes on [output]: SGD -> Adam"),
        ),
        (
            "SGD | (Adam[hidden]+SGD[output])",
            Carry(False, "parameter groups change: all parameters -> [hidden], [output]"),
        ),
        ("SGD | (SGD+M)", Carry(False, "GE options change: M added")),
        ("(SGD+NAG) | SGD", Carry(False, "GE options change: NAG removed")),
        (
            "(SGD+M) | (SGD+M(momentum=0.5))",
            Carry(False, "hyperparameter changes: M's momentum 0.9 -> 0.5"),
        ),
        (
            "SGD(lr=0.1) | SGD(lr=0.01, weight_decay=0.0005)",
            Carry(False, "hyperparameter changes: SGD's weight_decay 0.0 -> 0.0005"),
        ),
    ],
)
def test_state_carry_says_why(text: str, expected: Carry) -> None:
    (carry,) = boundaries(parse_plan(text))
    assert carry == expected


def test_pwa_phases_are_one_momentum_sgd_run() -> None:
    plan = parse_plan("(SGD(lr=0.1)+M+avg):80 | (SGD(lr=0.01)+M+avg):40 | (SGD(lr=0.001)+M+avg):40")
    assert [c.carries for c in boundaries(resolve(plan))] == [True, True]
    # The plan file's defaults count as written: a changed momentum starts afresh.
    other = resolve(parse_plan("(SGD(lr=0.1)+M) | (SGD(lr=0.01)+M(momentum=0.5))"))
    assert [c.carries for c in boundaries(other)] == [False]


def test_phase_wise_lr_methods_restart_at_every_stage() -> None:
    plan = parse_plan("(SGD+avgdecay+cos) | (SGD(lr=0.01)+avgdecay+cos) | (SGD+cos)")
    decay, cos = Call("avgdecay"), Call("cos")
    assert lr_spans(plan) == (
        {decay: (0, 0), cos: (0, 2)},
        {decay: (1, 1), cos: (0, 2)},
        {cos: (0, 2)},
    )


def test_lr_spans_and_schedule_rows_are_linear_in_the_plan() -> None:
    # 1,000 stages, each with its own call: quadratic work would take seconds here.
    text = " | ".join(f"(SGD(lr={i + 1})+cos)" for i in range(1000))
    plan = parse_plan(text)
    spans = lr_spans(plan)
    assert spans[0] == {Call("cos"): (0, 999)} and spans[-1] == {Call("cos"): (0, 999)}
    assert len(schedule_rows(plan)) == 1001


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SGD:80 | SGD:40 | SGD:40", 160),
        ("SGD:plateau(max=5) | SGD:4", 9),
        ("SGD:80 | SGD", None),
        ("SGD:50% | SGD:50%", None),
    ],
)
def test_fixed_epochs(text: str, expected: int | None) -> None:
    assert fixed_epochs(parse_plan(text)) == expected
