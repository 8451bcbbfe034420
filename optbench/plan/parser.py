"""The plan-language parser: recursive descent, one ``_parse_x`` per grammar rule.

Grammar (SPEC §2), in the style of pypa/packaging's ``_parser.py``::

    plan    = stage ('|' stage)*
    stage   = body (':' suffix)*          # at most one length and one end condition
    body    = '(' terms ')' | terms
    terms   = term ('+' term)*
    term    = NAME ['(' args ')'] ['[' groups ']']
    args    = [first (',' arg)*]
    first   = arg | value                  # one value alone: the first declared argument
    arg     = NAME '=' value
    value   = NUMBER | NAME | STRING      # the NAMEs true and false are booleans
    groups  = SELECTOR (',' SELECTOR)*     # parameter names or globs, e.g. fc2.*,output.*
    suffix  = INT                          # epochs, e.g. :80
            | NUMBER '%'                   # share of the plan's epochs, e.g. :25%
            | NAME ['(' args ')']          # an end condition, e.g. :plateau(patience=3)

A call's ``(`` must follow its name directly (``SGD(lr=0.1)``); elsewhere whitespace is
free. The first argument may be given without its name: it binds to the method's first
declared argument (``kRkD(5)`` is ``kRkD(k=5)``, ``SGD(0.1)`` is ``SGD(lr=0.1)``). Names,
arguments and their ranges are checked against the catalogue while parsing, and so are
the relations among the arguments written in one call; every error is a
``PlanSyntaxError`` (or ``UnknownName``) marking the offending span. The plan comes back
in canonical order (calls by ``canonical_rank``, arguments in the order of the method's
defaults, the globs of a parameter group sorted), so ``d+Adam`` and ``Adam+d`` parse to
equal plans; ``Plan.source`` keeps the text as written. Paper spellings are aliases
(``str`` = ``step``; ``sig+`` = ``warmup+sig``; ``str+`` = ``warmup+step``).

Bounded input: a number of more than ``MAX_NUMBER_CHARS`` characters, a stage longer than
``MAX_EPOCHS`` epochs and a plan of more than ``MAX_STAGES`` stages are errors, so that
every plan that parses is laid out and drawn in bounded time.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from optbench.errors import BadInput, UnknownName, quoted
from optbench.methods.registry import REGISTRY, STAGE_ENDS, Kind, MethodSpec
from optbench.plan.canonical import (
    alias_target,
    check_relations,
    coerce_value,
    format_call,
    format_value,
    plus_alias,
    sort_args,
    sort_calls,
    unknown_argument,
)
from optbench.plan.model import MAX_EPOCHS, MAX_STAGES, Call, Length, Plan, Stage, Value
from optbench.plan.tokenizer import Token, Tokenizer

_INT = re.compile(r"-?\d+")
# The longest number a plan may write: more digits than any float holds, and far fewer
# than the 4,300 beyond which Python refuses to read an int.
MAX_NUMBER_CHARS = 64
# The smallest share of a plan's epochs a stage may take (of MAX_EPOCHS, 1 epoch).
MIN_PERCENT = Fraction(1, 1000)


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
    while bar := tokens.consume("BAR"):
        if len(stages) == MAX_STAGES:
            tokens.raise_syntax_error(f"a plan has at most {MAX_STAGES:,} stages", span=bar.span)
        stages.append(_parse_stage(tokens))
    if not tokens.at_end():
        if tokens.check("RIGHT_PAREN"):
            tokens.raise_syntax_error("unexpected ')'")
        text, _ = tokens.upcoming()
        tokens.raise_syntax_error(
            f"unexpected {quoted(text)}; join methods with '+' and stages with '|'"
        )
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
        f"unexpected {quoted(text)}; join methods with '+' and close the stage with ')'"
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
    """'[' groups ']'   -- groups = SELECTOR (',' SELECTOR)*

    Each SELECTOR is ``hidden``, ``output``, a parameter name or an fnmatch glob over
    parameter names (``features.*``); a list selects the union, as in [MIX]'s
    ``SGD[fc2.*,output.*]``. The group comes back as its canonical text: the selectors
    sorted and joined with ',' (``selectors`` splits it again).
    """
    opener = tokens.expect("LEFT_BRACKET", "expected '['")
    selectors: dict[str, Token] = {}
    while True:
        selector = tokens.consume("SELECTOR")
        if selector is None:
            tokens.raise_syntax_error(
                "expected a parameter group selector, such as hidden or features.*"
            )
        if selector.text in selectors:
            tokens.raise_syntax_error(
                f"the selector {selector.text} is given twice in this group", span=selector.span
            )
        selectors[selector.text] = selector
        if not tokens.consume("COMMA"):
            break
    closer = tokens.consume("RIGHT_BRACKET")
    if closer is None:
        if tokens.at_end() or tokens.check("BAR"):
            tokens.raise_syntax_error(
                "expected ']' to close the parameter group opened here", span=opener.span
            )
        tokens.raise_syntax_error("expected ',' or ']' after a parameter group selector")
    if spec.kind is not Kind.GE:
        tokens.raise_syntax_error(
            f"only GE methods take a parameter group, not {spec.name!r} ({spec.kind.value})",
            span=(opener.span[0], closer.span[1]),
        )
    return ",".join(sorted(selectors))


def _parse_args(tokens: Tokenizer, spec: MethodSpec) -> tuple[tuple[str, Value], ...]:
    """'(' args ')'   -- args = [first (',' arg)*]

    The relations among the arguments written here are checked (``check_relations``);
    those that involve an argument left to its default are checked by ``resolve``.
    """
    opener = tokens.expect("LEFT_PAREN", "expected '('")
    given: dict[str, Value] = {}
    if tokens.consume("RIGHT_PAREN"):
        return ()
    while True:
        key, value = _parse_arg(tokens, spec, given, first=not given)
        given[key] = value
        if tokens.consume("COMMA"):
            continue
        if closer := tokens.consume("RIGHT_PAREN"):
            try:
                check_relations(spec, given)
            except BadInput as error:
                tokens.raise_syntax_error(str(error), span=(opener.span[0], closer.span[1]))
            return sort_args(spec, given.items())
        if tokens.at_end() or tokens.check("BAR"):
            tokens.raise_syntax_error(
                "expected ')' to close the arguments opened here", span=opener.span
            )
        tokens.raise_syntax_error("expected ',' or ')' after an argument")


def _parse_arg(
    tokens: Tokenizer, spec: MethodSpec, given: dict[str, Value], *, first: bool
) -> tuple[str, Value]:
    """first = arg | value;  arg = NAME '=' value

    A value without a name is allowed first only, and binds to the method's first
    declared argument (``kRkD(5)``); ``SGD(lr)`` is still a missing '='.
    """
    start = tokens.position
    key_token = tokens.consume("NAME")
    if key_token is None or (
        first and key_token.text not in spec.defaults and not tokens.check("EQUALS")
    ):
        tokens.position = start
        return _parse_positional(tokens, spec, first=first)
    key = key_token.text
    if key not in spec.defaults:
        tokens.raise_syntax_error(unknown_argument(spec, key), span=key_token.span)
    if key in given:
        tokens.raise_syntax_error(f"argument {key!r} is given twice", span=key_token.span)
    tokens.expect("EQUALS", f"expected '=' after {key!r}")
    return _checked_value(tokens, spec, key)


def _parse_positional(tokens: Tokenizer, spec: MethodSpec, *, first: bool) -> tuple[str, Value]:
    """value   -- the first argument without its name: the first declared argument"""
    if not spec.defaults:
        tokens.raise_syntax_error(f"{spec.name} takes no arguments")
    key, default = next(iter(spec.defaults.items()))
    example = f"expected an argument name, as in {spec.name}({key}={format_value(default)})"
    a_value = any(tokens.check(name) for name in ("NUMBER", "NAME", "STRING"))
    if not a_value:
        tokens.raise_syntax_error(example)
    if not first:
        tokens.raise_syntax_error(f"{example}; only the first argument may go without its name")
    return _checked_value(tokens, spec, key)


def _checked_value(tokens: Tokenizer, spec: MethodSpec, key: str) -> tuple[str, Value]:
    """The value of argument ``key``, coerced and range-checked (``coerce_value``)."""
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
    _check_length(tokens, text, span)
    if _INT.fullmatch(text):
        return int(text)
    value = float(text)
    if not math.isfinite(value):
        tokens.raise_syntax_error(f"the number {text} is too large", span=span)
    return value


def _check_length(tokens: Tokenizer, text: str, span: tuple[int, int]) -> None:
    if len(text) > MAX_NUMBER_CHARS:
        tokens.raise_syntax_error(
            f"this number has {len(text):,} characters; a plan's numbers have at most "
            f"{MAX_NUMBER_CHARS}",
            span=span,
        )


def _parse_suffix(tokens: Tokenizer) -> tuple[Length | Call, tuple[int, int]]:
    """suffix = INT | NUMBER '%' | NAME ['(' args ')']

    Returns the length or the end condition, and its span.
    """
    if number := tokens.consume("NUMBER"):
        _check_length(tokens, number.text, number.span)
        if percent := tokens.consume("PERCENT", adjacent=True):
            span = (number.span[0], percent.span[1])
            percentage = Fraction(number.text)
            share = float(percentage / 100)
            if not MIN_PERCENT <= percentage <= 100:
                tokens.raise_syntax_error(
                    f"a stage's share must be at least {float(MIN_PERCENT)}% and at most 100%",
                    span=span,
                )
            return Length(share=share), span
        if not _INT.fullmatch(number.text):
            tokens.raise_syntax_error(
                "a stage length must be a whole number of epochs, or a share such as 25%",
                span=number.span,
            )
        if int(number.text) < 1:
            tokens.raise_syntax_error("a stage length must be at least 1 epoch", span=number.span)
        if int(number.text) > MAX_EPOCHS:
            tokens.raise_syntax_error(
                f"a stage length must be at most {MAX_EPOCHS:,} epochs", span=number.span
            )
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
        closures = [c for c in ges if REGISTRY[c.name].needs_closure]
        if closures:
            tokens.raise_syntax_error(
                f"{closures[0].name} evaluates the loss of the whole model itself, so it cannot "
                "share a stage with another parameter group's GE method",
                span=closures[0].span,
            )
        groups: set[str | None] = set()
        for call in ges:
            if call.group in groups:
                tokens.raise_syntax_error(
                    f"the parameter group [{call.group}] is given twice in this stage",
                    span=call.span,
                )
            groups.add(call.group)
    setting: dict[str, str] = {}  # optimizer argument -> the GE option that sets it
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
        for key in (*spec.defaults, *spec.fixed):
            if key in setting:
                tokens.raise_syntax_error(
                    f"{call.name!r} and {setting[key]!r} both set the optimizer's {key}; keep one",
                    span=call.span,
                )
            setting[key] = call.name
