"""Bad input in plans: every argument range-checked where it is written, every relation
checked once its arguments are known, every size bounded, and every accepted plan laid
out in bounded time. Each message names the value and what is valid."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from optbench.errors import BadInput, PlanSyntaxError, closest
from optbench.methods.lr import Clock
from optbench.methods.registry import REGISTRY, STAGE_ENDS, Format, Kind, Range
from optbench.plan.canonical import check_plan, check_relations, format_plan, resolve
from optbench.plan.model import MAX_EPOCHS, MAX_STAGES
from optbench.plan.parser import parse_plan
from optbench.plan.timeline import stage_epochs
from optbench.train.schedule import lr_curve


def error(text: str) -> str:
    """The first line of the error that parsing and resolving ``text`` gives."""
    with pytest.raises(BadInput) as info:
        resolve(parse_plan(text))
    return str(info.value).splitlines()[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SGD+clr(period=0)", "argument 'period' of clr must be in [0.001, 100000], not 0"),
        ("SGD+d(rate=-0.02)", "argument 'rate' of d must be in [0, 1], not -0.02"),
        ("SGD+rep(cycles=0)", "argument 'cycles' of rep must be in [1, 1000], not 0"),
        ("SGD(lr=0)+warmup", "argument 'lr' of SGD must be in (0, 1000000], not 0"),
        ("SGD(lr=-1)", "argument 'lr' of SGD must be in (0, 1000000], not -1"),
        ("SGD+natexp(k=-1000)", "argument 'k' of natexp must be in [0, 100], not -1000"),
        ("SGD+step(gamma=1e300)", "argument 'gamma' of step must be in (0, 1], not 1e300"),
        ("SGD+exp(low=1e300)", "argument 'low' of exp must be in (0, 1000000], not 1e300"),
        ("SGD+exp(gamma=0.9)", "unknown argument 'gamma' for exp (exp takes low, up)"),
        (
            "SGD+rep(low=1e308, up=-1e308)",
            "argument 'low' of rep must be in [0, 1000000], not 1e308",
        ),
        ("SGD+rep(low=0.01, up=-1)", "argument 'up' of rep must be in [0, 1000000], not -1"),
        ("SGD+kRkD(k=1000000000)", "argument 'k' of kRkD must be in [1, 1000], not 1000000000"),
        (
            "SGD+sgdr(T0=1e-300, mult=1.0000001)",
            "argument 'T0' of sgdr must be in [0.001, 100000], not 1e-300",
        ),
        ("SGD+sgdr(mult=0.5)", "argument 'mult' of sgdr must be in [1, 100], not 0.5"),
        ("SGD+M(momentum=1)", "argument 'momentum' of M must be in [0, 1), not 1"),
        ("SGD+NAG(momentum=0)", "argument 'momentum' of NAG must be in (0, 1), not 0"),
        ("Adam(beta2=1.5)", "argument 'beta2' of Adam must be in [0, 1), not 1.5"),
        ("Adam(eps=0)", "argument 'eps' of Adam must be in (0, 1], not 0"),
        ("DSA(eta0=1000)", "argument 'eta0' of DSA must be in [-100, 20], not 1000"),
        ("MAS(gamma=0)", "argument 'gamma' of MAS must be in (0, 10], not 0"),
        ("SGD+avg(gamma0=1)", "argument 'gamma0' of avg must be in [0, 1), not 1"),
        ("SGD+LA(k=0)", "argument 'k' of LA must be in [1, 1000], not 0"),
        (
            "SGD+piecewise(points=abc)",
            "argument 'points' of piecewise: piecewise points 'abc': 'abc' is not share:factor",
        ),
        # End conditions: a max of 0 skipped the stage, a negative one trained longer.
        (
            "SGD:plateau(patience=3, max=0) | Adam",
            "argument 'max' of plateau must be in [1, 100000], not 0",
        ),
        ("SGD:plateau(max=-3) | Adam", "argument 'max' of plateau must be in [1, 100000], not -3"),
        (
            "SGD:plateau(patience=5, max=5) | Adam",
            "plateau needs patience < max: with patience >= max the stage could never end "
            "early; got patience=5, max=5",
        ),
        # Relations among the arguments of one call.
        ("SGD+rep(low=0.5, up=0.1)", "rep's low (0.5) must be below its upper bound up=0.1"),
        ("SGD+trap(start=0.2, up=0.1)", "trap's start (0.2) must be below its upper bound up=0.1"),
        (
            "SGD+trap(warm=0.6, cool=0.5)",
            "trap needs warm + cool <= 1: the rise and the fall share one span; got warm=0.6, "
            "cool=0.5",
        ),
        (
            "DSA(beta1=0.2, beta2=0.3)",
            "DSA needs beta1 > beta2: formula 6 shortens the step by beta1 and lengthens it by "
            "the smaller beta2; got beta1=0.2, beta2=0.3",
        ),
        # ... and with an argument left to its default, once resolved.
        (
            "DSA(beta1=0.2)",
            "DSA needs beta1 > beta2: formula 6 shortens the step by beta1 and lengthens it by "
            "the smaller beta2; got beta1=0.2, beta2=0.3",
        ),
        (
            "Adam+sig",
            "sig's low (0.001) must be below its upper bound, the base LR 0.001 of Adam; lower "
            "the low or give sig its own up",
        ),
        ("SGD(lr=0.005)+warmup", "warmup's start (0.01) must be below the base LR 0.005 of SGD"),
        # Sizes: numbers Python would refuse to read, and plans too long to lay out.
        ("SGD:" + "9" * 5000, "this number has 5,000 characters; a plan's numbers have at most 64"),
        (
            "SGD(lr=1" + "0" * 400 + ")",
            "this number has 401 characters; a plan's numbers have at most 64",
        ),
        (
            "SGD+kRkD(k=1" + "0" * 40 + ")",
            "argument 'k' of kRkD must be in [1, 1000], not 10000000000000000000000000000000000000"
            "00... (41 characters)",
        ),
        ("SGD:1000000", "a stage length must be at most 100,000 epochs"),
        ("SGD:0.0001%", "a stage's share must be at least 0.001% and at most 100%"),
        (" | ".join(["SGD"] * (MAX_STAGES + 1)), "a plan has at most 1,000 stages"),
    ],
)
def test_out_of_range_is_refused_when_read(text: str, message: str) -> None:
    assert error(text) == message


def test_range_errors_mark_the_value() -> None:
    with pytest.raises(PlanSyntaxError) as info:
        parse_plan("SGD+clr(period=0)")
    assert str(info.value).splitlines()[1:] == ["    SGD+clr(period=0)", "                   ^"]
    with pytest.raises(PlanSyntaxError) as info:
        resolve(parse_plan("SGD | Adam+sig"))
    assert str(info.value).splitlines()[1:] == ["    SGD | Adam+sig", "               ~~^"]


def test_a_long_unknown_name_gets_a_short_answer() -> None:
    name = "x" * 100_000
    with pytest.raises(PlanSyntaxError) as info:
        parse_plan(f"SGD | {name}")
    message, source, marker = str(info.value).splitlines()
    assert message == (
        "unknown method 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... (100,000 characters)"
    )
    assert source == "    SGD | " + "x" * 94 + "..."
    assert marker == "          " + "~" * 49 + "^"
    assert closest(name, REGISTRY) == []


def test_kRkD_as_the_readme_writes_it() -> None:  # noqa: N802
    assert parse_plan("SGD+kRkD(5)") == parse_plan("SGD+kRkD(k=5)")
    assert format_plan(parse_plan("(SGD+kRkD(5))")) == "(SGD+kRkD(k=5))"


# --- the catalogue declares what it accepts ----------------------------------------------

ENTRIES = [*REGISTRY.values(), *STAGE_ENDS.values()]


@pytest.mark.parametrize("spec", ENTRIES, ids=lambda s: f"{s.kind.name}:{s.name}")
def test_every_argument_has_a_range_holding_its_default(spec) -> None:
    assert set(spec.ranges) == set(spec.defaults)
    for key, default in spec.defaults.items():
        accepts = spec.ranges[key]
        if isinstance(accepts, Format):
            accepts.check(default)
        else:
            assert isinstance(accepts, Range) and default in accepts, (key, default, accepts)
    for rule in spec.rules:
        assert rule.holds(*(spec.defaults[a] for a in rule.args)), rule.text
    assert all(key in spec.defaults for key in spec.below_upper)


@pytest.mark.parametrize("name", [n for n, s in REGISTRY.items() if s.kind is not Kind.GE])
def test_every_method_at_its_defaults_resolves_with_sgd_at_0_1(name) -> None:
    text = "SGD(lr=0.1)" + ("+M" if name == "NAG" else "") + f"+{name}"
    check_plan(resolve(parse_plan(text.replace("+M+NAG", "+NAG"))))


@pytest.mark.parametrize(
    ("accepts", "inside", "outside", "shown"),
    [
        (Range(0.0, 1.0, open_low=True), [1e-300, 1.0], [0.0, 1.5, math.nan], "in (0, 1]"),
        (Range(0.0, 1.0, open_high=True), [0.0, 0.5], [1.0, -0.1], "in [0, 1)"),
        (Range(1, 1000), [1, 1000], [0, 1001, True, "1"], "in [1, 1000]"),
        (Range(0.001, 1e6), [0.001], [1e-4], "in [0.001, 1000000]"),
        (Range(0.0), [0.0, 1e300], [-1e-300], ">= 0"),
        (Range(0.0, open_low=True), [1e-300], [0.0], "> 0"),
    ],
)
def test_range_contains_and_prints(accepts, inside, outside, shown) -> None:
    assert all(v in accepts for v in inside)
    assert not any(v in accepts for v in outside)
    assert str(accepts) == shown


# --- bounded time: every accepted plan lays out and draws ------------------------------


def _arguments(spec) -> st.SearchStrategy[dict]:
    """Any arguments within the entry's ranges (text arguments at their default)."""
    fields = {}
    for key, default in spec.defaults.items():
        accepts = spec.ranges[key]
        if isinstance(accepts, Format):
            fields[key] = st.just(default)
        elif isinstance(default, int):
            fields[key] = st.integers(int(accepts.low), int(accepts.high))
        else:
            fields[key] = st.floats(
                accepts.low, accepts.high, exclude_min=accepts.open_low,
                exclude_max=accepts.open_high,
            )  # fmt: skip
    return st.fixed_dictionaries(fields)


