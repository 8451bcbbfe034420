"""The plan language (SPEC §2): what parses to what, and the exact error texts."""

from __future__ import annotations

import dataclasses

import pytest

from optbench.errors import BadInput, PlanSyntaxError, UnknownName
from optbench.methods.registry import REGISTRY, STAGE_ENDS
from optbench.plan import parser
from optbench.plan.model import Call, Length, Plan, Stage
from optbench.plan.parser import parse_plan


def stage(*calls: Call, length: Length | None = None, until: Call | None = None) -> Stage:
    return Stage(tuple(calls), length, until)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "SGD | (Adam+d) | SGD",
            Plan((stage(Call("SGD")), stage(Call("Adam"), Call("d")), stage(Call("SGD")))),
        ),
        ("SGD", Plan((stage(Call("SGD")),))),
        # Calls come back in canonical order, arguments in the order of the defaults.
        ("d + Adam", Plan((stage(Call("Adam"), Call("d")),))),
        (
            "SGD(weight_decay=0.0005, lr=0.1)",
            Plan((stage(Call("SGD", (("lr", 0.1), ("weight_decay", 0.0005)))),)),
        ),
        # An int where the default is a float is stored as a float.
        ("SGD(lr=1)", Plan((stage(Call("SGD", (("lr", 1.0),))),))),
        ("SGD(lr=1e-6)", Plan((stage(Call("SGD", (("lr", 1e-6),))),))),
        # One value alone is the method's first declared argument.
        ("SGD(0.5)", Plan((stage(Call("SGD", (("lr", 0.5),))),))),
        ("SGD+kRkD(5)", Plan((stage(Call("SGD"), Call("kRkD", (("k", 5),))),))),
        (
            "SGD(0.1, weight_decay=5e-4)",
            Plan((stage(Call("SGD", (("lr", 0.1), ("weight_decay", 5e-4)))),)),
        ),
        ("SGD:plateau(2)", Plan((stage(Call("SGD"), until=Call("plateau", (("patience", 2),))),))),
        ("(SGD()+M)", Plan((stage(Call("SGD"), Call("M")),))),
        (
            "(SGD(lr=0.1)+M+d):80 | (SGD(lr=0.01)+M+d):40",
            Plan(
                (
                    stage(Call("SGD", (("lr", 0.1),)), Call("M"), Call("d"), length=Length(80)),
                    stage(Call("SGD", (("lr", 0.01),)), Call("M"), Call("d"), length=Length(40)),
                )
            ),
        ),
        (
            "SGD:25% | Adam",
            Plan((stage(Call("SGD"), length=Length(share=0.25)), stage(Call("Adam")))),
        ),
        ("SGD:100%", Plan((stage(Call("SGD"), length=Length(share=1.0)),))),
        (
            "SGD:plateau(patience=3, max=40) | SGD(lr=0.001)",
            Plan(
                (
                    stage(Call("SGD"), until=Call("plateau", (("patience", 3), ("max", 40)))),
                    stage(Call("SGD", (("lr", 0.001),))),
                )
            ),
        ),
        (
            "SGD:plateau:30",
            Plan((stage(Call("SGD"), length=Length(30), until=Call("plateau")),)),
        ),
        (
            "Adam[hidden] + SGD[output]",
            Plan((stage(Call("Adam", group="hidden"), Call("SGD", group="output")),)),
        ),
        (
            "SGD[output]+Adam[hidden]",
            Plan((stage(Call("Adam", group="hidden"), Call("SGD", group="output")),)),
        ),
        (
            "(SGD(lr=0.1)[features.*] + Adam[layer1.0.conv*] + cos)",
            Plan(
                (
                    stage(
                        Call("SGD", (("lr", 0.1),), group="features.*"),
                        Call("Adam", group="layer1.0.conv*"),
                        Call("cos"),
                    ),
                )
            ),
        ),
        # A single GE method may train one group only.
        ("SGD[output]", Plan((stage(Call("SGD", group="output")),))),
        # A group may list several selectors: their union, in canonical (sorted) order.
        (
            "Adam[fc1.*] + SGD[fc2.*, output.*]",
            Plan((stage(Call("Adam", group="fc1.*"), Call("SGD", group="fc2.*,output.*")),)),
        ),
        (
            "SGD[output.*,fc2.*]+Adam[fc1.*]",
            Plan((stage(Call("Adam", group="fc1.*"), Call("SGD", group="fc2.*,output.*")),)),
        ),
        ("SGD | ( Adam + d )\n|\tSGD", parse_plan("SGD | (Adam+d) | SGD")),
    ],
)
def test_valid_expressions(text: str, expected: Plan) -> None:
    plan = parse_plan(text)
    assert plan == expected
    assert plan.source == text


