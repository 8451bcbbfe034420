"""The plan-language parser: recursive descent, one ``_parse_x`` per grammar rule.

Grammar (SPEC §2), in the style of pypa/packaging's ``_parser.py``::

    plan    = stage ('|' stage)*
    stage   = body (':' suffix)*          # at most one length and one end condition
    body    = '(' terms ')' | terms
    terms   = term ('+' term)*
    term    = NAME ['(' args ')'] ['[' selector ']']
    args    = [arg (',' arg)*]
    arg     = NAME '=' value
    value   = NUMBER | NAME | STRING      # the NAMEs true and false are booleans
    suffix  = INT                          # epochs, e.g. :80
            | NUMBER '%'                   # share of the plan's epochs, e.g. :25%
            | NAME ['(' args ')']          # an end condition, e.g. :plateau(patience=3)

A call's ``(`` must follow its name directly (``SGD(lr=0.1)``); elsewhere whitespace is
free. Names and arguments are checked against the catalogue while parsing, and every
error is a ``PlanSyntaxError`` (or ``UnknownName``) marking the offending span. The plan
comes back in canonical order (calls by ``canonical_rank``, arguments in the order of the
method's defaults), so ``d+Adam`` and ``Adam+d`` parse to equal plans. Paper spellings
are aliases (``str`` = ``step``; ``sig+`` = ``warmup+sig``; ``str+`` = ``warmup+step``).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from optbench.errors import BadInput, UnknownName
from optbench.methods.registry import REGISTRY, STAGE_ENDS, Kind, MethodSpec
from optbench.plan.canonical import (
    alias_target,
    coerce_value,
    format_call,
    format_value,
    plus_alias,
    sort_args,
    sort_calls,
    unknown_argument,
)
from optbench.plan.model import Call, Length, Plan, Stage, Value
from optbench.plan.tokenizer import Tokenizer

_INT = re.compile(r"-?\d+")


def parse_plan(text: str) -> Plan:
    """Parse a plan expression into a checked ``Plan`` in canonical order.

    Raises ``PlanSyntaxError`` (``UnknownName`` for names not in the catalogue) whose
    ``str`` is the message, the source line and a caret under the offending span.
    """
    tokens = Tokenizer(text)
    if tokens.at_end():
        tokens.raise_syntax_error("the plan is empty", span=(0, 0))
    return _parse_plan(tokens)


def _parse_plan(tokens: Tokenizer) -> Plan:
    """plan = stage ('|' stage)* END"""
    stages = [_parse_stage(tokens)]
    while tokens.consume("BAR"):
        stages.append(_parse_stage(tokens))
    if not tokens.at_end():
        if tokens.check("RIGHT_PAREN"):
            tokens.raise_syntax_error("unexpected ')'")
        text, _ = tokens.upcoming()
        tokens.raise_syntax_error(f"unexpected {text!r}; join methods with '+' and stages with '|'")
    return Plan(tuple(stages), source=tokens.source)


def _parse_stage(tokens: Tokenizer) -> Stage:
    """stage = body (':' suffix)*   -- at most one length and at most one end condition"""
    start = tokens.upcoming()[1][0]
    calls = _parse_body(tokens)
    _check_stage(tokens, calls, (start, tokens.position))
    length: Length | None = None
    until: Call | None = None
    while tokens.consume("COLON"):
        suffix, span = _parse_suffix(tokens)
        if isinstance(suffix, Length):
            if length is not None:
                tokens.raise_syntax_error("the stage already has a length", span=span)
            length = suffix
        else:
            if until is not None:
                tokens.raise_syntax_error("the stage already has an end condition", span=span)
            until = suffix
    return Stage(sort_calls(calls), length, until)


def _parse_body(tokens: Tokenizer) -> list[Call]:
    """body = '(' terms ')' | terms"""
    opener = tokens.consume("LEFT_PAREN")
    if opener is None:
        return _parse_terms(tokens)
    calls = _parse_terms(tokens)
    if tokens.consume("RIGHT_PAREN"):
        return calls
    if tokens.at_end() or tokens.check("BAR"):
        tokens.raise_syntax_error("expected ')' to close the stage opened here", span=opener.span)
    if tokens.check("COLON"):
        tokens.raise_syntax_error("a stage's length or end condition goes after its ')'")
    text, _ = tokens.upcoming()
    tokens.raise_syntax_error(
        f"unexpected {text!r}; join methods with '+' and close the stage with ')'"
    )


def _parse_terms(tokens: Tokenizer) -> list[Call]:
    """terms = term ('+' term)*

    A '+' followed by no method name, after ``sig`` or ``str``, is the paper spelling
    ``sig+`` / ``str+`` [ANN]: it adds ``warmup`` to the stage.
    """
    call, written = _parse_term(tokens)
    calls = [call]
    while plus := tokens.consume("PLUS"):
        extra = None if tokens.check("NAME") else plus_alias(written)
        if extra is not None:
            calls.append(Call(extra, span=plus.span))
            break
        call, written = _parse_term(tokens)
        calls.append(call)
    return calls


def _parse_term(tokens: Tokenizer) -> tuple[Call, str]:
    """term = NAME ['(' args ')'] ['[' selector ']']

    Returns the call and its name as written (before aliases).
    """
    name_token = tokens.expect("NAME", "expected a method name")
    written = name_token.text
    name = alias_target(written) or written
    if name not in REGISTRY:
        if name in STAGE_ENDS:
            tokens.raise_syntax_error(
                f"{name!r} is an end condition, not a method; write it after the stage, "
                f"as in SGD:{name}",
                span=name_token.span,
            )
        raise UnknownName("method", name, REGISTRY, source=tokens.display, span=name_token.span)
    spec = REGISTRY[name]
    args = _parse_args(tokens, spec) if tokens.check("LEFT_PAREN", adjacent=True) else ()
    group = _parse_selector(tokens, spec) if tokens.check("LEFT_BRACKET") else None
    return Call(name, args, group, span=(name_token.span[0], tokens.position)), written


def _parse_selector(tokens: Tokenizer, spec: MethodSpec) -> str:
    """'[' selector ']'   -- selector = a module name or glob, e.g. hidden, features.*"""
    opener = tokens.expect("LEFT_BRACKET", "expected '['")
    selector = tokens.consume("SELECTOR")
    if selector is None:
        tokens.raise_syntax_error(
            "expected a parameter group selector, such as hidden or features.*"
        )
    closer = tokens.consume("RIGHT_BRACKET")
    if closer is None:
        if tokens.at_end() or tokens.check("BAR"):
            tokens.raise_syntax_error(
                "expected ']' to close the parameter group opened here", span=opener.span
            )
        tokens.raise_syntax_error("expected ']' after the parameter group selector")
    if spec.kind is not Kind.GE:
        tokens.raise_syntax_error(
            f"only GE methods take a parameter group, not {spec.name!r} ({spec.kind.value})",
            span=(opener.span[0], closer.span[1]),
        )
    return selector.text


def _parse_args(tokens: Tokenizer, spec: MethodSpec) -> tuple[tuple[str, Value], ...]:
    """'(' args ')'   -- args = [arg (',' arg)*]"""
    opener = tokens.expect("LEFT_PAREN", "expected '('")
    given: dict[str, Value] = {}
    if tokens.consume("RIGHT_PAREN"):
        return ()
    while True:
        key, value = _parse_arg(tokens, spec, given)
        given[key] = value
        if tokens.consume("COMMA"):
            continue
        if tokens.consume("RIGHT_PAREN"):
            return sort_args(spec, given.items())
        if tokens.at_end() or tokens.check("BAR"):
            tokens.raise_syntax_error(
                "expected ')' to close the arguments opened here", span=opener.span
            )
        tokens.raise_syntax_error("expected ',' or ')' after an argument")


def _parse_arg(tokens: Tokenizer, spec: MethodSpec, given: dict[str, Value]) -> tuple[str, Value]:
    """arg = NAME '=' value"""
    key_token = tokens.consume("NAME")
    if key_token is None:
        if not spec.defaults:
            tokens.raise_syntax_error(f"{spec.name} takes no arguments")
        key, value = next(iter(spec.defaults.items()))
        tokens.raise_syntax_error(
            f"expected an argument name, as in {spec.name}({key}={format_value(value)})"
        )
    key = key_token.text
    if key not in spec.defaults:
        tokens.raise_syntax_error(unknown_argument(spec, key), span=key_token.span)
    if key in given:
        tokens.raise_syntax_error(f"argument {key!r} is given twice", span=key_token.span)
    tokens.expect("EQUALS", f"expected '=' after {key!r}")
    value, text, span = _parse_value(tokens, key)
    try:
        return key, coerce_value(spec, key, value, shown=text)
    except BadInput as error:
        tokens.raise_syntax_error(str(error), span=span)


def _parse_value(tokens: Tokenizer, key: str) -> tuple[Value, str, tuple[int, int]]:
    """value = NUMBER | NAME | STRING   -- the NAMEs true and false are booleans

    Returns the value, its text as written and its span.
    """
    if token := tokens.consume("NUMBER"):
        return _number(tokens, token.text, token.span), token.text, token.span
    if token := tokens.consume("NAME"):
        value = {"true": True, "false": False}.get(token.text, token.text)
        return value, token.text, token.span
    if token := tokens.consume("STRING"):
        return token.text[1:-1], token.text, token.span
    tokens.raise_syntax_error(f"expected a value after '{key}=', such as 0.1, true or a name")


def _number(tokens: Tokenizer, text: str, span: tuple[int, int]) -> int | float:
    if _INT.fullmatch(text):
        return int(text)
    value = float(text)
    if not math.isfinite(value):
        tokens.raise_syntax_error(f"the number {text} is too large", span=span)
    return value


def _parse_suffix(tokens: Tokenizer) -> tuple[Length | Call, tuple[int, int]]:
    """suffix = INT | NUMBER '%' | NAME ['(' args ')']

    Returns the length or the end condition, and its span.
    """
    if number := tokens.consume("NUMBER"):
        if percent := tokens.consume("PERCENT", adjacent=True):
            span = (number.span[0], percent.span[1])
            percentage = Fraction(number.text)
            share = float(percentage / 100)
            if not 0 < percentage <= 100 or share == 0:
                tokens.raise_syntax_error(
                    "a stage's share must be more than 0% and at most 100%", span=span
                )
            return Length(share=share), span
        if not _INT.fullmatch(number.text):
            tokens.raise_syntax_error(
                "a stage length must be a whole number of epochs, or a share such as 25%",
                span=number.span,
            )
        if int(number.text) < 1:
            tokens.raise_syntax_error("a stage length must be at least 1 epoch", span=number.span)
        return Length(epochs=int(number.text)), number.span
    if name_token := tokens.consume("NAME"):
        return _parse_end(tokens, name_token.text, name_token.span)
    example = next(iter(STAGE_ENDS), "plateau")
    tokens.raise_syntax_error(
        f"expected a stage length (such as 80 or 25%) or an end condition (such as {example})"
        " after ':'"
    )


def _parse_end(tokens: Tokenizer, name: str, span: tuple[int, int]) -> tuple[Call, tuple[int, int]]:
    """NAME ['(' args ')']   -- the end-condition branch of suffix"""
    name = alias_target(name) or name
    if name not in STAGE_ENDS:
        if name in REGISTRY:
            tokens.raise_syntax_error(
                f"{name!r} is a method, not an end condition; join it to the stage with '+'",
                span=span,
            )
        raise UnknownName("end condition", name, STAGE_ENDS, source=tokens.display, span=span)
    spec = STAGE_ENDS[name]
    args = _parse_args(tokens, spec) if tokens.check("LEFT_PAREN", adjacent=True) else ()
    span = (span[0], tokens.position)
    return Call(name, args, span=span), span


def _check_stage(tokens: Tokenizer, calls: list[Call], span: tuple[int, int]) -> None:
    """The rules of SPEC §2 for what one stage may hold.

    No method twice; exactly one GE method, or several that each have a different
    parameter group (``Adam[hidden]+SGD[output]`` [MIX]); every GE option applies to
    every GE method of the stage.
    """
    seen: set[tuple[str, str | None]] = set()
    for call in calls:
        key = (call.name, call.group)
        if key in seen:
            text = format_call(Call(call.name, group=call.group))
            tokens.raise_syntax_error(f"{text!r} appears twice in this stage", span=call.span)
        seen.add(key)
    ges = [c for c in calls if REGISTRY[c.name].kind is Kind.GE]
    if not ges:
        tokens.raise_syntax_error(
            "the stage has no GE method; add one such as SGD or Adam", span=span
        )
    if len(ges) > 1:
        ungrouped = [c for c in ges if c.group is None]
        if len(ungrouped) == len(ges):
            tokens.raise_syntax_error(
                f"two GE methods in one stage ({ges[0].name} and {ges[1].name}); give each "
                "a parameter group, as in Adam[hidden]+SGD[output]",
                span=ges[1].span,
            )
        if ungrouped:
            tokens.raise_syntax_error(
                f"{ungrouped[0].name!r} needs a parameter group, like the other GE methods "
                "in this stage",
                span=ungrouped[0].span,
            )
        groups: set[str | None] = set()
        for call in ges:
            if call.group in groups:
                tokens.raise_syntax_error(
                    f"the parameter group [{call.group}] is given twice in this stage",
                    span=call.span,
                )
            groups.add(call.group)
    for call in calls:
        spec = REGISTRY[call.name]
        if spec.kind is not Kind.GE_OPTION:
            continue
        for ge in ges:
            if ge.name not in spec.applies_to:
                tokens.raise_syntax_error(
                    f"{call.name!r} works only with {' or '.join(spec.applies_to)}, "
                    f"not with {ge.name}",
                    span=call.span,
                )