LR_METHODS = [s for s in REGISTRY.values() if s.kind is Kind.LR and not s.stateful]


@settings(max_examples=300, deadline=200)
@given(
    spec=st.sampled_from(LR_METHODS),
    data=st.data(),
    epochs=st.integers(1, MAX_EPOCHS),
    steps_per_epoch=st.integers(1, 10_000),
    base=st.floats(1e-6, 1e6),
)
def test_every_lr_factor_is_finite_and_quick_anywhere_in_range(
    spec, data, epochs, steps_per_epoch, base
) -> None:
    kwargs = data.draw(_arguments(spec))
    try:  # the relations a plan checks before it is drawn
        check_relations(spec, kwargs)
    except BadInput:
        assume(False)
    assume(all(kwargs[k] < (kwargs.get("up") or base) for k in spec.below_upper))
    total = epochs * steps_per_epoch
    step = data.draw(st.integers(0, total - 1))
    value = spec.load()(Clock(step, total, steps_per_epoch), base, **kwargs)
    assert math.isfinite(value) and value >= 0.0


@pytest.mark.parametrize(
    "text",
    [
        "SGD+kRkD(k=1000)",
        "SGD+sgdr(T0=0.001, mult=1.0000001)",
        "SGD+sgdr(T0=0.001, mult=100)",
        "SGD+clr(period=0.001)",
        "SGD+piecewise(points='" + ",".join(f"{i / 101}:0.5" for i in range(1, 100)) + "')",
    ],
)
def test_extreme_plans_draw_their_lr_curve(text) -> None:
    plan = resolve(parse_plan(text))
    curve = lr_curve(plan, MAX_EPOCHS, 10_000)
    assert len(curve) == 200 and all(math.isfinite(lr) and lr >= 0 for _, lr in curve)


def test_a_thousand_stages_lay_out() -> None:
    plan = resolve(parse_plan(" | ".join(["(SGD+cos)"] * MAX_STAGES)))
    assert stage_epochs(plan, MAX_EPOCHS) == (100,) * MAX_STAGES
    assert len(lr_curve(plan, MAX_EPOCHS, 100)) == 200