def test_values_keep_their_types() -> None:
    plan = parse_plan("(SGD+step(levels=4, gamma=0.5)):plateau(patience=2)")
    step = plan.stages[0].calls[1]
    assert step.kwargs == {"gamma": 0.5, "levels": 4}
    assert type(step.kwargs["levels"]) is int
    assert plan.stages[0].until.kwargs == {"patience": 2}


def test_spans_point_into_the_source() -> None:
    text = "SGD | (Adam(lr=0.1)+d)"
    adam = parse_plan(text).stages[1].calls[0]
    assert text[adam.span[0] : adam.span[1]] == "Adam(lr=0.1)"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("SGD+str", "(SGD+step)"),
        ("SGD+str+", "(SGD+step+warmup)"),
        ("(SGD+str+):50 | Adam", "(SGD+step+warmup):50 | Adam"),
        ("SGD+str+ | Adam", "(SGD+step+warmup) | Adam"),
        ("SGD+str(gamma=0.5)+", "(SGD+step(gamma=0.5)+warmup)"),
        # A '+' followed by a method is the ordinary '+'.
        ("SGD+str+d", "(SGD+d+step)"),
    ],
)
def test_paper_aliases(text: str, canonical: str) -> None:
    assert parse_plan(text) == parse_plan(canonical)


def test_sig_alias_applies_once_sig_is_in_the_registry() -> None:
    if "sig" in REGISTRY:
        assert parse_plan("SGD+sig+") == parse_plan("SGD+warmup+sig")
    else:
        with pytest.raises(UnknownName):
            parse_plan("SGD+sig+")


def test_step_plus_is_not_an_alias() -> None:
    with pytest.raises(PlanSyntaxError, match="expected a method name"):
        parse_plan("SGD+step+")


def test_unclosed_stage_error_text() -> None:
    with pytest.raises(PlanSyntaxError) as info:
        parse_plan("SGD | (Adam+d | SGD")
    assert str(info.value) == (
        "expected ')' to close the stage opened here\n    SGD | (Adam+d | SGD\n          ^"
    )
    assert info.value.span == (6, 7)


def test_unknown_method_error_text() -> None:
    with pytest.raises(UnknownName) as info:
        parse_plan("SGD | Adma")
    assert str(info.value) == (
        "unknown method 'Adma'; did you mean 'Adam', 'Adamax', 'AdamW'?\n"
        "    SGD | Adma\n"
        "          ~~~^"
    )


BAD = [
    ("", "the plan is empty", "^"),
    ("SGD |", "expected a method name", "     ^"),
    ("SGD | | Adam", "expected a method name", "      ^"),
    ("SGD+", "expected a method name", "    ^"),
    ("SGD)", "unexpected ')'", "   ^"),
    ("(SGD", "expected ')' to close the stage opened here", "^"),
    ("SGD Adam", "unexpected 'Adam'; join methods with '+' and stages with '|'", "    ~~~^"),
    ("SGD & Adam", "unexpected '&'; join methods with '+' and stages with '|'", "    ^"),
    ("SGD (Adam+d)", "unexpected '('; join methods with '+' and stages with '|'", "    ^"),
    (
        "(SGD Adam)",
        "unexpected 'Adam'; join methods with '+' and close the stage with ')'",
        "     ~~~^",
    ),
    ("(SGD:80)", "a stage's length or end condition goes after its ')'", "    ^"),
    ("SGD(lr=0.1", "expected ')' to close the arguments opened here", "   ^"),
    ("SGD(lr 0.1)", "expected '=' after 'lr'", "       ~~^"),
    ("SGD(,)", "expected an argument name, as in SGD(lr=0.01)", "    ^"),
    (
        "SGD(0.1, 0.2)",
        "expected an argument name, as in SGD(lr=0.01); only the first argument may go "
        "without its name",
        "         ~~^",
    ),
    (
        "SGD(lr=0.1, 0.2)",
        "expected an argument name, as in SGD(lr=0.01); only the first argument may go "
        "without its name",
        "            ~~^",
    ),
    ("polyak(1)+SGD", "polyak takes no arguments", "       ^"),
    ("SGD(fast)", "argument 'lr' of SGD takes a number, not fast", "    ~~~^"),
    ("SGD(lr=0.1,)", "expected an argument name, as in SGD(lr=0.01)", "           ^"),
    ("SGD(lr=)", "expected a value after 'lr=', such as 0.1, true or a name", "       ^"),
    (
        "SGD(lr=0.1 weight_decay=0)",
        "expected ',' or ')' after an argument",
        "           ~~~~~~~~~~~^",
    ),
    ("SGD(lr=1e999)", "the number 1e999 is too large", "       ~~~~^"),
    ("Adam[hidden", "expected ']' to close the parameter group opened here", "    ^"),
    ("Adam[]", "expected a parameter group selector, such as hidden or features.*", "     ^"),
    ("Adam[a b]", "expected ',' or ']' after a parameter group selector", "       ^"),
    ("Adam[a,]", "expected a parameter group selector, such as hidden or features.*", "       ^"),
    ("Adam[a,,b]", "expected a parameter group selector, such as hidden or features.*", "       ^"),
    ("Adam[,a]", "expected a parameter group selector, such as hidden or features.*", "     ^"),
    ("Adam[a, b, a]", "the selector a is given twice in this group", "           ^"),
    (
        "Adam[a,b]+SGD[b,a]",
        "the parameter group [a,b] is given twice in this stage",
        "          ~~~~~~~^",
    ),
    (
        "SGD:platoe",
        "unknown end condition 'platoe'; did you mean 'plateau'?",
        "    ~~~~~^",
    ),
    ("SGD:d", "'d' is a method, not an end condition; join it to the stage with '+'", "    ^"),
    (
        "SGD(momentum=0.9)",
        "unknown argument 'momentum' for SGD (SGD takes lr, weight_decay)",
        "    ~~~~~~~^",
    ),
    (
        "SGD(lrr=0.1)",
        "unknown argument 'lrr' for SGD; did you mean 'lr'? (SGD takes lr, weight_decay)",
        "    ~~^",
    ),
    ("SGD(lr=0.1, lr=0.2)", "argument 'lr' is given twice", "            ~^"),
    ("SGD(lr=true)", "argument 'lr' of SGD takes a number, not true", "       ~~~^"),
    ("SGD(lr=fast)", "argument 'lr' of SGD takes a number, not fast", "       ~~~^"),
    (
        "step(levels=2.5)+SGD",
        "argument 'levels' of step takes a whole number, not 2.5",
        "            ~~^",
    ),
    (
        "SGD:plateau(patience=2.5)",
        "argument 'patience' of plateau takes a whole number, not 2.5",
        "                     ~~^",
    ),
    ("d | SGD", "the stage has no GE method; add one such as SGD or Adam", "^"),
    ("SGD | (M+d)", "the stage has no GE method; add one such as SGD or Adam", "      ~~~~^"),
    (
        "SGD+Adam",
        "two GE methods in one stage (SGD and Adam); give each a parameter group, "
        "as in Adam[hidden]+SGD[output]",
        "    ~~~^",
    ),
    (
        "Adam[hidden]+SGD",
        "'SGD' needs a parameter group, like the other GE methods in this stage",
        "             ~~^",
    ),
    ("Adam[h]+SGD[h]", "the parameter group [h] is given twice in this stage", "        ~~~~~^"),
    ("SGD+d[hidden]", "only GE methods take a parameter group, not 'd' (LR)", "     ~~~~~~~^"),
    ("SGD+M[x]", "only GE methods take a parameter group, not 'M' (GE option)", "     ~~^"),
    ("Adam+M", "'M' works only with SGD or RMSprop, not with Adam", "     ^"),
    ("RMSprop+NAG", "'NAG' works only with SGD, not with RMSprop", "        ~~^"),
    (
        "SGD[a]+RMSprop[b]+NAG",
        "'NAG' works only with SGD, not with RMSprop",
        "                  ~~^",
    ),
    ("SGD+d+d", "'d' appears twice in this stage", "      ^"),
    ("SGD+SGD", "'SGD' appears twice in this stage", "    ~~^"),
    ("SGD:0", "a stage length must be at least 1 epoch", "    ^"),
    ("SGD:-5", "a stage length must be at least 1 epoch", "    ~^"),
    ("SGD:0%", "a stage's share must be at least 0.001% and at most 100%", "    ~^"),
    ("SGD:150%", "a stage's share must be at least 0.001% and at most 100%", "    ~~~^"),
    (
        "SGD:2.5",
        "a stage length must be a whole number of epochs, or a share such as 25%",
        "    ~~^",
    ),
    ("SGD:10:20", "the stage already has a length", "       ~^"),
    ("SGD:10:25%", "the stage already has a length", "       ~~^"),
    ("SGD:plateau:plateau", "the stage already has an end condition", "            ~~~~~~^"),
    (
        "SGD:",
        "expected a stage length (such as 80 or 25%) or an end condition (such as plateau) "
        "after ':'",
        "    ^",
    ),
]


@pytest.mark.parametrize(("text", "message", "marker"), BAD)
def test_error_texts(text: str, message: str, marker: str) -> None:
    with pytest.raises(PlanSyntaxError) as info:
        parse_plan(text)
    assert str(info.value) == f"{message}\n    {text}\n    {marker}"
    assert isinstance(info.value, BadInput)


def test_an_end_condition_used_as_a_method(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every end condition of today's catalogue is also a method (plateau), so add one.
    stop = dataclasses.replace(STAGE_ENDS["plateau"], name="stop")
    monkeypatch.setattr(parser, "STAGE_ENDS", {**STAGE_ENDS, "stop": stop})
    with pytest.raises(PlanSyntaxError) as info:
        parse_plan("SGD+stop")
    assert str(info.value) == (
        "'stop' is an end condition, not a method; write it after the stage, as in SGD:stop\n"
        "    SGD+stop\n"
        "        ~~~^"
    )


def test_plateau_is_both_an_lr_method_and_an_end_condition() -> None:
    plan = parse_plan("(SGD+plateau(factor=0.5)):plateau(max=9)")
    assert plan.stages[0].calls[1] == Call("plateau", (("factor", 0.5),))
    assert plan.stages[0].until == Call("plateau", (("max", 9),))


def test_errors_in_multiline_text_keep_the_caret_aligned() -> None:
    with pytest.raises(PlanSyntaxError) as info:
        parse_plan("SGD |\n  Adma")
    assert str(info.value).splitlines()[1:] == ["    SGD |   Adma", "            ~~~^"]


def test_suggestions_rank_a_transposed_typo_first():
    from optbench.errors import closest

    assert closest("Adma", ["Adamax", "NAdam", "Adam", "AdamW"])[0] == "Adam"
    assert closest("SDG", ["sig", "SGD", "d"])[0] == "SGD"  # same case wins a tie
    assert closest("xyzzy", ["SGD", "Adam"]) == []
